"""`eiegen verilog`: architecture config (+ optional program) -> Verilog."""

from __future__ import annotations

from pathlib import Path

from eiegen.commands.compile import add_config_args, config_from_args


def register(sub) -> None:
    p = sub.add_parser("verilog", help="write the accelerator's Verilog",
                       description="Generate the Verilog of the accelerator for an "
                                   "architecture config (top module ports: the 32-bit host "
                                   "streams of docs/protocol.md). With --program, the memories "
                                   "are initialised from a compiled program (for bitstreams). "
                                   "--memories sram makes every memory an instance of the "
                                   "SRAM wrapper eiegen_sram_1r1w (docs/asic.md), written "
                                   "next to the output with the $readmemh init files.")
    add_config_args(p)
    p.add_argument("--program", type=Path, help="compiled program folder to preload")
    p.add_argument("--name", default="eie", help="top module name (default: eie)")
    p.add_argument("--memories", choices=("amaranth", "sram"), default="amaranth",
                   help="memory view: inferred arrays (amaranth, default) or SRAM wrapper "
                        "instances (sram: ASIC netlists; writes eiegen_sram_1r1w.v and "
                        "init/*.hex next to the output)")
    p.add_argument("--init-dir",
                   help="sram view: the init-file folder as written into the Verilog "
                        "(default: the absolute path of init/ next to the output)")
    p.add_argument("--lint", action="store_true",
                   help="run verilator --lint-only -Wall (with the documented waivers)")
    p.add_argument("-o", "--output", type=Path, default=Path("eie.v"),
                   help="Verilog file to write (default: eie.v)")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.cli import CliError
    from eiegen.compiler.program import Program
    from eiegen.hw.verilog import generate, lint, write_design

    from eiegen.safeio import atomic_write_text, check_output

    check_output(args.output, [args.program, args.config])
    program = Program.load(args.program) if args.program else None
    chosen = args.config or args.n_pe is not None or args.queue_depth is not None
    cfg = config_from_args(args) if chosen or program is None else program.cfg
    if program is not None and program.cfg != cfg:
        raise CliError(f"the program in {args.program} was compiled for a different "
                       f"architecture config than the one given")
    extra = []
    if args.memories == "sram":
        written = write_design(args.output.parent, cfg, program, name=args.name,
                               memories="sram", init_dir=args.init_dir,
                               filename=args.output.name)
        text = written["design"].logic
        extra = [written["model"]]
        print(f"wrote {written['model']} and {len(written['init'])} init files"
              + (f" in {written['init'][0].parent}" if written["init"] else ""))
    else:
        text = generate(cfg, program, name=args.name)
        atomic_write_text(args.output, text)
    print(f"wrote {args.output}: {len(text.splitlines())} lines, {len(text)} bytes, "
          f"{cfg.n_pe} PEs")
    if args.lint:
        result = lint(args.output, top=args.name, extra=extra)
        if result.returncode:
            raise CliError(f"verilator lint failed:\n{result.stderr.strip()}")
        print("verilator --lint-only -Wall: clean (with the documented waivers)")
    return 0
