"""Icarus Verilog: the 4-state check of the emitted design.

Verilator models two states, so an X (an unreset register, an unwritten memory word)
reads as 0 or 1 there and a design that depends on one can still pass. Icarus models
X; the Icarus build of a configuration (``build_accelerator(..., simulator="icarus")``)
runs the same Verilog, shell and cocotb link, with two differences that make it a
check of the reset rather than of the power-on values:

* every register of the design starts at X (:func:`without_power_on_values`): the
  ``reg x = init;`` declarations Amaranth emits (an FPGA's configured state) are
  removed, so only the synchronous reset gives a register a value, as on an ASIC;
  a register the reset misses, or a memory read that steers control before it was
  written, shows up as X on the host stream (the link refuses a non-0/1 word) or as
  a changed word or cycle count;
* the file is compiled as Verilog-2005 (``-g2005``), the language Yosys writes it in.
  Yosys makes every ``always @*`` block run at time 0 with a trigger register
  declared ``= 0`` (YosysHQ/yosys#2273); under IEEE 1364 a declaration initialiser
  is an event at time 0, under IEEE 1800 (cocotb's default ``-g2012``) it is not, and
  a combinational block whose inputs never change (an FSM output in the reset state)
  would stay X forever, which is what the first Icarus run of the design showed.

Icarus is not on pip: tests that need it skip with :func:`icarus_missing`.
"""

from __future__ import annotations

import re
import shutil

__all__ = ["ICARUS_ARGS", "icarus_missing", "without_power_on_values"]

ICARUS_ARGS = ("-g2005",)  # after the runner's -g2012: the last generation flag wins

# A register declared with its power-on value: `reg [7:0] name = 8'h00;` (Yosys puts
# one declaration per line). Yosys's own time-0 trigger registers keep theirs.
_DECL_INIT = re.compile(r"^(\s*reg\s+(?:signed\s+)?(?:\[[^\]]+\]\s+)?(\\\S+\s|\w+))\s*=\s*[^;]+;$")


def icarus_missing() -> str:
    """Why Icarus Verilog cannot be used here ("" if it can)."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        return "Icarus Verilog (iverilog, vvp) is not installed: apt-get install iverilog"
    return ""


def without_power_on_values(text: str) -> str:
    """``text`` with every register declaration's initialiser removed (they start at
    X), except Yosys's ``always @*`` trigger registers (see the module docstring)."""
    out = []
    for line in text.splitlines():
        hit = _DECL_INIT.match(line)
        if hit and "verilog_backend" not in hit.group(2):
            line = hit.group(1) + ";"  # (an escaped name keeps its closing space)
        out.append(line)
    return "\n".join(out) + "\n"
