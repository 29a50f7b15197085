"""The arithmetic unit: codebook lookup, row-address accumulation, multiply-accumulate."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, ReadBus, WriteBus, entry_layout
from .memory import make_memory

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(wiring.Component):
    """Stages ``d_`` (the input cycle), ``m_``, ``x_`` and ``w_`` of a PE; owns the
    codebook memory and the accumulators (the destination registers).

    * ``d_`` (entry on ``inp``): codebook read at ``layer * 2**index_bits + v`` in
      parallel with the row-address accumulation ``row = z`` for a column's first entry,
      else ``row = previous row + z + 1`` (plus ``2**rel_bits`` when a padding entry was
      merged into this one, ``skip``).
    * ``m_``: 16x16 (``weight_bits x act_bits``) multiply; accumulator read at ``row``.
    * ``x_``: ``sum = saturate(acc[row] + product, acc_bits)`` into a register;
      ``saturated`` is high in the cycle in which that clamp acts (the PE counts it).
    * ``w_``: the sum is written to ``acc[row]``. Between the accumulator memory's output
      and its input there is a register, so on an FPGA neither the block RAM's late
      output nor its write-data setup shares a cycle with the adder's carry chain.
    * The accumulator read of an entry in ``m_`` does not see the writes of the two
      entries ahead of it (in ``x_`` and ``w_``), so when one of them has the same row
      the adder takes that entry's sum instead of the memory (the bypass, the newer one
      first). An entry is written ``latency`` cycles after it arrives; there are no
      stalls.

    ``acc_wr`` (bias preload) and ``acc_rd`` (write-back) reach the accumulators
    between layers; they are never used while entries flow.

    With ``cfg.bias_reset`` there is no preload: a valid bit per accumulator row
    (``touched``, cleared by ``clear``, set by every write of ``w_``) says whether the
    row holds a sum of this layer. ``d_`` reads the bias (``bias_rd``, local row address;
    the activation unit adds the layer's bias base) only for the row's first entry of
    the layer: its bit clear and no entry of the row in ``m_``, ``x_`` or ``w_``. The
    bias arrives in ``m_`` and waits in a register for ``x_``, so on an FPGA the block
    RAM's late output does not lead into the adder's carry chain (a 4-PE ULX3S build
    with the bias read in ``m_`` had that path at 16.1 ns, 62 MHz). ``m_`` samples the
    row's bit with the accumulator read; ``x_`` adds the product to the bias when the
    bit is clear and no bypass applies, the same value a preloaded accumulator would
    hold. ``acc_rd`` likewise returns the bias for a row no entry touched.
    """

    latency = 3

    def __init__(self, cfg, codebook_init=None, *, memories=None):
        self.cfg = cfg
        acc = signed(cfg.acc_bits)
        rows = index_shape(cfg.act_depth)
        super().__init__({
            "inp": In(stream.Signature(entry_layout(cfg), always_ready=True)),
            "layer": In(index_shape(cfg.max_layers)),
            "cb_wr": In(WriteBus(index_shape(cfg.max_layers * cfg.codebook_size),
                                 signed(cfg.weight_bits))),
            "acc_wr": In(WriteBus(rows, acc)),
            "acc_rd": In(ReadBus(rows, acc)),
            "idle": Out(1),
            **({"clear": In(1), "bias_rd": Out(ReadBus(rows, acc))} if cfg.bias_reset
               else {}),
            # wb_overlap: the bank being written back, and whether the row read on
            # acc_rd was touched (its data is the raw accumulator; the activation unit
            # picks the bias otherwise)
            **({"wb_bank": In(1), "acc_rd_touched": Out(1)} if cfg.wb_overlap else {}),
            "saturated": Out(1),
        })
        self.codebook = make_memory(signed(cfg.weight_bits), cfg.max_layers * cfg.codebook_size,
                                    codebook_init, name="codebook", memories=memories)
        self.acc = make_memory(acc, cfg.act_depth, name="accumulators", memories=memories)
        # wb_overlap: a second bank; layer k accumulates in bank k % 2 while the other
        # one is written back
        self.acc1 = (make_memory(acc, cfg.act_depth, name="accumulators", memories=memories)
                     if cfg.wb_overlap else None)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.codebook = self.codebook
        m.submodules.acc = self.acc
        cb_rp, cb_wp = self.codebook.read_port(), self.codebook.write_port()
        acc_rp, acc_wp = self.acc.read_port(), self.acc.write_port()
        inp = self.inp.payload

        d_cursor = Signal(index_shape(cfg.act_depth))
        d_row = Signal(index_shape(cfg.act_depth))
        m_valid = Signal()
        m_row = Signal.like(d_row, name="m_row")
        m_act = Signal.like(inp.act, name="m_act")
        x_valid = Signal()
        x_row = Signal.like(d_row, name="x_row")
        x_prod = Signal(signed(cfg.act_bits + cfg.weight_bits))
        x_sum = Signal(signed(cfg.acc_bits))
        w_valid = Signal()  # the w_ stage writes w_sum to acc[w_row] in this cycle
        w_row = Signal.like(d_row, name="w_row")
        w_sum = Signal.like(x_sum, name="w_sum")
        v_valid = Signal()  # the w_ stage wrote v_sum to acc[v_row] in the previous cycle
        v_row = Signal.like(d_row, name="v_row")
        v_sum = Signal.like(x_sum, name="v_sum")

        # d_: codebook lookup in parallel with the row-address accumulation
        m.d.comb += [
            # a merged padding entry (skip) is never a column's first entry
            d_row.eq(Mux(inp.first, inp.z, d_cursor + inp.z + 1 + (inp.skip << cfg.rel_bits))),
            cb_rp.addr.eq(Cat(inp.v, self.layer)), cb_rp.en.eq(self.inp.valid),
        ]
        with m.If(self.inp.valid):
            m.d.sync += d_cursor.eq(d_row)
        m.d.sync += [m_valid.eq(self.inp.valid), m_row.eq(d_row), m_act.eq(inp.act)]

        # m_: multiply, accumulator read
        m.d.sync += [x_valid.eq(m_valid), x_row.eq(m_row), x_prod.eq(cb_rp.data * m_act)]

        # x_: add, bypassing the two sums not yet in the memory when the read was made;
        # which one (if any) is decided in m_, from the entries then in x_ and w_
        hit_w, hit_v = Signal(), Signal()
        m_hit_x, m_hit_w = Signal(), Signal()
        m.d.comb += [m_hit_x.eq(x_valid & (x_row == m_row)), m_hit_w.eq(w_valid & (w_row == m_row))]
        m.d.sync += [hit_w.eq(m_hit_x), hit_v.eq(m_hit_w)]
        # the entries ahead of d_ whose rows may not be marked touched yet
        ahead = [(m_valid, m_row), (x_valid, x_row), (w_valid, w_row)]
        stored = acc_rp.data
        if cfg.wb_overlap:
            m.submodules.acc1 = self.acc1
            stored = self._banks(m, acc_rp, acc_wp, m_valid, m_row, w_valid, w_row, w_sum,
                                 d_row, ahead)
        elif cfg.bias_reset:
            # touched[r]: row r was written in this layer; sampled with the accumulator
            # read (m_ or write-back), so it sees the writes the memory read sees, and
            # the bypass covers the two that it does not
            touched = Signal(cfg.act_depth)
            x_touched, m_touched = Signal(), Signal()
            read_row = Mux(self.acc_rd.en, self.acc_rd.addr, m_row)
            m.d.comb += m_touched.eq(touched.bit_select(read_row, 1))
            m.d.sync += x_touched.eq(m_touched)
            with m.If(self.clear):
                m.d.sync += touched.eq(0)
            with m.Elif(w_valid):
                m.d.sync += touched.bit_select(w_row, 1).eq(1)
            x_bias = self._first_bias(m, touched, d_row, ahead)
            stored = Mux(x_touched, acc_rp.data, x_bias)
            # the write-back reads the bias itself (the activation unit's port, no
            # entries flow then): its data comes straight from the memory
            m.d.comb += self.acc_rd.data.eq(Mux(x_touched, acc_rp.data, self.bias_rd.data))
        base = Mux(hit_w, w_sum, Mux(hit_v, v_sum, stored))
        # Saturating add (docs/fixed-point.md): base and x_prod both fit acc_bits, so their
        # sum fits acc_bits + 1 and the two top bits of that one-bit-wider sum differ
        # exactly when it overflowed. The clamp value is then the wide sum's sign bit
        # followed by its inverse; so the only logic beyond a wrapping adder is one more
        # carry-chain bit, one XOR, and a 2:1 mux per bit after the chain (this adder is
        # near the ULX3S critical path: no comparators, no second adder). Both bypass
        # registers take the clamped sum, so a bypassed base is the saturated one.
        # With acc_saturate = 0 the sum wraps (EIE; the compiler's worst-case formats
        # then prove it never does) and the clamp's logic is not built at all.
        if cfg.acc_saturate:
            x_wide = Signal(signed(cfg.acc_bits + 1))
            x_over = Signal()
            m.d.comb += [
                x_wide.eq(base + x_prod),
                x_over.eq(x_wide[-1] ^ x_wide[-2]),
                x_sum.eq(Mux(x_over, Cat((~x_wide[-1]).replicate(cfg.acc_bits - 1),
                                         x_wide[-1]),
                             x_wide[:cfg.acc_bits])),
                self.saturated.eq(x_valid & x_over),
            ]
        else:
            m.d.comb += x_sum.eq(base + x_prod)
        m.d.sync += [w_valid.eq(x_valid), w_row.eq(x_row), w_sum.eq(x_sum),
                     v_valid.eq(w_valid), v_row.eq(w_row), v_sum.eq(w_sum)]

        if not cfg.bias_reset:
            m.d.comb += self.acc_rd.data.eq(stored)
        if not cfg.wb_overlap:
            m.d.comb += [
                acc_rp.en.eq(m_valid | self.acc_rd.en),
                acc_rp.addr.eq(Mux(self.acc_rd.en, self.acc_rd.addr, m_row)),
                acc_wp.en.eq(w_valid | self.acc_wr.en),
                acc_wp.addr.eq(Mux(w_valid, w_row, self.acc_wr.addr)),
                acc_wp.data.eq(Mux(w_valid, w_sum, self.acc_wr.data)),
            ]
        m.d.comb += [
            cb_wp.en.eq(self.cb_wr.en), cb_wp.addr.eq(self.cb_wr.addr),
            cb_wp.data.eq(self.cb_wr.data),
            self.idle.eq(~m_valid & ~x_valid & ~w_valid),
        ]
        return m

    def _first_bias(self, m, touched, d_row, ahead):
        """``bias_reset``: read the bias in ``d_`` for a row's first entry of the layer only,
        i.e. its bit in ``touched`` clear and no entry of the row in ``ahead`` (``m_``,
        ``x_``, ``w_``: exactly the rows written but not yet marked, whose sums the
        bypass or the accumulator read supply), so one read per row the layer touches
        instead of one per entry (docs/asic.md: the per-entry read cost more energy than
        the preload pass it replaces). Returns the register that holds the bias in
        ``x_`` (loaded in ``m_``, when the read's data arrives)."""
        in_flight = Cat(*[valid & (row == d_row) for valid, row in ahead]).any()
        m.d.comb += [self.bias_rd.en.eq(self.inp.valid & ~touched.bit_select(d_row, 1)
                                        & ~in_flight),
                     self.bias_rd.addr.eq(d_row)]
        x_bias = Signal(signed(self.cfg.acc_bits))
        m.d.sync += x_bias.eq(self.bias_rd.data)
        return x_bias

    def _banks(self, m, rp0, wp0, m_valid, m_row, w_valid, w_row, w_sum, d_row, ahead):
        """``wb_overlap``: two accumulator banks, each with a valid bit per row. The
        layer's entries read and write bank ``layer % 2`` (``m_`` / ``w_``), the
        write-back reads bank ``wb_bank`` through ``acc_rd`` in the same cycles: the two
        are never the same bank (the control unit starts layer k + 1 only after layer
        k's last sum is written, and k + 1's write-back after k's has ended). Returns
        the value the adder starts from when no bypass applies."""
        cfg = self.cfg
        rps, wps = [rp0, self.acc1.read_port()], [wp0, self.acc1.write_port()]
        bank = self.layer[0]
        touched = [Signal(cfg.act_depth, name=f"touched{b}") for b in range(2)]
        x_bank, x_touched = Signal(), Signal()      # sampled with the m_ read
        rd_bank, rd_touched = Signal(), Signal()    # sampled with the write-back read
        m_touched = Signal()
        m.d.comb += m_touched.eq(Array(touched)[bank].bit_select(m_row, 1))
        m.d.sync += [x_bank.eq(bank), x_touched.eq(m_touched),
                     rd_bank.eq(self.wb_bank),
                     rd_touched.eq(Array(touched)[self.wb_bank].bit_select(self.acc_rd.addr, 1))]
        for b in range(2):
            wb = self.acc_rd.en & (self.wb_bank == b)
            mine = bank == b
            m.d.comb += [rps[b].en.eq((m_valid & mine) | wb),
                         rps[b].addr.eq(Mux(wb, self.acc_rd.addr, m_row)),
                         wps[b].en.eq(w_valid & mine), wps[b].addr.eq(w_row),
                         wps[b].data.eq(w_sum)]
            with m.If(self.clear & mine):
                m.d.sync += touched[b].eq(0)
            with m.Elif(w_valid & mine):
                m.d.sync += touched[b].bit_select(w_row, 1).eq(1)
        x_bias = self._first_bias(m, Array(touched)[bank], d_row, ahead)
        m.d.comb += [self.acc_rd.data.eq(Mux(rd_bank, rps[1].data, rps[0].data)),
                     self.acc_rd_touched.eq(rd_touched)]
        return Mux(x_touched, Mux(x_bank, rps[1].data, rps[0].data), x_bias)
