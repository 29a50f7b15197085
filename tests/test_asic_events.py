"""Event counts: equal to the work recomputed from the golden model, and to what the RTL
does, memory port by memory port, in Amaranth simulation."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.asic.events import batch_events, inference_events, spmat_fetches
from eiegen.compiler.stats import work_per_pe
from eiegen.hw import protocol as P
from eiegen.hw.simulation import simulate, stream_get, stream_put
from eiegen.hw.top import EIE
from eiegen.sim.golden import run_golden
from test_hw_top import make_case

from reference_models import reference_issue_cycles


def test_spmat_fetches():
    # words of 4 entries: [0,3) word 0; [3,6) words 0,1 (0 held); [6,6) nothing; [9,13) 2,3
    assert spmat_fetches([0, 3, 6, 9], [3, 6, 6, 13], 4) == (4, 3)
    assert spmat_fetches([0], [2], 4, held=0) == (0, 0)
    assert spmat_fetches([5], [5], 4, held=7) == (0, 7)


@pytest.mark.parametrize("n_pe,sizes,density,extra", [
    (2, [10, 9, 7], 0.5, {}),
    (4, [12, 80, 6], 0.04, {"rel_bits": 2}),
    (3, [14, 11, 5], 1.0, {"entries_per_word": 3}),
])
def test_events_equal_golden_work(n_pe, sizes, density, extra):
    cfg = ArchConfig(n_pe=n_pe, **extra)
    program, inputs = make_case(n_pe, cfg, sizes, density)
    for x in inputs:
        events, _ = inference_events(program, x)
        acts = [np.asarray(x)] + run_golden(program, x)[:-1]
        for k, (ev, a) in enumerate(zip(events, acts)):
            lp = program.layers[k]
            assert ev.broadcasts == np.count_nonzero(a)
            np.testing.assert_array_equal(ev.macs, work_per_pe(program, k, a))
            for pe in range(n_pe):       # issues stepped entry by entry, padding included
                ptr = program.layer_pointers(k, pe)
                v, z = program.pe_entries(pe)
                issues = np.array(reference_issue_cycles(
                    ptr, v[ptr[0]:], z[ptr[0]:], cfg.entries_per_word, cfg.max_gap,
                    bool(cfg.merge_padding)))
                assert ev.macs[pe] == issues[a != 0].sum()
                assert ev.reads["codebook"][pe] == ev.macs[pe]
                assert ev.reads["ptr_even"][pe] == ev.reads["ptr_odd"][pe] == ev.broadcasts
            rows_out = -(-lp.n_out // n_pe)
            assert list(ev.writes["accumulators"]) == list(ev.macs + rows_out)
            assert list(ev.reads["bias"]) == [rows_out] * n_pe
            assert ev.lnzd_rows == -(-lp.n_in // n_pe)
            # at most one word read per entry (the held word may serve a whole layer)
            assert np.all(ev.spmat_reads <= ev.macs)


def rtl_counts(program, inputs):
    """Run ``inputs`` on the RTL (program loaded through the host protocol) and count, per
    PE, the memory port activity of the RUNs."""
    cfg = program.cfg
    n = cfg.n_pe
    dut = EIE(cfg)
    words = P.load_program(program)
    expect = 0
    for x in inputs:
        words += P.write_input(cfg, x) + P.run(len(program.layers))
        expect += 2
    keys = ("fetch", "issue", "ptr", "src", "pre", "wb", "bcast", "desc")
    counts = {k: [0] * n for k in keys}

    async def sender(ctx):
        for w in words:
            await stream_put(ctx, dut.host_in, w)

    async def receiver(ctx):
        for _ in range(expect):
            await stream_get(ctx, dut.host_out)

    async def watcher(ctx):
        ctl, lnzd = dut.control, dut.lnzd
        sigs = [lnzd.src_en, lnzd.out.valid, lnzd.out.ready, ctl.ctl.pre_en, ctl.ctl.wb_en]
        for pe in dut.pes:
            sigs += [pe.spmat.fetch, pe.spmat.issue, pe.pointer.col.valid,
                     pe.pointer.col.ready]
        async for _, _, src, bv, br, pre, wb, *v in ctx.tick().sample(*sigs):
            for k in range(n):
                fetch, issue, cv, cr = v[4 * k:4 * k + 4]
                counts["fetch"][k] += fetch
                counts["issue"][k] += issue
                counts["ptr"][k] += cv and cr
                counts["src"][k] += src
                counts["pre"][k] += pre
                counts["wb"][k] += wb
                counts["bcast"][k] += bv and br

    simulate(dut, sender, receiver, background=[watcher])
    return counts


@pytest.mark.parametrize("n_pe,sizes,density,extra", [
    (2, [10, 9, 7], 0.5, {"entries_per_word": 3}),
    (3, [20, 30, 9], 0.15, {"rel_bits": 2, "queue_depth": 2}),
])
def test_events_equal_rtl_port_activity(n_pe, sizes, density, extra):
    cfg = ArchConfig(n_pe=n_pe, **extra)
    program, inputs = make_case(10 + n_pe, cfg, sizes, density)
    counts = rtl_counts(program, inputs)
    batch = batch_events(program, inputs, cycles=False)   # held word carried over
    layers = [ev for events in batch for ev in events]

    def total(f):
        return [int(sum(f(ev)[k] for ev in layers)) for k in range(n_pe)]

    assert counts["fetch"] == total(lambda ev: ev.spmat_reads)
    assert counts["issue"] == total(lambda ev: ev.macs)
    assert counts["ptr"] == total(lambda ev: ev.reads["ptr_even"])
    assert counts["src"] == total(lambda ev: ev.reads["act"])
    assert counts["pre"] == total(lambda ev: ev.reads["bias"])
    assert counts["wb"] == total(lambda ev: ev.writes["act"])
    assert counts["bcast"][0] == sum(ev.broadcasts for ev in layers)


@pytest.mark.parametrize("seed", range(8))
def test_spmat_fetches_all_pes_at_once(seed):
    # the vectorised form used by inference_events equals spmat_fetches PE by PE
    from eiegen.asic.events import _spmat_fetches_all

    rng = np.random.default_rng(seed)
    n_pe, b, per_word = 5, int(rng.integers(0, 12)), int(rng.integers(1, 9))
    lengths = rng.integers(0, 4, size=(n_pe, b))
    starts = np.cumsum(rng.integers(0, 3, size=(n_pe, b)), axis=1) + np.cumsum(lengths, axis=1) - lengths
    ends = starts + lengths
    held = [None, 0, 3, None, 7]
    reads, after = _spmat_fetches_all(starts, ends, per_word, held)
    for k in range(n_pe):
        assert (int(reads[k]), after[k]) == spmat_fetches(starts[k], ends[k], per_word, held[k])
