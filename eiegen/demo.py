"""The end-to-end demo: train, compress, compile, generate Verilog, simulate in Verilator.

Every number it prints is computed in this run: accuracies from the networks and the
simulations, sizes from the compressed encoding, cycles from the RTL's counters.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np

from eiegen.safeio import staged_folder, write_json

__all__ = ["run_demo"]


def _step(log, text):
    log(f"==> {text}")
    return time.monotonic()


def run_demo(out: Path, *, n_pe: int = 8, queue_depth: int = 8, balance: bool = True,
             train: bool = True, trainer: str = "numpy", clock_mhz: float = 100.0,
             limit: int | None = None, log=print, progress=None, cnn: bool = False) -> dict:
    """Run the whole flow and write the report folder ``out`` (see the README). With
    ``cnn``, on the LeNet-style digits CNN (eiegen/digits_cnn.py) instead of the MLP."""
    with staged_folder(out, kind="demo") as tmp:  # replaces `out` only when all is done
        return _run_demo_in(tmp, n_pe=n_pe, queue_depth=queue_depth, balance=balance,
                            train=train, trainer=trainer, clock_mhz=clock_mhz, limit=limit,
                            log=log, progress=progress, cnn=cnn)


def _run_demo_in(out: Path, *, n_pe, queue_depth, balance, train, trainer, clock_mhz, limit,
                 log, progress, cnn=False) -> dict:
    from eiegen.arch import ArchConfig
    from eiegen.compiler.compile import compile_network
    from eiegen.digits import digits_data, load_shipped, run_digits_pipeline, train_dense
    from eiegen.compiler.stats import program_stats
    from eiegen.hw.verilog import generate
    from eiegen.sim.cycle_model import estimate_batch
    from eiegen.sim.golden import run_golden
    from eiegen.sim.harness import run_verilator
    from eiegen.sim.report import simulation_report

    from .plots import plot_demo

    x_tr, y_tr, x_te, y_te = digits_data()
    if limit is not None:
        x_te, y_te = x_te[:limit], y_te[:limit]
    timings = {}

    if cnn:
        from eiegen.digits_cnn import cnn_arch, run_cnn_pipeline, train_dense_cnn

        # the CNN always trains (numpy): nothing is shipped for it, and it takes a minute
        t = _step(log, "training the digits CNN (conv 1->8 3x3, ReLU, maxpool 2x2, conv 8->16 "
                       "3x3, ReLU, flatten, FC 256->128, ReLU, FC 128->10) with numpy")
        dense = train_dense_cnn()
    else:
        t = _step(log, "training the 64-300-100-10 digits MLP" if train
                  else "loading the shipped dense digits MLP (--no-train)")
        dense = train_dense(trainer=trainer) if train else load_shipped("dense")
    timings["train"] = time.monotonic() - t

    t = _step(log, "compressing: pruning + retraining, trained weight sharing, Huffman coding")
    pipeline = run_cnn_pipeline if cnn else partial(run_digits_pipeline, trainer=trainer)
    result = pipeline(dense, fixed_point=False, log=lambda s: log(f"    {s}"))
    net, creport = result.network, result.report
    timings["compress"] = time.monotonic() - t
    log(creport.table())

    t = _step(log, f"compiling for {n_pe} PEs, queue depth {queue_depth}"
              + (" with compile-time load balancing" if balance else ""))
    cfg = (cnn_arch(n_pe, queue_depth) if cnn
           else ArchConfig(n_pe=n_pe, queue_depth=queue_depth))
    program = compile_network(net, cfg, calibration=x_tr, balance=balance)
    program.save(out / "program")
    cfg.save(out / "config.json")
    stats = program_stats(program)
    timings["compile"] = time.monotonic() - t

    t = _step(log, "generating Verilog")
    verilog = generate(cfg)
    (out / "eie.v").write_text(verilog)
    timings["verilog"] = time.monotonic() - t

    x_int = program.quantize_input(x_te)
    golden = run_golden(program, x_int)[-1]
    golden_pred = np.argmax(program.to_network_order(golden), axis=1)

    t = _step(log, f"simulating {len(x_int)} held-out digits cycle-accurately in Verilator "
                   f"(the first build takes a minute)")
    run = run_verilator(program, x_int, progress=progress)
    timings["simulate"] = time.monotonic() - t
    rtl = run.outputs
    rtl_pred = np.argmax(program.to_network_order(rtl), axis=1)
    sim_rep = simulation_report(program, x_int, rtl, [r.counters for r in run.inferences],
                                model=estimate_batch(program, x_int),
                                build_seconds=run.build.build_seconds,
                                sim_seconds=timings["simulate"] - run.build.build_seconds)

    float_acc = creport.stages[0][1]
    compressed_acc = creport.stages[-1][1]
    mean_cycles = sim_rep["cycles"]["mean"]
    summary = {
        "float_accuracy": float_acc,
        "compressed_float_accuracy": compressed_acc,
        "golden_fixed_point_accuracy": 100.0 * float(np.mean(golden_pred == y_te)),
        "rtl_accuracy": 100.0 * float(np.mean(rtl_pred == y_te)),
        "rtl_equals_golden": bool(np.array_equal(rtl, golden)),
        "compression_ratio": creport.total()["ratio"],
        "cycles_per_inference": mean_cycles,
        # two figures, explained in sim/report.py: how even the work is, and how close
        # the cycles get to the busiest PE's work
        "work_balance": sim_rep["work_balance"],
        "compute_efficiency": sim_rep["compute_efficiency"],
        # the same ratio over the COMPUTE phases only (without descriptor reads, bias
        # preload and write-back, which cost 1 + 2 * ceil(n_out / N) cycles per layer)
        "compute_phase_efficiency": (
            sum(layer["work_bound"] for layer in sim_rep["layers"])
            / max(1, sum(layer["compute_cycles"] for layer in sim_rep["layers"]))),
        "cycle_model_exact": sim_rep["cycle_model"]["matches_rtl"],
        "clock_mhz": clock_mhz,
        "inferences_per_second": clock_mhz * 1e6 / mean_cycles,
        "n_test": int(len(x_int)),
        "timings_s": timings,
    }
    if program.lowering is not None:
        summary["lowering"] = stats["lowering"]
    report = {"summary": summary, "compression": creport.to_dict(), "program": stats,
              "simulation": sim_rep, "config": cfg.to_dict()}
    write_json(out / "report.json", report)
    plot_demo(net, program, sim_rep, out)
    return report


def format_summary(s: dict) -> str:
    return "\n".join([
        f"float accuracy (dense)            {s['float_accuracy']:.2f}%",
        f"compressed float accuracy         {s['compressed_float_accuracy']:.2f}%",
        f"golden fixed-point accuracy       {s['golden_fixed_point_accuracy']:.2f}%",
        f"RTL accuracy (Verilator)          {s['rtl_accuracy']:.2f}%  "
        f"(RTL == golden on every output word: {'yes' if s['rtl_equals_golden'] else 'NO'})",
        f"compression ratio                 {s['compression_ratio']:.1f}x",
        f"cycles per inference              {s['cycles_per_inference']:.1f}  (cycle model "
        f"{'exact' if s['cycle_model_exact'] else 'NOT exact'})",
        f"work balance                      {s['work_balance']:.1%}  (mean PE's work / "
        f"busiest PE's)",
        f"compute efficiency                {s['compute_efficiency']:.1%} of all cycles, "
        f"{s['compute_phase_efficiency']:.1%} of compute cycles  (work bound / cycles)",
        f"inferences per second @ {s['clock_mhz']:g} MHz   {s['inferences_per_second']:,.0f}",
    ])
