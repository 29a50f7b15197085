"""Statistics of a compiled program: entries, padding, storage and work per PE."""

from __future__ import annotations

import numpy as np

__all__ = ["layer_stats", "program_stats", "column_lengths", "work_per_pe", "work_bound",
           "format_stats"]


def column_lengths(program, layer: int) -> np.ndarray:
    """Entries (padding included) of every column in every PE: shape (n_pe, n_in)."""
    return np.stack([np.diff(program.layer_pointers(layer, k))
                     for k in range(program.cfg.n_pe)])


def work_per_pe(program, layer: int, act_in) -> np.ndarray:
    """Entries each PE processes for input activations ``act_in`` (hardware order): the
    sum of its column lengths over the non-zero activations. Shape (n_pe,) or
    (batch, n_pe)."""
    a = np.asarray(act_in)
    nz = (a != 0).astype(np.int64)
    return nz @ column_lengths(program, layer).T


def work_bound(program, layer: int, act_in) -> np.ndarray:
    """The work-bound cycle estimate: the most loaded PE's entries."""
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
        # the static balance: how close the busiest PE is to the average one
        "static_balance": mean / entries.max() if entries.max() else 1.0,
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
    return {"config": cfg.to_dict(), "layers": layers, "memories": memories,
            "total_bytes": total, "dense_fp32_bytes": dense,
            "compression_vs_fp32": dense / total if total else 0.0}


def format_stats(stats: dict) -> str:
    """A human-readable table of :func:`program_stats`."""
    cfg = stats["config"]
    lines = [f"eiegen program for {cfg['n_pe']} PEs, queue depth {cfg['queue_depth']}, "
             f"{cfg['index_bits']}-bit codebook indices, {cfg['rel_bits']}-bit relative indices",
             "",
             f"{'layer':<10}{'shape':>13}{'nnz':>9}{'density':>9}{'padding':>9}"
             f"{'entries/PE max':>16}{'balance':>9}{'bytes':>11}{'shift':>7}"]
    for s in stats["layers"]:
        shape = f"{s['n_in']}x{s['n_out']}"
        lines.append(f"{s['name'][:10]:<10}{shape:>13}{s['nnz']:>9}{s['density']:>8.1%} "
                     f"{s['padding']:>8}{s['entries_per_pe']['max']:>16}"
                     f"{s['static_balance']:>8.1%} {s['bytes']['total']:>10.0f}"
                     f"{s['format']['shift']:>7}")
    lines.append("")
    lines.append(f"total storage {stats['total_bytes']:.0f} bytes; dense float32 "
                 f"{stats['dense_fp32_bytes']} bytes ({stats['compression_vs_fp32']:.1f}x)")
    lines.append("memory use per PE: " + ", ".join(
        f"{name} {m['used']}/{m['depth']}" for name, m in stats["memories"].items()))
    return "\n".join(lines)
