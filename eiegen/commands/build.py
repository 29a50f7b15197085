"""`eiegen build`: a board bitstream (open flow) or project (vendor flow), with a report."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    from eiegen.boards.catalog import BOARDS, board_names
    from eiegen.options import config_setting

    boards = "; ".join(f"{b.name}: {b.device}, default {b.config.get('n_pe')} PEs"
                       + ("" if b.open_flow else " (project only)") for b in BOARDS.values())
    p = sub.add_parser(
        "build", help="build the accelerator for an FPGA board",
        description="Build the board top (accelerator + UART bridge + PLL + LEDs) for a "
                    "board with the open flow (yowasp Yosys + nextpnr): bitstream and a "
                    "report (text + JSON: LUT/FF/RAM/DSP used vs available, fmax vs the "
                    "requested clock, memory mapping). Boards whose vendor tools are not "
                    f"here get the generated project only. Boards: {boards}.")
    p.add_argument("--board", required=True, choices=board_names())
    p.add_argument("--config", type=Path,
                   help="architecture config JSON (default: the program's, else the board's)")
    p.add_argument("--set", type=config_setting, action="append", default=[],
                   metavar="FIELD=VALUE",
                   help="change a config field of that config (repeatable), e.g. the "
                        "broadcast options: --set col_filter=1 --set broadcast_width=2")
    p.add_argument("--program", type=Path,
                   help="compiled program folder: initialises the memories the bitstream can "
                        "(must be compiled for the same config)")
    p.add_argument("--clock", type=float, help="requested design clock in Hz "
                                               "(default: the board's, e.g. 30e6 on icebreaker)")
    p.add_argument("--baud", type=int, help="UART baud rate (default 115200)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--no-tools", action="store_true",
                   help="only generate the project (Verilog/RTLIL, constraints, build script)")
    p.add_argument("-o", "--output", type=Path,
                   help="build folder (default: build-<board>)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from eiegen.arch import ArchConfig, ConfigError
    from eiegen.boards.build import BuildError, build_board
    from eiegen.boards.catalog import get_board
    from eiegen.boards.fit import FitError
    from eiegen.cli import CliError
    from eiegen.compiler.program import Program

    program = Program.load(args.program) if args.program else None
    cfg = ArchConfig.load(args.config) if args.config else None
    if args.set:
        base = cfg or (program.cfg if program else get_board(args.board).default_config())
        try:
            cfg = base.replace(**dict(args.set))
        except ConfigError as e:
            raise CliError(f"--set: {e}") from None
    out = args.output or Path(f"build-{args.board}")
    try:
        result = build_board(args.board, cfg, program, out_dir=out, clock=args.clock,
                             baud=args.baud, seed=args.seed,
                             run_tools=False if args.no_tools else None,
                             log=lambda msg: print(msg, file=sys.stderr),
                             inputs=[args.program, args.config])
    except (FitError, BuildError, ValueError) as e:
        raise CliError(str(e)) from None
    print((out / "report.txt").read_text(), end="")
    what = result.bitstream.name if result.bitstream else f"the project (build_eie_{args.board}.sh)"
    print(f"\nwrote {what}, report.txt and report.json in {out}")
    return 0
