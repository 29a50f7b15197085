"""The activation queue of one PE: a FIFO of broadcast (activation, column) pairs."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, broadcast_layout
from .memory import make_memory

__all__ = ["ActivationQueue", "WideActivationQueue"]


class ActivationQueue(wiring.Component):
    """FIFO of ``cfg.queue_depth`` (activation, column) pairs.

    Timing (all from registered state, so there is no combinational path from the
    reader to the writer):

    * ``w.ready`` is high iff the occupancy at the start of the cycle is below the depth;
      a full queue does not accept even in a cycle in which it is read.
    * ``r.valid`` is high iff the occupancy at the start of the cycle is non-zero; an
      element written in cycle ``t`` can be read from cycle ``t + 1`` (``latency``).

    Attributes
    ----------
    w : In(stream.Signature(broadcast_layout))
    r : Out(stream.Signature(broadcast_layout))
    level : Out(range(depth + 1))
        Occupancy at the start of the cycle.
    room_if_push, room_if_hold : Out(1)
        ``w.ready`` of the next cycle if this cycle pushes / does not push (from this
        cycle's pop). The top level registers the AND of every queue's next-cycle room;
        with both cases here it picks one AND with its own broadcast decision, so that
        decision (a register there) need not reach every PE and come back in one cycle.
    """

    latency = 1

    def __init__(self, cfg):
        self.cfg = cfg
        self.depth = cfg.queue_depth
        layout = broadcast_layout(cfg)
        super().__init__({
            "w": In(stream.Signature(layout)),
            "r": Out(stream.Signature(layout)),
            "level": Out(range(self.depth + 1)),
            "room_if_push": Out(1),
            "room_if_hold": Out(1),
        })
        self.mem = make_memory(layout, self.depth, name="queue")

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = self.mem
        wp = self.mem.write_port()
        rp = self.mem.read_port(domain="comb")
        depth = self.depth
        w_ptr = Signal(index_shape(depth))
        r_ptr = Signal(index_shape(depth))

        def advance(ptr):
            return Mux(ptr == depth - 1, 0, ptr + 1)

        push = self.w.valid & self.w.ready
        pop = self.r.valid & self.r.ready
        m.d.comb += [
            self.w.ready.eq(self.level != depth),
            self.r.valid.eq(self.level != 0),
            # The free slot at w_ptr takes the payload in every cycle with room, pushed
            # or not (nobody reads a free slot), so the element registers' enables do
            # not wait for the broadcast handshake; only the pointers and level do.
            wp.en.eq(self.w.ready), wp.addr.eq(w_ptr), wp.data.eq(self.w.payload),
            rp.addr.eq(r_ptr), self.r.payload.eq(rp.data),
        ]
        with m.If(push):
            m.d.sync += w_ptr.eq(advance(w_ptr))
        with m.If(pop):
            m.d.sync += r_ptr.eq(advance(r_ptr))
        level_next = Mux(push & ~pop, self.level + 1,
                         Mux(pop & ~push, self.level - 1, self.level))
        m.d.sync += self.level.eq(level_next)
        # full next cycle: full now and not popped, or one short, pushed and not popped
        # (at depth 1 a push always fills it; no comparison with 0, which lints warn of)
        near_full = (self.level >= depth - 1) if depth > 1 else Const(1)
        m.d.comb += [self.room_if_push.eq(~(near_full & ~pop)),
                     self.room_if_hold.eq(~((self.level == depth) & ~pop))]
        return m


class WideActivationQueue(wiring.Component):
    """The activation queue of the wide broadcast (``cfg.wide_broadcast``): takes up to
    ``broadcast_width`` (activation, column) pairs in one cycle, pops one.

    * ``w``: the offer's slots, each valid iff this PE takes that column; ``ok`` is high
      iff the occupancy at the start of the cycle plus the number of valid slots is at
      most the depth (also when that number is 0); in a cycle with ``w_fire`` (the
      broadcast left: every PE's ``ok``) the valid slots enter in slot order, so the
      queue holds its columns in increasing order. As in :class:`ActivationQueue` a pop
      in the same cycle makes no room, so ``ok`` depends on registers and ``w`` only.
    * ``r``: as :class:`ActivationQueue` (``latency`` 1).

    The elements are registers (``depth`` is small): each one's next value is a
    multiplexer over the slots, by the slot's place among the valid ones.
    """

    latency = 1

    def __init__(self, cfg):
        self.cfg = cfg
        self.depth = cfg.queue_depth
        layout = broadcast_layout(cfg)
        slot = data.StructLayout({"valid": unsigned(1), "act": layout["act"].shape,
                                  "col": layout["col"].shape})
        super().__init__({
            "w": In(data.ArrayLayout(slot, cfg.broadcast_width)),
            "w_fire": In(1),
            "ok": Out(1),
            "r": Out(stream.Signature(layout)),
            "level": Out(range(self.depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        depth = self.depth
        width = cfg.broadcast_width
        layout = broadcast_layout(cfg)
        elems = [Signal(layout, name=f"elem{k}") for k in range(depth)]
        w_ptr = Signal(index_shape(depth))
        r_ptr = Signal(index_shape(depth))

        def advance(ptr, by):
            total = ptr + by
            return Mux(total >= depth, total - depth, total)[:len(ptr)]

        valids = [self.w[k].valid for k in range(width)]
        count = Signal(range(width + 1))
        m.d.comb += count.eq(sum(valids))
        pushed = Mux(self.w_fire, count, 0)
        pop = self.r.valid & self.r.ready
        m.d.comb += [
            self.ok.eq(self.level + count <= depth),
            self.r.valid.eq(self.level != 0),
            self.r.payload.eq(Array(elems)[r_ptr]),
        ]
        before = Const(0, range(width + 1))     # valid slots before slot k
        for k in range(width):
            at = advance(w_ptr, before)
            with m.If(self.w_fire & valids[k]):
                for e in range(depth):
                    with m.If(at == e):
                        m.d.sync += [elems[e].act.eq(self.w[k].act),
                                     elems[e].col.eq(self.w[k].col)]
            before = before + valids[k]
        m.d.sync += [w_ptr.eq(advance(w_ptr, pushed)),
                     self.level.eq(self.level + pushed - pop)]
        with m.If(pop):
            m.d.sync += r_ptr.eq(advance(r_ptr, 1))
        return m
