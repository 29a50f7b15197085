#!/usr/bin/env python3
"""Benchmark: Deep Compression on the digits MLP, and exact vs k-means 1-D clustering.

Prints a table and writes bench/compression/results.json (or --json PATH).

Goals (issue #5):
* the digits MLP is at least 40x smaller than its float32 weights and biases, with at
  most 1 percentage point of held-out accuracy lost;
* the 4-bit codebook model's fixed-point golden-model accuracy is within 0.5 points of
  its float accuracy;
* exact 1-D clustering never has a higher within-cluster error than k-means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eiegen.digits import (digits_arch, load_shipped, run_digits_pipeline,
                                    train_dense)
from eiegen.compiler.report import CompressionReport
from eiegen.compiler.weight_sharing import METHODS, cluster_1d, within_cluster_sse
from eiegen.safeio import atomic_write_text  # beside and rename


def clustering_bench(net):
    """Within-cluster squared error of every method on every layer's surviving weights."""
    rows = []
    for layer in net:
        w = layer.weight[layer.weight != 0]
        errs = {}
        for m in METHODS:
            c, lab = cluster_1d(w, 15, m, seed=0)
            errs[m] = within_cluster_sse(w, c, lab)
        rows.append({"layer": layer.name, "values": int(w.size), "sse": errs,
                     "optimal_best": all(errs["optimal"] <= errs[m] * (1 + 1e-12)
                                         for m in METHODS)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retrain-dense", action="store_true",
                    help="train the dense model from scratch instead of the shipped one")
    ap.add_argument("--json", type=Path, default=Path(__file__).with_name("results.json"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    dense = train_dense() if args.retrain_dense else load_shipped("dense")
    result = run_digits_pipeline(dense)
    net, report = result.network, result.report
    seconds = time.perf_counter() - t0
    print(report.table())
    stages = dict(report.stages)
    fixed = next(v for k, v in report.stages if k.startswith("fixed point"))
    loss = stages["dense"] - stages["huffman"]
    total = report.total()
    hw = CompressionReport.of(net, n_pe=digits_arch().n_pe, rel_bits=4).total()
    print(f"\nsame model in the accelerator's own format ({digits_arch().n_pe} PEs, 4-bit "
          f"relative indices): {hw['bytes_huffman']} B Huffman-coded, {hw['ratio']:.1f}x")

    clusters = clustering_bench(result.pruned)  # the weights weight sharing clustered
    print("\nwithin-cluster squared error of the pruned weights, 15 centroids per layer "
          "(lower is better)")
    print(f"{'layer':6} {'values':>7} " + " ".join(f"{m:>10}" for m in METHODS))
    for r in clusters:
        print(f"{r['layer']:6} {r['values']:>7} " + " ".join(f"{r['sse'][m]:10.5f}"
                                                            for m in METHODS))
    goals = {
        "ratio >= 40x": total["ratio"] >= 40.0,
        "accuracy loss <= 1 point": loss <= 1.0,
        "fixed point within 0.5 points of float": abs(fixed - stages["huffman"]) <= 0.5,
        "exact clustering never worse than k-means": all(r["optimal_best"] for r in clusters),
    }
    print()
    for g, ok in goals.items():
        print(f"{'PASS' if ok else 'FAIL'}  {g}")
    print(f"\nratio {total['ratio']:.1f}x, accuracy {stages['dense']:.2f}% -> "
          f"{stages['huffman']:.2f}% (fixed point {fixed:.2f}%), {seconds:.1f} s")
    result = {"report": report.to_dict(), "accelerator_format": hw, "clustering": clusters,
              "goals": goals, "accuracy_loss": loss, "fixed_point_accuracy": fixed,
              "seconds": seconds}
    atomic_write_text(args.json, json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
