"""bench/cnn: the digits CNN (eiegen/digits_cnn.py) compressed, lowered and run.

Goals (issue 22): >= 35x smaller than its float32 weights with <= 1 point of held-out
accuracy lost, fixed-point golden accuracy within 0.5 point of float, RTL == golden on
every output word of the held-out set. Also: lowered matrix sizes, the repetition's
memory cost, cycles per inference and compute efficiency at 4/8/16 PEs beside the MACs,
the row order's effect, and what a write-back max unit would save.

    .venv/bin/python bench/cnn/run.py [--limit N]   # writes bench/results/cnn.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eiegen.compiler.compile import compile_network
from eiegen.digits import digits_data
from eiegen.digits_cnn import cnn_arch, run_cnn_pipeline
from eiegen.compiler.encode import encode_layer
from eiegen.compiler.lower import lower_network
from eiegen.compiler.stats import program_stats
from eiegen.sim.cycle_model import batch_cycles
from eiegen.sim.golden import run_golden
from eiegen.safeio import atomic_write_text  # beside and rename

OUT = Path(__file__).resolve().parent.parent / "results" / "cnn.json"


def _cfg(n_pe):
    # 512 lowered outputs per layer and ~226 biases at 8 PEs: fewer PEs need deeper files
    cfg = cnn_arch(n_pe)
    return cfg.replace(act_depth=max(64, -(-512 // n_pe)), bias_depth=max(256, 2048 // n_pe))


def _row_orders(net, n_pe, rel_bits):
    """Entries of the busiest PE and padding of each lowered conv, channel-major (the
    lowering's order) vs position-major rows."""
    low, rep = lower_network(net)
    out = {}
    for layer, info in zip(low, rep.layers):
        if info.kind != "conv":
            continue
        c = net[info.source].conv_shape
        positions = c[1] * c[2]
        perm = np.arange(layer.n_out).reshape(c[0], positions).T.reshape(-1)
        for name, idx in (("channel_major", layer.indices), ("position_major",
                                                             layer.indices[perm])):
            enc = encode_layer(idx, n_pe, rel_bits)
            e = np.array([s.n_entries for s in enc.pe])
            out.setdefault(info.name, {})[name] = {
                "busiest_pe_entries": int(e.max()), "balance": float(e.mean() / e.max()),
                "padding": int(enc.n_padding)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, help="simulate only the first N held-out digits")
    ap.add_argument("--no-rtl", action="store_true", help="skip the Verilator run")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    x_tr, y_tr, x_te, y_te = digits_data()
    result = run_cnn_pipeline(log=lambda s: print("   ", s, flush=True))
    net, rep = result.network, result.report
    stages = dict(rep.stages)
    total = rep.total()
    res = {"stages": rep.stages, "compression_ratio": total["ratio"],
           "compression": rep.to_dict(), "train_compress_s": time.monotonic() - t0}
    dense_acc, fx = stages["dense"], rep.stages[-1][1]
    macs = sum(la.n_conv_out * la.weight.shape[1] if la.kind == "conv" else la.weight.size
               for la in net)
    res["dense_macs"] = int(macs)
    per_pe = {}
    for n_pe in (4, 8, 16):
        cfg = _cfg(n_pe)
        program = compile_network(net, cfg, calibration=x_tr, balance=True)
        xq = program.quantize_input(x_te)
        bc = batch_cycles(program, xq)
        layer_cycles = bc.layer_cycles[0].mean(axis=1)
        pool = [k for k, lp in enumerate(program.layers) if ".pool" in lp.name]
        per_pe[n_pe] = {
            "cycles_per_inference": float(bc.cycles[0].mean()),
            "compute_efficiency": bc.efficiency(0),
            "macs_per_cycle": macs / float(bc.cycles[0].mean()),
            "layer_cycles": {lp.name: float(c) for lp, c in zip(program.layers, layer_cycles)},
            # a running maximum in the write-back stage would drop the pool layers whole
            "maxpool_layer_cycles": float(layer_cycles[pool].sum()),
            "stats": program_stats(program),
            "row_orders": _row_orders(net, n_pe, cfg.rel_bits)}
        if n_pe == 8:
            golden = run_golden(program, xq)[-1]
            pred = np.argmax(program.to_network_order(golden), axis=1)
            res["golden_accuracy"] = 100.0 * float(np.mean(pred == y_te))
            if not args.no_rtl:
                from eiegen.sim.harness import run_verilator
                n = args.limit or len(xq)
                run = run_verilator(program, xq[:n])
                res["rtl"] = {"inputs": int(n), "equals_golden":
                              bool(np.array_equal(run.outputs, golden[:n])),
                              "mean_cycles": float(np.mean([r.counters.cycles
                                                            for r in run.inferences]))}
    res["per_pe"] = per_pe
    res["goals"] = {"ratio>=35": total["ratio"] >= 35,
                    "loss<=1pt": dense_acc - stages["huffman"] <= 1.0,
                    "fixed_point_within_0.5pt": abs(fx - stages["huffman"]) <= 0.5,
                    "rtl==golden": res.get("rtl", {}).get("equals_golden")}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT, json.dumps(res, indent=1, sort_keys=True, default=float) + "\n")
    print(rep.table())
    print(f"\n{'PEs':>4} {'cycles/inf':>11} {'efficiency':>11} {'MACs/cycle':>11} "
          f"{'maxpool cycles':>15} {'conv repetition B':>18}")
    for n_pe, r in per_pe.items():
        low = r["stats"]["lowering"]
        print(f"{n_pe:>4} {r['cycles_per_inference']:>11.1f} {r['compute_efficiency']:>10.1%} "
              f"{r['macs_per_cycle']:>11.1f} {r['maxpool_layer_cycles']:>15.1f} "
              f"{low['conv_repetition_bytes']:>18.0f}")
    print(f"\ndense MACs {macs}; golden accuracy {res['golden_accuracy']:.2f}%; "
          f"RTL: {res.get('rtl')}; goals: {res['goals']}")


if __name__ == "__main__":
    main()
