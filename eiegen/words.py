"""The word formats shared by the hardware and the software, each defined once.

Plain Python (no Amaranth), so that the compiler, the host protocol and the host driver
can pack and unpack integers with it while knowing nothing of the HDL; the HDL builds its
``amaranth.lib.data`` layouts from the same tables (:func:`eiegen.hw.layouts.word_layout`)
and its opcode enum from :class:`Op` (:class:`eiegen.hw.layouts.Opcode`).
docs/protocol.md describes the words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Op", "Mem", "Field", "WordFormat", "COMMAND_HEADER", "RESPONSE_HEADER",
           "ACT_ADDRESS", "LAYER_DESCRIPTOR", "DESCRIPTOR_WORDS"]


class Op(enum.IntEnum):
    """Command opcodes (the ``op`` field of :data:`COMMAND_HEADER`)."""
    NOP = 0
    WRITE = 1
    READ = 2
    RUN = 3
    COUNTERS = 4
    INFO = 5


class Mem(enum.IntEnum):
    """The memories a WRITE addresses (the ``mem`` field of :data:`COMMAND_HEADER`)."""
    PTR = 0
    SPMAT = 1
    BIAS = 2
    CODEBOOK = 3
    LAYERS = 4
    ACT = 5
    COLMASK = 6  # per-PE column masks (ArchConfig.col_filter); refused without it


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    width: int


class WordFormat:
    """A word of ``width`` bits made of named unsigned fields ``{name: (offset, width)}``
    (bits outside every field are zero)."""

    def __init__(self, name: str, width: int, fields: dict[str, tuple[int, int]]):
        self.name, self.width = name, width
        self.fields = tuple(Field(f, o, w) for f, (o, w) in fields.items())
        used = 0
        for f in self.fields:
            mask = ((1 << f.width) - 1) << f.offset
            if f.width < 1 or f.offset < 0 or f.offset + f.width > width or used & mask:
                raise ValueError(f"{name}: field {f.name} ({f.offset}, {f.width}) overlaps "
                                 f"another or leaves the {width}-bit word")
            used |= mask

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")

    def pack(self, **values) -> int:
        """The word holding ``values`` (missing fields are 0); a value that does not fit
        its field raises ``ValueError`` naming the field."""
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise ValueError(f"{self.name} has no field {sorted(unknown)[0]}")
        word = 0
        for f in self.fields:
            v = int(values.get(f.name, 0))
            if not 0 <= v < 1 << f.width:
                raise ValueError(f"{self.name} field {f.name} must fit {f.width} bits, "
                                 f"got {v}")
            word |= v << f.offset
        return word

    def unpack(self, word: int) -> dict[str, int]:
        """The fields of ``word`` as ``{name: value}``."""
        word = int(word)
        return {f.name: word >> f.offset & (1 << f.width) - 1 for f in self.fields}

    def to_words(self, word: int, bits: int = 32) -> list[int]:
        """``word`` as ``bits``-bit words, least significant first."""
        n = -(-self.width // bits)
        return [int(word) >> (bits * k) & (1 << bits) - 1 for k in range(n)]

    def from_words(self, words, bits: int = 32) -> int:
        """Inverse of :meth:`to_words`."""
        return sum(int(w) << (bits * k) for k, w in enumerate(words))


COMMAND_HEADER = WordFormat("command header", 32, {
    "arg": (0, 16),   # PE index (WRITE), layer count (RUN), else 0
    "mem": (16, 8),   # Mem (WRITE, READ)
    "op": (24, 8),    # Op
})
RESPONSE_HEADER = WordFormat("response header", 32, {
    "n_words": (0, 24),
    "op": (24, 7),
    "response": (31, 1),  # always 1: a response header is never a valid command
})
# The address word of a WRITE or READ of ACT: global activation i is PE i mod N at local
# address i div N.
ACT_ADDRESS = WordFormat("activation address", 32, {"pe": (0, 8), "row": (8, 24)})
# One layer's descriptor in the control unit's descriptor memory (one 128-bit row; the
# host writes it as DESCRIPTOR_WORDS 32-bit words, least significant first).
LAYER_DESCRIPTOR = WordFormat("layer descriptor", 128, {
    "n_in": (0, 32),
    "n_out": (32, 32),
    "ptr_base": (64, 32),
    "bias_base": (96, 16),
    "shift": (112, 8),
    "relu": (120, 1),
})
DESCRIPTOR_WORDS = LAYER_DESCRIPTOR.width // 32
