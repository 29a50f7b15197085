"""Leading non-zero detection and the activation broadcast."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, broadcast_layout, col_bits

__all__ = ["priority_select", "LeadingNonZeroDetector"]

ARITY = 4  # EIE's LNZD nodes each serve four children (a quadtree)


def priority_select(valids, payloads, arity: int = ARITY):
    """A combinational tree that finds the first (lowest-numbered) valid input.

    Returns ``(any, index, payload)``: whether some input is valid, the index of the
    first valid one and its payload (don't-care when none is valid). Each node of the
    tree serves ``arity`` (a power of two) children, so the depth is
    ``ceil(log_arity(n))`` nodes; used for the LNZD and for the host read-back mux.
    """
    if not valids or len(valids) != len(payloads):
        raise ValueError(f"priority_select needs as many payloads as valids (at least "
                         f"one), got {len(valids)} and {len(payloads)}")
    if arity < 2 or arity & (arity - 1):
        raise ValueError(f"arity must be a power of two >= 2, got {arity}")
    level_bits = arity.bit_length() - 1
    nodes = [(v, Const(0, 0), p) for v, p in zip(valids, payloads)]
    while len(nodes) > 1:
        parents = []
        for g in range(0, len(nodes), arity):
            group = nodes[g:g + arity]
            any_, index, payload = group[-1]
            index = Cat(index, Const(len(group) - 1, level_bits))
            for k in range(len(group) - 2, -1, -1):
                v, i, p = group[k]
                index = Mux(v, Cat(i, Const(k, level_bits)), index)
                payload = Mux(v, p, payload)
                any_ = v | any_
            parents.append((any_, index, payload))
        nodes = parents
    return nodes[0]


class LeadingNonZeroDetector(wiring.Component):
    """Scans the source activations row by row and broadcasts the non-zero ones.

    Row ``r`` is local address ``r`` of every PE's source register file, i.e. columns
    ``r*N .. r*N + N-1`` (column ``r*N + k`` in PE ``k``). While ``run`` is high:

    * A row is read (``src.en``) in a cycle in which the row buffer is empty or finishes;
      its values arrive ``latency`` cycle later. The buffer holds the row's values and a
      mask of the non-zero activations not yet sent (lanes past ``n_in`` count as zero).
    * Each cycle the priority tree picks the lowest remaining non-zero and offers it on
      ``out``; it leaves (and its mask bit clears) when ``out.ready`` (every queue has
      room). A row finishes in the cycle its last non-zero leaves, or in its first cycle
      when it has none; the next row is read in that same cycle. So without back-pressure
      a row with ``k`` non-zeros takes ``max(k, 1)`` cycles and rows follow each other
      without gaps.
    * ``done`` is high once every row has finished.

    When ``run`` is low the scanner returns to row 0.
    """

    latency = 1

    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "run": In(1),
            "n_in": In(unsigned(col_bits(cfg))),
            "src_en": Out(1),
            "src_addr": Out(index_shape(cfg.act_depth)),
            "src_data": In(data.ArrayLayout(signed(cfg.act_bits), cfg.n_pe)),
            "out": Out(stream.Signature(broadcast_layout(cfg))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        n = cfg.n_pe
        wide = col_bits(cfg) + n.bit_length()

        next_base = Signal(wide)        # first column of the next row to read
        next_addr = Signal.like(self.src_addr, name="next_addr")
        buf_valid = Signal()
        buf_fresh = Signal()            # the row arrived this cycle: mask from the data
        buf_base = Signal(wide)
        buf_lanes = Signal(n)           # lanes of the row below n_in
        buf_mask = Signal(n)

        # The row's values come straight from the register files in its first cycle, and
        # whether the row finishes decides the next read (src_en): keep that path to a
        # few LUTs (no comparators or carry chains behind the data).
        nonzero = Cat(*[self.src_data[k] != 0 for k in range(n)])
        mask = Mux(buf_fresh, nonzero & buf_lanes, buf_mask)
        below = [Const(0, 1)]           # below[k]: some lane < k is in the mask
        for k in range(1, n):
            below.append(below[-1] | mask[k - 1])
        rest = mask & Cat(*below)       # the mask without its lowest lane
        any_, index, value = priority_select([mask[k] for k in range(n)],
                                             [self.src_data[k] for k in range(n)])
        ready = self.out.ready
        fire = buf_valid & any_ & ready
        # the row finishes iff nothing is left after this cycle's broadcast
        finish = Mux(ready, rest == 0, ~any_)
        need_row = ~buf_valid | finish
        more = next_base < self.n_in
        m.d.comb += [
            self.out.valid.eq(buf_valid & any_),
            self.out.payload.act.eq(value),
            self.out.payload.col.eq(buf_base + index),
            self.src_en.eq(self.run & need_row & more),
            self.src_addr.eq(next_addr),
            self.done.eq(~buf_valid & ~more),
        ]
        with m.If(~self.run):
            m.d.sync += [next_base.eq(0), next_addr.eq(0), buf_valid.eq(0)]
        with m.Elif(need_row):
            m.d.sync += [buf_valid.eq(more), buf_fresh.eq(1)]
            with m.If(more):
                left = self.n_in - next_base
                m.d.sync += [buf_base.eq(next_base),
                             buf_lanes.eq(Cat(*[left > k for k in range(n)])),
                             next_base.eq(next_base + n), next_addr.eq(next_addr + 1)]
        with m.Else():
            m.d.sync += [buf_fresh.eq(0), buf_mask.eq(Mux(fire, rest, mask))]
        return m
