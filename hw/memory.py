"""The one place that builds memories.

Every storage array of the accelerator (pointer banks, sparse-matrix words, codebooks,
biases, accumulators, activation register files, activation queues, layer descriptors)
is created by :func:`make_memory`, so that an ASIC flow can later swap this function for
one that instantiates SRAM macro wrappers with the same ports.
"""

from __future__ import annotations

from amaranth.lib.memory import Memory

__all__ = ["make_memory"]


def make_memory(shape, depth: int, init=None, *, name: str = "memory") -> Memory:
    """An :class:`amaranth.lib.memory.Memory` of ``depth`` elements of ``shape``.

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
    return Memory(shape=shape, depth=max(depth, 2), init=init)
