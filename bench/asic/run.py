#!/usr/bin/env python3
"""Benchmark: energy per inference of issue 21's architecture options on the EIE check.

Runs ``eiegen asic --eie`` (64 PEs, EIE's memory sizes, EIE's Alex-7 layer 4096 x 4096 with
9 % weights and 35.3 % non-zero inputs; the command's default seed and inputs, so every
configuration sees the same network and the same inputs) for EIE's configuration and
for the options of docs/architecture.md switched on with ``--set``:

* ``eie``: all options off (EIE's architecture);
* ``col_filter``: a PE takes only the broadcasts of columns it has entries in;
* ``filter+w2+reset``: ``col_filter``, ``broadcast_width=2``, ``bias_reset``;
* ``all, w4``: ``col_filter``, ``broadcast_width=4``, ``bias_reset``, ``wb_overlap``.

Each configuration's logic comes from its own Yosys synthesis, stored as
``bench/asic/synth_<name>_<method>.json``: ``pe0`` (default; PE 0 and the rest of the
design in two Yosys runs, PE 0 counted for every PE: ``asic.synth.synthesize(per_pe=
True)``; the one-run synthesis of the 64-PE designs with ``bias_reset`` exhausts the
WebAssembly Yosys' 4 GB) or ``whole`` (one run, as ``eiegen asic``; stored for the
configurations it synthesises). ``--synth`` runs Yosys for the ones missing (minutes
each); without a stored one and without ``--synth`` the logic's area and energy count
as zero and the table says so. Prints energy per inference (mean over the command's
inputs) by unit, cycles and logic area, and writes bench/results/asic.json (or --json
PATH).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CONFIGS = {
    "eie": {},
    "col_filter": {"col_filter": 1},
    "filter+w2+reset": {"col_filter": 1, "broadcast_width": 2, "bias_reset": 1},
    "all, w4": {"col_filter": 1, "broadcast_width": 4, "bias_reset": 1, "wb_overlap": 1},
}


# configurations no Yosys run here synthesises (the WebAssembly Yosys runs out of memory on
# wb_overlap's two banks of 1,024 accumulator valid bits, even on PE 0 alone): their logic
# is counted from the synthesis of a configuration whose logic is a subset of theirs
# (broadcast_width 2 instead of 4, one accumulator bank), so their energy and logic area
# are lower bounds
STAND_IN = {"all, w4": "filter+w2+reset"}


def synth_path(name: str, method: str) -> Path:
    return HERE / f"synth_{name.replace(', ', '_').replace('+', '_')}_{method}.json"


def measure(name: str, options: dict, synth: bool, method: str) -> dict:
    """``eiegen asic --eie`` for one configuration, its report reduced to the table's
    numbers (per inference: means over the command's inputs)."""
    from eiegen.arch import ArchConfig

    cfg = ArchConfig.eie(**options)
    stored = synth_path(name, method)
    if stored.exists():
        if json.loads(stored.read_text())["config"] != cfg.to_dict():
            raise SystemExit(f"{stored} is a synthesis of another configuration: delete it "
                             f"and run with --synth")
    elif synth and name not in STAND_IN:
        from eiegen.asic.synth import synthesize
        from eiegen.safeio import atomic_write_text
        report = synthesize(cfg, per_pe=method == "pe0")
        atomic_write_text(stored, report.to_json())
    stand_in = None
    if not stored.exists() and name in STAND_IN and synth_path(STAND_IN[name], method).exists():
        stand_in = STAND_IN[name]
        report = _with_stand_in(cfg, synth_path(stand_in, method))
    else:
        report = _command(options, stored)
    return {"options": options, **_row(report), "logic_stand_in": stand_in}


def _with_stand_in(cfg, path: Path) -> dict:
    """The report of ``eiegen asic --eie`` for ``cfg`` (the command's network and inputs)
    with the logic of the synthesis in ``path``, which the command would refuse (another
    configuration)."""
    from types import SimpleNamespace

    from eiegen.asic.energy import energy_report
    from eiegen.asic.synth import SynthReport
    from eiegen.commands.asic import _workload

    args = SimpleNamespace(program=None, eie=True, seed=0, inputs=2, act_density=0.35)
    program, inputs = _workload(args, cfg)
    synth = SynthReport.from_dict(json.loads(path.read_text()))
    report = json.loads(json.dumps(energy_report(program, inputs, synth=synth),
                                   default=_plain))
    return {"config": cfg.to_dict(), "energy": report, "synthesis": synth.to_dict()}


def _plain(v):
    import numpy as np
    return v.tolist() if isinstance(v, np.ndarray) else v.item()


def _command(options: dict, stored: Path) -> dict:
    """The JSON report of ``eiegen asic --eie --set ...`` (with the stored synthesis)."""
    from eiegen.cli import main

    with tempfile.TemporaryDirectory(prefix="eiegen-bench-asic-") as tmp:
        out = Path(tmp) / "report.json"
        argv = ["asic", "--eie", "--json", str(out)]
        for field, value in options.items():
            argv += ["--set", f"{field}={value}"]
        argv += ["--synth-json", str(stored)] if stored.exists() else ["--no-synth"]
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            rc = main(argv)
        if rc:
            raise SystemExit(f"eiegen {' '.join(argv)} failed ({rc}):\n{log.getvalue()}")
        return json.loads(out.read_text())


def _row(report: dict) -> dict:
    """The table's numbers of one report (per inference: means over its inputs)."""
    energy = report["energy"]
    infs = energy["inferences"]
    n = len(infs)
    area = energy["area"]
    n_pe = report["config"]["n_pe"]
    return {
        "config": report["config"],
        "synthesised": "synthesis" in report,
        "synthesis_method": report.get("synthesis", {}).get("method"),
        "yosys_seconds": report.get("synthesis", {}).get("seconds"),
        "cycles": sum(i["cycles"] for i in infs) / n,
        "energy_nj": sum(i["total"] for i in infs) / n * 1e-3,
        "energy_by_unit_nj": {u: sum(i["by_unit"][u] for i in infs) / n * 1e-3
                              for u in infs[0]["by_unit"]},
        "energy_by_kind_nj": {k: sum(i["by_kind"][k] for i in infs) / n * 1e-3
                              for k in infs[0]["by_kind"]},
        "energy_by_memory_nj": {m: sum(la["by_memory"][m] for i in infs
                                       for la in i["layers"]) / n * 1e-3
                                for m in infs[0]["layers"][0]["by_memory"]},
        "broadcasts": sum(la["events"]["broadcasts"] for i in infs for la in i["layers"]) / n,
        "macs": sum(la["macs"] for i in infs for la in i["layers"]) / n,
        "logic_um2_per_pe": area["logic"],
        "logic_mm2": area["logic"] * n_pe * 1e-6,
        "sram_mm2": area["sram"] * n_pe * 1e-6,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "asic.json")
    ap.add_argument("--synth", action="store_true",
                    help="run Yosys for the configurations without a stored synthesis")
    ap.add_argument("--method", choices=("pe0", "whole"), default="pe0",
                    help="which stored synthesis (default pe0: PE 0 counted for every PE)")
    ap.add_argument("--only", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    args = ap.parse_args(argv)
    rows = {name: measure(name, CONFIGS[name], args.synth, args.method)
            for name in args.only}
    from eiegen.asic.energy import UNIT_ORDER
    units = list(UNIT_ORDER)
    print("EIE check layer (4096 x 4096, 9 % weights, 35.3 % inputs), 64 PEs, 45 nm, "
          f"800 MHz: energy per inference (nJ) by unit; logic: synthesis '{args.method}'")
    print(f"{'configuration':<17}{'cycles':>8}{'total':>9}" + "".join(f"{u:>9}" for u in units)
          + f"{'logic mm2':>10}{'SRAM mm2':>9}")
    for name, r in rows.items():
        mark = ">=" if r["logic_stand_in"] else ""
        logic = f"{mark:>3}{r['logic_mm2']:>7.3f}" if r["synthesised"] else f"{'-':>10}"
        print(f"{name:<17}{r['cycles']:>8.0f}{mark:>3}{r['energy_nj']:>6.1f}"
              + "".join(f"{r['energy_by_unit_nj'][u]:>9.1f}" for u in units)
              + logic + f"{r['sram_mm2']:>9.2f}")
    for name, r in rows.items():
        if r["logic_stand_in"]:
            print(f"(>=: {name}: no synthesis; its logic counted as {r['logic_stand_in']}'s, "
                  f"a subset of its logic: a lower bound)")
    if not all(r["synthesised"] for r in rows.values()):
        print("(-: no synthesis stored, logic area and logic energy count as zero; "
              "--synth runs Yosys)")
    base = rows.get("eie")
    if base:
        for name, r in rows.items():
            if name != "eie":
                delta = {u: r["energy_by_unit_nj"][u] - base["energy_by_unit_nj"][u]
                         for u in units}
                worst = max(delta, key=delta.get)
                print(f"{name}: {r['energy_nj'] - base['energy_nj']:+.1f} nJ "
                      f"({r['energy_nj'] / base['energy_nj'] - 1:+.1%}) against eie; "
                      f"most added by {worst} ({delta[worst]:+.1f} nJ)")
    from eiegen.safeio import atomic_write_text  # beside and rename, like every writer
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"synthesis_method": args.method,
                                             "configurations": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
