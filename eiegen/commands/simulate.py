"""`eiegen simulate`: run a compiled program cycle-accurately in Verilator."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eiegen.options import number
from eiegen.progress import ProgressBar
from eiegen.safeload import check_samples, load_arrays


def register(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a program cycle-accurately in Verilator",
        description="Run a compiled program on input vectors in Verilator, compare every "
                    "output word with the golden model and report cycles, PE utilisation "
                    "and load balance.")
    p.add_argument("program", type=Path, help="program folder written by `eiegen compile`")
    p.add_argument("--inputs", type=Path,
                   help=".npy of inputs, (batch, n_in) or (n_in,): floats are quantized with "
                        "the program's input format (inputs that clip are counted), integers "
                        "are used as they are; or an .npz holding x and y (or x_test and "
                        "y_test) (default: 8 random inputs uniform in [-1, 1], seed 0)")
    p.add_argument("--labels", type=Path,
                   help=".npy of integer class labels, one per input: report the RTL's, the "
                        "golden model's and the float model's accuracy and their agreement")
    p.add_argument("--model", type=Path,
                   help="the float network the program was compiled from (.npz, .onnx, .pt): "
                        "the reference for the fidelity figures and the float accuracy "
                        "(default: the program's float codebooks, biases as stored)")
    p.add_argument("--limit", type=number(int, 1), help="simulate only the first N inputs")
    p.add_argument("--clock-mhz", type=number(float, 0, 100_000, lo_open=True, what="MHz"),
                   help="clock for latency and inferences per second (default: the --board's "
                        "clock, else 100 MHz)")
    p.add_argument("--board", help="take the default clock from this board (eiegen build)")
    p.add_argument("--sqnr-warn", type=number(float, -1000, 1000, what="dB"), default=40.0,
                   metavar="DB",
                   help="warn about layers whose SQNR against the float model is below DB "
                        "decibels (default 40)")
    p.add_argument("--preload", action="store_true",
                   help="initialise the memories at elaboration time instead of loading "
                        "them through the host protocol (a build per program)")
    p.add_argument("--waves", type=Path, help="write an FST waveform here")
    p.add_argument("-o", "--output", type=Path, default=Path("sim-report"),
                   help="report folder: report.json, per_pe.png, outputs.npy (dequantized) "
                        "and outputs_int.npy, both in the network's order (default: "
                        "sim-report)")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Inputs:
    """Input vectors as read: the integers the hardware takes, the floats they came from
    (None for integer inputs) and the labels, if any."""

    x_int: np.ndarray
    x_float: np.ndarray | None
    labels: np.ndarray | None


def read_inputs(path, program, limit=None, labels_path=None) -> Inputs:
    """Inputs from a .npy (or an .npz with x/y or x_test/y_test), or the default."""
    from eiegen.cli import CliError

    labels = None
    if path is None:
        x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(8, program.n_in))
    else:
        x, labels = _read_arrays(path)
    if limit is not None and limit < 1:  # x[:-1] would drop the last input silently
        raise CliError(f"--limit must be at least 1, got {limit}")
    x = check_samples(x, program.n_in, "inputs", CliError)  # shape, NaN, empty
    if labels_path is not None:
        labels = _read_arrays(labels_path, "labels")[0]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer):
            raise CliError(f"labels must be {len(x)} integers (one per input), got "
                           f"{labels.dtype} of shape {labels.shape}")
        labels = labels[:limit]
    x = x[:limit]
    if np.issubdtype(x.dtype, np.floating):
        return Inputs(program.quantize_input(x), x.astype(np.float64), labels)
    if not np.issubdtype(x.dtype, np.integer):
        raise CliError(f"inputs must be floats or integers, got {x.dtype}")
    lo, hi = -(1 << (program.cfg.act_bits - 1)), (1 << (program.cfg.act_bits - 1)) - 1
    if x.min() < lo or x.max() > hi:
        raise CliError(f"integer inputs must lie in {lo}..{hi} (act_bits="
                       f"{program.cfg.act_bits}); pass floats to have them quantized")
    return Inputs(x.astype(np.int64), None, labels)


def _read_arrays(path, what="inputs"):
    """(x, y or None) from a .npy, or from an .npz's x/y or x_test/y_test keys."""
    from eiegen.cli import CliError

    data = load_arrays(path, what=what, error=CliError)  # headers, CRCs, no pickles
    if not isinstance(data, dict):
        return data, None
    for xk, yk in (("x_test", "y_test"), ("x", "y")):
        if xk in data:
            return data[xk], data.get(yk)
    raise CliError(f"{path} holds {', '.join(sorted(data)) or 'nothing'}; an .npz of "
                   f"{what} needs x (and y) or x_test (and y_test)")


def load_inputs(path, program, limit=None) -> np.ndarray:
    """Integer input vectors (batch, n_in) from a .npy file (or the default)."""
    return read_inputs(path, program, limit).x_int


def run(args) -> int:
    from eiegen.cli import CliError
    from eiegen.compiler.model_import import import_model
    from eiegen.compiler.program import Program
    from eiegen.safeio import check_output, staged_folder, write_json
    from eiegen.sim.cycle_model import estimate_batch
    from eiegen.sim.fidelity import classification, measure_fidelity
    from eiegen.sim.harness import run_verilator
    from eiegen.sim.report import format_report, plot_report, simulation_report

    sources = [args.program, args.inputs, args.labels, args.model]
    if args.waves:
        check_output(args.waves, sources, what="--waves")
        if not args.waves.parent.is_dir():  # the simulator would write nothing, silently
            raise CliError(f"--waves {args.waves}: folder {args.waves.parent} does not exist; "
                           f"create it or choose another path")
    clock_mhz = args.clock_mhz
    if clock_mhz is None and args.board:
        from eiegen.boards.catalog import get_board

        try:
            clock_mhz = get_board(args.board).clock / 1e6
        except ValueError as e:
            raise CliError(str(e)) from None
    clock_mhz = 100.0 if clock_mhz is None else clock_mhz
    if not clock_mhz > 0:
        raise CliError(f"--clock-mhz must be positive, got {clock_mhz:g}")
    program = Program.load(args.program)
    inputs = read_inputs(args.inputs, program, args.limit, args.labels)
    x = inputs.x_int
    net = import_model(args.model) if args.model else None
    if net is not None and [(la.n_in, la.n_out) for la in net] != \
            [(lp.n_in, lp.n_out) for lp in program.layers]:
        raise CliError(f"--model {args.model} has layers "
                       f"{[(la.n_in, la.n_out) for la in net]} but the program "
                       f"{[(lp.n_in, lp.n_out) for lp in program.layers]} (n_in, n_out)")
    # Integer inputs stand for exactly x * 2**-frac_in: the float model runs on that.
    x_float = inputs.x_float if inputs.x_float is not None else \
        x * 2.0 ** -program.input_frac
    with staged_folder(args.output, kind="simulate", inputs=sources) as tmp:
        print(f"building the {program.cfg.n_pe}-PE design in Verilator (cached per config)...",
              file=sys.stderr)
        start = time.monotonic()
        result = run_verilator(program, x, preload=args.preload, waves=args.waves,
                               progress=ProgressBar())
        seconds = time.monotonic() - start - result.build.build_seconds
        model = estimate_batch(program, x)  # per-layer cycles; checked against the counters
        rep = simulation_report(program, x, result.outputs,
                                [r.counters for r in result.inferences], model=model,
                                build_seconds=result.build.build_seconds, sim_seconds=seconds)
        fidelity = measure_fidelity(program, x_float, net, sqnr_warn_db=args.sqnr_warn)
        rtl = program.dequantize_output(result.outputs)
        rep.update(_user_figures(program, inputs, rep, fidelity, clock_mhz))
        if inputs.labels is not None:
            rep["accuracy"] = classification(inputs.labels, rtl=rtl,
                                             golden=fidelity.golden_outputs,
                                             float=fidelity.float_outputs)
        np.save(tmp / "outputs.npy", rtl)
        np.save(tmp / "outputs_int.npy", program.to_network_order(result.outputs))
        write_json(tmp / "report.json", rep)
        plot_report(rep, tmp / "per_pe.png")
    print(format_report(rep))
    print()
    print(_format_user_figures(rep, fidelity))
    for w in rep["warnings"]:
        print(f"eiegen simulate: warning: {w}", file=sys.stderr)
    print(f"\nwrote {args.output}/: report.json, per_pe.png, outputs.npy, outputs_int.npy"
          + (f"; waveform {args.waves}" if args.waves else ""))
    return 0 if rep["outputs_match_golden"] else 1


def _user_figures(program, inputs, rep, fidelity, clock_mhz) -> dict:
    """What a user asks of a simulation besides the golden check: latency and throughput
    at a clock, the fidelity against the float model, clipped inputs."""
    cycles = np.asarray(rep["cycles"]["per_input"], dtype=np.float64)
    return {
        "timing": {"clock_mhz": clock_mhz,
                   "latency_us": {"mean": float(cycles.mean()) / clock_mhz,
                                  "min": float(cycles.min()) / clock_mhz,
                                  "max": float(cycles.max()) / clock_mhz},
                   "inferences_per_second": clock_mhz * 1e6 / float(cycles.mean())},
        "inputs": "floats, quantized" if inputs.x_float is not None else "integers",
        "input_saturation": {"values": fidelity.input_saturations,
                             "inputs": fidelity.inputs_saturated},
        "fidelity": fidelity.to_dict(),
        "outputs": {"files": ["outputs.npy", "outputs_int.npy"], "order": "network",
                    "frac_out": program.layers[-1].fmt.frac_out},
        "warnings": list(fidelity.warnings),
    }


def _format_user_figures(rep, fidelity) -> str:
    t = rep["timing"]
    lines = [f"latency at {t['clock_mhz']:g} MHz: mean {t['latency_us']['mean']:.3g} us "
             f"(min {t['latency_us']['min']:.3g}, max {t['latency_us']['max']:.3g}); "
             f"{t['inferences_per_second']:,.0f} inferences/s"]
    if "accuracy" in rep:
        a = rep["accuracy"]
        lines.append(f"accuracy: RTL {a['rtl_accuracy']:.2f}%, golden "
                     f"{a['golden_accuracy']:.2f}%, float {a['float_accuracy']:.2f}%; RTL "
                     f"agrees with float on {a['rtl_float_agreement']:.2f}% of inputs")
    lines.append("")
    lines.append(fidelity.table())
    return "\n".join(lines)
