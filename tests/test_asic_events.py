"""Event counts: equal to the work recomputed from the golden model, and to what the RTL
does, memory port by memory port, in Amaranth simulation."""

import numpy as np
import pytest

from amaranth.hdl import Shape

from eiegen.arch import ArchConfig
from eiegen.asic.events import (batch_events, broadcast_bits, inference_events,
                                 memory_geometry, spmat_fetches)
from eiegen.compiler.stats import work_per_pe
from eiegen.hw import protocol as P
from eiegen.hw.simulation import simulate, stream_get, stream_put
from eiegen.hw.layouts import offer_layout
from eiegen.hw.top import EIE
from eiegen.sim.golden import layer_matrix, run_golden
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


@pytest.mark.parametrize("extra", [
    {"col_filter": 1},
    {"col_filter": 1, "broadcast_width": 3, "queue_depth": 3},
    {"broadcast_width": 2, "bias_reset": 1, "wb_overlap": 1},
])
def test_broadcasts_and_takes_follow_the_column_masks(extra):
    # derived here from the column-mask images the host writes (program.colmask), row
    # by row as the LNZD offers them (docs/architecture.md, "Wide and filtered broadcast")
    n_pe = 3
    cfg = ArchConfig(n_pe=n_pe, **extra)
    program, inputs = make_case(7, cfg, [22, 30, 8], 0.1)
    width = cfg.broadcast_width
    for x in inputs:
        events, _ = inference_events(program, x)
        acts = [np.asarray(x)] + run_golden(program, x)[:-1]
        first_row = 0
        for k, (ev, a) in enumerate(zip(events, acts)):
            lp = program.layers[k]
            rows = -(-lp.n_in // n_pe)
            masks = np.array([program.colmask(pe)[first_row:first_row + rows]
                              for pe in range(n_pe)], dtype=np.int64)
            first_row += rows
            bits = (masks[:, :, None] >> np.arange(n_pe)) & 1      # PE, row, lane
            has = bits.reshape(n_pe, -1)[:, :lp.n_in].astype(bool)
            nz = np.asarray(a) != 0
            lanes = nz & has.any(axis=0) if cfg.col_filter else nz
            per_row = [int(lanes[r * n_pe:(r + 1) * n_pe].sum()) for r in range(rows)]
            assert ev.columns == lanes.sum()
            assert ev.broadcasts == sum(-(-m // width) for m in per_row)
            taken = (has & nz).sum(axis=1) if cfg.col_filter else [nz.sum()] * n_pe
            assert list(ev.reads["queue"]) == list(ev.writes["queue"]) == list(taken)
            assert list(ev.reads["ptr_even"]) == list(taken)
            rows_out = -(-lp.n_out // n_pe)
            if cfg.col_filter:
                assert list(ev.reads["colmask"]) == [rows] * n_pe
            if cfg.bias_reset:
                # no preload: a row's bias is read with its first issue of the layer, so
                # at least once per row with a real entry in a non-zero column (golden
                # model's decoding), at most once per issue and per local row (the exact
                # count, padding rows included, is checked against the RTL below)
                gm = layer_matrix(program, k)
                real = np.zeros(n_pe, dtype=np.int64)
                for r in np.unique(gm.rows[nz[gm.cols]]):
                    real[r % n_pe] += 1
                wb = 0 if cfg.wb_overlap else rows_out
                first = ev.reads["bias"] - wb
                assert (first >= real).all()
                assert (first <= np.minimum(ev.macs, rows_out)).all()
            if cfg.wb_overlap:   # bank k % 2 and the write-back's own bias copy
                bank, other = (("accumulators", "accumulators1") if k % 2 == 0
                               else ("accumulators1", "accumulators"))
                assert list(ev.writes[bank]) == list(ev.macs)
                assert ev.reads[other].sum() == ev.writes[other].sum() == 0
                assert list(ev.reads["bias_wb"]) == [rows_out] * n_pe
    geo = memory_geometry(cfg)
    assert ("colmask" in geo) == bool(cfg.col_filter)
    if cfg.col_filter:
        assert geo["colmask"] == (n_pe, cfg.mask_depth)
    assert ("accumulators1" in geo) == ("bias_wb" in geo) == bool(cfg.wb_overlap)
    assert broadcast_bits(cfg) == Shape.cast(offer_layout(cfg)).width


def _memories(dut):
    """Per PE: the memories whose ports the RTL test counts (name as in the events model
    -> Amaranth memory), those that the PE has."""
    out = []
    for pe in dut.pes:
        mems = {"ptr_even": pe.pointer.banks[0], "ptr_odd": pe.pointer.banks[1],
                "codebook": pe.arith.codebook, "accumulators": pe.arith.acc,
                "bias": pe.actrw.bias}
        if dut.cfg.wb_overlap:
            mems.update(accumulators1=pe.arith.acc1, bias_wb=pe.actrw.bias_wb)
        if dut.cfg.col_filter:
            mems["colmask"] = pe.colmask
        out.append(mems)
    return out


def rtl_counts(program, inputs):
    """Run ``inputs`` on the RTL (program loaded through the host protocol) and count, per
    PE, the memory port activity of the RUNs: every read-port enable of the memories of
    :func:`_memories` (none is enabled outside a RUN), the accumulators' write enables,
    the sparse-matrix fetches, issues, queue pushes and pops, source-row reads,
    write-backs, and the LNZD's broadcasts."""
    cfg = program.cfg
    n = cfg.n_pe
    dut = EIE(cfg)
    words = P.load_program(program)
    expect = 0
    for x in inputs:
        words += P.write_input(cfg, x) + P.run(len(program.layers))
        expect += 2
    mems = _memories(dut)
    keys = ["fetch", "issue", "push", "pop", "src", "wb", "bcast"] + \
        [f"read:{name}" for name in mems[0]] + \
        [f"write:{name}" for name in mems[0] if name.startswith("accumulators")]
    counts = {k: [0] * n for k in keys}

    async def sender(ctx):
        for w in words:
            await stream_put(ctx, dut.host_in, w)

    async def receiver(ctx):
        for _ in range(expect):
            await stream_get(ctx, dut.host_out)

    async def watcher(ctx):
        # the memories' ports exist once the design is elaborated (by the simulator)
        ctl, lnzd = dut.control, dut.lnzd
        sigs = [lnzd.src_en, lnzd.out.valid, lnzd.out.ready, ctl.ctl.wb_en]
        per_pe = []
        for pe, pm in zip(dut.pes, mems):
            q = pe.queue
            if cfg.wide_broadcast:
                push = [pe.fire] + [pe.offer[s].valid for s in range(cfg.broadcast_width)]
            else:
                push = [q.w.valid, q.w.ready]
            ports = [(f"read:{k}", m.read_ports[0].en) for k, m in pm.items()] + \
                [(f"write:{k}", m.write_ports[0].en) for k, m in pm.items()
                 if k.startswith("accumulators")]
            per_pe.append((len(push), [key for key, _ in ports]))
            sigs += [pe.spmat.fetch, pe.spmat.issue, q.r.valid, q.r.ready, *push,
                     *[sig for _, sig in ports]]
        async for _, _, src, bv, br, wb, *v in ctx.tick().sample(*sigs):
            i = 0
            for k, (n_push, names) in enumerate(per_pe):
                fetch, issue, rv, rr = v[i:i + 4]
                push = v[i + 4:i + 4 + n_push]
                ports = v[i + 4 + n_push:i + 4 + n_push + len(names)]
                i += 4 + n_push + len(names)
                counts["fetch"][k] += fetch
                counts["issue"][k] += issue
                counts["pop"][k] += rv and rr
                counts["push"][k] += (push[0] * sum(push[1:]) if cfg.wide_broadcast
                                      else push[0] and push[1])
                counts["src"][k] += src
                counts["wb"][k] += wb
                counts["bcast"][k] += bv and br
                for name, en in zip(names, ports):
                    counts[name][k] += en

    simulate(dut, sender, receiver, background=[watcher])
    return counts


@pytest.mark.parametrize("n_pe,sizes,density,extra", [
    (2, [10, 9, 7], 0.5, {"entries_per_word": 3}),
    (3, [20, 30, 9], 0.15, {"rel_bits": 2, "queue_depth": 2}),
    # issue 21's options: columns some PEs (and some no PE) have no entries in
    (2, [16, 12, 6], 0.12, {"col_filter": 1}),
    (3, [20, 18, 7], 0.12, {"col_filter": 1, "broadcast_width": 2, "bias_reset": 1,
                            "queue_depth": 3}),
    (2, [19, 14, 9, 5], 0.15, {"col_filter": 1, "broadcast_width": 4, "bias_reset": 1,
                               "wb_overlap": 1, "queue_depth": 4}),
    (2, [13, 11, 6], 0.3, {"broadcast_width": 3, "bias_reset": 1, "wb_overlap": 1,
                           "queue_depth": 3}),
], ids=["eie", "rel_bits2", "col_filter", "filter_w2_reset", "all_w4", "w3_overlap"])
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
    assert counts["push"] == total(lambda ev: ev.writes["queue"])
    assert counts["pop"] == total(lambda ev: ev.reads["queue"])
    assert counts["src"] == total(lambda ev: ev.reads["act"])
    assert counts["wb"] == total(lambda ev: ev.writes["act"])
    assert counts["bcast"][0] == sum(ev.broadcasts for ev in layers)
    names = [k.split(":", 1)[1] for k in counts if k.startswith("read:")]
    assert set(names) | {"spmat", "act", "queue", "layers"} == set(layers[0].reads)
    for name in names:
        assert counts[f"read:{name}"] == total(lambda ev: ev.reads[name]), name
    for key in (k for k in counts if k.startswith("write:")):
        name = key.split(":", 1)[1]
        assert counts[key] == total(lambda ev: ev.writes[name]), key
    if cfg.col_filter:   # the case exercises the filter: some PE skips some column
        assert sum(counts["push"]) < n_pe * sum(ev.columns for ev in layers)


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
