"""Verilog generation for the accelerator (both memory views), and a Verilator lint helper.

``generate`` returns one Verilog text; ``generate_design`` / ``write_design`` keep the
parts apart: the generated logic, the behavioural SRAM model (``sram`` view) and the
``$readmemh`` init files of the preloaded memories.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from eiegen.safeio import atomic_write_text
from eiegen.tools import verilator_root

from .memory import SramMemories
from .sram import SRAM_MODULE, behavioural_model
from .top import EIE

__all__ = ["LINT_WAIVERS", "Design", "generate", "generate_design", "write_design",
           "compact_memory_init", "lint"]

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


@dataclass
class Design:
    """A generated design, in parts.

    Attributes
    ----------
    name : str
        Top module name.
    memories : str
        The memory view it was generated with.
    logic : str
        The generated Verilog (the accelerator's modules only).
    model : str
        The behavioural ``eiegen_sram_1r1w`` model ("" for the ``amaranth`` view).
    init_files : dict
        Init file name -> ``$readmemh`` text (``sram`` view with a program).
    """

    name: str
    memories: str
    logic: str
    model: str = ""
    init_files: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Logic and model in one self-contained text."""
        return self.logic + ("\n" + self.model if self.model else "")


def generate_design(cfg, program=None, name: str = "eie", *, memories: str = "amaranth",
                    init_dir: str = "") -> Design:
    """Generate the accelerator for ``cfg`` in the memory view ``memories``
    (``"amaranth"`` or ``"sram"``, docs/architecture.md), memories initialised from
    ``program`` when given. In the ``sram`` view the instances read their init files
    from ``init_dir`` (as written into ``INIT_FILE``; "" = the simulator's working
    directory)."""
    if memories == "sram":
        factory = SramMemories(init_dir)
    elif memories == "amaranth":
        factory = "amaranth"
    else:
        raise ValueError(f"memories must be 'amaranth' or 'sram' for Verilog generation, "
                         f"got {memories!r}")
    top = EIE(cfg, program, memories=factory)
    logic = compact_memory_init(amaranth_verilog.convert(top, name=name))
    if memories == "amaranth":
        return Design(name, memories, logic)
    return Design(name, memories, logic, behavioural_model(), factory.init_files())


def generate(cfg, program=None, name: str = "eie", *, memories: str = "amaranth",
             init_dir: str = "") -> str:
    """The Verilog of the accelerator for ``cfg`` (memories initialised from
    ``program`` when given); the top module has the host stream ports only.

    With ``memories="sram"`` the text ends with the behavioural SRAM model, and the init
    files (see :func:`write_design`) must be written to ``init_dir`` separately; use
    :func:`generate_design` to get them."""
    return generate_design(cfg, program, name, memories=memories, init_dir=init_dir).text


def write_design(folder, cfg, program=None, name: str = "eie", *, memories: str = "sram",
                 init_dir: str | None = None, filename: str | None = None) -> dict:
    """Write the design into ``folder``: ``<name>.v`` (the logic; or ``filename``), for
    the ``sram`` view ``eiegen_sram_1r1w.v`` (the behavioural model, which a compiled
    SRAM's wrapper replaces) and the init files in ``folder/init/``. ``init_dir`` is the
    directory the Verilog names for them (default: the absolute path of
    ``folder/init``, so a simulator finds them from any working directory). Returns
    ``{"logic": path, "model": path or None, "init": [paths], "design": Design}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    init_path = folder / "init"
    if init_dir is None:
        init_dir = str(init_path.resolve())
    design = generate_design(cfg, program, name, memories=memories, init_dir=init_dir)
    # each file through a temporary sibling and a rename: never a truncated Verilog file
    logic = atomic_write_text(folder / (filename or f"{name}.v"), design.logic)
    model = None
    if design.model:
        model = atomic_write_text(folder / f"{SRAM_MODULE}.v", design.model)
    inits = []
    if design.init_files:
        init_path.mkdir(exist_ok=True)
        for fname, text in sorted(design.init_files.items()):
            inits.append(atomic_write_text(init_path / fname, text))
    return {"logic": logic, "model": model, "init": inits, "design": design}


def lint(path, top: str = "eie", waivers=LINT_WAIVERS, extra=()) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers on ``path`` (plus the files
    ``extra``, e.g. the SRAM model); returns the finished process."""
    root = verilator_root()
    binary = root / "bin" / "verilator"
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    cmd = [str(binary), "--lint-only", "-Wall", *[f"-Wno-{w}" for w in waivers],
           "--top-module", top, str(path), *[str(p) for p in extra]]
    return subprocess.run(cmd, env=env, capture_output=True, text=True)
