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
      cycle after its read and go into registers, with the mask of its non-zero
      activations (lanes past ``n_in`` count as zero). So the register files' outputs
      feed only a few LUTs and flip-flops, and the read enable depends on registers
      alone: nothing on a board's block RAM output decides the next read. From those
      registers the row goes into a row buffer (a ring of registers) one cycle later,
      with its first offer (lowest lane, its column, the lanes after it) worked out on
      the way: making a row current is then a multiplexer, not a priority search
      behind the ring's pointers (on the ECP5 16-PE build that search was the LNZD's
      longest path).
    * The oldest buffered row becomes the *current* one. Each cycle its lowest remaining
      non-zero is offered on ``out``; it leaves (and its mask bit clears) when
      ``out.ready`` (every queue has room). A row finishes in the cycle its last non-zero
      leaves, or in its first cycle when it has none, and the next row is current from
      the next cycle. Row 0 is current from cycle ``first_row``; without back-pressure a
      row with ``k`` non-zeros takes ``max(k, 1)`` cycles and rows follow each other
      without gaps (the read-ahead keeps up at one row per cycle).
    * The offer (``out.valid`` and ``out.payload``) comes straight from registers: the
      priority trees work out the next cycle's offer for each case (the same row, its
      lowest lane gone, or the next row) from registers, and ``out.ready`` only picks one.
      So the broadcast's long wires to every PE start at flip-flops, and the handshake
      from the queues meets no priority tree.
    * ``done`` is high once every row has finished.

    When ``run`` is low the scanner returns to row 0 and drops what it read; ``n_in``
    must be settled in the cycle before ``run`` rises and stay while it is high.
    """

    latency = 1     # the register files' read latency
    first_row = 4   # row 0 is current from this cycle of run (read 0, port 1, stage 2,
                    # buffer 3)
    ROWS_AHEAD = first_row + 1  # rows read and not finished: the read-to-current time
                                # plus one, so reads keep up with one row per cycle

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
        # that row one cycle later, in registers: its first offer is worked out from
        # these on its way into the buffer
        st_valid = Signal()
        st_values = Signal(data.ArrayLayout(signed(cfg.act_bits), n))
        st_mask = Signal(n)
        st_base = Signal(wide)
        # the row buffer: a ring of `slots` rows, `held` of them from `head` on; the
        # current row (if any) is the one at `head`
        held = Signal(range(slots + 1))
        head = Signal(range(slots))
        tail = Signal(range(slots))     # where the next arriving row goes
        values = [Signal(data.ArrayLayout(signed(cfg.act_bits), n), name=f"row{s}_values")
                  for s in range(slots)]
        bases = [Signal(wide, name=f"row{s}_base") for s in range(slots)]
        # each buffered row's first offer (any, act, col, lanes left after it, last),
        # computed as it enters the buffer: so making a row current is a multiplexer,
        # and no priority tree sits behind the ring's pointers
        firsts = [(Signal(name=f"row{s}_any"),
                   Signal.like(self.out.payload.act, name=f"row{s}_act"),
                   Signal.like(self.out.payload.col, name=f"row{s}_col"),
                   Signal(n, name=f"row{s}_rest"), Signal(name=f"row{s}_last"))
                  for s in range(slots)]
        current = Signal()              # the row at head is current
        # The current row's lanes still to send are the offer (registers below) and
        # cur_rest; the row's values and base are copied out of the ring, so that no ring
        # multiplexer and no lowest-lane search sits in front of the next offer's tree.
        cur_rest = Signal(n)            # the lanes to send after the offer
        cur_values = Signal(data.ArrayLayout(signed(cfg.act_bits), n))
        cur_base = Signal(wide)
        offer = Signal()                # the current row has a lane to send
        off_act = Signal.like(self.out.payload.act, name="off_act")
        off_col = Signal.like(self.out.payload.col, name="off_col")
        # the offer is the current row's last lane: cur_rest == 0, kept as a register
        # because it decides `finish` together with the handshake
        last = Signal()

        def ring_next(ptr):
            return Mux(ptr == slots - 1, 0, ptr + 1)

        def pick(signals, ptr):
            return Array(signals)[ptr]

        def lowest(mask):
            """(mask without its lowest lane, whether that leaves it empty)."""
            below = [Const(0, 1)]       # below[k]: some lane < k is in the mask
            for k in range(1, n):
                below.append(below[-1] | mask[k - 1])
            rest = mask & Cat(*below)
            return rest, rest == 0

        def first_of(mask, row_values, base):
            """The offer of a row with lanes ``mask`` left:
            (any, act, col, lanes left after it, whether it is the last)."""
            any_, index, value = priority_select([mask[k] for k in range(n)],
                                                 [row_values[k] for k in range(n)])
            rest, single = lowest(mask)
            return any_, value, base + index, rest, single

        # candidate offers for the next cycle, all from registers: the current row less
        # its lowest lane, and the row that becomes current next (the one after head;
        # head when none is current)
        rest_any, rest_act, rest_col, rest_rest, rest_last = first_of(cur_rest, cur_values,
                                                                      cur_base)
        cand = Mux(current, ring_next(head), head)
        cand_values, cand_base = pick(values, cand), pick(bases, cand)
        cand_any, cand_act, cand_col, cand_rest, cand_last = (
            pick(list(field), cand) for field in zip(*firsts))
        cand_ready = Mux(current, held >= 2, held >= 1)  # that row is in the buffer

        ready = self.out.ready
        fire = current & offer & ready
        # the current row finishes iff nothing is left after this cycle's broadcast
        finish = current & Mux(ready, last | ~offer, ~offer)
        # `more` (a row is left to read) is a register: its comparator's carry chain
        # would otherwise lead into `done` and the control unit's state machine. n_in is
        # settled before run rises (the descriptor is read at least two cycles earlier).
        more = Signal()
        read = self.run & more & (ahead != slots)
        m.d.comb += [
            self.out.valid.eq(current & offer),
            self.out.payload.act.eq(off_act),
            self.out.payload.col.eq(off_col),
            self.src_en.eq(read),
            self.src_addr.eq(next_addr),
            self.done.eq((ahead == 0) & ~more),
        ]
        arr_mask = Cat(*[self.src_data[k] != 0 for k in range(n)]) & arr_lanes
        with m.If(~self.run):
            m.d.sync += [next_base.eq(0), next_addr.eq(0), ahead.eq(0), arr_valid.eq(0),
                         st_valid.eq(0),
                         held.eq(0), head.eq(0), tail.eq(0), current.eq(0),
                         more.eq(self.n_in != 0)]
        with m.Else():
            m.d.sync += [ahead.eq(ahead + read - finish), held.eq(held + st_valid - finish),
                         arr_valid.eq(read), st_valid.eq(arr_valid)]
            with m.If(read):
                left = self.n_in - next_base
                m.d.sync += [arr_base.eq(next_base),
                             arr_lanes.eq(Cat(*[left > k for k in range(n)])),
                             next_base.eq(next_base + n), next_addr.eq(next_addr + 1),
                             more.eq(next_base + n < self.n_in)]
            with m.If(arr_valid):
                m.d.sync += [st_values.eq(self.src_data), st_mask.eq(arr_mask),
                             st_base.eq(arr_base)]
            with m.If(st_valid):
                m.d.sync += tail.eq(ring_next(tail))
                st_first = first_of(st_mask, st_values, st_base)
                for s in range(slots):
                    with m.If(tail == s):
                        m.d.sync += [values[s].eq(st_values), bases[s].eq(st_base)]
                        m.d.sync += [f.eq(v) for f, v in zip(firsts[s], st_first)]
            with m.If(finish | ~current):
                # the next row (if buffered) becomes current, with its first offer
                m.d.sync += [current.eq(cand_ready), cur_rest.eq(cand_rest),
                             cur_values.eq(cand_values), cur_base.eq(cand_base),
                             offer.eq(cand_any), off_act.eq(cand_act), off_col.eq(cand_col),
                             last.eq(cand_last)]
                with m.If(finish):
                    m.d.sync += head.eq(ring_next(head))
            with m.Elif(fire):
                m.d.sync += [cur_rest.eq(rest_rest),
                             offer.eq(rest_any), off_act.eq(rest_act),
                             off_col.eq(rest_col), last.eq(rest_last)]
        return m
