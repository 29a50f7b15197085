"""Leading non-zero detection and the activation broadcast."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
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

    * Rows are read ahead (``src_en``) in order, one per cycle, while fewer than
      ``ROWS_AHEAD`` rows are read and not finished; a row's values arrive ``latency``
      cycle after its read and go into a row buffer (registers), with the mask of its
      non-zero activations (lanes past ``n_in`` count as zero). So the register files'
      outputs feed only a few LUTs and flip-flops, and the read enable depends on
      registers alone: nothing on a board's block RAM output decides the next read.
    * The oldest buffered row is the *current* one. Each cycle the priority tree picks
      its lowest remaining non-zero and offers it on ``out``; it leaves (and its mask bit
      clears) when ``out.ready`` (every queue has room). A row finishes in the cycle its
      last non-zero leaves, or in its first cycle when it has none, and the next row is
      current from the next cycle. Row 0 is current from cycle ``first_row``; without
      back-pressure a row with ``k`` non-zeros takes ``max(k, 1)`` cycles and rows
      follow each other without gaps (the read-ahead keeps up at one row per cycle).
    * ``done`` is high once every row has finished.

    When ``run`` is low the scanner returns to row 0 and drops what it read.
    """

    latency = 1     # the register files' read latency
    first_row = 2   # row 0 is current from this cycle of run (read in 0, arrives in 1)
    ROWS_AHEAD = 3  # rows read and not finished: the read-to-current time (2) plus one

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
        slots = self.ROWS_AHEAD
        wide = col_bits(cfg) + n.bit_length()

        next_base = Signal(wide)        # first column of the next row to read
        next_addr = Signal.like(self.src_addr, name="next_addr")
        ahead = Signal(range(slots + 1))     # rows read and not finished
        # the row read in the previous cycle, whose values are on src_data now
        arr_valid = Signal()
        arr_base = Signal(wide)
        arr_lanes = Signal(n)           # its lanes below n_in
        # the row buffer: a ring of `slots` rows; `held` rows from `head` on
        held = Signal(range(slots + 1))
        head = Signal(range(slots))
        tail = Signal(range(slots))     # where the next arriving row goes
        values = [Signal(data.ArrayLayout(signed(cfg.act_bits), n), name=f"row{s}_values")
                  for s in range(slots)]
        masks = [Signal(n, name=f"row{s}_mask") for s in range(slots)]
        bases = [Signal(wide, name=f"row{s}_base") for s in range(slots)]
        cur_mask = Signal(n)            # the current row's lanes still to send

        def ring_next(ptr):
            return Mux(ptr == slots - 1, 0, ptr + 1)

        def pick(signals, ptr):
            return Array(signals)[ptr]

        cur_values = pick(values, head)
        arr_mask = Cat(*[self.src_data[k] != 0 for k in range(n)]) & arr_lanes
        below = [Const(0, 1)]           # below[k]: some lane < k is in the mask
        for k in range(1, n):
            below.append(below[-1] | cur_mask[k - 1])
        rest = cur_mask & Cat(*below)   # the mask without its lowest lane
        any_, index, value = priority_select([cur_mask[k] for k in range(n)],
                                             [cur_values[k] for k in range(n)])
        current = held != 0
        ready = self.out.ready
        fire = current & any_ & ready
        # the current row finishes iff nothing is left after this cycle's broadcast
        finish = current & Mux(ready, rest == 0, ~any_)
        more = next_base < self.n_in
        read = self.run & more & (ahead != slots)
        m.d.comb += [
            self.out.valid.eq(current & any_),
            self.out.payload.act.eq(value),
            self.out.payload.col.eq(pick(bases, head) + index),
            self.src_en.eq(read),
            self.src_addr.eq(next_addr),
            self.done.eq((ahead == 0) & ~more),
        ]
        with m.If(~self.run):
            m.d.sync += [next_base.eq(0), next_addr.eq(0), ahead.eq(0), arr_valid.eq(0),
                         held.eq(0), head.eq(0), tail.eq(0)]
        with m.Else():
            m.d.sync += [ahead.eq(ahead + read - finish), held.eq(held + arr_valid - finish),
                         arr_valid.eq(read)]
            with m.If(read):
                left = self.n_in - next_base
                m.d.sync += [arr_base.eq(next_base),
                             arr_lanes.eq(Cat(*[left > k for k in range(n)])),
                             next_base.eq(next_base + n), next_addr.eq(next_addr + 1)]
            with m.If(arr_valid):
                m.d.sync += tail.eq(ring_next(tail))
                for s in range(slots):
                    with m.If(tail == s):
                        m.d.sync += [values[s].eq(self.src_data), masks[s].eq(arr_mask),
                                     bases[s].eq(arr_base)]
            # the current row's mask: the next row's on finishing (the arriving one when
            # it is the only row left), the arriving row's when the buffer was empty
            with m.If(finish):
                m.d.sync += [head.eq(ring_next(head)),
                             cur_mask.eq(Mux(held >= 2, pick(masks, ring_next(head)),
                                             arr_mask))]
            with m.Elif(~current):
                m.d.sync += cur_mask.eq(arr_mask)
            with m.Elif(fire):
                m.d.sync += cur_mask.eq(rest)
        return m
