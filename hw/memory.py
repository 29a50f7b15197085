"""The one place that builds memories, and the memory *views*.

Every storage array of the accelerator (pointer banks, sparse-matrix words, codebooks,
biases, accumulators, activation register files, activation queues, layer descriptors)
is created by :func:`make_memory`. What it builds is chosen by a *memory factory*, which
the top level (``EIE(cfg, program, memories=...)``) threads down to every unit:

``"amaranth"`` (default)
    :class:`amaranth.lib.memory.Memory`: simulates in Amaranth's simulator, and FPGA
    tools infer block RAM from it. Verilog writes every element as an initial value.
``"sram"``
    :class:`eiegen.hw.sram.SramMemory`: an instance of the technology-neutral
    ``eiegen_sram_1r1w`` wrapper (docs/asic.md), initialised from a ``$readmemh`` file;
    the ASIC netlist view. Verilog only (Amaranth's simulator cannot run instances).
a callable
    Any ``factory(shape, depth, init, *, name) -> memory`` (:data:`MemoryFactory`), e.g.
    a board backend that maps the sparse-matrix memory to iCE40 SPRAM and hands every
    other memory to :func:`amaranth_memory`.

A memory returned by a factory is an elaboratable with ``shape``, ``depth``, ``init``,
``read_port(domain="sync")`` and ``write_port(granularity=None)``; each port has
``addr``, ``en`` and ``data``. Every memory of the design has at most one read port and
one write port. The read port is synchronous and *holds its data while not enabled*, and a
read of the address written in the same cycle returns the old word (Amaranth's
non-transparent port). The one exception is the activation queue, whose read is
asynchronous: it always uses :func:`amaranth_memory` (a few flip-flops) whatever the view.
"""

from __future__ import annotations

from typing import Callable, Protocol

from amaranth.lib.memory import Memory

from .sram import SramMemory

__all__ = ["MemoryFactory", "MEMORY_VIEWS", "make_memory", "amaranth_memory",
           "SramMemories", "memory_factory"]


class MemoryFactory(Protocol):
    """``factory(shape, depth, init, *, name) -> memory``. ``depth`` is at least 2,
    ``init`` a list of at most ``depth`` integers (missing elements are zero), ``name``
    what the memory is: ``ptr_even``, ``ptr_odd``, ``spmat``, ``codebook``,
    ``accumulators``, ``bias``, ``act`` (both activation register files), ``layers``
    (or ``queue``)."""

    def __call__(self, shape, depth: int, init: list, *, name: str): ...


def amaranth_memory(shape, depth: int, init, *, name: str = "memory") -> Memory:
    """The ``amaranth`` view: an :class:`amaranth.lib.memory.Memory`."""
    return Memory(shape=shape, depth=depth, init=init)


class SramMemories:
    """The ``sram`` view's factory: one :class:`~eiegen.hw.sram.SramMemory` per call.

    Instances are named ``<name>_<k>`` (``k`` counts the memories of that name in
    construction order, which is the PE index for per-PE memories); a memory whose
    initial image has a non-zero word gets the init file ``<name>_<k>.hex`` in
    ``init_dir`` (as written into the Verilog: relative paths are resolved by the
    simulator from its working directory). ``memories`` lists every memory built.
    """

    def __init__(self, init_dir: str = ""):
        self.init_dir = str(init_dir)
        self.memories: list[SramMemory] = []
        self._counts: dict[str, int] = {}

    def __call__(self, shape, depth: int, init, *, name: str) -> SramMemory:
        k = self._counts.get(name, 0)
        self._counts[name] = k + 1
        inst = f"{name}_{k:03d}"
        init_file = ""
        if any(init):
            init_file = f"{self.init_dir.rstrip('/')}/{inst}.hex" if self.init_dir else f"{inst}.hex"
        mem = SramMemory(shape, depth, init, name=inst, init_file=init_file)
        self.memories.append(mem)
        return mem

    def init_files(self) -> dict[str, str]:
        """File name (without ``init_dir``) -> ``$readmemh`` text, for every memory that
        has an init file."""
        return {f"{mem.name}.hex": mem.hex() for mem in self.memories if mem.init_file}


MEMORY_VIEWS = ("amaranth", "sram")


def memory_factory(memories=None) -> MemoryFactory:
    """The factory for a view name (``"amaranth"``, ``"sram"``), a factory (returned
    as is) or ``None`` (``"amaranth"``). Each ``"sram"`` gives a fresh
    :class:`SramMemories`; pass one instance to share it (and read its init files)."""
    if memories is None or memories == "amaranth":
        return amaranth_memory
    if memories == "sram":
        return SramMemories()
    if callable(memories):
        return memories
    raise ValueError(f"memories must be one of {', '.join(MEMORY_VIEWS)} or a factory "
                     f"callable, got {memories!r}")


def make_memory(shape, depth: int, init=None, *, name: str = "memory",
                memories: MemoryFactory | str | None = None):
    """A memory of ``depth`` elements of ``shape``, built by the factory ``memories``
    (default: an :class:`amaranth.lib.memory.Memory`).

    ``init`` (optional) is a sequence of at most ``depth`` initial values, typically a
    memory image of a compiled program; missing elements are zero. A one-element memory
    is built with two elements, so that no address port is zero bits wide (Verilog has
    no such nets); the second element is never addressed.
    """
    if depth < 1:
        raise ValueError(f"memory {name!r} needs a depth of at least 1, got {depth}")
    init = [] if init is None else [int(v) for v in init]
    if len(init) > depth:
        raise ValueError(f"memory {name!r} holds {depth} elements but its initial image "
                         f"has {len(init)}")
    factory: Callable = memory_factory(memories)
    return factory(shape, max(depth, 2), init, name=name)
