"""Cycle-accurate simulation of a compiled program in Verilator.

One Verilator build per hardware configuration (cached, see :mod:`eiegen.sim.verilator`)
serves every program compiled for it: the program is loaded through the host protocol.
With ``preload=True`` the memories are initialised at elaboration time instead, which
costs a build per program but skips the load (worth it for EIE-sized programs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .driver import HostDriver, Inference
from .link import SimLink
from .verilator import VerilatorBuild, build_verilog

__all__ = ["build_accelerator", "run_verilator", "VerilatorRun", "TOPLEVEL"]

TOPLEVEL = "eie"


def build_accelerator(cfg, program=None, *, waves: bool = False) -> VerilatorBuild:
    """Generate the accelerator's Verilog for ``cfg`` and build it (cached)."""
    from eiegen.hw.verilog import generate

    text = generate(cfg, program, name=TOPLEVEL)
    tag = f"eie-{cfg.n_pe}pe-{cfg.digest()[:8]}" + ("-prog" if program is not None else "")
    return build_verilog(text, TOPLEVEL, waves=waves, tag=tag)


@dataclass
class VerilatorRun:
    inferences: list  # Inference per input vector
    build: VerilatorBuild
    info: dict

    @property
    def outputs(self) -> np.ndarray:
        return np.stack([r.outputs for r in self.inferences])


def run_verilator(program, inputs, *, preload: bool = False, waves=None,
                  progress=None) -> VerilatorRun:
    """Run ``program`` on integer input vectors ``inputs`` (batch, n_in) in Verilator.

    ``progress``, if given, is called with (done, total) once the program is loaded and
    after each input.
    """
    cfg = program.cfg
    inputs = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
    build = build_accelerator(cfg, program if preload else None, waves=bool(waves))
    with SimLink(build, in_port="host_in", out_port="host_out", waves=waves) as link:
        driver = HostDriver(link, cfg)
        info = driver.info()
        if not preload:
            driver.load(program)
        results: list[Inference] = []
        if progress:
            progress(0, len(inputs))
        for i, x in enumerate(inputs):
            results.append(driver.infer(program, x))
            if progress:
                progress(i + 1, len(inputs))
    return VerilatorRun(results, build, info)
