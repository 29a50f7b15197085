#!/usr/bin/env python3
"""Benchmark: how far the golden model (bit-exact with the RTL) is from the float model,
on the cases of issue 18, with whatever precision policy the compiler has today.

Cases (every figure measured by eiegen.sim.fidelity on held-out inputs, never on the
calibration set itself; golden model only, no Verilator):

* ``digits``: the shipped compressed 64-300-100-10 digits MLP (eiegen demo, --no-train),
  the demo's config (8 PEs, 16-bit activations and weights, 32-bit accumulators),
  calibrated on the training split, measured on the 599 held-out digits.
* ``digits-icebreaker``: the same on the iCEBreaker board's default config (8-bit
  activations and weights, 16-bit accumulators).
* ``tabular-default`` / ``tabular-calibrated``: scikit-learn's bundled breast-cancer data
  (569 x 30), standardised on the training split, a 30-32-16-2 MLP trained with the
  project's numpy trainer and weight-shared to 4 bits (that quantized network is the
  float reference); compiled without --calibration (uniform [-1, 1], as `eiegen
  compile` does) and with the training split; measured on the 171 test inputs.
* ``fc8-like``: a synthetic AlexNet-FC8-shaped layer, 4096 x 1000 at 25% weights
  (Gaussian trained-weight magnitudes, the 75% smallest pruned, 16-entry codebook from
  linear-initialised k-means: entries of about 0.013..0.06), inputs as ReLU activations
  at 43% density with an exponential tail (max about 10); no ReLU on the logits.
* ``fc6-like``: a VGG-FC6-shaped layer, 25088 inputs x 4096 outputs at 4% weights (Deep
  Compression's VGG-16 fc6 density), inputs at 18% density (EIE Table III), ReLU.
  ``--fc6-outputs`` shrinks the outputs (full input width kept) on a small machine.

The synthetic layers are compiled for EIE's 64-PE organisation (bench/eie_layers) with
the default widths, calibrated on 64 inputs and measured on 64 others.

Prints a table and writes bench/results/fidelity.json (or --json PATH); the JSON holds no
timings, so it is byte-identical from run to run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network, default_calibration
from eiegen.compiler.network import Layer, Network
from eiegen.compiler.weight_sharing import share_weights
from eiegen.safeio import atomic_write_text
from eiegen.sim.fidelity import classification, measure_fidelity

ROOT = Path(__file__).resolve().parents[2]
SEED = 18


def digits_case(cfg: ArchConfig):
    from eiegen.digits import digits_data, load_shipped

    x_tr, _, x_te, y_te = digits_data()
    return load_shipped("compressed"), cfg, x_tr, x_te, y_te


def tabular_network():
    """(quantized network, x_train, x_test, y_test): breast cancer, standardised."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from eiegen.compiler.finetune import NumpyTrainer

    d = load_breast_cancer()
    x_tr, x_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.3,
                                              random_state=0, stratify=d.target)
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    rng = np.random.default_rng(SEED)
    sizes = (30, 32, 16, 2)
    net = Network(tuple(
        Layer(rng.normal(size=(b, a)) * np.sqrt(2.0 / a), np.zeros(b),
              "relu" if k < len(sizes) - 2 else "none", f"fc{k + 1}")
        for k, (a, b) in enumerate(zip(sizes, sizes[1:]))))
    net = NumpyTrainer(x_tr, y_tr.astype(np.int64), lr=1e-3, batch_size=32,
                       seed=SEED).train_weights(net, None, 30)
    # weight-shared here, so the float reference is the network the hardware encodes
    net = Network(tuple(la.quantize(*share_weights(la.weight, bits=4)) for la in net))
    return net, x_tr, x_te, y_te.astype(np.int64)


def synthetic_layer(n_in: int, n_out: int, density: float, sigma: float, relu: bool,
                    seed: int) -> Layer:
    """A pruned, weight-shared layer with trained-looking weights: Gaussian values, the
    smallest pruned to ``density``, the rest clustered into 15 centroids (entry 0 is 0)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, sigma, size=(n_out, n_in)).astype(np.float32)
    keep = np.abs(w) >= np.quantile(np.abs(w[:, : min(n_in, 4096)]), 1.0 - density)
    values = w[keep].astype(np.float64)
    del w
    codebook, idx = share_weights(values, bits=4)
    indices = np.zeros((n_out, n_in), dtype=np.int64)
    indices[keep] = idx
    del keep, idx
    bias = rng.normal(0.0, 2 * sigma, size=n_out)
    return Layer(weight=codebook[indices], bias=bias, activation="relu" if relu else "none",
                 name="fc", codebook=codebook, indices=indices)


def relu_activations(n: int, n_in: int, density: float, seed: int) -> np.ndarray:
    """ReLU outputs: zero with probability 1 - density, else exponential (a heavy tail
    next to a Gaussian's: the largest of ~10**5 values is about 10)."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(0.9, size=(n, n_in))
    x[rng.random((n, n_in)) >= density] = 0.0
    return x


def synthetic_case(n_in, n_out, w_density, a_density, sigma, relu, seed):
    sys.path.insert(0, str(ROOT / "bench" / "eie_layers"))
    from layers import N_PE  # noqa: E402  (EIE's 64-PE organisation)

    net = Network((synthetic_layer(n_in, n_out, w_density, sigma, relu, seed),))
    cfg = ArchConfig.eie(act_depth=-(-max(n_in, n_out) // N_PE), ptr_depth=n_in + 1 + (n_in + 1) % 2,
                         spmat_depth=16384, bias_depth=-(-n_out // N_PE), max_layers=1)
    calib = relu_activations(64, n_in, a_density, seed + 1)
    test = relu_activations(64, n_in, a_density, seed + 2)
    return net, cfg, calib, test, None


def measure(name, net, cfg, calib, test, labels, calibration_name, log):
    t = time.monotonic()
    program = compile_network(net, cfg, calibration=calib)
    t_compile = time.monotonic() - t
    t = time.monotonic()
    fid = measure_fidelity(program, test, net, calibration=calibration_name)
    log(f"  {name}: compiled in {t_compile:.1f} s, measured in {time.monotonic() - t:.1f} s")
    layers = fid.to_dict()["layers"]
    rep = {
        "config": {k: cfg.to_dict()[k] for k in ("n_pe", "act_bits", "weight_bits", "acc_bits")},
        "acc_policy": [lp.fmt.to_dict().get("acc_policy") for lp in program.layers],
        "shape": [net.n_in] + [la.n_out for la in net], "calibration": calibration_name,
        "n_inputs": fid.n_inputs, "fidelity": fid.to_dict(),
        "max_error_pct": max(la["max_error_pct"] or 0.0 for la in layers),
        "min_sqnr_db": min((la["sqnr_db"] for la in layers if la["sqnr_db"] is not None),
                           default=None),
        "input_saturations": fid.input_saturations,
        "output_saturations": sum(la["output_saturations"] for la in layers),
        "acc_saturations": sum(la["acc_saturations"] for la in layers),
    }
    if labels is not None:
        rep["accuracy"] = classification(labels, golden=fid.golden_outputs,
                                         float=fid.float_outputs)
    elif net.n_out > 1:
        g, f = np.argmax(fid.golden_outputs, 1), np.argmax(fid.float_outputs, 1)
        rep["top1_agreement"] = 100.0 * float(np.mean(g == f))
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "fidelity.json")
    ap.add_argument("--fc6-outputs", type=int, default=4096,
                    help="outputs of the FC6-like layer (default 4096, the full layer)")
    ap.add_argument("--only", nargs="*", help="run only these cases")
    args = ap.parse_args(argv)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    from eiegen.boards.catalog import get_board
    from eiegen.digits import digits_arch

    cases = {
        "digits": lambda: digits_case(digits_arch()) + ("training split",),
        "digits-icebreaker": lambda: digits_case(get_board("icebreaker").default_config())
        + ("training split",),
        "tabular-default": lambda: (lambda n, xtr, xte, yte: (
            n, ArchConfig(n_pe=4), default_calibration(n.n_in), xte, yte,
            "default uniform[-1,1]"))(*tabular_network()),
        "tabular-calibrated": lambda: (lambda n, xtr, xte, yte: (
            n, ArchConfig(n_pe=4), xtr, xte, yte, "training split"))(*tabular_network()),
        "fc8-like": lambda: synthetic_case(4096, 1000, 0.25, 0.43, 0.0113, False, SEED)
        + ("64 activation vectors",),
        f"fc6-like{'' if args.fc6_outputs == 4096 else f'-{args.fc6_outputs}out'}":
            lambda: synthetic_case(25088, args.fc6_outputs, 0.04, 0.183, 0.005, True,
                                   SEED + 10) + ("64 activation vectors",),
    }
    results = {}
    for name, make in cases.items():
        if args.only and name not in args.only:
            continue
        log(f"case {name}")
        net, cfg, calib, test, labels, cal_name = make()
        results[name] = measure(name, net, cfg, calib, test, labels, cal_name, log)
        del net

    print("fidelity of the golden model (= RTL) against the float model, held-out inputs")
    print(f"{'case':<22}{'bits a/w/acc':>13}{'max err':>10}{'min SQNR':>10}{'in sat':>8}"
          f"{'out sat':>8}{'acc sat':>8}{'accuracy golden / float (agree)':>34}")
    for name, r in results.items():
        c = r["config"]
        bits = f"{c['act_bits']}/{c['weight_bits']}/{c['acc_bits']}"
        sqnr = "exact" if r["min_sqnr_db"] is None else f"{r['min_sqnr_db']:.1f} dB"
        if "accuracy" in r:
            a = r["accuracy"]
            acc = (f"{a['golden_accuracy']:.2f}% / {a['float_accuracy']:.2f}% "
                   f"({a['golden_float_agreement']:.1f}%)")
        else:
            acc = f"top-1 agreement {r['top1_agreement']:.1f}%" if "top1_agreement" in r else "-"
        print(f"{name:<22}{bits:>13}{r['max_error_pct']:>9.4f}%{sqnr:>10}"
              f"{r['input_saturations']:>8}{r['output_saturations']:>8}"
              f"{r['acc_saturations']:>8}{acc:>34}")
    print("\nmax err: the worst layer's max |golden - float| as % of that layer's float output "
          "range; min SQNR: the worst layer's")
    for name, r in results.items():
        for w in r["fidelity"]["warnings"]:
            print(f"  {name}: {w}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(
        {"cases": results, "policy_note": "measures the compiler's current precision policy "
                                          "(compiler/formats.py)"},
        indent=1, sort_keys=True, allow_nan=False) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
