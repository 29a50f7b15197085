"""Statistics of a compiled program: entries, padding, storage and work per PE."""

from __future__ import annotations

import numpy as np

__all__ = ["layer_stats", "program_stats", "lowering_stats", "column_lengths", "merged_padding", "column_issues",
           "encoded_issues", "work_per_pe", "work_bound", "format_stats"]


def column_lengths(program, layer: int) -> np.ndarray:
    """Entries (padding included) of every column in every PE: shape (n_pe, n_in)."""
    return np.stack([np.diff(program.layer_pointers(layer, k))
                     for k in range(program.cfg.n_pe)])


def merged_padding(cfg, ptr, v, z) -> np.ndarray:
    """Padding entries of each column that issue together with the entry after them.

    ``ptr`` (n_in + 1) are the columns' absolute entry addresses in one PE's stream and
    ``v``, ``z`` the stream from address ``ptr[0]`` on. The rule is stage ``a_``'s
    (hw/spmat.py, docs/architecture.md): the entry at column offset ``t`` merges iff
    it is padding ``(0, max_gap)``, its word is already on the read port (``t > 0`` and
    it is not the word's first slot), the next entry is in the same word (not the last
    slot) and the column has an entry after that one (``t <= L - 3``). Merged entries
    are skipped, so in a run of ``n`` consecutive mergeable entries every second one
    merges, starting with the first: ``ceil(n / 2)``. Runs never cross a column.
    """
    ptr = np.asarray(ptr, dtype=np.int64)
    n_cols = len(ptr) - 1
    col = np.repeat(np.arange(n_cols), np.diff(ptr))
    return np.bincount(col[merged_entries(cfg, ptr, v, z)], minlength=n_cols).astype(np.int64)


def merged_entries(cfg, ptr, v, z) -> np.ndarray:
    """Which entries of the columns ``ptr`` (bool, one per entry from ``ptr[0]`` to
    ``ptr[-1]``) are merged padding: :func:`merged_padding`'s rule, entry by entry."""
    ptr = np.asarray(ptr, dtype=np.int64)
    n_cols = len(ptr) - 1
    per_word = cfg.entries_per_word
    merged = np.zeros(int(ptr[-1] - ptr[0]), dtype=bool)
    if not cfg.merge_padding or per_word < 3 or ptr[-1] == ptr[0]:  # as hw/spmat.py
        return merged
    base = int(ptr[0])
    lengths = np.diff(ptr)
    col = np.repeat(np.arange(n_cols), lengths)
    addr = np.arange(base, int(ptr[-1]))
    t = addr - ptr[col]
    slot = addr % per_word
    e = addr - base
    can = ((np.asarray(v)[e] == 0) & (np.asarray(z)[e] == cfg.max_gap) & (t > 0)
           & (slot != 0) & (slot != per_word - 1) & (t <= lengths[col] - 3))
    edges = np.diff(np.concatenate([[0], can.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    # in a run of mergeable entries the first, third, ... merge (each with the next)
    run = ends - starts
    pos = np.arange(run.sum()) - np.repeat(np.cumsum(run) - run, run)
    at = np.repeat(starts, run) + pos
    merged[at[pos % 2 == 0]] = True
    return merged


def column_issues(program, layer: int) -> np.ndarray:
    """Issue cycles of every column in every PE, (n_pe, n_in): the column's entries less
    its merged padding (:func:`merged_padding`); equal to the lengths when
    ``cfg.merge_padding`` is 0. This, not the length, is what the timing depends on."""
    cfg = program.cfg
    rows = []
    for k in range(cfg.n_pe):
        ptr = program.layer_pointers(layer, k)
        v, z = program.pe_entries(k)
        rows.append(np.diff(ptr) - merged_padding(cfg, ptr, v[ptr[0]:], z[ptr[0]:]))
    return np.stack(rows)


def encoded_issues(cfg, enc) -> np.ndarray:
    """Issue cycles (n_pe, n_in) of an encoded layer (compiler/encode.py) placed at the
    start of the PEs' memories, as a layer compiled alone is."""
    return np.stack([np.diff(s.ptr) - merged_padding(cfg, s.ptr, s.v, s.z)
                     for s in enc.pe]).astype(np.int64)


def work_per_pe(program, layer: int, act_in) -> np.ndarray:
    """Issue cycles each PE spends for input activations ``act_in`` (hardware order): the
    sum of its columns' issue counts over the non-zero activations (its entries, less
    merged padding). Shape (n_pe,) or (batch, n_pe)."""
    a = np.asarray(act_in)
    nz = (a != 0).astype(np.int64)
    return nz @ column_issues(program, layer).T


def work_bound(program, layer: int, act_in) -> np.ndarray:
    """The work-bound cycle estimate: the most loaded PE's issue cycles."""
    return work_per_pe(program, layer, act_in).max(axis=-1)


def layer_stats(program, layer: int) -> dict:
    cfg = program.cfg
    lp = program.layers[layer]
    entries = np.asarray(lp.entries)
    padding = np.asarray(lp.padding)
    nnz = entries - padding
    rows_per_pe = -(-lp.n_out // cfg.n_pe)
    spmat_bytes = int(entries.sum()) * cfg.entry_bits / 8
    ptr_bytes = (lp.n_in + 1) * cfg.n_pe * cfg.ptr_bits / 8
    codebook_bytes = cfg.codebook_size * cfg.weight_bits / 8
    bias_bytes = rows_per_pe * cfg.n_pe * cfg.acc_bits / 8
    total = spmat_bytes + ptr_bytes + codebook_bytes + bias_bytes
    mean = float(entries.mean())
    return {
        "name": lp.name, "n_in": lp.n_in, "n_out": lp.n_out,
        "nnz": int(nnz.sum()), "density": float(nnz.sum()) / (lp.n_in * lp.n_out),
        "padding": int(padding.sum()), "entries": int(entries.sum()),
        "entries_per_pe": {"min": int(entries.min()), "max": int(entries.max()), "mean": mean},
        "per_pe": {"nnz": nnz.tolist(), "padding": padding.tolist(), "entries": entries.tolist(),
                   "spmat_bytes": (entries * cfg.entry_bits / 8).tolist()},
        # work balance (static, all inputs non-zero): the mean PE's entries / the busiest
        # PE's; --balance raises it. Not the compute efficiency (work bound / cycles) of
        # a simulation, which says how close a schedule gets to the busiest PE's work
        "work_balance": mean / entries.max() if entries.max() else 1.0,
        "bytes": {"spmat": spmat_bytes, "pointers": ptr_bytes, "codebook": codebook_bytes,
                  "bias": bias_bytes, "total": total},
        "dense_fp32_bytes": lp.n_in * lp.n_out * 4 + lp.n_out * 4,
        "format": lp.fmt.to_dict(),
    }


def program_stats(program) -> dict:
    cfg = program.cfg
    layers = [layer_stats(program, k) for k in range(len(program.layers))]
    total = sum(s["bytes"]["total"] for s in layers)
    dense = sum(s["dense_fp32_bytes"] for s in layers)
    last = program.layers[-1]
    entries_used = max(lp.entry_base[k] + lp.entries[k]
                       for lp in program.layers for k in range(cfg.n_pe)) if program.layers else 0
    memories = {
        "pointers": {"used": last.ptr_base + last.n_in + 1, "depth": cfg.ptr_depth},
        "spmat_words": {"used": -(-entries_used // cfg.entries_per_word), "depth": cfg.spmat_depth},
        "bias": {"used": last.bias_base + -(-last.n_out // cfg.n_pe), "depth": cfg.bias_depth},
        "activations": {"used": max(-(-n // cfg.n_pe) for lp in program.layers
                                    for n in (lp.n_in, lp.n_out)), "depth": cfg.act_depth},
        "layers": {"used": len(program.layers), "depth": cfg.max_layers},
    }
    out = {"config": cfg.to_dict(), "layers": layers, "memories": memories,
           "total_bytes": total, "dense_fp32_bytes": dense,
           "compression_vs_fp32": dense / total if total else 0.0}
    lowering = getattr(program, "lowering", None)  # set by compile_network, not saved
    if lowering is not None and lowering.changed:
        out["lowering"] = lowering_stats(program, lowering)
    return out


def lowering_stats(program, lowering) -> dict:
    """What running convolutions and max pooling as sparse layers costs
    (compiler/lower.py): per lowered layer, its entries and sparse-matrix bytes beside
    what the kernel's weights stored once would take (the repetition's cost)."""
    cfg = program.cfg
    rows = []
    for lp, la in zip(program.layers, lowering.layers):
        entries = int(sum(lp.entries))
        row = dict(la.to_dict(), entries=entries,
                   spmat_bytes=entries * cfg.entry_bits / 8)
        if la.kind == "conv":
            # the kernel's non-zeros once each, as a plain sparse layer would store them
            row["kernel_bytes"] = la.weights * cfg.entry_bits / 8
            row["repetition_bytes"] = row["spmat_bytes"] - row["kernel_bytes"]
        rows.append(row)
    conv = [r for r in rows if r["kind"] == "conv"]
    pool = [r for r in rows if r["kind"] == "maxpool"]
    return {"layers": rows,
            "conv_repetition_bytes": sum(r["repetition_bytes"] for r in conv),
            "conv_kernel_bytes": sum(r["kernel_bytes"] for r in conv),
            "maxpool_layers": len(pool),
            "maxpool_bytes": sum(r["spmat_bytes"] for r in pool)}


def format_stats(stats: dict) -> str:
    """A human-readable table of :func:`program_stats`."""
    cfg = stats["config"]
    lines = [f"eiegen program for {cfg['n_pe']} PEs, queue depth {cfg['queue_depth']}, "
             f"{cfg['index_bits']}-bit codebook indices, {cfg['rel_bits']}-bit relative indices",
             "",
             f"{'layer':<10}{'shape':>13}{'nnz':>9}{'density':>9}{'padding':>9}"
             f"{'entries/PE max':>16}{'work bal':>9}{'bytes':>11}{'shift':>7}"]
    for s in stats["layers"]:
        shape = f"{s['n_in']}x{s['n_out']}"
        lines.append(f"{s['name'][:10]:<10}{shape:>13}{s['nnz']:>9}{s['density']:>8.1%} "
                     f"{s['padding']:>8}{s['entries_per_pe']['max']:>16}"
                     f"{s['work_balance']:>8.1%} {s['bytes']['total']:>10.0f}"
                     f"{s['format']['shift']:>7}")
    lines.append("")
    lines.append(f"total storage {stats['total_bytes']:.0f} bytes; dense float32 "
                 f"{stats['dense_fp32_bytes']} bytes ({stats['compression_vs_fp32']:.1f}x)")
    lines.append("memory use per PE: " + ", ".join(
        f"{name} {m['used']}/{m['depth']}" for name, m in stats["memories"].items()))
    low = stats.get("lowering")
    if low:
        for r in low["layers"]:
            if r["kind"] == "conv":
                lines.append(f"{r['name']}: convolution lowered to {r['n_out']}x{r['n_in']}, "
                             f"{r['weights']} kernel weights repeated {r['repetition']:.1f}x "
                             f"({r['spmat_bytes']:.0f} sparse-matrix bytes, "
                             f"{r['repetition_bytes']:.0f} more than the kernel once)")
        if low["maxpool_layers"]:
            lines.append(f"max pooling: {low['maxpool_layers']} exact +-1 ReLU layers, "
                         f"{low['maxpool_bytes']:.0f} sparse-matrix bytes")
    return "\n".join(lines)
