#!/usr/bin/env python3
"""Benchmark: the accumulator precision policy (issue 18, item 1), old rule vs new.

For each case, compiles with the worst-case rule (``acc_policy="worst_case"``: no input
can leave the accumulator, EIE's arithmetic) and with the calibrated rule (the default,
``"saturate"``: room for the calibration's partial sums scaled to the input format's
range, the hardware saturating beyond it), runs the bit-exact golden model and prints, per case and policy: each layer's
``frac_w``, max |golden - float| as % of the float output range, SQNR and accumulator
saturations. Writes JSON to bench/results/precision.json (or --json PATH).

Cases: a synthetic AlexNet-FC8-like layer (4096 x 1000, 25% weights, 16-entry codebook,
ReLU-like inputs at 43% density with a heavy tail; calibrated on 256 inputs, measured on
256 others) and the shipped digits MLP (calibrated on the training set, measured on the
held-out set) on the digits config (8 PEs, 16-bit) and on the iCEBreaker's (8-bit
activations and weights, 16-bit accumulators).

``float`` is the float network the program encodes: the same codebooks, so the figures
are the fixed-point arithmetic's error alone, not the compression's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import relu_like_inputs, trained_like_layer
from eiegen.compiler.network import Network
from eiegen.sim.golden import run_golden, saturation_counters
from eiegen.safeio import atomic_write_text  # beside and rename

POLICIES = ("worst_case", "saturate")


def fidelity(net, program, x):
    """Max |golden - float| as % of the float output range, SQNR (dB), saturations."""
    want = net.forward(x)
    outs, sats = run_golden(program, program.quantize_input(x), saturations=True)
    got = program.dequantize_output(outs[-1])
    err = got - want
    span = float(np.ptp(want))
    return {"max_err_pct_range": 100.0 * float(np.max(np.abs(err))) / span,
            "mean_err": float(np.mean(err)),
            "sqnr_db": 10.0 * float(np.log10(np.sum(want ** 2) / max(np.sum(err ** 2), 1e-300))),
            "acc_saturations": int(saturation_counters(sats).sum()),
            "frac_w": [lp.fmt.frac_w for lp in program.layers],
            "acc_worst_bits": [lp.fmt.acc_worst_bits for lp in program.layers],
            "acc_headroom_bits": [lp.fmt.acc_headroom_bits for lp in program.layers]}


def run_case(name, net, cfg, calib, x):
    rows = []
    for policy in POLICIES:
        start = time.monotonic()
        # the calibrated rule needs saturating accumulators: on a config whose
        # accumulators wrap (the iCEBreaker's) it is measured on that config with them
        # turned on, i.e. what the board would compute if the clamp fitted
        pcfg = cfg.replace(acc_saturate=1) if policy == "saturate" else cfg
        program = compile_network(net, pcfg, calibration=calib, acc_policy=policy)
        compile_s = time.monotonic() - start
        rows.append({"case": name, "policy": policy, "compile_s": round(compile_s, 2),
                     **fidelity(net, program, x)})
    return rows


def fc8_case():
    rng = np.random.default_rng(0)
    layer = trained_like_layer(rng, 4096, 1000)
    x = relu_like_inputs(rng, 512, 4096)
    cfg = ArchConfig(n_pe=64, act_depth=64, spmat_depth=4096, ptr_depth=8192, bias_depth=32,
                     max_layers=1)
    return "fc8-like 4096x1000", Network((layer,)), cfg, x[:256], x[256:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "precision.json")
    args = ap.parse_args(argv)
    from eiegen.boards.catalog import get_board
    from eiegen.digits import digits_arch, digits_data, load_shipped

    x_tr, _, x_te, _ = digits_data()
    digits = load_shipped("compressed")
    cases = [fc8_case(),
             ("digits MLP (8 PEs, 16-bit)", digits, digits_arch(), x_tr, x_te),
             ("digits MLP (iCEBreaker, 8-bit)", digits, get_board("icebreaker").default_config(),
              x_tr, x_te)]
    rows = []
    for case in cases:
        rows += run_case(*case)
    # What limits the iCEBreaker's 8-bit formats: the same network with wider accumulators
    # (which the board's logic cells and block RAMs do not hold: docs/fixed-point.md)
    ice = get_board("icebreaker").default_config()
    for acc_bits in (20, 24, 32):
        rows += run_case(f"digits MLP (iCEBreaker, acc {acc_bits})", digits,
                         ice.replace(acc_bits=acc_bits), x_tr, x_te)
    print(f"{'case':32s} {'policy':10s} {'frac_w':12s} {'max err % range':>15s} "
          f"{'SQNR dB':>8s} {'acc sat':>7s} {'compile s':>9s}")
    for r in rows:
        print(f"{r['case']:32s} {r['policy']:10s} {str(r['frac_w']):12s} "
              f"{r['max_err_pct_range']:15.4f} {r['sqnr_db']:8.1f} {r['acc_saturations']:7d} "
              f"{r['compile_s']:9.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
