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
from .shell import SHELL, build_extra_args, shell_verilog, trace_extra_args
from .verilator import VerilatorBuild, build_verilog, cache_dir

__all__ = ["build_accelerator", "generator_version", "run_verilator", "VerilatorRun", "TOPLEVEL"]

TOPLEVEL = "eie"


def build_accelerator(cfg, program=None, *, waves: bool = False,
                      memories: str = "amaranth") -> VerilatorBuild:
    """Generate the accelerator's Verilog for ``cfg`` in the memory view ``memories``
    (``"amaranth"`` or ``"sram"``, docs/architecture.md) and build it (cached). In the
    ``sram`` view a preloaded program's ``$readmemh`` files are written to a folder of
    the cache named by the program's content, which the Verilog names absolutely.

    The cache key is the config, the memory view, the preloaded images (if any) and the
    generator version (:func:`generator_version`), so a cached design is found without
    generating its Verilog (which takes tens of seconds for 64 PEs)."""
    from eiegen.hw.verilog import generate_design

    init_dir = ""
    if memories == "sram" and program is not None:
        init_dir = cache_dir() / "sram-init" / f"{cfg.digest()[:8]}-{_images_key(program)}"

    def verilog() -> str:
        design = generate_design(cfg, program, name=TOPLEVEL, memories=memories,
                                 init_dir=str(init_dir))
        if design.init_files:
            init_dir.mkdir(parents=True, exist_ok=True)
            for fname, text in design.init_files.items():
                (init_dir / fname).write_text(text)
        # The simulation shell (sim/shell.py) wraps the design: a bulk word source for
        # long host writes, and only its ports visible to VPI (a faster model).
        return design.text + shell_verilog(TOPLEVEL)

    key = {"config": cfg.to_dict(), "memories": memories, "generator": generator_version(),
           "program": None if program is None else _images_key(program),
           "init_dir": str(init_dir)}
    # A cached build reads its $readmemh files at run time: regenerate them if they are gone.
    source = verilog() if init_dir and not init_dir.exists() else verilog
    tag = (f"eie-{cfg.n_pe}pe-{cfg.digest()[:8]}" + ("-prog" if program is not None else "")
           + ("-sram" if memories == "sram" else ""))
    return build_verilog(source, SHELL, waves=waves, tag=tag, key=key,
                         extra_args=build_extra_args(cache_dir())
                         + (trace_extra_args(cache_dir()) if waves else []))


def generator_version() -> str:
    """eiegen's version plus a hash of the hardware generator's sources (hw/*.py and the
    simulation shell), so that any change to the generator rebuilds."""
    import hashlib
    from pathlib import Path

    import eiegen
    import eiegen.hw

    from . import shell

    h = hashlib.sha256(eiegen.__version__.encode())
    files = sorted(Path(eiegen.hw.__file__).parent.glob("*.py")) + [Path(shell.__file__)]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _images_key(program) -> str:
    """A hash of a program's memory images (what preloading puts into the memories)."""
    import hashlib
    h = hashlib.sha256(program.cfg.to_json().encode())
    for key in sorted(program.images):
        h.update(key.encode())
        h.update(np.ascontiguousarray(program.images[key]).tobytes())
    return h.hexdigest()[:16]


@dataclass
class VerilatorRun:
    inferences: list  # Inference per input vector
    build: VerilatorBuild
    info: dict

    @property
    def outputs(self) -> np.ndarray:
        return np.stack([r.outputs for r in self.inferences])


def run_verilator(program, inputs, *, preload: bool = False, waves=None,
                  progress=None, memories: str = "amaranth") -> VerilatorRun:
    """Run ``program`` on integer input vectors ``inputs`` (batch, n_in) in Verilator.

    ``memories`` picks the memory view of the simulated Verilog (``"amaranth"`` or
    ``"sram"``: every memory an instance of the behavioural SRAM wrapper).
    ``progress``, if given, is called with (done, total) once the program is loaded and
    after each input.
    """
    cfg = program.cfg
    inputs = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
    build = build_accelerator(cfg, program if preload else None, waves=bool(waves),
                              memories=memories)
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
