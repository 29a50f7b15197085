#!/usr/bin/env python3
"""Benchmark: board builds with the open flow (yowasp Yosys + nextpnr).

Builds the board top (accelerator + UART bridge + PLL + LEDs) of each board in its
default configuration (eiegen/boards/catalog.py) with a fixed nextpnr seed, and reports
resources used vs available and the achieved fmax vs the requested clock.

Goals: iCEBreaker (iCE40 UP5K), 4 PEs: fits, fmax >= 30 MHz. ULX3S (ECP5 85F), 16 PEs:
fits, fmax >= 75 MHz, also with issue 21's broadcast options on (``--set col_filter=1 --set
broadcast_width=2 --set bias_reset=1 --set wb_overlap=1``). Builds are deterministic for a
fixed seed (--determinism builds the iCEBreaker twice and compares the bitstreams). Each
row has the critical path nextpnr reports, with the eiegen source lines along it.

Prints a table and writes bench/results/boards.json (or --json PATH). Slow: the ULX3S
build takes tens of minutes on a small machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from eiegen.arch import ConfigError
from eiegen.boards.build import BuildError, build_board
from eiegen.boards.catalog import get_board
from eiegen.boards.fit import FitError
from eiegen.options import config_setting
from eiegen.safeio import atomic_write_text  # beside and rename

GOALS = {"icebreaker": (4, 30.0), "ulx3s": (16, 75.0)}


def one(name: str, seed: int, out: Path, settings: dict | None = None) -> dict:
    board = get_board(name)
    cfg = board.default_config().replace(**(settings or {}))
    start = time.monotonic()
    row = {"board": name, "device": board.device, "n_pe": cfg.n_pe, "seed": seed,
           "settings": settings or {}, "config": cfg.to_dict()}
    try:
        result = build_board(name, cfg, out_dir=out, seed=seed,
                             log=lambda m: print(f"  [{name}] {m}", file=sys.stderr))
        rep = result.report
        row["fits"] = True
        row["bitstream_sha256"] = hashlib.sha256(result.bitstream.read_bytes()).hexdigest()
    except FitError as e:
        rep = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
        row["fits"] = False
        row["failure"] = str(e)
    except BuildError as e:
        rep = json.loads((out / "report.json").read_text())
        row["fits"] = True
        row["failure"] = str(e)
    row["seconds"] = time.monotonic() - start
    row["utilisation"] = rep.get("utilisation", {})
    row["fmax_mhz"] = rep.get("fmax_mhz")
    row["clock_mhz"] = rep.get("clock_mhz")
    row["memories"] = rep.get("memories", [])
    row["critical_path"] = rep.get("critical_path")
    goal_pe, goal_mhz = GOALS.get(name, (cfg.n_pe, 0.0))
    row["goal"] = {"n_pe": goal_pe, "fmax_mhz": goal_mhz,
                   "met": bool(row["fits"] and cfg.n_pe >= goal_pe
                               and (row["fmax_mhz"] or 0) >= goal_mhz)}
    return row


def table(rows) -> str:
    keys = ["lc", "lut", "ff", "bram", "spram", "dsp"]
    head = f"{'board':<11} {'PEs':>3} {'fits':>4} " + " ".join(f"{k:>13}" for k in keys) \
        + f" {'fmax MHz':>9} {'goal':>9} {'s':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for k in keys:
            u = r["utilisation"].get(k)
            cells.append(f"{u['used']}/{u['available']}" if u and u.get("available")
                         else (str(u["used"]) if u else "-"))
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        goal = f">={r['goal']['fmax_mhz']:.0f} " + ("ok" if r["goal"]["met"] else "NO")
        lines.append(f"{r['board']:<11} {r['n_pe']:>3} {'yes' if r['fits'] else 'NO':>4} "
                     + " ".join(f"{c:>13}" for c in cells)
                     + f" {fmax:>9} {goal:>9} {r['seconds']:>6.0f}")
    for r in rows:
        if r.get("settings"):
            lines.append(f"{r['board']}: " + ", ".join(f"{k}={v}" for k, v in
                                                       r["settings"].items()))
        cp = r.get("critical_path")
        if cp:
            lines.append(f"{r['board']}: critical path {cp['delay_ns']:.2f} ns (logic "
                         f"{cp['logic_ns']:.2f}, routing {cp['routing_ns']:.2f}) through "
                         + ", ".join(cp["sources"][:6]))
        if r.get("failure"):
            lines.append(f"{r['board']}: {r['failure']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", type=config_setting, action="append", default=[],
                    metavar="FIELD=VALUE",
                    help="change a field of every board's default config (repeatable), "
                         "e.g. the broadcast options: --set col_filter=1 --set "
                         "broadcast_width=2 --set bias_reset=1 --set wb_overlap=1")
    ap.add_argument("--determinism", action="store_true",
                    help="build the first board twice and compare bitstreams")
    ap.add_argument("--keep", type=Path, help="keep build folders here")
    ap.add_argument("--json", type=Path,
                    default=Path(__file__).resolve().parents[1] / "results" / "boards.json")
    args = ap.parse_args(argv)
    for name in args.boards:  # settings that do not go together: refused before any build
        try:
            get_board(name).default_config().replace(**dict(args.set))
        except (ConfigError, KeyError, ValueError) as e:
            ap.error(f"{name}: {e}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="eiegen-bench-boards-") as tmp:
        base = args.keep or Path(tmp)
        for name in args.boards:
            rows.append(one(name, args.seed, base / name, dict(args.set)))
        det = None
        if args.determinism and rows and rows[0].get("bitstream_sha256"):
            again = one(args.boards[0], args.seed, base / f"{args.boards[0]}-again",
                        dict(args.set))
            det = {"board": args.boards[0],
                   "identical": again.get("bitstream_sha256") == rows[0]["bitstream_sha256"]}
    print(table(rows))
    if det:
        print(f"determinism ({det['board']}, seed {args.seed}): bitstreams "
              f"{'identical' if det['identical'] else 'DIFFER'}")
    result = {"benchmark": "boards", "machine": platform.platform(), "rows": rows,
              "determinism": det}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
