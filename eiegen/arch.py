"""The architecture configuration: the single source of truth for every part of eiegen.

The compiler encodes programs for it, the HDL generator builds hardware from it, and the
golden model, the cycle model and the RTL simulators all read their parameters from it.
Nothing else in the project may hard-code a width, a depth or a PE count.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path

from .safeio import json_text

__all__ = ["ArchConfig", "ConfigError", "field_range"]


class ConfigError(ValueError):
    """An architecture configuration (or a file holding one) is invalid."""


# field name -> (minimum, maximum, what it means). Ranges are what the hardware generator
# and the program format support; they are checked on construction.
_RANGES = {
    "n_pe": (1, 256, "number of processing elements"),
    "queue_depth": (1, 64, "activation queue depth per PE"),
    "index_bits": (1, 8, "codebook index bits per sparse-matrix entry"),
    "rel_bits": (1, 8, "relative row-index bits per sparse-matrix entry"),
    "act_bits": (4, 32, "activation width in bits"),
    "weight_bits": (4, 32, "codebook weight width in bits"),
    "acc_bits": (8, 56, "accumulator width in bits"),
    "entries_per_word": (1, 32, "(index, relative index) entries per sparse-matrix word"),
    "ptr_depth": (2, 1 << 20, "pointer memory entries per PE"),
    "spmat_depth": (1, 1 << 20, "sparse-matrix memory words per PE"),
    "act_depth": (1, 1 << 16, "activations per PE in each activation register file"),
    # bias_base shares a descriptor word with shift and relu (bits 0-15), so <= 2**16
    "bias_depth": (1, 1 << 16, "bias memory entries per PE"),
    "max_layers": (1, 64, "layer descriptors (and codebooks) the control unit holds"),
    "merge_padding": (0, 1, "1: a padding entry issues together with the entry after it"),
    "acc_saturate": (0, 1, "1: the accumulators saturate and count it; 0: they wrap (EIE)"),
    "col_filter": (0, 1, "1: a PE takes only the broadcasts of columns it has entries in"),
    "broadcast_width": (1, 4, "non-zero activations the LNZD broadcasts per cycle"),
    "bias_reset": (0, 1, "1: the bias is the accumulator's value before a row's first "
                         "product (no preload pass)"),
    "wb_overlap": (0, 1, "1: a layer's write-back runs while the next layer computes "
                         "(needs bias_reset)"),
}


@dataclass(frozen=True)
class ArchConfig:
    """Parameters of an EIE-style accelerator.

    Parameters
    ----------
    n_pe : int
        Number of processing elements. Row ``i`` of every layer belongs to PE ``i % n_pe``.
    queue_depth : int
        Depth of each PE's activation queue (EIE: 8).
    index_bits : int
        Codebook index bits ``v`` per entry; the codebook has ``2**index_bits`` entries and
        entry 0 is exact zero (used by padding entries).
    rel_bits : int
        Relative row-index bits ``z`` per entry; gaps longer than ``2**rel_bits - 1`` are
        bridged with padding entries.
    act_bits, weight_bits : int
        Widths of the signed fixed-point activations and codebook weights.
    acc_bits : int
        Width of the signed accumulators (and of the stored biases).
    entries_per_word : int
        Entries packed into one sparse-matrix memory word (EIE: 8 entries, 64 bits).
    ptr_depth : int
        Pointer memory entries per PE, over all layers (split into an even and an odd bank).
    spmat_depth : int
        Sparse-matrix memory words per PE, over all layers.
    act_depth : int
        Activations per PE in each of the source and destination register files; a layer
        of ``n`` inputs or outputs needs ``ceil(n / n_pe)`` of them.
    bias_depth : int
        Bias memory entries per PE, over all layers.
    max_layers : int
        Number of layer descriptors and codebooks the control unit holds.
    merge_padding : int
        1 (default): stage ``a_`` of a PE issues a padding entry together with the entry
        after it whenever the padding entry's word is already read, so padding costs no
        cycle there (docs/architecture.md, "One PE"). 0: every entry takes one cycle, as
        in EIE.
    acc_saturate : int
        1 (default): each addition into an accumulator saturates at ``acc_bits`` and the
        PE counts the clamps (a performance counter), so the compiler may size the weight
        formats from calibrated partial sums and keep the codebook's precision
        (docs/fixed-point.md). 0: the accumulators wrap, as in EIE, the compiler proves
        that no input can make them wrap, and there is no counter: the choice for boards
        where the clamp's logic does not fit (the iCEBreaker).
    col_filter : int
        1: every PE holds one bit per input column and layer (``colmask``, written with
        the program) saying whether it has entries in that column; it takes only those
        broadcasts into its queue, and a broadcast waits only for the PEs that take it; a
        column no PE has entries in is not broadcast at all. 0 (default): every PE takes
        every non-zero activation, as in EIE.
    broadcast_width : int
        Non-zero activations of the current LNZD row offered together per cycle (1..4,
        at most ``queue_depth``); each PE's queue takes the ones it takes, up to that many
        per cycle. A PE still issues one entry per cycle. 1 (default): EIE.
    bias_reset : int
        1: a row's first product is added to its bias instead of to the accumulator
        (a valid bit per accumulator row), so there is no bias preload pass: a layer
        starts with one setup cycle instead of ``ceil(n_out / n_pe)``. 0 (default): the
        preload pass, as in EIE.
    wb_overlap : int
        1 (needs ``bias_reset``): a layer's write-back starts in its last ``COMPUTE``
        cycle and runs while the next layer's descriptor, setup and ``COMPUTE`` go on (the
        LNZD reads a row at least one cycle after it is written): two accumulator banks
        (layers alternate) and a second copy of the bias memory for the write-back. 0
        (default): write-back between layers, as in EIE.
    """

    n_pe: int = 4
    queue_depth: int = 8
    index_bits: int = 4
    rel_bits: int = 4
    act_bits: int = 16
    weight_bits: int = 16
    acc_bits: int = 32
    entries_per_word: int = 8
    ptr_depth: int = 1024
    spmat_depth: int = 1024
    act_depth: int = 64
    bias_depth: int = 256
    max_layers: int = 8
    merge_padding: int = 1
    acc_saturate: int = 1
    col_filter: int = 0
    broadcast_width: int = 1
    bias_reset: int = 0
    wb_overlap: int = 0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            lo, hi, what = _RANGES[f.name]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"{f.name} ({what}) must be an integer in {lo}..{hi}, got {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(
                    f"{f.name} ({what}) must be in {lo}..{hi}, got {value}")
        if self.ptr_depth % 2:
            raise ConfigError(
                f"ptr_depth (pointer memory entries per PE) must be even because pointers "
                f"live in an even and an odd bank, got {self.ptr_depth}")
        min_acc = self.act_bits + self.weight_bits
        if self.acc_bits < min_acc:
            raise ConfigError(
                f"acc_bits (accumulator width) must be at least act_bits + weight_bits = "
                f"{min_acc} so that one product fits, got {self.acc_bits}")
        if self.wb_overlap and not self.bias_reset:
            raise ConfigError("wb_overlap (write-back during the next layer) needs "
                              "bias_reset=1: the next layer may not preload the accumulators")
        if self.broadcast_width > self.queue_depth:
            raise ConfigError(
                f"broadcast_width ({self.broadcast_width}) must be at most queue_depth "
                f"({self.queue_depth}): a queue takes up to broadcast_width columns at once")
        if self.ptr_bits > 32:
            raise ConfigError(
                f"spmat_depth * entries_per_word = {self.spmat_entries} entries needs "
                f"{self.ptr_bits}-bit pointers; at most 32 are supported: reduce spmat_depth")

    # ---- derived quantities (never stored, so they cannot disagree) ----
    @property
    def codebook_size(self) -> int:
        return 1 << self.index_bits

    @property
    def max_gap(self) -> int:
        """Largest number of zero rows one entry's relative index can skip."""
        return (1 << self.rel_bits) - 1

    @property
    def entry_bits(self) -> int:
        return self.index_bits + self.rel_bits

    @property
    def word_bits(self) -> int:
        return self.entry_bits * self.entries_per_word

    @property
    def spmat_entries(self) -> int:
        return self.spmat_depth * self.entries_per_word

    @property
    def ptr_bits(self) -> int:
        """Pointer width: enough for the address one past the last entry."""
        return max(1, self.spmat_entries.bit_length())

    @property
    def wide_broadcast(self) -> bool:
        """The broadcast of issue 21 (column filter or several activations per cycle):
        per-slot take bits and a per-PE handshake instead of EIE's one-column broadcast."""
        return bool(self.col_filter) or self.broadcast_width > 1

    @property
    def mask_depth(self) -> int:
        """Rows of the per-PE column-mask memory (``n_pe`` bits each, one per lane of an
        LNZD row): every layer's ``ceil(n_in / n_pe)`` rows, one after the other. A layer
        of ``n_in`` inputs uses ``n_in + 1`` pointer entries, so ``ptr_depth / n_pe`` plus
        one row per layer for the rounding always suffices."""
        return -(-self.ptr_depth // self.n_pe) + self.max_layers

    @property
    def max_inputs(self) -> int:
        """Largest layer input (or output) size the activation register files hold."""
        return self.act_depth * self.n_pe

    # ---- construction and persistence ----
    @classmethod
    def eie(cls, **overrides) -> "ArchConfig":
        """EIE's published configuration (ISCA 2016): 64 PEs, queue depth 8, 64-bit
        sparse-matrix words (8 entries), 128 KB sparse-matrix SRAM, 32 KB pointer SRAM and
        2 KB of activations per PE."""
        base = dict(n_pe=64, queue_depth=8, entries_per_word=8,
                    spmat_depth=128 * 1024 // 8, ptr_depth=32 * 1024 // 2,
                    act_depth=2 * 1024 // 2, bias_depth=1024)
        base.update(overrides)
        return cls(**base)

    def replace(self, **changes) -> "ArchConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "ArchConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"an architecture config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            # a name with a newline or other odd characters is quoted: one-line errors
            names = ", ".join(k if k.isidentifier() else repr(k) for k in unknown)
            raise ConfigError(
                f"unknown config field(s) {names}; known fields: {', '.join(sorted(known))}")
        return cls(**data)

    def to_json(self) -> str:
        return json_text(self.to_dict(), indent=2)

    def save(self, path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path) -> "ArchConfig":
        path = Path(path)
        try:
            # a regular file of sane size: `--config /dev/zero` would otherwise read forever
            from eiegen.safeload import read_regular
            data = json.loads(read_regular(path, limit=1 << 20, what="config file",
                                           error=ConfigError))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config file {path} is not UTF-8 JSON text: {e}") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a folder, not a JSON file") from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def digest(self) -> str:
        """A short stable hash, used to cache hardware builds per configuration."""
        import hashlib
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def field_range(name: str) -> tuple:
    """``(minimum, maximum, what it means)`` of the config field ``name``, so that a tool
    taking field values (a sweep) checks them against the same table as the config."""
    if name not in _RANGES:
        raise ConfigError(f"unknown config field {name!r}; known fields: "
                          f"{', '.join(sorted(_RANGES))}")
    return _RANGES[name]
