"""Leading non-zero detection and the activation broadcast."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, broadcast_layout, col_bits, offer_layout

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

    The wide broadcast (``cfg.wide_broadcast``, docs/architecture.md "Wide and filtered
    broadcast"): ``out.payload`` is :func:`~eiegen.hw.layouts.offer_layout`, the up to
    ``broadcast_width`` lowest lanes still to send of the current row (a *group*),
    which leave together on ``out.ready``; a row with ``k`` lanes takes ``ceil(k / W)``
    cycles. With ``col_filter`` every PE's column-mask memory is read with the row
    (``mask_en``/``mask_addr``, the run's row counter: the layers' masks lie one after
    the other; ``clear`` restarts it at RUN) and its bits arrive on ``mask_data`` with
    the values: each lane carries the PEs that take it, and a lane no PE takes leaves
    the row's mask at once (it is never offered).
    """

    latency = 1     # the register files' read latency
    first_row = 4   # row 0 is current from this cycle of run (read 0, port 1, stage 2,
                    # buffer 3)
    ROWS_AHEAD = first_row + 1  # rows read and not finished: the read-to-current time
                                # plus one, so reads keep up with one row per cycle

    def __init__(self, cfg):
        self.cfg = cfg
        n = cfg.n_pe
        ports = {
            "run": In(1),
            "n_in": In(unsigned(col_bits(cfg))),
            "src_en": Out(1),
            "src_addr": Out(index_shape(cfg.act_depth)),
            "src_data": In(data.ArrayLayout(signed(cfg.act_bits), cfg.n_pe)),
            "out": Out(stream.Signature(offer_layout(cfg) if cfg.wide_broadcast
                                        else broadcast_layout(cfg))),
            "done": Out(1),
        }
        if cfg.col_filter:
            ports.update({
                "clear": In(1),
                "mask_en": Out(1),
                "mask_addr": Out(index_shape(cfg.mask_depth)),
                "mask_data": In(data.ArrayLayout(unsigned(n), n)),
            })
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        n = cfg.n_pe
        width = cfg.broadcast_width
        filt = bool(cfg.col_filter)
        slots = self.ROWS_AHEAD
        wide = col_bits(cfg) + n.bit_length()
        act_shape = signed(cfg.act_bits)
        col_shape = unsigned(col_bits(cfg))

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
        st_values = Signal(data.ArrayLayout(act_shape, n))
        st_mask = Signal(n)
        st_base = Signal(wide)
        # col_filter: per lane, the PEs that take its column (lane-major: the transpose
        # of mask_data, so that a lane's take bits travel with its value)
        takes_shape = data.ArrayLayout(unsigned(n), n)
        st_takes = Signal(takes_shape) if filt else None
        # the row buffer: a ring of `slots` rows, `held` of them from `head` on; the
        # current row (if any) is the one at `head`
        held = Signal(range(slots + 1))
        head = Signal(range(slots))
        tail = Signal(range(slots))     # where the next arriving row goes
        values = [Signal(data.ArrayLayout(act_shape, n), name=f"row{s}_values")
                  for s in range(slots)]
        takes = ([Signal(takes_shape, name=f"row{s}_takes") for s in range(slots)]
                 if filt else None)
        bases = [Signal(wide, name=f"row{s}_base") for s in range(slots)]

        def offer_regs(prefix):
            """Registers of one offer: per slot (valid, act, col, take), then the lanes
            left after it and whether none is (the row's last offer)."""
            regs = []
            for k in range(width):
                regs += [Signal(name=f"{prefix}{k}_valid"),
                         Signal(act_shape, name=f"{prefix}{k}_act"),
                         Signal(col_shape, name=f"{prefix}{k}_col")]
                if filt:
                    regs.append(Signal(n, name=f"{prefix}{k}_take"))
            return regs + [Signal(n, name=f"{prefix}_rest"), Signal(name=f"{prefix}_last")]

        per_slot = 4 if filt else 3
        # each buffered row's first offer, computed as it enters the buffer: so making a
        # row current is a multiplexer, and no priority tree sits behind the ring's
        # pointers
        firsts = [offer_regs(f"row{s}_") for s in range(slots)]
        current = Signal()              # the row at head is current
        # The current row's lanes still to send are the offer (registers below) and
        # cur_rest; the row's values and base are copied out of the ring, so that no ring
        # multiplexer and no lowest-lane search sits in front of the next offer's tree.
        cur_values = Signal(data.ArrayLayout(act_shape, n))
        cur_takes = Signal(takes_shape) if filt else None
        cur_base = Signal(wide)
        cur = offer_regs("off")
        cur_rest = cur[-2]              # the lanes to send after the offer
        # the offer is the current row's last: cur_rest == 0, kept as a register because
        # it decides `finish` together with the handshake
        last = cur[-1]
        offer = cur[0]                  # the current row has a lane to send

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

        def group_of(mask, row_values, row_takes, base, name):
            """The offer of a row with lanes ``mask`` left, as :func:`offer_regs`: the
            ``width`` lowest lanes, one priority tree after the other (width <= 4). Each
            slot's remaining lanes are a signal: as nested expressions the trees would
            grow exponentially with the width (an 8-PE 4-wide LNZD took minutes and a
            gigabyte to elaborate)."""
            out = []
            for k in range(width):
                if k:
                    lanes = Signal(n, name=f"{name}_lanes{k}")
                    m.d.comb += lanes.eq(mask)
                    mask = lanes
                any_, index, value = priority_select([mask[k] for k in range(n)],
                                                     [row_values[k] for k in range(n)])
                out += [any_, value, base + index]
                if filt:
                    _, _, take = priority_select([mask[k] for k in range(n)],
                                                 [row_takes[k] for k in range(n)])
                    out.append(take)
                mask, _ = lowest(mask)
            return out + [mask, mask == 0]

        # candidate offers for the next cycle, all from registers: the current row less
        # its offer, and the row that becomes current next (the one after head; head
        # when none is current)
        rest_offer = group_of(cur_rest, cur_values, cur_takes, cur_base, "rest")
        st_first = group_of(st_mask, st_values, st_takes, st_base, "st")
        cand = Mux(current, ring_next(head), head)
        cand_values, cand_base = pick(values, cand), pick(bases, cand)
        cand_takes = pick(takes, cand) if filt else None
        cand_offer = [pick(list(field), cand) for field in zip(*firsts)]
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
            self.src_en.eq(read),
            self.src_addr.eq(next_addr),
            self.done.eq((ahead == 0) & ~more),
        ]
        if cfg.wide_broadcast:
            for k in range(width):
                fields = cur[k * per_slot:(k + 1) * per_slot]
                slot = self.out.payload[k]
                m.d.comb += [slot.valid.eq(fields[0]), slot.act.eq(fields[1]),
                             slot.col.eq(fields[2])]
                if filt:
                    m.d.comb += slot.take.eq(fields[3])
        else:
            m.d.comb += [self.out.payload.act.eq(cur[1]), self.out.payload.col.eq(cur[2])]
        arr_mask = Cat(*[self.src_data[k] != 0 for k in range(n)]) & arr_lanes
        arr_takes = None
        if filt:
            # the run's row counter addresses the column masks: every layer's rows are
            # read exactly once, in order, so layer k's masks start where k-1's end
            mask_row = Signal.like(self.mask_addr, name="mask_row")
            m.d.comb += [self.mask_en.eq(read), self.mask_addr.eq(mask_row)]
            with m.If(self.clear):
                m.d.sync += mask_row.eq(0)
            with m.Elif(read):
                m.d.sync += mask_row.eq(mask_row + 1)
            arr_takes = [Cat(*[self.mask_data[pe][lane] for pe in range(n)])
                         for lane in range(n)]
            # a lane no PE takes is never offered
            arr_mask = arr_mask & Cat(*[t.any() for t in arr_takes])
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
                if filt:
                    m.d.sync += st_takes.eq(Cat(*arr_takes))
            with m.If(st_valid):
                m.d.sync += tail.eq(ring_next(tail))
                for s in range(slots):
                    with m.If(tail == s):
                        m.d.sync += [values[s].eq(st_values), bases[s].eq(st_base)]
                        if filt:
                            m.d.sync += takes[s].eq(st_takes)
                        m.d.sync += [f.eq(v) for f, v in zip(firsts[s], st_first)]
            with m.If(finish | ~current):
                # the next row (if buffered) becomes current, with its first offer
                m.d.sync += [current.eq(cand_ready), cur_values.eq(cand_values),
                             cur_base.eq(cand_base)]
                if filt:
                    m.d.sync += cur_takes.eq(cand_takes)
                m.d.sync += [f.eq(v) for f, v in zip(cur, cand_offer)]
                with m.If(finish):
                    m.d.sync += head.eq(ring_next(head))
            with m.Elif(fire):
                m.d.sync += [f.eq(v) for f, v in zip(cur, rest_offer)]
        return m
