"""Relative-indexed CSC encoding of one layer, split over N interleaved PEs.

See docs/program-format.md. Row ``i`` belongs to PE ``i % n_pe`` at local row
``i // n_pe``; each PE stores, column by column, entries ``(v, z)``: ``v`` a codebook
index, ``z`` the number of zero local rows before the entry. Gaps longer than
``2**rel_bits - 1`` are bridged by padding entries ``(0, 2**rel_bits - 1)``.

The encoder is vectorised over the whole matrix (one sort of the non-zeros), so the
largest EIE benchmark layer (VGG-6, 25088 x 4096 at 4%) encodes in about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PESlice", "EncodedLayer", "encode_layer", "decode_layer", "entry_rows",
           "rows_of_pe"]


@dataclass(frozen=True, eq=False)
class PESlice:
    """One PE's share of a layer: entry stream and column pointers (relative to the
    layer's first entry in this PE)."""

    v: np.ndarray  # uint8/uint16 codebook indices, 0 for padding
    z: np.ndarray  # relative row indices
    ptr: np.ndarray  # int64, n_in + 1 pointers, ptr[0] == 0

    @property
    def n_entries(self) -> int:
        return int(self.ptr[-1])

    @property
    def n_padding(self) -> int:
        return int(np.count_nonzero(self.v == 0))

    def column_lengths(self) -> np.ndarray:
        return np.diff(self.ptr)


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    n_out: int
    n_in: int
    rel_bits: int
    pe: tuple[PESlice, ...]

    @property
    def n_pe(self) -> int:
        return len(self.pe)

    @property
    def n_entries(self) -> int:
        return sum(s.n_entries for s in self.pe)

    @property
    def n_padding(self) -> int:
        return sum(s.n_padding for s in self.pe)


def rows_of_pe(n_out: int, n_pe: int, pe: int) -> int:
    """Number of rows PE ``pe`` owns when ``n_out`` rows are interleaved over ``n_pe``."""
    return max(0, (n_out - pe + n_pe - 1) // n_pe)


def encode_layer(indices: np.ndarray, n_pe: int, rel_bits: int) -> EncodedLayer:
    """Encode a codebook-index matrix ``indices`` (n_out, n_in); 0 means a zero weight."""
    indices = np.asarray(indices)
    if indices.ndim != 2:
        raise ValueError(f"indices must be a 2-D (n_out, n_in) matrix, got shape {indices.shape}")
    if not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"indices must be integers, got {indices.dtype}")
    n_out, n_in = indices.shape
    period = 1 << rel_bits  # rows one padding entry skips
    max_gap = period - 1

    rows, cols = np.nonzero(indices)
    vals = indices[rows, cols]
    pe = rows % n_pe
    lrow = rows // n_pe
    # Order by (PE, column, local row): that is each PE's entry stream order.
    order = np.lexsort((lrow, cols, pe))
    pe, cols, lrow, vals = pe[order], cols[order], lrow[order], vals[order]

    # Gap to the previous entry of the same PE and column (the cursor starts at -1).
    prev = np.empty_like(lrow)
    prev[0:1] = -1
    prev[1:] = lrow[:-1]
    new_column = np.ones(len(lrow), dtype=bool)
    new_column[1:] = (pe[1:] != pe[:-1]) | (cols[1:] != cols[:-1])
    prev[new_column] = -1
    gap = lrow - prev - 1
    n_pad = gap // period
    z_real = gap % period

    vdt = np.uint8 if vals.max(initial=0) < 256 else np.uint16
    slices = []
    pe_bounds = np.searchsorted(pe, np.arange(n_pe + 1))
    for k in range(n_pe):
        lo, hi = pe_bounds[k], pe_bounds[k + 1]
        pads = n_pad[lo:hi]
        total = (hi - lo) + int(pads.sum())
        v = np.zeros(total, dtype=vdt)
        z = np.full(total, max_gap, dtype=np.uint8 if rel_bits <= 8 else np.uint16)
        pos = np.arange(hi - lo) + np.cumsum(pads)
        v[pos] = vals[lo:hi]
        z[pos] = z_real[lo:hi]
        per_col = np.bincount(cols[lo:hi], weights=1 + pads, minlength=n_in).astype(np.int64)
        ptr = np.zeros(n_in + 1, dtype=np.int64)
        np.cumsum(per_col, out=ptr[1:])
        slices.append(PESlice(v=v, z=z, ptr=ptr))
    return EncodedLayer(n_out=n_out, n_in=n_in, rel_bits=rel_bits, pe=tuple(slices))


def entry_rows(ptr, z):
    """``(column, local row)`` of every entry of one PE's slice of a layer, padding
    included: the row is the running sum of ``z + 1`` from the column's start, minus one
    (what the arithmetic unit's row cursor computes, hw/arith.py ``d_row``). ``ptr``: the
    slice's column pointers (they may start above 0, e.g. a layer inside a program's
    memory image); ``z``: the relative indices from entry ``ptr[0]`` on."""
    ptr = np.asarray(ptr, dtype=np.int64)
    ptr = ptr - ptr[0]
    lengths = np.diff(ptr)
    cols = np.repeat(np.arange(len(lengths)), lengths)
    cursor = np.cumsum(np.asarray(z[:ptr[-1]], dtype=np.int64) + 1)
    # Restart the cursor at -1 at each column's first entry.
    start_offset = np.repeat(np.concatenate(([0], cursor))[ptr[:-1]], lengths)
    return cols, cursor - start_offset - 1


def decode_slice(s: PESlice, n_in: int):
    """Local rows, columns and codebook indices of the real (non-padding) entries of a
    slice of ``n_in`` columns."""
    if len(s.ptr) != n_in + 1:
        raise ValueError(f"a slice of {n_in} columns has {n_in + 1} pointers, got {len(s.ptr)}")
    cols, lrow = entry_rows(s.ptr, s.z)
    real = s.v != 0
    return lrow[real], cols[real], s.v[real].astype(np.int64)


def decode_layer(enc: EncodedLayer, n_out: int | None = None, n_in: int | None = None) -> np.ndarray:
    """The dense (n_out, n_in) codebook-index matrix an encoding stands for."""
    n_out = enc.n_out if n_out is None else n_out
    n_in = enc.n_in if n_in is None else n_in
    out = np.zeros((n_out, n_in), dtype=np.int64)
    for k, s in enumerate(enc.pe):
        lrow, cols, v = decode_slice(s, enc.n_in)  # the slice has enc.n_in columns
        out[lrow * enc.n_pe + k, cols] = v
    return out
