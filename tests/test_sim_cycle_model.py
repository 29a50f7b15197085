"""The cycle model: against a plain per-cycle model of docs/architecture.md's rules,
against the RTL in Amaranth's simulator at every queue depth 1..16, the documented
closed forms, and its speed on an EIE-size layer."""

import time

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.compiler.stats import work_per_pe
from eiegen.hw.simulation import run_host
from eiegen.sim.cycle_model import estimate_batch, estimate_cycles, layer_timing
from eiegen.sim.golden import run_golden

FIRST_ROW = 4  # docs/architecture.md: row 0 is current in COMPUTE cycle 4


def per_cycle_model(lengths, act, n_pe, depth, width=1, col_filter=False):
    """docs/architecture.md, "COMPUTE, cycle by cycle" (and "Wide and filtered
    broadcast" for ``width`` > 1 or ``col_filter``), one cycle at a time, sharing
    nothing with the model under test. Returns (C, busy, starved, stalled)."""
    lengths = np.asarray(lengths)
    n_in = len(act)
    queues = [[] for _ in range(n_pe)]
    h = [None] * n_pe
    p = [None] * n_pe
    left = [0] * n_pe
    issued = [[] for _ in range(n_pe)]  # cycles of issue
    busy, starved, stalled = [0] * n_pe, [0] * n_pe, [0] * n_pe
    nxt, row, mask = 0, None, []
    c = 0
    drained = False  # the LNZD was done and every PE idle in the previous cycle
    while True:
        # LNZD offer and broadcast
        group = mask[:width] if row is not None else []
        takes = [[j for j in group if not col_filter or lengths[k, j] > 0]
                 for k in range(n_pe)]
        full = [len(queues[k]) + len(takes[k]) > depth for k in range(n_pe)]
        taken = bool(group) and not any(full)
        for k in range(n_pe):
            if group and full[k]:
                stalled[k] += 1
        if taken:
            mask = mask[len(group):]
        finishes = row is not None and not mask
        done = row is None and nxt >= n_in
        # PEs
        idle_all = True
        for k in range(n_pe):
            issue = left[k] > 0
            q_empty = not queues[k]
            idle = (q_empty and h[k] is None and p[k] is None and left[k] == 0
                    and not any(c - 4 <= u <= c - 1 for u in issued[k][-4:]))
            idle_all &= idle
            if issue:
                busy[k] += 1
                issued[k].append(c)
            elif q_empty:
                starved[k] += 1
            a_free = left[k] <= 1
            j = p[k]
            p_drop = j is not None and lengths[k, j] == 0
            p_to_a = j is not None and lengths[k, j] > 0 and a_free
            p_free = j is None or p_drop or a_free
            h_free = h[k] is None or p_free
            pop = not q_empty and h_free
            left[k] = lengths[k, j] if p_to_a else left[k] - int(issue)
            if p_free:
                p[k] = h[k]
            if h_free:
                h[k] = queues[k].pop(0) if pop else None
            if taken:
                queues[k] += takes[k]
        if drained:
            return c + 1, busy, starved, stalled
        drained = done and idle_all
        # row 0 is read in cycle 0 and current from FIRST_ROW; later rows follow
        if (row is None and c >= FIRST_ROW - 1) or finishes:
            if nxt < n_in:
                row = nxt // n_pe
                mask = [j for j in range(nxt, min(nxt + n_pe, n_in)) if act[j] != 0
                        and (not col_filter or lengths[:, j].any())]
                nxt += n_pe
            else:
                row, mask = None, []
        c += 1


@pytest.mark.parametrize("seed", range(40))
def test_matches_the_per_cycle_rules(seed):
    rng = np.random.default_rng(seed)
    n_pe = int(rng.choice([1, 2, 3, 4, 7]))
    depth = int(rng.integers(1, 17))
    n_in = int(rng.integers(1, 40))
    lengths = rng.integers(0, int(rng.choice([2, 4, 12])), size=(n_pe, n_in))
    lengths[:, rng.random(n_in) < 0.2] = 0  # empty columns
    act = (rng.random(n_in) < rng.uniform(0, 1)).astype(int)
    t = layer_timing(lengths, act, n_pe, depth, n_out=5)
    c, busy, starved, stalled = per_cycle_model(lengths, act, n_pe, depth)
    assert t.compute == c
    assert list(t.busy) == busy
    assert list(t.starved) == starved
    assert list(t.stalled) == stalled


@pytest.mark.parametrize("seed", range(40))
def test_wide_and_filtered_broadcast_match_the_per_cycle_rules(seed):
    rng = np.random.default_rng(500 + seed)
    n_pe = int(rng.choice([1, 2, 3, 4, 7]))
    width = int(rng.integers(1, 5))
    depth = int(rng.integers(width, 17))
    col_filter = bool(rng.integers(0, 2)) or width == 1
    n_in = int(rng.integers(1, 40))
    lengths = rng.integers(0, int(rng.choice([2, 4, 12])), size=(n_pe, n_in))
    lengths[:, rng.random(n_in) < 0.2] = 0  # empty columns
    lengths[rng.random((n_pe, n_in)) < 0.3] = 0  # columns empty in some PEs only
    act = (rng.random(n_in) < rng.uniform(0, 1)).astype(int)
    t = layer_timing(lengths, act, n_pe, depth, n_out=5, width=width,
                     col_filter=int(col_filter))
    c, busy, starved, stalled = per_cycle_model(lengths, act, n_pe, depth, width,
                                                col_filter)
    assert t.compute == c
    assert list(t.busy) == busy
    assert list(t.starved) == starved
    assert list(t.stalled) == stalled


def test_wide_broadcast_with_one_lane_is_eies():
    # the group recurrence at width 1 without the filter is EIE's recurrence term by term
    from eiegen.timing import _wide_timing

    rng = np.random.default_rng(3)
    for _ in range(30):
        n_pe, n_in, depth = int(rng.integers(1, 9)), int(rng.integers(1, 60)), int(
            rng.integers(1, 9))
        lengths = rng.integers(0, 6, (n_pe, n_in)) * (rng.random((n_pe, n_in)) < 0.6)
        act = (rng.random(n_in) < rng.random()).astype(int)
        a = layer_timing(lengths, act, n_pe, depth, 20)
        b = _wide_timing(lengths, act, n_pe, depth, 20, 1, 0, 1 + 2 * -(-20 // n_pe))
        assert (a.compute, a.cycles, a.broadcasts) == (b.compute, b.cycles, b.broadcasts)
        for f in ("busy", "starved", "stalled"):
            assert list(getattr(a, f)) == list(getattr(b, f))


def test_bias_reset_layer_overhead():
    # DESC + one setup cycle + write-back instead of DESC + preload + write-back
    t = layer_timing(np.ones((4, 10), dtype=int), np.zeros(10), 4, 8, n_out=9,
                     bias_reset=1)
    assert t.cycles == 1 + 1 + 3 + t.compute


def test_wb_overlap_layer_overhead():
    # DESC + setup; only the last layer's write-back shows: max(1, R - 1) cycles
    from eiegen.sim.cycle_model import layer_overhead

    assert layer_overhead(9, 4, 1, 1, last=False) == 2
    assert layer_overhead(9, 4, 1, 1, last=True) == 2 + 2
    assert layer_overhead(3, 4, 1, 1, last=True) == 2 + 1


def test_all_zero_input():
    # docs/architecture.md: an all-zero input gives C = ceil(n_in / N) + 6
    t = layer_timing(np.ones((4, 10), dtype=int), np.zeros(10), 4, 8, n_out=9)
    assert t.compute == 3 + 6
    assert t.cycles == 1 + 2 * 3 + 9
    assert list(t.busy) == [0] * 4 and list(t.starved) == [9] * 4


def test_without_stalls_lnzd_bound():
    # one entry per column everywhere and a deep queue: C = done + 2 where done rises at
    # FIRST_ROW + sum over rows of max(m_r, 1); the last issue is 4 cycles after the
    # last broadcast (issue latency) and C = last issue + 7 = done + 10 here
    n_pe, n_in = 4, 23
    rng = np.random.default_rng(1)
    act = (rng.random(n_in) < 0.5).astype(int)
    rows = [act[r:r + n_pe] for r in range(0, n_in, n_pe)]
    done = FIRST_ROW + sum(max(int(np.count_nonzero(r)), 1) for r in rows)
    t = layer_timing(np.ones((n_pe, n_in), dtype=int), act, n_pe, 16, n_out=4)
    assert list(t.stalled) == [0] * n_pe
    last_broadcast_row = max(i for i, r in enumerate(rows) if r.any())
    tail_zero_rows = len(rows) - 1 - last_broadcast_row
    assert t.compute == max(done, done - tail_zero_rows + 8) + 2


def make_program(seed, cfg, sizes, density):
    rng = np.random.default_rng(seed)
    program = compile_network(random_network(rng, sizes, density=density), cfg)
    x = program.quantize_input(rng.normal(size=(2, sizes[0])))
    x[rng.random(x.shape) < 0.4] = 0
    return program, x


@pytest.mark.parametrize("depth", range(1, 17))
def test_matches_the_rtl_at_every_queue_depth(depth):
    cfg = ArchConfig(n_pe=3, queue_depth=depth, rel_bits=3, entries_per_word=4)
    program, x = make_program(depth, cfg, [20, 17, 8], 0.5)
    res = run_host(program, list(x), monitor=False)
    for i, est in enumerate(estimate_batch(program, x)):
        c = res.counters[i]
        assert (c.cycles, list(c.busy), list(c.starved), list(c.stalled)) == (
            est.cycles, est.busy, est.starved, est.stalled)


@pytest.mark.parametrize("options", [dict(col_filter=1), dict(broadcast_width=2),
                                     dict(col_filter=1, broadcast_width=4, bias_reset=1),
                                     dict(broadcast_width=2, bias_reset=1, wb_overlap=1)])
def test_matches_the_rtl_with_the_broadcast_options(options):
    cfg = ArchConfig(n_pe=3, queue_depth=4, rel_bits=3, entries_per_word=4, **options)
    program, x = make_program(11, cfg, [20, 17, 8], 0.3)
    res = run_host(program, list(x), monitor=False)
    for i, est in enumerate(estimate_batch(program, x)):
        c = res.counters[i]
        assert (c.cycles, list(c.busy), list(c.starved), list(c.stalled)) == (
            est.cycles, est.busy, est.starved, est.stalled)
        assert (res.outputs[i] == run_golden(program, x[i])[-1]).all()


def test_estimate_sums_and_work():
    cfg = ArchConfig(n_pe=4, queue_depth=2)
    program, x = make_program(5, cfg, [40, 30, 20], 0.3)
    est = estimate_cycles(program, x[0])
    assert sum(est.layer_cycles) == est.cycles
    assert len(est.layer_cycles) == 2
    acts = [x[0]] + run_golden(program, x[0])[:-1]
    work = sum(work_per_pe(program, k, a) for k, a in enumerate(acts))
    assert est.busy == list(work)
    assert est.work_bound == sum(int(work_per_pe(program, k, a).max())
                                 for k, a in enumerate(acts))
    assert 0 < est.efficiency <= 1
    assert est.efficiency == est.work_bound / sum(est.compute_cycles)
    # overriding the queue depth changes timing, not work
    deep = estimate_cycles(program, x[0], queue_depth=16)
    assert deep.busy == est.busy and deep.cycles <= est.cycles


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        layer_timing(np.ones((2, 3)), np.ones(4), 2, 1, 2)
    with pytest.raises(ValueError, match="broadcast width"):
        layer_timing(np.ones((2, 3)), np.ones(3), 2, 1, 2, width=2)
    cfg = ArchConfig(n_pe=2)
    program, x = make_program(0, cfg, [6, 4], 0.5)
    with pytest.raises(ValueError, match="queue_depth"):
        estimate_cycles(program, x[0], queue_depth=0)


def test_eie_size_layer_is_fast():
    # Alex-7's shape on 64 PEs (4096 x 4096, 9% weights, 35% activations): tens of
    # thousands of cycles (EIE: 12.2 us = 9760), modelled in well under a second on a quiet machine
    rng = np.random.default_rng(0)
    lengths = rng.binomial(64, 0.09, size=(64, 4096))
    act = rng.random(4096) < 0.353
    start = time.perf_counter()
    t = layer_timing(lengths, act, 64, 8, n_out=4096)
    seconds = time.perf_counter() - start
    assert t.compute > t.work_bound > 5_000
    assert seconds < 5.0


@pytest.mark.parametrize("seed", range(12))
def test_batch_matches_layer_timing_at_every_depth(seed):
    # the vectorised recurrence (every input and queue depth at once) is the same
    # recurrence: equal to layer_timing lane by lane, empty inputs and columns included
    from eiegen.sim.cycle_model import layer_compute_batch

    rng = np.random.default_rng(100 + seed)
    n_pe = int(rng.choice([1, 2, 3, 4, 7, 16]))
    n_in = int(rng.integers(1, 60))
    lengths = rng.integers(0, int(rng.choice([2, 4, 12])), size=(n_pe, n_in))
    lengths[:, rng.random(n_in) < 0.2] = 0
    acts = (rng.random((9, n_in)) < rng.uniform(0, 1, size=(9, 1))).astype(int)
    acts[0] = 0  # an all-zero input
    depths = sorted(set(rng.integers(1, 17, size=4).tolist()))
    compute, work = layer_compute_batch(lengths, acts, n_pe, depths)
    for b, act in enumerate(acts):
        for d, depth in enumerate(depths):
            t = layer_timing(lengths, act, n_pe, depth, n_out=5)
            assert compute[d, b] == t.compute
            assert work[b] == t.work_bound


@pytest.mark.parametrize("options", [dict(), dict(bias_reset=1, wb_overlap=1),
                                     dict(col_filter=1),
                                     dict(broadcast_width=2, bias_reset=1, wb_overlap=1)])
def test_batch_cycles_equal_estimate_batch(options):
    # estimate_batch matches the RTL with these options (above); the work bound is the
    # busiest PE's issue cycles for the layer's input (compiler/stats.work_per_pe)
    from eiegen.sim.cycle_model import batch_cycles

    cfg = ArchConfig(n_pe=4, entries_per_word=4, rel_bits=3, **options)
    program, _ = make_program(7, cfg, [40, 30, 20], 0.3)
    rng = np.random.default_rng(7)
    x = program.quantize_input(rng.normal(size=(6, 40)))
    x[rng.random(x.shape) < 0.5] = 0
    depths = (cfg.broadcast_width, 3, 8)  # a queue holds at least one broadcast
    bc = batch_cycles(program, x, depths)
    for d, depth in enumerate(depths):
        est = estimate_batch(program, x, queue_depth=depth)
        assert list(bc.cycles[d]) == [e.cycles for e in est]
        assert bc.layer_cycles[d].T.tolist() == [e.layer_cycles for e in est]
        assert bc.compute[d].T.tolist() == [e.compute_cycles for e in est]
        assert int(bc.work_bound.sum()) == sum(e.work_bound for e in est)
    acts = [x] + run_golden(program, x)[:-1]
    for b in range(len(x)):
        assert bc.work_bound[:, b].tolist() == [int(work_per_pe(program, k, a[b]).max())
                                                for k, a in enumerate(acts)]
    # efficiency: summed work bound over summed compute cycles, at the first depth
    # unless told
    for d in (0, 2):
        assert bc.efficiency(d) == bc.work_bound.sum() / bc.compute[d].sum()
    assert bc.efficiency() == bc.efficiency(0) != bc.efficiency(2)
    # known activations may come as lists, or one input's as 1-D arrays
    given = batch_cycles(program, x, depths, activations=[a.tolist() for a in acts])
    assert np.array_equal(given.cycles, bc.cycles)
    one = batch_cycles(program, x[0], depths, activations=[a[0] for a in acts])
    assert one.cycles.tolist() == bc.cycles[:, :1].tolist()
    with pytest.raises(ValueError, match="queue"):
        batch_cycles(program, x, (0,))


def test_an_estimate_without_compute_cycles_is_fully_efficient():
    from eiegen.sim.cycle_model import CycleEstimate
    e = CycleEstimate(cycles=0, layer_cycles=[], compute_cycles=[], busy=[], starved=[],
                      stalled=[])
    assert e.work_bound == 0 and e.efficiency == 1.0


def test_counters_wrap_at_32_bits_like_the_rtl():
    # the RTL's COUNTERS are 32-bit registers that wrap (docs/protocol.md)
    from eiegen.sim.cycle_model import CycleEstimate
    e = CycleEstimate(cycles=(1 << 32) + 5, layer_cycles=[], compute_cycles=[],
                 busy=[(1 << 32) - 1, 1 << 33], starved=[1 << 32, 7], stalled=[3, (1 << 32) + 1])
    assert e.counters_tuple() == (5, [(1 << 32) - 1, 0], [0, 7], [3, 1])
