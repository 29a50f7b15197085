"""The sparse-matrix read unit: entries across word boundaries, one entry per cycle
across column boundaries, one memory read per word."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.hw.simulation import simulate, stream_put
from eiegen.hw.spmat import SparseMatrixReadUnit


def pack(cfg, v, z):
    words = [0] * -(-len(v) // cfg.entries_per_word)
    for e, (vi, zi) in enumerate(zip(v, z)):
        words[e // cfg.entries_per_word] |= (int(vi) | int(zi) << cfg.index_bits) << (
            (e % cfg.entries_per_word) * cfg.entry_bits)
    return words


@pytest.mark.parametrize("per_word", [1, 3, 8])
def test_entries_stream(per_word):
    cfg = ArchConfig(entries_per_word=per_word, spmat_depth=64)
    rng = np.random.default_rng(per_word)
    n = 60
    v = rng.integers(0, cfg.codebook_size, n)
    z = rng.integers(0, cfg.max_gap + 1, n)
    dut = SparseMatrixReadUnit(cfg, init=pack(cfg, v, z))
    bounds = np.unique(np.concatenate([[0, n], rng.integers(0, n, 14)]))
    cols = [(int(a), int(b)) for a, b in zip(bounds, bounds[1:])] + [(n - 3, n)]
    got, issues, fetches = [], [], []

    async def producer(ctx):
        for k, (a, b) in enumerate(cols):
            await stream_put(ctx, dut.col, {"act": k, "start": a, "end": b})

    async def watcher(ctx):
        async for _, _, valid, p, issue, fetch in ctx.tick().sample(
                dut.out.valid, dut.out.payload, dut.issue, dut.fetch):
            issues.append(issue)
            fetches.append(fetch)
            if valid:
                got.append((p.act, p.v, p.z, p.first))

    async def bench(ctx):
        await producer(ctx)
        for _ in range(4):
            await ctx.tick()

    simulate(dut, bench, background=[watcher])
    want = [(k, int(v[e]), int(z[e]), int(e == a)) for k, (a, b) in enumerate(cols)
            for e in range(a, b)]
    assert got == want
    # issue cycles are consecutive: no bubble at column or word boundaries
    first = issues.index(1)
    assert issues[first:first + len(want)] == [1] * len(want)
    # one memory read per change of word
    addrs = [e // per_word for a, b in cols for e in range(a, b)]
    assert sum(fetches) == 1 + sum(x != y for x, y in zip(addrs, addrs[1:]))


def test_host_write_invalidates_held_word():
    cfg = ArchConfig(entries_per_word=2, spmat_depth=4)
    dut = SparseMatrixReadUnit(cfg, init=[0x21])   # entry 0: v=1, z=2
    got = []

    async def bench(ctx):
        ctx.set(dut.col.valid, 1)
        ctx.set(dut.col.payload, {"act": 1, "start": 0, "end": 1})
        await ctx.tick()
        ctx.set(dut.col.valid, 0)
        await ctx.tick()
        got.append((ctx.get(dut.out.payload.v), ctx.get(dut.out.payload.z)))
        ctx.set(dut.wr.en, 1)
        ctx.set(dut.wr.addr, 0)
        ctx.set(dut.wr.data, 0x35)
        await ctx.tick()
        ctx.set(dut.wr.en, 0)
        ctx.set(dut.col.valid, 1)
        await ctx.tick()
        ctx.set(dut.col.valid, 0)
        await ctx.tick()
        got.append((ctx.get(dut.out.payload.v), ctx.get(dut.out.payload.z)))

    simulate(dut, bench)
    assert got == [(1, 2), (5, 3)]
