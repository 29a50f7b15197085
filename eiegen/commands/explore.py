"""`eiegen explore`: sweep architecture configs for a network on Dask (docs/explore.md)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "explore", help="design-space exploration: sweep architecture configs on Dask",
        description="Compile and evaluate a network for every point of a sweep over "
                    "architecture config fields (cycle model, energy/area model, optionally "
                    "a board's fit model), on a local Dask cluster or any Dask scheduler; "
                    "write results.csv, results.json and the Pareto front (pareto.png). "
                    "An interrupted sweep resumes from the folder's journal.")
    p.add_argument("model", type=Path, help="network: .npz (docs/network-format.md), .onnx "
                                            "or a state_dict .pt")
    p.add_argument("--inputs", type=Path, required=True,
                   help=".npy of float inputs (batch, n_in): the workload every point runs")
    p.add_argument("--labels", type=Path, help=".npy of integer labels: accuracy per point")
    p.add_argument("--calibration", type=Path,
                   help=".npy of float inputs that set the fixed-point formats "
                        "(default: --inputs)")
    p.add_argument("--sweep", nargs="+", required=True, metavar="FIELD=V1,V2",
                   help="config fields and their values, e.g. n_pe=4,8,16 queue_depth=1,2,4")
    p.add_argument("--config", type=Path,
                   help="base architecture config JSON (default: the board's, else built-in)")
    p.add_argument("--board", help="also check every point against this board's resources")
    p.add_argument("--balance", action="store_true",
                   help="compile with load balancing (then queue_depth and merge_padding "
                        "change the program, and cost a compile each)")
    p.add_argument("--tech", default="45nm", help="technology node of the energy/area model")
    p.add_argument("--verify", type=int, default=0, metavar="K",
                   help="run K Pareto points in Verilator: outputs == golden, cycles == model")
    p.add_argument("--workers", type=int,
                   help="local Dask worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on this Dask scheduler (tcp://host:8786) instead of locally")
    p.add_argument("--retries", type=int, default=2,
                   help="times a failed task is retried (default 2)")
    p.add_argument("-o", "--output", type=Path, default=Path("explore"),
                   help="output folder (default explore)")
    p.set_defaults(func=run)


def _load(path, what, cli_error, **kw):
    import numpy as np
    try:
        return np.load(path, allow_pickle=False, **kw)
    except (OSError, ValueError) as e:
        raise cli_error(f"cannot read {what} {path}: {e}") from None


def run(args) -> int:
    import numpy as np

    from eiegen.arch import ArchConfig
    from eiegen.cli import CliError, print_notes
    from eiegen.compiler.model_import import import_model
    from eiegen.explore import (Sweep, SweepError, Workload, dask_client, format_summary,
                                parse_sweep, run_explore)
    from eiegen.progress import ProgressBar
    from eiegen.safeio import check_folder_output

    # every check that can refuse the command runs before anything is written
    try:
        axes = parse_sweep(args.sweep)
    except SweepError as e:
        raise CliError(str(e)) from None
    for name, value, least in (("--verify", args.verify, 0), ("--workers", args.workers, 1),
                               ("--retries", args.retries, 0)):
        if value is not None and value < least:
            raise CliError(f"{name} must be at least {least}, got {value}")
    board = None
    if args.board:
        from eiegen.boards.catalog import get_board
        try:
            board = get_board(args.board)
        except ValueError as e:
            raise CliError(str(e)) from None
    base = (ArchConfig.load(args.config) if args.config
            else board.default_config() if board else ArchConfig())
    inputs = [args.model, args.inputs, args.labels, args.calibration, args.config]
    check_folder_output(args.output, "explore", inputs)
    net = import_model(args.model)
    print_notes("explore", net)
    x = _load(args.inputs, "--inputs", CliError)
    cal = _load(args.calibration, "--calibration", CliError) if args.calibration else x
    for what, a in (("--inputs", x), ("--calibration", cal)):
        if a.ndim != 2 or a.shape[1] != net.n_in:
            raise CliError(f"{what} must have shape (batch, {net.n_in}), got {a.shape}")
    labels = None
    if args.labels:
        labels = _load(args.labels, "--labels", CliError)
        if labels.shape != (len(x),):
            raise CliError(f"--labels must have shape ({len(x)},) like --inputs, "
                           f"got {labels.shape}")
    work = Workload(net=net, inputs=np.asarray(x, dtype=np.float64),
                    calibration=np.asarray(cal, dtype=np.float64), labels=labels,
                    balance=args.balance, board=args.board, tech=args.tech)
    from eiegen.asic.tech import technology
    try:
        technology(args.tech)
    except ValueError as e:
        raise CliError(str(e)) from None
    sweep = Sweep(base.to_dict(), axes)
    n = len(sweep.points())
    where = args.scheduler or f"a local Dask cluster ({args.workers or 'one worker per core'})"
    print(f"exploring {n} points on {where}", file=sys.stderr, flush=True)
    with dask_client(args.scheduler, args.workers) as client:
        result = run_explore(work, sweep, args.output, client=client, verify=args.verify,
                             retries=args.retries, inputs=inputs,
                             progress=ProgressBar("points", eta=True))
    print(format_summary(result, list(axes), board=board is not None))
    print(f"wrote {args.output}/: results.csv, results.json, pareto.png, journal.jsonl")
    bad = [p for p, v in result.verified.items()
           if not (v["outputs_match"] and v["cycles_match"])]
    if bad:
        print(f"eiegen explore: error: Verilator disagrees at point(s) "
              f"{', '.join(map(str, bad))} (results.json, verified)", file=sys.stderr)
        return 1
    return 0
