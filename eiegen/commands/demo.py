"""`eiegen demo`: the whole flow on the built-in digits example."""

from __future__ import annotations

import sys
from pathlib import Path

from eiegen.options import number


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="train, compress, compile, generate and simulate the digits example",
        description="The whole eiegen flow on scikit-learn's bundled handwritten digits: "
                    "train a 64-300-100-10 MLP, compress it (pruning, trained weight sharing, "
                    "Huffman), compile it, generate Verilog and simulate the held-out set "
                    "cycle-accurately in Verilator.")
    p.add_argument("--pe", type=int, default=8, dest="n_pe", help="number of PEs (default 8)")
    p.add_argument("--queue-depth", type=int, default=8, help="activation queue depth (default 8)")
    p.add_argument("--no-balance", dest="balance", action="store_false",
                   help="no compile-time load balancing")
    p.add_argument("--no-train", dest="train", action="store_false",
                   help="start from the shipped dense weights instead of training")
    p.add_argument("--trainer", choices=("numpy", "torch"), default="numpy",
                   help="training back end (torch needs the `train` extra)")
    p.add_argument("--clock-mhz", type=number(float, 0, 100_000, lo_open=True, what="MHz"),
                   default=100.0,
                   help="clock for the inferences-per-second figure (default 100)")
    p.add_argument("--cnn", action="store_true",
                   help="the LeNet-style digits CNN (conv, max pool, conv, FC, FC; trained "
                        "with numpy) instead of the MLP; its convolutions and max pool run "
                        "on the array as sparse layers")
    p.add_argument("--limit", type=number(int, 1),
                   help="simulate only the first N held-out digits")
    p.add_argument("-o", "--output", type=Path, default=Path("demo-report"),
                   help="report folder (default demo-report)")
    p.set_defaults(func=run)


def run(args) -> int:
    from eiegen.arch import ArchConfig
    from eiegen.demo import format_summary, run_demo

    from eiegen.progress import ProgressBar

    from eiegen.cli import CliError
    from eiegen.compiler.compile import fit_problems
    from eiegen.digits import SHAPE

    # validate before any work: the config, and that the digits MLP's layers fit it (the
    # compressed entries are checked after compression, but the shapes are known now)
    if args.cnn:
        from eiegen.compiler.compile import _fit_layers
        from eiegen.digits_cnn import cnn_arch, init_cnn

        if args.trainer != "numpy" or not args.train:
            raise CliError("--cnn always trains with numpy: drop --trainer torch / --no-train")
        problems = fit_problems(_fit_layers(init_cnn()), cnn_arch(args.n_pe, args.queue_depth))
        if problems:
            raise CliError(f"the digits CNN does not fit {args.n_pe} PEs: {problems[0]}")
    else:
        cfg = ArchConfig(n_pe=args.n_pe, queue_depth=args.queue_depth)
        problems = fit_problems([(f"layer {k} ({a}x{b})", a, b, None)
                                 for k, (a, b) in enumerate(zip(SHAPE, SHAPE[1:]))], cfg)
        if problems:
            raise CliError(f"the {'-'.join(map(str, SHAPE))} digits MLP does not fit "
                           f"{args.n_pe} PEs: {problems[0]}")
    from eiegen.safeio import check_folder_output
    check_folder_output(args.output, "demo")
    rep = run_demo(args.output, n_pe=args.n_pe, queue_depth=args.queue_depth,
                   balance=args.balance, train=args.train, trainer=args.trainer,
                   clock_mhz=args.clock_mhz, limit=args.limit,
                   log=lambda s: print(s, flush=True), progress=ProgressBar("digits"),
                   cnn=args.cnn)
    print()
    print(format_summary(rep["summary"]))
    print(f"\nwrote {args.output}/: report.json, eie.v, program/, config.json, weights.png, "
          f"sparsity.png, per_pe.png, layers.png")
    return 0 if rep["summary"]["rtl_equals_golden"] else 1
