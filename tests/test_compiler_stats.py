import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.compiler.stats import (column_issues, column_lengths, format_stats, layer_stats,
                                   merged_entries, merged_padding, program_stats, work_bound,
                                   work_per_pe)
from eiegen.sim.golden import layer_matrix

from reference_models import reference_issue_cycles


def brute_force_column_entries(dense, n_pe, rel_bits):
    """entries[k][j]: PE k's entries in column j of a dense index matrix (hardware row
    order), counting one padding entry per 2**rel_bits zero rows a gap skips."""
    period = 1 << rel_bits
    n_out, n_in = dense.shape
    entries = np.zeros((n_pe, n_in), dtype=np.int64)
    for k in range(n_pe):
        for j in range(n_in):
            last = -1
            for r, i in enumerate(range(k, n_out, n_pe)):
                if dense[i, j]:
                    entries[k, j] += 1 + (r - last - 1) // period
                    last = r
    return entries


def decoded_dense(program, layer):
    m = layer_matrix(program, layer)
    lp = program.layers[layer]
    dense = np.zeros((lp.n_out, lp.n_in), dtype=np.int64)
    dense[m.rows, m.cols] = m.index
    return dense


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pe=st.sampled_from([1, 2, 5, 16]),
       rel_bits=st.sampled_from([1, 2, 4]), balance=st.booleans(),
       act_density=st.sampled_from([0.0, 0.2, 0.6, 1.0]))
def test_work_per_pe_brute_force(seed, n_pe, rel_bits, balance, act_density):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 70, size=3).tolist()
    net = random_network(rng, sizes, density=float(rng.choice([0.03, 0.2, 0.6])))
    # merge_padding=0: every entry is one issue cycle, so the work is the entry count
    cfg = ArchConfig(n_pe=n_pe, rel_bits=rel_bits, act_depth=128, merge_padding=0)
    program = compile_network(net, cfg, balance=balance)
    for layer, lp in enumerate(program.layers):
        dense = decoded_dense(program, layer)
        entries = brute_force_column_entries(dense, n_pe, rel_bits)
        assert np.array_equal(column_lengths(program, layer), entries)
        a = rng.integers(-5, 6, size=(4, lp.n_in)) * (rng.random((4, lp.n_in)) < act_density)
        want = np.array([[sum(int(entries[k, j]) for j in range(lp.n_in) if a[b, j] != 0)
                          for k in range(n_pe)] for b in range(4)])
        assert np.array_equal(work_per_pe(program, layer, a), want)
        assert np.array_equal(work_per_pe(program, layer, a[1]), want[1])
        assert np.array_equal(work_bound(program, layer, a), want.max(axis=1))
        # all-active inputs: every entry of the PE, i.e. what the manifest records
        assert work_per_pe(program, layer, np.ones(lp.n_in)).tolist() == lp.entries


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pe=st.sampled_from([1, 3, 8]),
       rel_bits=st.sampled_from([1, 2, 4]), per_word=st.sampled_from([1, 2, 3, 8]),
       merge=st.sampled_from([0, 1]))
def test_column_issues_step_by_step(seed, n_pe, rel_bits, per_word, merge):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 90, size=3).tolist()
    net = random_network(rng, sizes, density=float(rng.choice([0.02, 0.08, 0.3])))
    cfg = ArchConfig(n_pe=n_pe, rel_bits=rel_bits, act_depth=128, entries_per_word=per_word,
                     spmat_depth=16384, merge_padding=merge)
    program = compile_network(net, cfg)
    merged_any = False
    for layer, lp in enumerate(program.layers):
        issues = column_issues(program, layer)
        assert (issues <= column_lengths(program, layer)).all()
        assert ((issues > 0) == (column_lengths(program, layer) > 0)).all()
        for k in range(n_pe):
            ptr = program.layer_pointers(layer, k)
            v, z = program.pe_entries(k)
            want = reference_issue_cycles(ptr, v[ptr[0]:], z[ptr[0]:], per_word, cfg.max_gap,
                                          bool(merge))
            assert issues[k].tolist() == want
        merged_any |= bool((issues < column_lengths(program, layer)).any())
    if not merge or per_word < 3:
        assert not merged_any


def test_merged_padding_runs():
    """A run of mergeable padding merges every second entry, starting with the first."""
    cfg = ArchConfig(rel_bits=2, entries_per_word=8)  # max_gap 3
    # one column of 8 entries in one word: real, pad, pad, pad, real, pad, real, real
    v = np.array([5, 0, 0, 0, 7, 0, 2, 3])
    z = np.array([1, 3, 3, 3, 0, 3, 1, 0])
    # offset 1 merges 2, offset 3 merges 4, offset 5 merges 6; offset 6 would be too late
    assert merged_padding(cfg, [0, 8], v, z).tolist() == [3]
    assert merged_padding(cfg.replace(merge_padding=0), [0, 8], v, z).tolist() == [0]
    # a padding entry (0, max_gap) only: v=0 with a shorter z does not merge
    assert merged_padding(cfg, [0, 8], v, np.where(v == 0, 2, z)).tolist() == [0]
    # the same column starting in slot 6 crosses a word: offsets 1 (slot 7) and 2 (slot 0)
    # cannot merge, offset 3 (slot 1) merges 4, offset 5 merges 6
    assert merged_padding(cfg, [6, 14], v, z).tolist() == [2]
    # entry by entry (asic/events: a merged entry writes no row)
    assert np.flatnonzero(merged_entries(cfg, [0, 8], v, z)).tolist() == [1, 3, 5]
    assert np.flatnonzero(merged_entries(cfg, [6, 14], v, z)).tolist() == [3, 5]
    assert not merged_entries(cfg.replace(merge_padding=0), [0, 8], v, z).any()


def test_layer_stats_parts_and_totals():
    net = random_network(2, [40, 30, 10], density=0.25)
    cfg = ArchConfig(n_pe=4, rel_bits=2)
    program = compile_network(net, cfg)
    stats = program_stats(program)
    for k, (layer, s) in enumerate(zip(net.layers, stats["layers"])):
        lp = program.layers[k]
        assert s == layer_stats(program, k)
        assert s["nnz"] == layer.nnz == int(np.count_nonzero(layer.indices))
        assert s["density"] == layer.nnz / (layer.n_in * layer.n_out)
        assert s["entries"] == sum(lp.entries) == s["nnz"] + s["padding"]
        assert s["padding"] == sum(lp.padding)
        e = s["entries_per_pe"]
        assert (e["min"], e["max"]) == (min(lp.entries), max(lp.entries))
        assert e["mean"] == sum(lp.entries) / cfg.n_pe
        assert s["work_balance"] == e["mean"] / e["max"]
        b = s["bytes"]
        assert b["spmat"] == s["entries"] * cfg.entry_bits / 8
        assert b["pointers"] == (layer.n_in + 1) * cfg.n_pe * cfg.ptr_bits / 8
        assert b["codebook"] == 16 * cfg.weight_bits / 8
        assert b["bias"] == -(-layer.n_out // 4) * 4 * cfg.acc_bits / 8
        assert b["total"] == b["spmat"] + b["pointers"] + b["codebook"] + b["bias"]
        assert s["dense_fp32_bytes"] == 4 * layer.n_out * (layer.n_in + 1)
        assert s["format"] == lp.fmt.to_dict()
    assert stats["total_bytes"] == sum(s["bytes"]["total"] for s in stats["layers"])
    assert stats["dense_fp32_bytes"] == sum(s["dense_fp32_bytes"] for s in stats["layers"])
    assert stats["compression_vs_fp32"] == stats["dense_fp32_bytes"] / stats["total_bytes"]
    assert stats["config"] == cfg.to_dict()


def test_memory_use():
    net = random_network(3, [21, 14, 9], density=0.3)
    cfg = ArchConfig(n_pe=4, entries_per_word=3)
    program = compile_network(net, cfg)
    mem = program_stats(program)["memories"]
    per_pe = [sum(lp.entries[k] for lp in program.layers) for k in range(4)]
    assert mem["pointers"] == {"used": 22 + 15, "depth": cfg.ptr_depth}
    assert mem["spmat_words"] == {"used": -(-max(per_pe) // 3), "depth": cfg.spmat_depth}
    assert mem["bias"] == {"used": 4 + 3, "depth": cfg.bias_depth}
    assert mem["activations"] == {"used": 6, "depth": cfg.act_depth}  # ceil(21 / 4)
    assert mem["layers"] == {"used": 2, "depth": cfg.max_layers}
    assert max(len(program.images[f"pe{k}.spmat"]) for k in range(4)) == mem["spmat_words"]["used"]


def test_empty_layer_balance_is_one():
    net = random_network(0, [5, 3], density=0.0)
    program = compile_network(net, ArchConfig(n_pe=2))
    s = layer_stats(program, 0)
    assert s["entries"] == 0 and s["work_balance"] == 1.0


def test_format_stats():
    net = random_network(4, [16, 8, 4], density=0.5)
    program = compile_network(net, ArchConfig(n_pe=4))
    stats = program_stats(program)
    text = format_stats(stats)
    lines = text.splitlines()
    assert lines[0].startswith("eiegen program for 4 PEs, queue depth 8")
    assert any(line.startswith("fc0") and "16x8" in line for line in lines)
    assert any(line.startswith("fc1") and "8x4" in line for line in lines)
    assert f"total storage {stats['total_bytes']:.0f} bytes" in text
    assert "pointers 26/1024" in text and "layers 2/8" in text
