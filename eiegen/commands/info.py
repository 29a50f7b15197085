"""`eiegen info`: statistics of a compiled program."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("info", help="print a compiled program's statistics")
    p.add_argument("program", type=Path, help="program folder written by `eiegen compile`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--inputs", type=Path,
                   help=".npy of inputs: also estimate each layer's work bound (entries of the "
                        "busiest PE) and broadcasts (non-zero activations) for them")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.compiler.program import Program
    from eiegen.compiler.stats import format_stats, program_stats

    program = Program.load(args.program)
    stats = program_stats(program)
    text = format_stats(stats)
    if args.inputs:
        from eiegen.sim.report import work_per_layer

        from .simulate import load_inputs

        x = load_inputs(args.inputs, program)
        work = work_per_layer(program, x)  # (batch, layers, pe)
        stats["work_estimate"] = [
            {"name": lp.name, "work_bound_mean": float(work[:, k].max(axis=1).mean()),
             "work_per_pe_mean": work[:, k].mean(axis=0).tolist()}
            for k, lp in enumerate(program.layers)]
        text += f"\n\nwork bound for {len(x)} input(s), mean per inference (cycles of the busiest PE):"
        for w in stats["work_estimate"]:
            text += f"\n  {w['name']:<10}{w['work_bound_mean']:>12.1f}"
    print(json.dumps(stats, indent=1, sort_keys=True) if args.json else text)
    return 0
