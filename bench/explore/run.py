#!/usr/bin/env python3
"""Benchmark: `eiegen explore` on the shipped digits MLP, 1,000 points.

The sweep: n_pe 4..64 x entries_per_word 4, 8 x queue_depth 1..16 x merge_padding 0, 1 x
act_depth 64, 128 x spmat_depth 256..4096 = 1,000 points (10 compiles), each evaluated
with the exact cycle model over 100 held-out digits and the energy/area model. It runs
once with 1 Dask worker and once with 2 (each a fresh LocalCluster and a fresh output
folder, so nothing comes from a journal), checks that both wrote byte-identical results,
and reports the wall times and the speedup.

Goals (issue 23): under 60 s wall with 2 workers on a 2-core machine; speedup >= 1.7x.
The machine's load average is recorded beside the times: other work on the same cores
takes from both runs.

Prints a table and writes bench/results/explore.json (or --json PATH); --plot copies the
2-worker run's pareto.png to docs/explore-pareto.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.digits import digits_data, load_shipped
from eiegen.explore import Sweep, Workload, dask_client, format_summary, run_explore
from eiegen.safeio import atomic_write_text  # beside and rename

SWEEP = {"n_pe": (4, 8, 16, 32, 64), "entries_per_word": (4, 8),
         "queue_depth": (1, 2, 4, 8, 16), "merge_padding": (0, 1), "act_depth": (64, 128),
         "spmat_depth": (256, 512, 1024, 2048, 4096)}
GOAL_SECONDS, GOAL_SPEEDUP = 60.0, 1.7


def one(work, sweep, workers: int, out: Path) -> dict:
    start = time.monotonic()
    with dask_client(workers=workers) as client:
        ready = time.monotonic()
        result = run_explore(work, sweep, out, client=client)
        sweep_s = time.monotonic() - ready
    wall = time.monotonic() - start
    return {"workers": workers, "wall_s": wall, "cluster_start_s": ready - start,
            "sweep_s": sweep_s,
            "points": len(result.records), "computed": result.computed,
            "pareto": len(result.pareto), "result": result,
            "load_avg_after": os.getloadavg()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent.parent
                    / "results" / "explore.json")
    ap.add_argument("--plot", action="store_true",
                    help="copy the 2-worker run's pareto.png to docs/explore-pareto.png")
    ap.add_argument("--inputs", type=int, default=100, help="test digits per point")
    args = ap.parse_args(argv)

    x_tr, _, x_te, y_te = digits_data()
    work = Workload(net=load_shipped("compressed"), inputs=x_te[:args.inputs],
                    calibration=x_tr[:200], labels=y_te[:args.inputs])
    sweep = Sweep(ArchConfig().to_dict(), SWEEP)
    load_before = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            runs.append(one(work, sweep, workers, Path(tmp) / f"w{workers}"))
            print(f"{workers} worker(s): {runs[-1]['wall_s']:.1f} s", file=sys.stderr)
        files = ("results.csv", "results.json")
        identical = all((Path(tmp) / "w1" / f).read_bytes() == (Path(tmp) / "w2" / f).read_bytes()
                        for f in files)
        if args.plot:
            docs = Path(__file__).resolve().parent.parent.parent / "docs"
            shutil.copyfile(Path(tmp) / "w2" / "pareto.png", docs / "explore-pareto.png")
    speedup = runs[0]["wall_s"] / runs[1]["wall_s"]
    # the same without starting and stopping the cluster (a fixed cost of each run)
    sweep_speedup = runs[0]["sweep_s"] / runs[1]["sweep_s"]
    result = runs[1].pop("result")
    runs[0].pop("result")
    print(format_summary(result, list(SWEEP)))
    print()
    print(f"{'workers':>8} {'points':>7} {'wall s':>8} {'cluster s':>10} {'sweep s':>8} "
          f"{'points/s':>9}")
    for r in runs:
        print(f"{r['workers']:>8} {r['points']:>7} {r['wall_s']:>8.1f} "
              f"{r['cluster_start_s']:>10.1f} {r['sweep_s']:>8.1f} "
              f"{r['points'] / r['wall_s']:>9.1f}")
    ok_time = runs[1]["wall_s"] < GOAL_SECONDS
    ok_speed = speedup >= GOAL_SPEEDUP
    print(f"speedup 1 -> 2 workers: {speedup:.2f}x wall, {sweep_speedup:.2f}x without the "
          f"cluster's start (goal {GOAL_SPEEDUP}x: "
          f"{'met' if ok_speed else 'NOT met'}); 2 workers {runs[1]['wall_s']:.1f} s (goal "
          f"< {GOAL_SECONDS:.0f} s: {'met' if ok_time else 'NOT met'}); results identical: "
          f"{identical}; load average {load_before:.1f} before, "
          f"{runs[1]['load_avg_after']:.1f} after on {os.cpu_count()} cores")
    counts = {s: sum(r["status"] == s for r in result.records)
              for s in ("ok", "refused", "invalid")}
    doc = {"sweep": sweep.to_dict(), "inputs_per_point": args.inputs, "runs": runs,
           "speedup": speedup, "sweep_speedup": sweep_speedup, "identical_results": identical, "counts": counts,
           "pareto_points": result.pareto, "cores": os.cpu_count(),
           "load_avg_before": load_before,
           "goals": {"wall_s": GOAL_SECONDS, "speedup": GOAL_SPEEDUP,
                     "wall_met": ok_time, "speedup_met": ok_speed}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.json}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
