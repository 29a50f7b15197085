"""Formal: the LNZD (hw/lnzd.py) offers exactly the non-zero activations of a layer, in
order, bounded from reset. The source register file is a symbolic memory (every
activation an ``AnyConst``: any contents, constant during the layer) behind a read port
that holds its data while not enabled, as the PEs' files do; ``n_in`` is an
``AnyConst`` too, ``out.ready`` (back-pressure) is free in every cycle, and ``run``
rises at any time after reset and stays high (one layer).

A reference scan beside it keeps ``pos``, the column after the last one sent. Whenever
``out.valid``, the offer is the next non-zero activations at or after ``pos`` (column
below ``n_in``), with their values: with ``broadcast_width`` W > 1 the valid slots are a
prefix, each the next non-zero after the one before, and a slot is invalid only where
the current LNZD row has no non-zero left (the next one lies in a later row, or there is
none). ``pos`` moves past the offer when it leaves (``out.ready``). So no non-zero is
skipped, repeated or reordered and no zero (nor any column at or past ``n_in``) is ever
offered; ``done`` (while ``run``) only once no non-zero is left at or after ``pos``, and
nothing is offered then; a read never addresses past the register file."""

import pytest
from amaranth.asserts import AnyConst
from amaranth.hdl import Array, Assert, Assume, Cat, Const, Elaboratable, Module, Mux, Signal, signed

from eiegen.arch import ArchConfig
from eiegen.hw.lnzd import LeadingNonZeroDetector

from formal_bmc import formal_missing, prove

pytestmark = pytest.mark.skipif(bool(formal_missing()), reason=formal_missing() or "-")


class LnzdSpec(Elaboratable):
    """``witness``: instead of the properties, claim that no layer with ``witness``
    non-zeros ever finishes within the depth; the proof must fail (a counterexample
    runs such a layer to ``done``), which shows that the depth covers whole layers."""

    def __init__(self, cfg, *, witness=0):
        if cfg.col_filter:
            raise ValueError("the column filter is not modelled here (col_filter=0)")
        if cfg.n_pe & (cfg.n_pe - 1):
            raise ValueError(f"n_pe must be a power of two here, got {cfg.n_pe}")
        self.cfg = cfg
        self.dut = LeadingNonZeroDetector(cfg)
        self.witness = witness

    def ports(self):
        return [self.dut.run, self.dut.out.ready]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        cfg = self.cfg
        n, width = cfg.n_pe, cfg.broadcast_width
        cols = cfg.max_inputs
        acts = [AnyConst(signed(cfg.act_bits)) for _ in range(cols)]
        n_in = AnyConst(len(dut.n_in))
        m.d.comb += [Assume(n_in <= cols), dut.n_in.eq(n_in)]

        # run: low in the first cycle after reset (n_in settles there), then rises at
        # some point and stays high
        started = Signal()
        was_run = Signal()
        m.d.sync += [started.eq(1), was_run.eq(dut.run)]
        with m.If(~started):
            m.d.comb += Assume(~dut.run)
        with m.If(was_run):
            m.d.comb += Assume(dut.run)

        # the register file: row r holds columns r*n .. r*n + n-1; read latency 1, the
        # data held while not enabled
        rows = [[acts[r * n + k] for k in range(n)] for r in range(cfg.act_depth)]
        with m.If(dut.src_en):
            m.d.comb += Assert(dut.src_addr < cfg.act_depth)
            for k in range(n):
                m.d.sync += dut.src_data[k].eq(Array(row[k] for row in rows)[dut.src_addr])

        # the reference: pos, the column after the last one sent; none(lo, hi): no
        # non-zero column j with lo <= j < hi
        pos = Signal(range(cols + 1))
        nz = [(acts[j] != 0) & (j < n_in) for j in range(cols)]

        def none(lo, hi=cols):
            return ~Cat(*[nz[j] & (lo <= j) & (j < hi) for j in range(cols)]).any()

        if cfg.wide_broadcast:
            slots = [(s.valid, s.col, s.act) for s in dut.out.payload]
        else:
            slots = [(Const(1, 1), dut.out.payload.col, dut.out.payload.act)]

        if self.witness:
            sent = Signal(range(cols + 1))
            with m.If(dut.out.valid & dut.out.ready):
                m.d.sync += sent.eq(sent + sum(valid for valid, _, _ in slots))
            m.d.comb += Assert(~(dut.run & dut.done & (sent == self.witness)))
            return m

        shift = n.bit_length() - 1
        with m.If(dut.out.valid):
            m.d.comb += Assert(slots[0][0])
            lo = pos
            for k, (valid, col, act) in enumerate(slots):
                # each valid slot: the first non-zero at or after lo (pos, or the
                # column after the slot before), with its value
                with m.If(valid):
                    m.d.comb += [Assert(col < cols), Assert(lo <= col),
                                 Assert(Array(nz)[col]), Assert(none(lo, col)),
                                 Assert(act == Array(acts)[col])]
                if k:
                    prev_valid, prev_col = slots[k - 1][0], slots[k - 1][1]
                    m.d.comb += Assert(~valid | prev_valid)  # the valid slots: a prefix
                    # an invalid slot after a valid one: its row has no non-zero left
                    row_end = ((prev_col >> shift) + 1) << shift
                    with m.If(prev_valid & ~valid):
                        m.d.comb += Assert(none(prev_col + 1, row_end))
                lo = col + 1
        with m.If(dut.out.valid & dut.out.ready):
            next_pos = pos
            for valid, col, _ in slots:
                next_pos = Mux(valid, col + 1, next_pos)
            m.d.sync += pos.eq(next_pos)
        with m.If(dut.run & dut.done):
            m.d.comb += [Assert(none(pos)), Assert(~dut.out.valid)]
        return m


# (n_pe, act_depth, broadcast_width, BMC depth): row 0 is current first_row (4) cycles
# after run rises, then a row takes a cycle per offer (at least one): with every column
# non-zero a layer ends by cycle 13 (N = 4, W = 1; test_lnzd_depth_reaches_done), and the
# depth leaves room for stall cycles and for layers that end earlier
CONFIGS = [(2, 3, 1, 20), (4, 2, 1, 20), (2, 3, 2, 20), (4, 2, 2, 20), (4, 2, 4, 20)]


def lnzd_config(n_pe, act_depth, width):
    return ArchConfig(n_pe=n_pe, act_depth=act_depth, act_bits=4, broadcast_width=width,
                      queue_depth=max(2, width), ptr_depth=16, spmat_depth=16, bias_depth=8,
                      max_layers=2)


@pytest.mark.parametrize("n_pe,act_depth,width,depth", CONFIGS)
def test_lnzd_offers_exactly_the_nonzeros_in_order(tmp_path, n_pe, act_depth, width, depth):
    spec = LnzdSpec(lnzd_config(n_pe, act_depth, width))
    prove(spec, spec.ports(), tmp_path, depth=depth)


@pytest.mark.parametrize("n_pe,act_depth,width,depth", CONFIGS)
def test_lnzd_depth_reaches_done(tmp_path, n_pe, act_depth, width, depth):
    """Non-vacuity: within the depth some layer with every column non-zero (n_in at its
    maximum) is sent and finishes."""
    spec = LnzdSpec(lnzd_config(n_pe, act_depth, width), witness=n_pe * act_depth)
    with pytest.raises(AssertionError, match="not proved"):
        prove(spec, spec.ports(), tmp_path, depth=depth)
