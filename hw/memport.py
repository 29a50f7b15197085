"""The memory-view interface of a hand-built memory: the part of
:class:`amaranth.lib.memory.Memory`'s interface the units use (``shape``, ``depth``,
``init``, one synchronous ``read_port()`` and one ``write_port(granularity=...)``, each
with ``addr``, ``en`` and ``data``; read ``en`` is 1 unless driven, as in Amaranth).

The SRAM wrapper instances of the ``sram`` view (:class:`eiegen.hw.sram.SramMemory`) and
the board memories (:mod:`eiegen.boards.memory`: iCE40 SPRAM, registers) build on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Shape, Signal

__all__ = ["MemoryPort", "PortedMemory"]


@dataclass
class MemoryPort:
    """One port's signals (or constants, for a port nobody asked for)."""
    addr: object
    en: object
    data: object


class PortedMemory(Elaboratable):
    """A memory with one plain synchronous read port and one write port; subclasses
    elaborate it. ``kind`` names it in errors; ``allow_lanes``: the write port may have
    lanes (``granularity``), ``lanes`` of them (1 without)."""

    kind = "memory"
    allow_lanes = True

    def __init__(self, shape, depth: int, init=(), *, name: str):
        self.shape = shape
        self.width = Shape.cast(shape).width
        self.depth = depth
        self.init = list(init) + [0] * (depth - len(init))
        self.name = name
        self.granularity = self.width
        self._read = self._write = None

    def read_port(self, *, domain: str = "sync", transparent_for=()) -> MemoryPort:
        if domain != "sync" or transparent_for:
            raise ValueError(f"{self.kind} {self.name!r} has one plain synchronous read "
                             f"port (domain 'sync', not transparent), got domain "
                             f"{domain!r}, transparent_for {transparent_for!r}")
        if self._read is not None:
            raise ValueError(f"{self.kind} {self.name!r} has only one read port")
        self._read = MemoryPort(addr=Signal(range(self.depth), name=f"{self.name}_raddr"),
                                en=Signal(init=1, name=f"{self.name}_re"),
                                data=Signal(self.shape, name=f"{self.name}_rdata"))
        return self._read

    def write_port(self, *, domain: str = "sync", granularity=None) -> MemoryPort:
        if domain != "sync":
            raise ValueError(f"{self.kind} {self.name!r}: the write port is synchronous to "
                             f"'sync', got domain {domain!r}")
        if self._write is not None:
            raise ValueError(f"{self.kind} {self.name!r} has only one write port")
        if granularity is not None and not self.allow_lanes:
            raise ValueError(f"{self.kind} {self.name!r} has one write port without lanes, "
                             f"got granularity {granularity}")
        if granularity is not None and (granularity < 1 or self.width % granularity):
            raise ValueError(f"{self.kind} {self.name!r}: write granularity {granularity} "
                             f"does not divide the width {self.width}")
        self.granularity = granularity or self.width
        self._write = MemoryPort(addr=Signal(range(self.depth), name=f"{self.name}_waddr"),
                                 en=Signal(self.width // self.granularity,
                                           name=f"{self.name}_we"),
                                 data=Signal(self.shape, name=f"{self.name}_wdata"))
        return self._write

    @property
    def lanes(self) -> int:
        return len(self._write.en) if self._write is not None else 1
