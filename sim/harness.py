"""Cycle-accurate simulation of a compiled program in Verilator (or Icarus Verilog).

One Verilator build per hardware configuration (cached, see :mod:`eiegen.sim.verilator`)
serves every program compiled for it: the program is loaded through the host protocol.
With ``preload=True`` the memories are initialised at elaboration time instead, which
costs a build per program but skips the load (worth it for EIE-sized programs).

``simulator="icarus"`` runs the same Verilog, shell and cocotb link in Icarus Verilog
(4-state, event-driven; one build per config too): slow, for small configs, to show
that the design simulates identically where X is modelled (docs/testing.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .driver import HostDriver, Inference
from . import icarus
from .icarus import without_power_on_values
from .link import SimLink
from .shell import SHELL, build_extra_args, shell_verilog, trace_extra_args
from .verilator import VerilatorBuild, build_verilog, cache_dir

__all__ = ["build_accelerator", "generator_version", "run_verilator", "VerilatorRun", "TOPLEVEL",
           "check_x"]

TOPLEVEL = "eie"


def build_accelerator(cfg, program=None, *, waves: bool = False,
                      memories: str = "amaranth", simulator: str = "verilator") -> VerilatorBuild:
    """Generate the accelerator's Verilog for ``cfg`` in the memory view ``memories``
    (``"amaranth"`` or ``"sram"``, docs/architecture.md) and build it (cached). In the
    ``sram`` view a preloaded program's ``$readmemh`` files are written to a folder of
    the cache named by the program's content, which the Verilog names absolutely.

    The cache key is the config, the memory view, the preloaded images (if any) and the
    generator version (:func:`generator_version`), so a cached design is found without
    generating its Verilog (which takes tens of seconds for 64 PEs). ``simulator`` is
    ``"verilator"`` or ``"icarus"``, each build cached separately."""
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
        # In Icarus every register starts at X: only the reset may define it (sim/icarus.py).
        text = design.text if simulator == "verilator" else without_power_on_values(design.text)
        return text + shell_verilog(TOPLEVEL)

    key = {"config": cfg.to_dict(), "memories": memories, "generator": generator_version(),
           "program": None if program is None else _images_key(program),
           "init_dir": str(init_dir)}
    if simulator == "icarus":  # its Verilog also depends on the X transform
        key["icarus"] = _source_hash(icarus)
    # A cached build reads its $readmemh files at run time: regenerate them if they are gone.
    source = verilog() if init_dir and not init_dir.exists() else verilog
    tag = (f"eie-{cfg.n_pe}pe-{cfg.digest()[:8]}" + ("-prog" if program is not None else "")
           + ("-sram" if memories == "sram" else ""))
    extra = [] if simulator == "icarus" else (build_extra_args(cache_dir())
                                              + (trace_extra_args(cache_dir()) if waves else []))
    return build_verilog(source, SHELL, waves=waves, tag=tag, key=key, extra_args=extra,
                         simulator=simulator)


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


def _source_hash(module) -> str:
    import hashlib
    from pathlib import Path
    return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:16]


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
                  progress=None, memories: str = "amaranth",
                  simulator: str = "verilator") -> VerilatorRun:
    """Run ``program`` on integer input vectors ``inputs`` (batch, n_in) in Verilator
    (or, ``simulator="icarus"``, in Icarus Verilog).

    ``memories`` picks the memory view of the simulated Verilog (``"amaranth"`` or
    ``"sram"``: every memory an instance of the behavioural SRAM wrapper).
    ``progress``, if given, is called with (done, total) once the program is loaded and
    after each input.
    """
    cfg = program.cfg
    inputs = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
    build = build_accelerator(cfg, program if preload else None, waves=bool(waves),
                              memories=memories, simulator=simulator)
    link = SimLink(build, in_port="host_in", out_port="host_out", waves=waves,
                   xcheck=simulator == "icarus")
    with link:
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
    check_x(link)
    return VerilatorRun(results, build, info)


def check_x(link) -> None:
    """Raise if the (closed) link saw an X or Z on a control signal."""
    if link.x_violations:
        raise RuntimeError(f"{len(link.x_violations)} X/Z values on control signals in "
                           f"{link.build.simulator}, first: "
                           + "; ".join(link.x_violations[:5]))
