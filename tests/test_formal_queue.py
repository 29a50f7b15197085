"""Formal: the activation queue (hw/queue.py) against a reference FIFO, bounded from
reset: it never drops, duplicates or reorders an entry, its level, w.ready and r.valid
are exact, and room_if_push / room_if_hold predict the next cycle's w.ready."""

import pytest
from amaranth.hdl import Assert, Elaboratable, Module, Mux, Signal

from eiegen.arch import ArchConfig
from eiegen.hw.queue import ActivationQueue

from formal_bmc import formal_missing, prove

pytestmark = pytest.mark.skipif(bool(formal_missing()), reason=formal_missing() or "-")


class QueueSpec(Elaboratable):
    def __init__(self, cfg):
        self.q = ActivationQueue(cfg)
        self.depth = cfg.queue_depth

    def ports(self):
        q = self.q
        return [q.w.valid, q.w.payload.as_value(), q.r.ready]

    def elaborate(self, platform):
        m = Module()
        m.submodules.q = q = self.q
        d = self.depth
        width = len(q.w.payload.as_value())
        # the reference: a shift register whose element 0 is the head
        ref = [Signal(width, name=f"ref{i}") for i in range(d)]
        count = Signal(range(d + 1))
        push = q.w.valid & q.w.ready
        pop = q.r.valid & q.r.ready
        after = count - pop  # where a pushed entry lands
        for i in range(d):
            shifted = ref[i + 1] if i + 1 < d else ref[i]
            kept = Mux(pop, shifted, ref[i])
            m.d.sync += ref[i].eq(Mux(push & (after == i), q.w.payload.as_value(), kept))
        m.d.sync += count.eq(count + push - pop)
        # the room a queue announced for this cycle, one cycle ago
        started = Signal()
        announced = Signal()
        m.d.sync += [started.eq(1),
                     announced.eq(Mux(push, q.room_if_push, q.room_if_hold))]
        m.d.comb += [
            Assert(q.level == count),
            Assert(q.w.ready == (count != d)),
            Assert(q.r.valid == (count != 0)),
        ]
        with m.If(q.r.valid):
            m.d.comb += Assert(q.r.payload.as_value() == ref[0])
        with m.If(started):
            m.d.comb += Assert(q.w.ready == announced)
        return m


# depth 1..4 (1, 3: not a power of two); 2*depth + 4 cycles fill, drain and wrap
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_queue_is_an_exact_fifo(tmp_path, depth):
    cfg = ArchConfig(n_pe=2, queue_depth=depth, act_bits=4, act_depth=4, ptr_depth=16,
                     spmat_depth=16, bias_depth=8, max_layers=2)
    spec = QueueSpec(cfg)
    prove(spec, spec.ports(), tmp_path, depth=2 * depth + 6)
