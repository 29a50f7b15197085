#!/usr/bin/env python3
"""Train and compress the digits MLP (64-300-100-10) and refresh eiegen/data/.

Reproducible: every random choice is seeded, and training uses the numpy back end, so
the same files come out with or without PyTorch (``--trainer torch`` retrains with
PyTorch instead, which gives a different but equally reproducible model).

    python examples/digits_mlp.py            # train, compress, print the report
    python examples/digits_mlp.py --write    # ... and update eiegen/data/digits_mlp_*
"""

from __future__ import annotations

import argparse
import sys

from eiegen.compiler.compress import save_network
from eiegen.digits import DATA_DIR, compress_digits, digits_data, train_dense
from eiegen.compiler.finetune import accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--trainer", choices=("numpy", "torch"), default="numpy")
    parser.add_argument("--write", action="store_true",
                        help="write the dense and compressed models and the report to "
                             f"{DATA_DIR}")
    args = parser.parse_args(argv)

    dense = train_dense(args.seed, args.trainer)
    _, _, x_te, y_te = digits_data()
    print(f"dense model: held-out accuracy {accuracy(dense, x_te, y_te):.2f}%")
    net, report = compress_digits(dense, trainer=args.trainer, seed=args.seed, log=print)
    print()
    print(report.table())
    if args.write:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        save_network(dense, DATA_DIR / "digits_mlp_dense.npz")
        save_network(net, DATA_DIR / "digits_mlp_compressed.npz")
        (DATA_DIR / "digits_mlp_report.json").write_text(report.to_json())
        print(f"\nwrote {DATA_DIR}/digits_mlp_{{dense,compressed}}.npz and digits_mlp_report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
