"""The pointer read unit: both ends of a column from the even/odd banks, for even and
odd pointer bases; empty columns dropped; back-pressure."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.hw.pointer import PointerReadUnit
from eiegen.hw.simulation import simulate, stream_get, stream_put


@pytest.mark.parametrize("ptr_base", [0, 1, 6, 9])
def test_pointer_pairs(ptr_base):
    cfg = ArchConfig(ptr_depth=64)
    rng = np.random.default_rng(ptr_base)
    lengths = rng.integers(0, 3, size=40)          # many empty columns
    ptr = np.concatenate([[0] * ptr_base, np.cumsum(np.concatenate([[5], lengths]))])
    n_cols = 40
    dut = PointerReadUnit(cfg, init=ptr)
    cols = [int(c) for c in rng.permutation(n_cols)[:30]]
    out = []

    async def producer(ctx):
        ctx.set(dut.ptr_base, ptr_base)
        for j in cols:
            await stream_put(ctx, dut.col, {"act": j + 1, "col": j})

    async def consumer(ctx):
        want = [j for j in cols if lengths[j] > 0]
        for _ in want:
            for _ in range(int(rng.integers(0, 3))):   # back-pressure
                await ctx.tick()
            p = await stream_get(ctx, dut.out)
            out.append((p.act - 1, p.start, p.end))
        assert [c for c, _, _ in out] == want

    simulate(dut, producer, consumer)
    for j, start, end in out:
        assert (start, end) == (ptr[ptr_base + j], ptr[ptr_base + j + 1])


def test_latency_and_host_write():
    cfg = ArchConfig(ptr_depth=16)
    dut = PointerReadUnit(cfg)

    async def bench(ctx):
        for a in range(16):                # host writes fill both banks
            ctx.set(dut.wr.en, 1)
            ctx.set(dut.wr.addr, a)
            ctx.set(dut.wr.data, 3 * a)
            await ctx.tick()
        ctx.set(dut.wr.en, 0)
        assert [ctx.get(dut.banks[0].data[i]) for i in range(8)] == [6 * i for i in range(8)]
        ctx.set(dut.out.ready, 1)
        ctx.set(dut.ptr_base, 3)
        ctx.set(dut.col.valid, 1)
        ctx.set(dut.col.payload, {"act": 7, "col": 4})   # A = 7: odd
        assert ctx.get(dut.col.ready)
        await ctx.tick()
        ctx.set(dut.col.valid, 0)
        assert not ctx.get(dut.out.valid)  # pointers on the read ports (h_)
        await ctx.tick()
        assert ctx.get(dut.out.valid)      # latency 2: in p_'s registers
        assert (ctx.get(dut.out.payload.start), ctx.get(dut.out.payload.end)) == (21, 24)
        await ctx.tick()
        assert not ctx.get(dut.out.valid) and ctx.get(dut.idle)

    simulate(dut, bench)
    assert dut.latency == 2


def test_empty_columns_flow_one_per_cycle():
    # p_ drops an empty column in its first cycle there, so a run of empty columns is
    # taken in consecutive cycles even while out is not ready
    cfg = ArchConfig(ptr_depth=16)
    dut = PointerReadUnit(cfg, init=[4] * 16)
    taken = []

    async def bench(ctx):
        ctx.set(dut.out.ready, 0)
        ctx.set(dut.col.valid, 1)
        for j in range(10):
            ctx.set(dut.col.payload, {"act": 1, "col": j})
            taken.append(ctx.get(dut.col.ready))
            assert not ctx.get(dut.out.valid)
            await ctx.tick()
        ctx.set(dut.col.valid, 0)
        await ctx.tick()
        assert not ctx.get(dut.idle)       # the last one is in p_
        await ctx.tick()
        assert ctx.get(dut.idle)

    simulate(dut, bench)
    assert taken == [1] * 10
