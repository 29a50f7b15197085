#!/usr/bin/env python3
"""Benchmark: encoding speed of the nine EIE benchmark layers (Table III) for 64 PEs.

Each layer gets random codebook indices (compiler.examples.random_indices, uint8, a fixed
seed) at the paper's weight density, is encoded with compiler.encode.encode_layer for
64 PEs and 4-bit relative indices, and every PE's entry stream is packed into EIE's
64-bit sparse-matrix words (8 entries of 4 + 4 bits) with compiler.pack.pack_entries.
Only encoding and packing are timed, not generating the matrix.

Prints a table and writes bench/results/compile_speed.json (or --json PATH).
Goal: VGG-6 (25088 x 4096 at 4%) encodes and packs in under 5 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from eiegen.compiler.encode import encode_layer
from eiegen.compiler.examples import random_indices
from eiegen.compiler.pack import pack_entries
from eiegen.safeio import atomic_write_text  # beside and rename

# EIE Table III: name, n_in, n_out ("size (in x out)"), weight density.
LAYERS = [
    ("Alex-6", 9216, 4096, 0.09),
    ("Alex-7", 4096, 4096, 0.09),
    ("Alex-8", 4096, 1000, 0.25),
    ("VGG-6", 25088, 4096, 0.04),
    ("VGG-7", 4096, 4096, 0.04),
    ("VGG-8", 4096, 1000, 0.23),
    ("NT-We", 4096, 600, 0.10),
    ("NT-Wd", 600, 8791, 0.11),
    ("NT-LSTM", 1201, 2400, 0.10),
]
N_PE, INDEX_BITS, REL_BITS, ENTRIES_PER_WORD = 64, 4, 4, 8
GOAL_LAYER, GOAL_SECONDS = "VGG-6", 5.0


def bench_layer(name, n_in, n_out, density, seed):
    rng = np.random.default_rng(seed)
    indices = random_indices(rng, n_out, n_in, density, dtype=np.uint8)
    nnz = int(np.count_nonzero(indices))
    t0 = time.perf_counter()
    enc = encode_layer(indices, N_PE, REL_BITS)
    words = [pack_entries(s.v, s.z, INDEX_BITS, REL_BITS, ENTRIES_PER_WORD) for s in enc.pe]
    seconds = time.perf_counter() - t0
    del indices
    entries, padding = enc.n_entries, enc.n_padding
    assert entries == nnz + padding
    return {"layer": name, "n_in": n_in, "n_out": n_out, "density": density, "nnz": nnz,
            "seconds": seconds, "entries": entries, "padding": padding,
            "padding_percent": 100.0 * padding / entries if entries else 0.0,
            "bytes": int(sum(w.size for w in words)),
            "max_entries_per_pe": max(s.n_entries for s in enc.pe)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "compile_speed.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="layer names to run (default: all nine)")
    args = ap.parse_args(argv)

    rows = []
    print(f"{'layer':<9}{'n_in x n_out':>14}{'time s':>9}{'entries':>11}{'padding':>10}"
          f"{'padding %':>11}{'bytes':>11}")
    for k, (name, n_in, n_out, density) in enumerate(LAYERS):
        if args.only and name not in args.only:
            continue
        r = bench_layer(name, n_in, n_out, density, args.seed + k)
        rows.append(r)
        print(f"{name:<9}{f'{n_in}x{n_out}':>14}{r['seconds']:>9.2f}{r['entries']:>11}"
              f"{r['padding']:>10}{r['padding_percent']:>10.2f}%{r['bytes']:>11}", flush=True)

    goal = next((r for r in rows if r["layer"] == GOAL_LAYER), None)
    met = None if goal is None else goal["seconds"] < GOAL_SECONDS
    if goal is not None:
        print(f"\ngoal: {GOAL_LAYER} in under {GOAL_SECONDS:.0f} s: {goal['seconds']:.2f} s, "
              f"{'met' if met else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({
        "config": {"n_pe": N_PE, "index_bits": INDEX_BITS, "rel_bits": REL_BITS,
                   "entries_per_word": ENTRIES_PER_WORD, "seed": args.seed},
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "processor": platform.processor() or platform.machine()},
        "goal": {"layer": GOAL_LAYER, "seconds": GOAL_SECONDS, "met": met},
        "layers": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0 if met is not False else 1


if __name__ == "__main__":
    raise SystemExit(main())
