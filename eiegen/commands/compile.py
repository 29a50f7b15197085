"""`eiegen compile`: network + architecture config -> program folder."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.formats import ACC_HEADROOM_BITS
from eiegen.options import config_setting, number
from eiegen.safeload import check_samples, load_arrays


# What the JSON stats (and the messages) call the calibration used without --calibration.
DEFAULT_CALIBRATION = "default uniform[-1,1]"


def add_config_args(p) -> None:
    """Options that choose the architecture config: a JSON file, overridden per field."""
    p.add_argument("--config", type=Path, help="architecture config JSON (default: built-in)")
    p.add_argument("--pe", type=int, dest="n_pe", help="number of PEs (overrides the config)")
    p.add_argument("--queue-depth", type=int, help="activation queue depth (overrides the config)")
    p.add_argument("--set", type=config_setting, action="append", default=[],
                   metavar="FIELD=VALUE",
                   help="set any config field (e.g. --set col_filter=1 --set "
                        "broadcast_width=2; repeatable), after --config, --pe and "
                        "--queue-depth")


def config_from_args(args, default: ArchConfig | None = None) -> ArchConfig:
    """The --config file's config (else ``default``, else the built-in one) with the
    per-field overrides: --pe, --queue-depth, then every --set in order."""
    cfg = ArchConfig.load(args.config) if args.config else (default or ArchConfig())
    changes = {k: v for k, v in (("n_pe", args.n_pe), ("queue_depth", args.queue_depth))
               if v is not None}
    changes.update(getattr(args, "set", None) or [])
    return cfg.replace(**changes) if changes else cfg


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile a network into a program for the accelerator",
                       description="Compile a network (.npz, see docs/network-format.md) into "
                                   "a program folder (see docs/program-format.md).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("model", nargs="?", type=Path,
                     help="network: .npz (docs/network-format.md) or .onnx")
    src.add_argument("--example", action="store_true",
                     help="compile the built-in example network (256-128-64-10, 10%% dense)")
    add_config_args(p)
    p.add_argument("--calibration", type=Path,
                   help=".npy of float inputs (batch, n_in) that set the activation formats "
                        "and on which the fidelity report is measured (default: 256 "
                        "uniform samples in [-1, 1], with a warning)")
    p.add_argument("--balance", action="store_true",
                   help="permute rows to even out the work per PE (an eiegen extension)")
    p.add_argument("-o", "--output", type=Path, default=Path("prog"),
                   help="program folder to write (default: prog)")
    p.add_argument("--json", type=Path,
                   help="also write the statistics and the fidelity report as JSON here")
    p.add_argument("--acc-policy", choices=("saturate", "worst_case"),
                   help="how weight formats leave room in the accumulator: 'saturate' "
                        "(the calibration's partial sums, scaled to the input format's "
                        "range, x 2**headroom; the default where the config's accumulators "
                        "saturate) or 'worst_case' (no input can overflow; EIE's rule, the "
                        "default where they wrap)")
    p.add_argument("--headroom-bits", type=number(int, 0, 16, what="bits"),
                   default=ACC_HEADROOM_BITS,
                   help="extra accumulator headroom over the calibrated partial sums, with "
                        "--acc-policy saturate; each bit costs a weight bit (default "
                        f"{ACC_HEADROOM_BITS}: docs/fixed-point.md)")
    p.add_argument("--sqnr-warn", type=number(float, -1000, 1000, what="dB"), default=40.0,
                   metavar="DB",
                   help="warn about layers whose SQNR against the float network on the "
                        "calibration set is below DB decibels (default 40)")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.cli import CliError, print_notes
    from eiegen.compiler.compile import compile_network, default_calibration
    from eiegen.compiler.examples import example_network
    from eiegen.compiler.model_import import import_model
    from eiegen.compiler.program import Program, ProgramError
    from eiegen.compiler.stats import format_stats, program_stats
    from eiegen.safeio import check_output, write_json
    from eiegen.sim.fidelity import measure_fidelity

    inputs = [args.model, args.calibration, args.config]
    Program.check_save_path(args.output, inputs)  # before the work, not after it
    if args.json:
        check_output(args.json, inputs + [args.output], what="--json")
    cfg = config_from_args(args)
    net = example_network() if args.example else import_model(args.model)
    print_notes("compile", net)
    calibration = None
    if args.calibration:
        # checked headers, no pickles; then real, finite, (batch, n_in), not empty
        calibration = check_samples(
            load_arrays(args.calibration, what="calibration inputs", error=CliError),
            net.n_in, f"calibration inputs {args.calibration}", CliError)
    if calibration is None:
        calibration = default_calibration(net.n_in)
        calibration_source = DEFAULT_CALIBRATION
    else:
        calibration_source = f"{args.calibration} ({len(calibration)} inputs)"
    try:
        program = compile_network(net, cfg, calibration=calibration, balance=args.balance,
                                  acc_policy=args.acc_policy, headroom_bits=args.headroom_bits)
    except ValueError as e:  # a policy the config's accumulators cannot honour
        if isinstance(e, ProgramError):
            raise
        raise CliError(str(e)) from None
    if calibration_source == DEFAULT_CALIBRATION:
        # The formats are chosen from this range, so say which one it is (issue 18).
        print(f"eiegen compile: warning: no --calibration given: assuming inputs uniform in "
              f"[-1, 1] ({len(calibration)} samples); this range sets every fixed-point "
              f"format, so larger inputs will clip: pass --calibration with representative "
              f"inputs", file=sys.stderr)
    program.save(args.output, inputs)
    stats = program_stats(program)
    fidelity = measure_fidelity(program, calibration, net, sqnr_warn_db=args.sqnr_warn,
                                calibration=calibration_source)
    stats["calibration"] = calibration_source
    stats["fidelity"] = fidelity.to_dict()
    print(format_stats(stats))
    print()
    print(fidelity.table())
    for w in fidelity.warnings:
        print(f"eiegen compile: warning: {w}", file=sys.stderr)
    print(f"\nwrote {args.output}/")
    if args.json:
        write_json(args.json, stats)
    return 0
