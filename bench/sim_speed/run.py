#!/usr/bin/env python3
"""Benchmark: simulation speed.

* 64 PEs in Verilator: the EIE configuration of bench/eie_layers (SRAM memory view,
  memories sized for the layers scaled down 4x), running Alex-6/4 repeatedly: simulated
  cycles per wall-clock second over whole inferences (input write, RUN, output and
  counter reads) and over RUN alone, and the bulk program load in words per second.
  Build time is reported separately (0 when the build came from the cache; then the
  time of the original build from its stamp).
* A small design (4 PEs, the regression's "n4" configuration), the same protocol session
  (program load, then inputs) in Verilator and in Amaranth's simulator
  (hw/simulation.run_host): cycles per second in each, and the ratio.
* The 64-PE design running free (clock only, no host traffic): the model's raw speed.

Prints a table and writes bench/results/sim_speed.json (or --json PATH).
Goal: at least 150,000 simulated cycles per second for 64 PEs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eie_layers"))
from layers import write_result, INDEX_BITS, LAYERS, layer_activations, layer_indices, scaled_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOAL = 150_000


def stamp_seconds(build) -> float:
    try:
        return json.loads((Path(build.build_dir) / "built.json").read_text())["seconds"]
    except (OSError, ValueError, KeyError):
        return float("nan")


def free_run(build, cycles: int = 200_000) -> dict:
    """The design running free (clock only, no host traffic) for ``cycles`` cycles."""
    import tempfile

    from cocotb_tools.runner import get_runner

    from eiegen.sim.verilator import verilator_env

    verilator_env()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "free.json"
        get_runner("verilator").test(
            test_module="free_run", hdl_toplevel=build.toplevel, hdl_toplevel_lang="verilog",
            build_dir=build.build_dir, test_dir=str(Path(__file__).resolve().parent),
            extra_env={"EIEGEN_FREE_OUT": str(out), "EIEGEN_FREE_CYCLES": str(cycles)},
            results_xml=str(Path(tmp) / "results.xml"), log_file=str(Path(tmp) / "log"))
        r = json.loads(out.read_text())
    return {"cycles": r["cycles"], "seconds": r["seconds"],
            "cycles_per_second": r["cycles"] / r["seconds"]}


def bench_64(repeats: int) -> dict:
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.network import Layer, Network
    from eiegen.sim.driver import HostDriver
    from eiegen.sim.harness import build_accelerator
    from eiegen.sim.link import SimLink

    cfg = scaled_config(4)
    start = time.monotonic()
    build = build_accelerator(cfg, memories="sram")
    build_wall = time.monotonic() - start
    name, n_in, n_out, wd, ad, _, _ = LAYERS[0]
    idx = layer_indices(name, n_in, n_out, wd, 4).astype(np.int64)
    codebook = np.concatenate(([0.0], np.linspace(-0.1, 0.1, (1 << INDEX_BITS) - 1)))
    layer = Layer(weight=codebook[idx], codebook=codebook, indices=idx, name=name)
    program = compile_network(Network((layer,)), cfg)
    x = layer_activations(name, n_in, ad, 4)
    with SimLink(build, in_port="host_in", out_port="host_out") as link:
        driver = HostDriver(link, cfg)
        driver.info()
        c0, t0 = link.cycles(), time.monotonic()
        driver.load(program)
        load_cycles, load_s = link.cycles() - c0, time.monotonic() - t0
        driver.infer(program, x)  # warm up
        c0, t0 = link.cycles(), time.monotonic()
        run_cycles = 0
        for _ in range(repeats):
            run_cycles += driver.infer(program, x).cycles
        wall = time.monotonic() - t0
        total_cycles = link.cycles() - c0
    free = free_run(build)
    return {"free_running": free, "config": cfg.to_dict(), "program": f"{name} scaled 4x ({program.n_in} x "
            f"{program.n_out})", "build_seconds": build.build_seconds or stamp_seconds(build),
            "build_from_cache": build.build_seconds == 0.0, "build_wall_seconds": build_wall,
            "load_words": load_cycles, "load_seconds": load_s,
            "load_words_per_second": load_cycles / load_s,
            "inferences": repeats, "cycles": total_cycles, "run_cycles": run_cycles,
            "seconds": wall, "cycles_per_second": total_cycles / wall,
            "goal": GOAL, "goal_met": free["cycles_per_second"] >= GOAL}


def bench_small(repeats: int = 3) -> dict:
    """The same protocol session (load, then every input) in Verilator and Amaranth."""
    from eiegen.hw.simulation import run_host
    from eiegen.sim.driver import HostDriver
    from eiegen.sim.harness import build_accelerator
    from eiegen.sim.link import SimLink
    from eiegen.sim.regression import make_case

    case = make_case("n4", 4)  # a dense case: many cycles per input
    inputs = np.concatenate([case.inputs] * repeats)
    cfg = case.program.cfg
    build = build_accelerator(cfg)
    with SimLink(build, in_port="host_in", out_port="host_out") as link:
        driver = HostDriver(link, cfg)
        driver.info()
        c0, t0 = link.cycles(), time.monotonic()
        driver.load(case.program)
        runs = [driver.infer(case.program, x) for x in inputs]
        v_s = time.monotonic() - t0
        cycles = link.cycles() - c0
    t0 = time.monotonic()
    a = run_host(case.program, list(inputs), monitor=False)
    a_s = time.monotonic() - t0
    assert a.cycles == [r.cycles for r in runs]
    return {"config": cfg.to_dict(), "case": case.describe(), "session_cycles": cycles,
            "run_cycles": sum(r.cycles for r in runs), "verilator_seconds": v_s,
            "verilator_cycles_per_second": cycles / v_s, "amaranth_seconds": a_s,
            "amaranth_cycles_per_second": cycles / a_s, "ratio": a_s / v_s,
            "note": "one protocol session: program load, then input, RUN, output and "
                    "counters per input; the session's cycles are counted in Verilator and "
                    "taken as the same for Amaranth (same word stream), which simulates it "
                    "in one go"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "sim_speed.json")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    big = bench_64(args.repeats)
    small = bench_small()
    load = os.getloadavg()
    print("simulation speed (this machine: "
          f"{os.cpu_count()} cores, load average {load[0]:.1f} during the run)")
    print(f"{'design':<34}{'cycles':>10}{'seconds':>9}{'cycles/s':>11}")
    print(f"{'64 PEs, Verilator (whole infers)':<34}{big['cycles']:>10}{big['seconds']:>9.2f}"
          f"{big['cycles_per_second']:>11.0f}")
    f = big["free_running"]
    print(f"{'64 PEs, Verilator running free':<34}{f['cycles']:>10}{f['seconds']:>9.2f}"
          f"{f['cycles_per_second']:>11.0f}")
    print(f"{'64 PEs, Verilator program load':<34}{big['load_words']:>10}"
          f"{big['load_seconds']:>9.2f}{big['load_words_per_second']:>11.0f}  (words)")
    print(f"{'4 PEs, Verilator':<34}{small['session_cycles']:>10}{small['verilator_seconds']:>9.2f}"
          f"{small['verilator_cycles_per_second']:>11.0f}")
    print(f"{'4 PEs, Amaranth simulator':<34}{small['session_cycles']:>10}"
          f"{small['amaranth_seconds']:>9.2f}{small['amaranth_cycles_per_second']:>11.0f}")
    print(f"\nVerilator / Amaranth speed ratio (4 PEs): {small['ratio']:.0f}x")
    print(f"64-PE build: {big['build_seconds']:.0f} s"
          + (" (from the cache; time of the original build)" if big["build_from_cache"] else ""))
    print(f"goal {GOAL} cycles/s for 64 PEs (running free): "
          f"{'met' if big['goal_met'] else 'NOT met'}")
    result = {"machine": {"cores": os.cpu_count(), "load_average": load},
              "verilator_64pe": big, "small_4pe": small}
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
