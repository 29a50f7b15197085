"""`eiegen compress`: a trained model -> a pruned, weight-shared network and its report."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from eiegen.options import number


def _numbers(kind):
    """argparse type of one token of a per-layer option: a number, or several separated by
    commas (``0.8,0.9``); :class:`_PerLayer` joins the tokens (``0.8 0.9``)."""
    def parse(text):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()] or [kind(text)]
        except ValueError:
            import argparse
            # the usual cause: the model path written after the option's values
            raise argparse.ArgumentTypeError(
                f"expected a {kind.__name__} or a list (separated by spaces or commas), got "
                f"{text!r} (give the model before this option)") from None
        return values

    def checked(text):
        values = parse(text)
        if not all(math.isfinite(v) for v in values):  # NaN passes every range check
            raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
        return values

    checked.__name__ = kind.__name__  # what argparse names in its messages
    return checked


class _PerLayer(argparse.Action):
    """One value for every layer, or one per layer: the tokens' numbers joined, a single
    one as a scalar."""

    def __call__(self, parser, namespace, values, option_string=None):
        flat = tuple(v for token in values for v in token)
        setattr(namespace, self.dest, flat[0] if len(flat) == 1 else flat)


def register(sub) -> None:
    p = sub.add_parser(
        "compress", help="Deep Compression: prune, share weights, Huffman-code a model",
        description="Compress a trained model (.npz network or .onnx) with Deep Compression: "
                    "magnitude pruning (with masked retraining when --data is given), "
                    "weight sharing to a per-layer codebook (trained when --data is given) "
                    "and Huffman coding; prints the storage report.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("model", nargs="?", type=Path,
                     help="model file: .npz network, .onnx or a .pt state_dict")
    src.add_argument("--example", action="store_true",
                     help="compress the shipped digits MLP (64-300-100-10) with its settings")
    prune = p.add_mutually_exclusive_group()
    prune.add_argument("--sparsity", type=_numbers(float), nargs="+", action=_PerLayer,
                       help="target fraction of pruned weights: one value, or one per layer "
                            "(separated by spaces or commas)")
    prune.add_argument("--quality", type=_numbers(float), nargs="+", action=_PerLayer,
                       help="Deep Compression quality factor(s): prune |w| <= q * std(layer)")
    prune.add_argument("--global-sparsity", type=number(float, 0, 1),
                       help="fraction of pruned weights over all layers, one threshold")
    p.add_argument("--steps", type=number(int, 1, 1000), default=1,
                   help="prune-and-retrain iterations along AGP's cubic ramp (default 1)")
    p.add_argument("--bits", type=_numbers(int), nargs="+", action=_PerLayer, default=4,
                   help="codebook index bits: one value, or one per layer (default 4)")
    p.add_argument("--method", default="linear",
                   choices=("linear", "density", "random", "optimal"),
                   help="centroid initialisation, or the exact 1-D clustering (default linear)")
    p.add_argument("--data", type=Path,
                   help=".npz with x_train, y_train (integer labels) and optionally x_test, "
                        "y_test: enables retraining and the accuracy of every stage")
    p.add_argument("--epochs", type=number(int, 0, 100_000), default=0,
                   help="masked retraining epochs after each pruning step (needs --data)")
    p.add_argument("--codebook-epochs", type=number(int, 0, 100_000), default=0,
                   help="trained-quantization epochs (needs --data)")
    p.add_argument("--lr", type=number(float, 0, 10, lo_open=True), default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=number(int, 1, 1 << 20), default=32, help="minibatch size (default 32)")
    p.add_argument("--pe", type=number(int, 1, 256), default=1, dest="n_pe",
                   help="PEs the storage format is split over (default 1: plain CSC)")
    p.add_argument("--rel-bits", type=_numbers(int), nargs="+", action=_PerLayer, default=4,
                   help="relative-index bits: one value, or one per layer (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and random init")
    p.add_argument("-o", "--output", type=Path,
                   help="compressed network .npz to write (default: none)")
    p.add_argument("--json", type=Path, help="also write the report as JSON here")
    p.set_defaults(func=run)


def _load_data(path: Path):
    from eiegen.cli import CliError

    from eiegen.safeload import load_arrays

    arrays = load_arrays(path, what="training data", error=CliError)  # checked, no pickles
    if not isinstance(arrays, dict):
        raise CliError(f"training data {path} is one array; give an .npz with x_train, "
                       f"y_train (and optionally x_test, y_test)")
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise CliError(f"{path}: missing {', '.join(missing)} (expected x_train, y_train and "
                       f"optionally x_test, y_test)")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise CliError(f"{path}: give both x_test and y_test or neither")
    for k in ("y_train", "y_test"):
        if k in arrays and not np.issubdtype(arrays[k].dtype, np.integer):
            raise CliError(f"{path}: {k} must hold integer class labels, got {arrays[k].dtype}")
    return arrays


def _check_output(path, suffix):
    from eiegen.cli import CliError

    if path is None:
        return
    if suffix and path.suffix != suffix:
        raise CliError(f"output {path} must end in {suffix}")
    if not path.parent.exists():
        raise CliError(f"cannot write {path}: directory {path.parent} does not exist")


def run(args) -> int:
    from eiegen.cli import CliError, print_notes
    from eiegen.compiler.compress import CompressionConfig, compress, save_network
    from eiegen.digits import compress_digits
    from eiegen.compiler.finetune import NumpyTrainer, accuracy
    from eiegen.compiler.model_import import import_model
    from eiegen.compiler.network import NetworkError
    from eiegen.safeio import atomic_write_text, check_output

    # Everything is checked and computed before the first file is written.
    _check_output(args.output, ".npz")
    _check_output(args.json, None)
    inputs = [args.model, args.data]
    if args.output:
        check_output(args.output, inputs)
    if args.json:
        check_output(args.json, inputs + [args.output], what="--json")
    try:
        if args.example:
            net, report = compress_digits(log=print)
        else:
            model = import_model(args.model)
            print_notes("compress", model)
            data = _load_data(args.data) if args.data else None
            if data is None and (args.epochs or args.codebook_epochs):
                raise CliError("--epochs and --codebook-epochs retrain the model: give --data")
            config = CompressionConfig(
                sparsity=args.sparsity, quality=args.quality,
                global_sparsity=args.global_sparsity, prune_steps=args.steps,
                retrain_epochs=args.epochs, bits=args.bits, method=args.method,
                codebook_epochs=args.codebook_epochs, n_pe=args.n_pe,
                rel_bits=args.rel_bits, seed=args.seed)
            config.validate(len(model))
            trainer = metric = None
            if data is not None:
                trainer = NumpyTrainer(data["x_train"], data["y_train"], lr=args.lr,
                                       batch_size=args.batch_size, seed=args.seed)
                xe, ye = (data["x_test"], data["y_test"]) if "x_test" in data else \
                    (data["x_train"], data["y_train"])
                metric = lambda n: accuracy(n, xe, ye)  # noqa: E731
            result = compress(model, config, trainer=trainer, metric=metric, log=print)
            net, report = result.network, result.report
    except NetworkError:
        raise  # the CLI prints these itself
    except (ValueError, ImportError) as e:  # bad settings, or a missing optional package
        raise CliError(str(e)) from None
    print()
    print(report.table())
    if args.output:
        save_network(net, args.output)
        print(f"\nwrote {args.output}")
    if args.json:
        atomic_write_text(args.json, report.to_json())
        print(f"wrote {args.json}")
    return 0
