"""`eiegen simulate`: run a compiled program cycle-accurately in Verilator."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from eiegen.progress import ProgressBar


def register(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a program cycle-accurately in Verilator",
        description="Run a compiled program on input vectors in Verilator, compare every "
                    "output word with the golden model and report cycles, PE utilisation "
                    "and load balance.")
    p.add_argument("program", type=Path, help="program folder written by `eiegen compile`")
    p.add_argument("--inputs", type=Path,
                   help=".npy of inputs, (batch, n_in) or (n_in,): floats are quantized with "
                        "the program's input format, integers are used as they are "
                        "(default: 8 random inputs uniform in [-1, 1], seed 0)")
    p.add_argument("--limit", type=int, help="simulate only the first N inputs")
    p.add_argument("--preload", action="store_true",
                   help="initialise the memories at elaboration time instead of loading "
                        "them through the host protocol (a build per program)")
    p.add_argument("--waves", type=Path, help="write an FST waveform here")
    p.add_argument("-o", "--output", type=Path, default=Path("sim-report"),
                   help="report folder: report.json and per_pe.png (default: sim-report)")
    p.set_defaults(func=run)


def load_inputs(path, program, limit=None) -> np.ndarray:
    """Integer input vectors (batch, n_in) from a .npy file (or the default)."""
    from eiegen.cli import CliError

    if path is None:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(8, program.n_in))
    else:
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CliError(f"cannot read inputs {path}: {e}") from None
    x = np.atleast_2d(x)
    if x.ndim != 2 or x.shape[1] != program.n_in:
        raise CliError(f"inputs must have shape (batch, {program.n_in}), got {x.shape}")
    if limit is not None:
        x = x[:limit]
    if np.issubdtype(x.dtype, np.floating):
        return program.quantize_input(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise CliError(f"inputs must be floats or integers, got {x.dtype}")
    lo, hi = -(1 << (program.cfg.act_bits - 1)), (1 << (program.cfg.act_bits - 1)) - 1
    if x.min() < lo or x.max() > hi:
        raise CliError(f"integer inputs must lie in {lo}..{hi} (act_bits="
                       f"{program.cfg.act_bits}); pass floats to have them quantized")
    return x.astype(np.int64)


def run(args) -> int:
    from eiegen.compiler.program import Program
    from eiegen.sim.harness import run_verilator
    from eiegen.sim.report import format_report, plot_report, simulation_report

    program = Program.load(args.program)
    x = load_inputs(args.inputs, program, args.limit)
    args.output.mkdir(parents=True, exist_ok=True)
    print(f"building the {program.cfg.n_pe}-PE design in Verilator (cached per config)...",
          file=sys.stderr)
    start = time.monotonic()
    result = run_verilator(program, x, preload=args.preload, waves=args.waves,
                           progress=ProgressBar())
    seconds = time.monotonic() - start - result.build.build_seconds
    from eiegen.sim.cycle_model import estimate_batch

    model = estimate_batch(program, x)  # per-layer cycles; checked against the counters
    rep = simulation_report(program, x, result.outputs, [r.counters for r in result.inferences],
                            model=model, build_seconds=result.build.build_seconds,
                            sim_seconds=seconds)
    (args.output / "report.json").write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
    plot_report(rep, args.output / "per_pe.png")
    print(format_report(rep))
    print(f"\nwrote {args.output}/report.json and {args.output}/per_pe.png"
          + (f"; waveform {args.waves}" if args.waves else ""))
    return 0 if rep["outputs_match_golden"] else 1
