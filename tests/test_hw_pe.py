"""One PE fed by a broadcast: results, fill/drain latencies, one entry per cycle across
column boundaries (empty columns included), and the counters' definitions."""

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import wrap
from eiegen.hw.pe import ProcessingElement
from eiegen.hw.protocol import MEM_ACT
from eiegen.hw.simulation import simulate


def front_end_model(lengths, depth, pushes):
    """The documented per-cycle rules of queue -> h_ -> p_ -> a_ (docs/architecture.md):
    returns per cycle (queue ready, issue). ``pushes`` is how many columns are offered."""
    queue, h, p, left, offered, out = [], None, None, 0, 0, []
    while offered < pushes or queue or h is not None or p is not None or left:
        ready = len(queue) < depth
        issue = left > 0
        a_free = left <= 1
        p_empty = p is not None and lengths[p] == 0
        p_to_a = p is not None and not p_empty and a_free
        p_free = p is None or p_empty or a_free
        h_free = h is None or p_free
        pop = bool(queue) and h_free
        out.append((ready if offered < pushes else None, int(issue)))
        if p_to_a:
            left = lengths[p]
        elif issue:
            left -= 1
        if p_free:
            p = h
        if h_free:
            h = queue.pop(0) if pop else None
        if offered < pushes and ready:
            queue.append(offered)
            offered += 1
    return out


def test_pe_stream():
    cfg = ArchConfig(n_pe=1, act_depth=8, entries_per_word=4, queue_depth=4)
    rng = np.random.default_rng(3)
    n_cols = 12
    lengths = [3, 1, 0, 5, 2, 0, 0, 4, 1, 2, 6, 1]
    cols = []
    for n in lengths:
        rows = sorted(rng.choice(8, size=n, replace=False)) if n else []
        cols.append([(int(r), int(rng.integers(1, 16))) for r in rows])
    v, z, ptr = [], [], [0]
    for col in cols:
        prev = -1
        for r, vi in col:
            v.append(vi)
            z.append(r - prev - 1)
            prev = r
        ptr.append(len(v))
    words = [0] * -(-len(v) // 4)
    for e, (vi, zi) in enumerate(zip(v, z)):
        words[e // 4] |= (vi | zi << 4) << (8 * (e % 4))
    codebook = [0] + [int(w) for w in rng.integers(-500, 500, 15)]
    dut = ProcessingElement(cfg, {"ptr": ptr, "spmat": words, "codebook": codebook})
    acts = [int(a) for a in rng.integers(-300, 300, n_cols)]
    model = [0] * 8
    for col, a in zip(cols, acts):
        for r, vi in col:
            model[r] = wrap(model[r] + codebook[vi] * a, cfg.acc_bits)
    trace = []

    async def bench(ctx):
        ctx.set(dut.ctl.compute, 1)
        for j, a in enumerate(acts):       # broadcast back to back while the queue has room
            ctx.set(dut.bcast_pending, 1)
            ctx.set(dut.bcast.payload, {"act": a, "col": j})
            ctx.set(dut.bcast.valid, 1)
            ready = ctx.get(dut.bcast.ready)
            trace.append((ready, ctx.get(dut.arith.inp.valid), ctx.get(dut.spmat.issue)))
            await ctx.tick()
            while not ready:
                ready = ctx.get(dut.bcast.ready)
                trace.append((ready, 0, ctx.get(dut.spmat.issue)))
                await ctx.tick()
        ctx.set(dut.bcast.valid, 0)
        ctx.set(dut.bcast_pending, 0)
        while not ctx.get(dut.idle):
            trace.append((None, 0, ctx.get(dut.spmat.issue)))
            await ctx.tick()
        ctx.set(dut.ctl.compute, 0)
        assert [ctx.get(dut.arith.acc.data[r]) for r in range(8)] == model
        for kind, want in ((1, sum(lengths)),):
            ctx.set(dut.rd_kind, kind)
            assert ctx.get(dut.rd_data) != want     # a register: shows it a cycle later
            await ctx.tick()
            assert ctx.get(dut.rd_data) == want
        ctx.set(dut.ctl.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.busy) == ctx.get(dut.starved) == ctx.get(dut.stalled) == 0

        # a host write to the source activations, read back through rd_data
        ctx.set(dut.ctl.clear, 0)
        ctx.set(dut.wr.en, 1)
        ctx.set(dut.wr.mem, MEM_ACT)
        ctx.set(dut.wr.addr, 2)
        ctx.set(dut.wr.data, 0xFFFB)
        await ctx.tick()
        ctx.set(dut.wr.en, 0)
        for _ in range(dut.write_latency):  # the write enables are registers
            await ctx.tick()
        ctx.set(dut.src_en, 1)
        ctx.set(dut.src_addr, 2)
        await ctx.tick()
        ctx.set(dut.rd_kind, 0)
        for _ in range(dut.read_latency):
            await ctx.tick()
        assert ctx.get(dut.rd_data) == 0xFFFFFFFB

    simulate(dut, bench)
    issues = [t[2] for t in trace]
    first, last = issues.index(1), len(issues) - 1 - issues[::-1].index(1)
    assert first == dut.issue_latency
    assert len(trace) - last == dut.drain_latency
    assert sum(issues) == sum(lengths)
    model = front_end_model(lengths, cfg.queue_depth, n_cols)
    assert [(r, i) for r, _, i in trace] == model + [(None, 0)] * (len(trace) - len(model))
