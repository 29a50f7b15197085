"""The sparse-matrix read unit: entries across word boundaries, one entry per cycle
across column boundaries, one memory read per word."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.hw.simulation import simulate, stream_put
from eiegen.hw.spmat import SparseMatrixReadUnit

from reference_models import reference_issue_cycles


def pack(cfg, v, z):
    words = [0] * -(-len(v) // cfg.entries_per_word)
    for e, (vi, zi) in enumerate(zip(v, z)):
        words[e // cfg.entries_per_word] |= (int(vi) | int(zi) << cfg.index_bits) << (
            (e % cfg.entries_per_word) * cfg.entry_bits)
    return words


def expected_stream(cfg, cols, v, z):
    """(act, v, z, first, skip) of every entry ``out`` carries: a mergeable padding entry
    (the rule of reference_issue_cycles) travels as ``skip`` on the entry after it."""
    out, w = [], cfg.entries_per_word
    for k, (a, b) in enumerate(cols):
        e = a
        while e < b:
            pair = bool(cfg.merge_padding and e > a and e % w not in (0, w - 1)
                        and b - e >= 3 and v[e] == 0 and z[e] == cfg.max_gap)
            s = e + pair
            out.append((k, int(v[s]), int(z[s]), int(e == a), int(pair)))
            e = s + 1
    return out


@pytest.mark.parametrize("per_word, merge", [(1, 1), (3, 0), (3, 1), (8, 0), (8, 1)])
def test_entries_stream(per_word, merge):
    cfg = ArchConfig(entries_per_word=per_word, spmat_depth=64, rel_bits=2,
                     merge_padding=merge)
    rng = np.random.default_rng(per_word)
    n = 60
    v = rng.integers(0, cfg.codebook_size, n)
    z = rng.integers(0, cfg.max_gap + 1, n)
    pads = rng.random(n) < 0.4  # runs of padding entries, and v=0 entries that are not
    v[pads], z[pads] = 0, cfg.max_gap
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
                got.append((p.act, p.v, p.z, p.first, p.skip))

    async def bench(ctx):
        await producer(ctx)
        for _ in range(4):
            await ctx.tick()

    simulate(dut, bench, background=[watcher])
    want = expected_stream(cfg, cols, v, z)
    assert got == want
    n_issue = sum(reference_issue_cycles([a, b], v[a:], z[a:], per_word, cfg.max_gap,
                                         bool(merge))[0] for a, b in cols)
    assert len(want) == n_issue
    if not merge or per_word < 3:
        assert n_issue == sum(b - a for a, b in cols)
    if merge and per_word == 8:
        assert n_issue < sum(b - a for a, b in cols)  # the case exercises merging
    # issue cycles are consecutive: no bubble at column or word boundaries
    first = issues.index(1)
    assert issues[first:first + len(want)] == [1] * len(want)
    assert sum(issues) == len(want)
    # one memory read per change of word
    addrs = [e // per_word for a, b in cols for e in range(a, b)]
    assert sum(fetches) == 1 + sum(x != y for x, y in zip(addrs, addrs[1:]))
    # each read is one cycle ahead of the issue that needs it (the word is registered)
    assert all(issues[t + 1] for t, f in enumerate(fetches) if f)


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
