"""The activation queue of one PE: a FIFO of broadcast (activation, column) pairs."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, broadcast_layout
from .memory import make_memory

__all__ = ["ActivationQueue"]


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
