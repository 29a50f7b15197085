"""The activation queue against a FIFO model: full/empty, back-pressure, order, and
the next cycle's room for the push that happens."""

from collections import deque

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.hw.queue import ActivationQueue
from eiegen.hw.simulation import simulate


@pytest.mark.parametrize("depth", [1, 3, 8])
def test_queue_matches_model(depth):
    cfg = ArchConfig(queue_depth=depth)
    dut = ActivationQueue(cfg)
    rng = np.random.default_rng(depth)
    seen = {"full": 0, "empty": 0, "push_pop": 0}

    async def bench(ctx):
        model = deque()
        for cycle in range(400):
            phase = (cycle // 50) % 2  # alternately mostly-writing and mostly-reading
            push = rng.random() < (0.8 if phase == 0 else 0.3)
            pop = rng.random() < (0.3 if phase == 0 else 0.8)
            act, col = int(rng.integers(-100, 100)), int(rng.integers(0, 200))
            ctx.set(dut.w.valid, push)
            ctx.set(dut.w.payload, {"act": act, "col": col})
            ctx.set(dut.r.ready, pop)
            assert ctx.get(dut.level) == len(model)
            assert ctx.get(dut.w.ready) == (len(model) < depth)
            assert ctx.get(dut.r.valid) == (len(model) > 0)
            seen["full"] += len(model) == depth
            seen["empty"] += len(model) == 0
            popped = pop and len(model) > 0
            if popped:
                head = ctx.get(dut.r.payload)
                assert (head.act, head.col) == model[0]
            pushed = push and len(model) < depth
            seen["push_pop"] += pushed and popped
            room_next = ctx.get(dut.room_if_push if pushed else dut.room_if_hold)
            await ctx.tick()
            if popped:
                model.popleft()
            if pushed:
                model.append((act, col))
            assert room_next == (len(model) < depth)  # the top level registers it

    simulate(dut, bench)
    # a full queue takes nothing, so depth 1 never pushes and pops in one cycle
    assert seen["full"] and seen["empty"] and (seen["push_pop"] > 0) == (depth > 1), seen
    assert dut.latency == 1


@pytest.mark.parametrize("depth,width", [(1, 1), (3, 2), (4, 4), (8, 3)])
def test_wide_queue_matches_model(depth, width):
    # up to `width` valid slots a cycle, taken in slot order only when all fit
    # (ok: level + valid slots <= depth) and the broadcast fires; one pop a cycle
    from eiegen.hw.queue import WideActivationQueue

    cfg = ArchConfig(queue_depth=depth, broadcast_width=width, col_filter=1)
    dut = WideActivationQueue(cfg)
    rng = np.random.default_rng(10 * depth + width)
    seen = {"full": 0, "multi": 0}

    async def bench(ctx):
        model = deque()
        for cycle in range(400):
            phase = (cycle // 50) % 2
            slots = [(bool(rng.random() < (0.6 if phase == 0 else 0.3)),
                      int(rng.integers(-100, 100)), int(rng.integers(0, 200)))
                     for _ in range(width)]
            fire = bool(rng.random() < 0.8)
            pop = bool(rng.random() < (0.3 if phase == 0 else 0.8))
            for k, (v, act, col) in enumerate(slots):
                ctx.set(dut.w[k], {"valid": v, "act": act, "col": col})
            ctx.set(dut.w_fire, fire)
            ctx.set(dut.r.ready, pop)
            count = sum(v for v, _, _ in slots)
            assert ctx.get(dut.level) == len(model)
            assert ctx.get(dut.ok) == (len(model) + count <= depth)
            assert ctx.get(dut.r.valid) == (len(model) > 0)
            seen["full"] += len(model) == depth
            popped = pop and len(model) > 0
            if popped:
                head = ctx.get(dut.r.payload)
                assert (head.act, head.col) == model[0]
            # the top level fires only when every PE is ok
            pushed = fire and len(model) + count <= depth
            ctx.set(dut.w_fire, pushed)
            seen["multi"] += pushed and count > 1
            await ctx.tick()
            if popped:
                model.popleft()
            if pushed:
                model.extend((act, col) for v, act, col in slots if v)

    simulate(dut, bench)
    assert seen["full"] and (seen["multi"] > 0) == (width > 1), seen
