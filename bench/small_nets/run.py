#!/usr/bin/env python3
"""Benchmark (issue 21): small sparse MLPs, EIE's broadcast against the column filter,
the W-wide broadcast, the bias as the accumulators' reset value and the write-back
overlapped with the next layer (wb_overlap).

Three networks: the demo's digits MLP (64-300-100-10, the shipped compressed weights,
the held-out digits as inputs) and two random sparse MLPs (256-128-64-10 at 10% weights
and 128-256-256-32 at 5%, post-ReLU-like inputs at 30% density), each compiled with
compile-time balancing for 4, 8 and 16 PEs at queue depth 8 and every variant below
(the balancing pass picks row orders with the variant's timing). Cycles per inference
come from the cycle model (eiegen.sim.cycle_model), which the regression suite checks
against the RTL cycle for cycle on every option (sim/regression.py configs n4f, n3w3,
n5fw2b, n8fw4o, n2o). The outputs of every variant are checked to equal the EIE variant's
(golden model, network order): the options change timing only.

Prints a table and writes bench/results/small_nets.json (or --json PATH) and a plot beside
it, small_nets.png: per network, cycles per inference of every variant at each PE count,
split into compute and layer overhead.
Goal: the demo at 8 PEs at most 360 cycles per inference (moonshot 300).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.digits import digits_data, load_shipped
from eiegen.compiler.examples import random_network, relu_like_inputs
from eiegen.sim.cycle_model import batch_cycles
from eiegen.sim.golden import run_golden
from eiegen.safeio import atomic_write_text  # beside and rename

ROOT = Path(__file__).resolve().parents[2]
GOAL_DEMO_8PE = 360

# name -> ArchConfig fields; "eie" is EIE's broadcast and boundaries
VARIANTS = {
    "eie": {},
    "filter": {"col_filter": 1},
    "filter+2w": {"col_filter": 1, "broadcast_width": 2},
    "filter+4w": {"col_filter": 1, "broadcast_width": 4},
    "bias": {"bias_reset": 1},
    "filter+2w+bias": {"col_filter": 1, "broadcast_width": 2, "bias_reset": 1},
    "filter+4w+bias": {"col_filter": 1, "broadcast_width": 4, "bias_reset": 1},
    "f+2w+bias+wbo": {"col_filter": 1, "broadcast_width": 2, "bias_reset": 1,
                      "wb_overlap": 1},
    "f+4w+bias+wbo": {"col_filter": 1, "broadcast_width": 4, "bias_reset": 1,
                      "wb_overlap": 1},
}


def networks(limit: int):
    """(name, network, calibration floats, test floats) of the three benchmark nets."""
    x_tr, _, x_te, _ = digits_data()
    yield "digits", load_shipped("compressed"), x_tr, x_te[:limit]
    for name, sizes, density, seed in (("mlp256", [256, 128, 64, 10], 0.10, 1),
                                       ("mlp128", [128, 256, 256, 32], 0.05, 2)):
        rng = np.random.default_rng(seed)
        net = random_network(rng, sizes, density=density)
        calib = relu_like_inputs(rng, 256, sizes[0], density=0.3)
        yield name, net, calib, relu_like_inputs(rng, limit, sizes[0], density=0.3)


def plot(rows, path: Path) -> Path:
    """Per network a panel: for every variant a bar per PE count, compute cycles below and
    layer overhead (descriptor, preload, write-back) stacked on top."""
    from eiegen.plots import _save, figure

    nets = list(dict.fromkeys(r["net"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    pes = sorted({r["n_pe"] for r in rows})
    fig = figure(figsize=(5.5 * len(nets), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(nets)))
    width = 0.8 / len(pes)
    for ax, net in zip(axes, nets):
        for i, n_pe in enumerate(pes):
            by = {r["variant"]: r for r in rows if r["net"] == net and r["n_pe"] == n_pe}
            xs = np.arange(len(variants)) + (i - (len(pes) - 1) / 2) * width
            comp = [by[v]["compute"] if v in by else 0 for v in variants]
            over = [by[v]["overhead"] if v in by else 0 for v in variants]
            bars = ax.bar(xs, comp, width, label=f"{n_pe} PEs: compute")
            ax.bar(xs, over, width, bottom=comp, color=bars[0].get_facecolor(), alpha=0.4,
                   label=f"{n_pe} PEs: overhead")
        if net == "digits":
            ax.axhline(GOAL_DEMO_8PE, color="tab:red", lw=1, ls="--",
                       label=f"goal at 8 PEs ({GOAL_DEMO_8PE})")
        ax.set_xticks(np.arange(len(variants)), variants, rotation=45, ha="right",
                      fontsize=8)
        ax.set_title(net)
        ax.set_ylabel("cycles per inference")
        ax.legend(fontsize=7)
    _save(fig, path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "small_nets.json")
    ap.add_argument("--pes", nargs="+", type=int, default=[4, 8, 16])
    ap.add_argument("--limit", type=int, default=599, help="test inputs per network")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = ap.parse_args(argv)
    rows = []
    print("cycles per inference (mean over the test inputs), queue depth 8, balanced rows")
    print(f"{'net':<8}{'PEs':>4}" + "".join(f"{v:>16}" for v in args.variants))
    for name, net, calib, x in networks(args.limit):
        for n_pe in args.pes:
            widest = max(max(layer.n_in, layer.n_out) for layer in net.layers)
            act_depth = max(64, -(-widest // n_pe))
            reference = None
            line = f"{name:<8}{n_pe:>4}"
            for variant in args.variants:
                cfg = ArchConfig(n_pe=n_pe, queue_depth=8, act_depth=act_depth,
                                 **VARIANTS[variant])
                start = time.perf_counter()
                program = compile_network(net, cfg, calibration=calib, balance=True)
                x_int = program.quantize_input(x)
                outs = run_golden(program, x_int)
                bc = batch_cycles(program, x_int, activations=[x_int] + list(outs[:-1]))
                seconds = time.perf_counter() - start
                y = program.to_network_order(outs[-1])
                if reference is None:
                    reference = y
                same = bool(np.array_equal(y, reference))
                cycles = float(bc.cycles[0].mean())
                compute = float(bc.compute[0].sum(axis=0).mean())
                rows.append({"net": name, "n_pe": n_pe, "variant": variant,
                             "config": {k: v for k, v in cfg.to_dict().items()
                                        if k in ("n_pe", "queue_depth", "act_depth",
                                                 "col_filter", "broadcast_width",
                                                 "bias_reset", "wb_overlap")},
                             "cycles": cycles, "compute": compute,
                             "overhead": cycles - compute,
                             "work_bound": float(bc.work_bound.sum(axis=0).mean()),
                             "efficiency": bc.efficiency(), "outputs_equal_eie": same,
                             "inputs": len(x), "seconds": round(seconds, 2)})
                line += f"{cycles:>15.1f}" + (" " if same else "!")
            print(line, flush=True)
    demo = [r for r in rows if r["net"] == "digits" and r["n_pe"] == 8]
    best = min(demo, key=lambda r: r["cycles"]) if demo else None
    if best:
        print(f"demo at 8 PEs: EIE {demo[0]['cycles']:.1f}, best {best['variant']} "
              f"{best['cycles']:.1f} cycles (goal <= {GOAL_DEMO_8PE})")
    print("('!' marks outputs that differ from the EIE variant's)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"goal_demo_8pe": GOAL_DEMO_8PE, "rows": rows},
                                    indent=1) + "\n")
    if rows:
        print(f"wrote {args.json} and {plot(rows, args.json.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
