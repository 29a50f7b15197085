"""`eiegen run`: run a compiled program on a board over its serial port."""

from __future__ import annotations

import sys
from pathlib import Path

from eiegen.options import number


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="run a program on a board over its UART",
        description="Connect to a board running an eiegen bitstream (eiegen build), check "
                    "its configuration, load the program, stream the inputs, read outputs "
                    "and performance counters, and compare with the golden model. A timeout "
                    "or a garbled link is an error, never a hang. --port takes a device or "
                    "a pyserial URL (socket://host:port reaches a simulated board).")
    p.add_argument("program", type=Path, help="program folder written by `eiegen compile`")
    p.add_argument("--port", required=True, help="serial device or pyserial URL")
    p.add_argument("--inputs", type=Path,
                   help=".npy of inputs (batch, n_in): floats are quantized, integers used as "
                        "they are (default: 8 random inputs in [-1, 1], seed 0)")
    p.add_argument("--limit", type=number(int, 1), help="run only the first N inputs")
    # the same baud range as `eiegen build` (boards/build.py check_clock_baud); the clock
    # only scales the compute allowance of every read, so a board clock from 1 MHz to 1 GHz
    p.add_argument("--baud", type=number(int, 300, 12_000_000), default=115200,
                   help="UART baud rate (default 115200)")
    p.add_argument("--clock", type=number(float, 1e6, 1e9, what="Hz"), default=30e6,
                   help="the design clock in Hz, for timeouts (default 30e6)")
    p.add_argument("--timeout", type=number(float, 0, 3600, lo_open=True, what="seconds"),
                   default=2.0,
                   help="seconds allowed per response on top of transfer time (default 2)")
    p.add_argument("--no-load", action="store_true",
                   help="do not load the program (the bitstream holds it; not on iCEBreaker, "
                        "whose sparse matrix lives in SPRAM)")
    p.add_argument("--no-reset", action="store_true", help="do not send a break first")
    p.add_argument("-o", "--output", type=Path, help="write the results as JSON here")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.boards.host import run_board
    from eiegen.cli import CliError
    from eiegen.commands.simulate import read_inputs
    from eiegen.compiler.program import Program
    from eiegen.hw.protocol import ProtocolError
    from eiegen.links import LinkError

    from eiegen.safeio import check_output, write_json

    if args.output:
        check_output(args.output, [args.program, args.inputs])
    program = Program.load(args.program)
    inputs = read_inputs(args.inputs, program, args.limit)
    x = inputs.x_int
    clipped = (0, 0)
    if inputs.x_float is not None:
        from eiegen.sim.fidelity import input_saturation, input_warning

        clipped = input_saturation(program, inputs.x_float)
        if clipped[0]:
            print(f"eiegen run: warning: {input_warning(program, *clipped, len(x))}",
                  file=sys.stderr)
    try:
        result = run_board(args.port, program, x, load=not args.no_load, baud=args.baud,
                           clock_hz=args.clock, timeout=args.timeout,
                           reset=not args.no_reset)
    except (LinkError, ProtocolError) as e:  # BoardLinkError, LinkTimeout
        raise CliError(str(e)) from None
    rep = result.to_dict()
    rep["input_saturation"] = {"values": clipped[0], "inputs": clipped[1]}
    if args.output:
        write_json(args.output, rep)
    n = len(x)
    print(f"board: {result.info['n_pe']} PEs, config {result.info['digest']}")
    print(f"inputs: {n}, outputs equal to the golden model: "
          f"{'yes' if result.match else f'NO ({result.mismatches} of {n} differ)'}")
    cyc = result.cycles
    print(f"cycles per input: min {min(cyc)}, max {max(cyc)}, mean {sum(cyc) / n:.1f}")
    busy = [sum(c.busy) for c in result.counters]
    print(f"PE busy cycles per input (all PEs): mean {sum(busy) / n:.1f}")
    print(f"wall time {result.seconds:.2f} s ({result.link_bytes[0]} bytes sent, "
          f"{result.link_bytes[1]} received)", file=sys.stderr)
    return 0 if result.match else 1
