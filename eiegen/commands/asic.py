"""`eiegen asic`: ASIC view of a design: SRAM-wrapper netlist, gate-level statistics, and
the energy/area model (optionally checked against EIE's Table II)."""

from __future__ import annotations

import json
from pathlib import Path

from eiegen.commands.compile import add_config_args, config_from_args
from eiegen.options import int_list, number

# The EIE check's workload: EIE's Alex-7 benchmark layer (Table III): 4096 x 4096, 9 %
# weights, 35.3 % non-zero activations.
EIE_LAYER = (4096, 4096, 0.09, 0.353)


def register(sub) -> None:
    p = sub.add_parser(
        "asic", help="ASIC netlist, gate-level statistics and energy/area model",
        description="Synthesise the accelerator's logic (memories excluded) with Yosys and "
                    "report cells, flip-flops and area per unit and PE; estimate the energy "
                    "per inference from exact event counts beside the same network run "
                    "dense; with --eie, the 64-PE EIE configuration beside EIE's Table II "
                    "(docs/asic.md).")
    add_config_args(p)
    p.add_argument("--program", type=Path,
                   help="compiled program folder (default: a random network, see --layers)")
    p.add_argument("--eie", action="store_true",
                   help="EIE check: 64 PEs, EIE's memory sizes, EIE's Alex-7 layer "
                        "(4096x4096, 9%% weights, 35.3%% activations); --pe, --queue-depth "
                        "and --set change EIE's configuration")
    p.add_argument("--layers", type=int_list(1, 1 << 16, min_items=2), default="256,128,64",
                   help="random network sizes when no program is given (default 256,128,64)")
    p.add_argument("--density", type=number(float, 0, 1, lo_open=True), default=0.1,
                   help="random network weight density (default 0.1)")
    p.add_argument("--act-density", type=number(float, 0, 1), default=0.35,
                   help="fraction of non-zero inputs (default 0.35)")
    p.add_argument("--inputs", type=number(int, 1, 100_000), default=2,
                   help="input vectors (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tech", default="45nm", help="technology node (default 45nm)")
    p.add_argument("--no-synth", action="store_true",
                   help="skip the Yosys synthesis (logic area and energy count as zero)")
    p.add_argument("--synth-per-pe", action="store_true",
                   help="synthesise PE 0 and the rest of the design in two Yosys runs and "
                        "count PE 0 for every PE (the PEs differ only in an address "
                        "constant); needed for 64 PEs with bias_reset, whose one-run "
                        "synthesis exhausts the WebAssembly Yosys' memory")
    p.add_argument("--synth-json", type=Path,
                   help="reuse a synthesis report of the same config (the JSON of an earlier "
                        "`eiegen asic --json` run) instead of running Yosys")
    p.add_argument("--netlist", type=Path,
                   help="also write the SRAM-wrapper netlist (eie.v, eiegen_sram_1r1w.v, "
                        "init/) into this folder")
    p.add_argument("--json", type=Path, help="write the whole report as JSON")
    p.set_defaults(func=run)


def _workload(args, cfg):
    import numpy as np

    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network
    from eiegen.compiler.program import Program

    rng = np.random.default_rng(args.seed)
    if args.program:
        program = Program.load(args.program)
        n_in = program.n_in
        act_density = args.act_density
    else:
        if args.eie:
            n_in, n_out, density, act_density = EIE_LAYER
            sizes = [n_in, n_out]
        else:
            sizes = args.layers  # parsed and range-checked by int_list
            n_in, density, act_density = sizes[0], args.density, args.act_density
        program = compile_network(random_network(rng, sizes, density=density), cfg)
    x = rng.normal(size=(args.inputs, n_in))
    x[rng.random(x.shape) >= act_density] = 0.0
    return program, program.quantize_input(x)


def run(args) -> int:
    from eiegen.arch import ArchConfig
    from eiegen.asic.energy import (eie_comparison, energy_report, format_eie_comparison,
                                    format_energy)
    from eiegen.asic.synth import SynthReport, format_synth, synthesize
    from eiegen.cli import CliError
    from eiegen.hw.verilog import write_design
    from eiegen.safeio import check_folder_output, check_output, staged_folder, write_json

    sources = [args.program, args.config, args.synth_json]
    if args.json:
        check_output(args.json, sources + [args.netlist], what="--json")
    if args.netlist:
        check_folder_output(args.netlist, "netlist", sources)  # before the work
    if args.eie:
        if args.config:
            raise CliError("--eie builds EIE's configuration: give no --config (change its "
                           "fields with --set FIELD=VALUE)")
        # EIE's configuration with the per-field overrides (--set col_filter=1 ...)
        cfg = config_from_args(args, default=ArchConfig.eie())
    elif args.program and not (args.config or args.n_pe or args.queue_depth or args.set):
        from eiegen.compiler.program import Program
        cfg = Program.load(args.program).cfg
    else:
        cfg = config_from_args(args)
    program, inputs = _workload(args, cfg)
    if program.cfg != cfg:
        raise CliError(f"the program in {args.program} was compiled for a different "
                       f"architecture config than the one given")
    out = {"config": cfg.to_dict()}
    if args.netlist:
        # filled beside and swapped in; a folder eiegen did not write is refused (safeio).
        # The Verilog names its init files where they will be, not where they are written
        with staged_folder(args.netlist, "netlist", sources) as tmp:
            written = write_design(tmp, cfg, program, memories="sram",
                                   init_dir=str((args.netlist / "init").resolve()))
        print(f"wrote the SRAM-wrapper netlist to {args.netlist} "
              f"({len(written['init'])} init files)")
    synth = None
    if args.synth_json:
        from eiegen.safeload import read_regular
        try:
            data = json.loads(read_regular(args.synth_json, limit=64 << 20,
                                           what="--synth-json", error=CliError))
            synth = SynthReport.from_dict(data.get("synthesis", data))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            if isinstance(e, CliError):
                raise
            raise CliError(f"--synth-json {args.synth_json} is not a synthesis report of "
                           f"`eiegen asic --json` ({type(e).__name__}: {e})") from None
        if synth.config != cfg.to_dict():
            raise CliError(f"the synthesis report in {args.synth_json} is for another config")
    elif not args.no_synth:
        try:
            synth = synthesize(cfg, tech=args.tech, per_pe=args.synth_per_pe)
        except RuntimeError as e:   # Yosys missing, or it stopped (e.g. out of memory)
            hint = "" if args.synth_per_pe else "; try --synth-per-pe, or --no-synth"
            raise CliError(f"{str(e).splitlines()[0]}{hint}") from None
    if synth is not None:
        print(format_synth(synth))
        print(f"(Yosys: {synth.seconds:.0f} s)\n")
        out["synthesis"] = synth.to_dict()
    try:
        report = energy_report(program, inputs, tech=args.tech, synth=synth)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(format_energy(report))
    out["energy"] = report
    if args.eie:
        cmp = eie_comparison(report)
        print()
        print(format_eie_comparison(cmp))
        out["eie_comparison"] = cmp
    if args.json:
        write_json(args.json, out, indent=2, default=_plain)
        print(f"wrote {args.json}")
    return 0


def _plain(v):
    import numpy as np
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
