#!/usr/bin/env python3
"""Benchmark: load-balance efficiency against activation-queue depth 1..16 on the nine
EIE layers (64 PEs, no compile-time balancing, seeded as in bench/eie_layers).

Cycles come from the cycle model (eiegen.sim.cycle_model), which equals the RTL's
counters exactly on every Verilator case of the regression suite (queue depths 1, 2, 3,
4, 8 and 16 there; every depth 1..16 against Amaranth's simulator in
tests/test_sim_cycle_model.py) and on the scaled-down EIE layers in bench/eie_layers.

Efficiency = work bound (busiest PE's entries) / compute cycles; "idle" = the share of
PE-cycles in which a PE issues nothing. EIE reports that at depth 1 about half of all
cycles are idle and that there is little gain past depth 8.

Prints a table and writes bench/results/queue_depth.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eie_layers"))
from layers import (write_result, LAYERS, N_PE, column_lengths, layer_activations,  # noqa: E402
                    layer_indices)

from eiegen.sim.cycle_model import layer_timing  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEPTHS = list(range(1, 17))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "queue_depth.json")
    args = ap.parse_args(argv)
    table = {}
    idle = {}
    for name, n_in, n_out, wd, ad, _, _ in LAYERS:
        lengths, _, _, _ = column_lengths(layer_indices(name, n_in, n_out, wd))
        x = layer_activations(name, n_in, ad)
        table[name], idle[name] = [], []
        for d in DEPTHS:
            t = layer_timing(lengths, x, N_PE, d, n_out)
            table[name].append(t.work_bound / t.compute)
            idle[name].append(1 - float(t.busy.sum()) / (N_PE * t.compute))
    print(f"load-balance efficiency (work bound / compute cycles) vs queue depth, {N_PE} PEs "
          "(cycle model, exact against the RTL)")
    print(f"{'layer':<8}" + "".join(f"{d:>6}" for d in DEPTHS))
    for name in table:
        print(f"{name:<8}" + "".join(f"{e:>6.1%}" for e in table[name]))
    mean = [sum(table[n][i] for n in table) / len(table) for i in range(len(DEPTHS))]
    mean_idle = [sum(idle[n][i] for n in idle) / len(idle) for i in range(len(DEPTHS))]
    print(f"{'mean':<8}" + "".join(f"{e:>6.1%}" for e in mean))
    print(f"{'idle':<8}" + "".join(f"{e:>6.1%}" for e in mean_idle))
    i8 = DEPTHS.index(8)
    print(f"\nidle PE-cycles at depth 1: {mean_idle[0]:.1%}; at depth 8: {mean_idle[i8]:.1%}; "
          f"at 16: {mean_idle[-1]:.1%} (gain 8 -> 16: {mean[-1] - mean[i8]:+.1%} efficiency)")
    result = {"n_pe": N_PE, "depths": DEPTHS, "efficiency": table, "idle_fraction": idle,
              "mean_efficiency": mean, "mean_idle_fraction": mean_idle,
              "cycles_from": "cycle model, exact against Verilator on the regression suite "
                             "(depths 1, 2, 3, 4, 8, 16) and Amaranth (depths 1..16)"}
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
