"""Canonical Huffman coding of a layer's encoded streams (Deep Compression's last stage).

The codebook indices ``v`` and the relative row indices ``z`` of the relative-indexed
CSC format are far from uniformly distributed (a few centroids and short gaps dominate),
so a Huffman code stores them in fewer bits than their fixed widths. The column
pointers are coded the same way, as each PE's per-column entry counts: a decoder
rebuilds the pointers by a prefix sum.

A *canonical* code is fully described by its code lengths: symbols are numbered in order
of (length, symbol) and consecutive codes are consecutive integers. So the only table a
decoder needs is one length per symbol (``LENGTH_BITS`` bits each), which is what the
storage figures count.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .encode import EncodedLayer, PESlice

__all__ = ["HuffmanCode", "HuffmanError", "HuffmanLayer", "huffman_encode_layer",
           "huffman_decode_layer", "MAX_CODE_LENGTH", "LENGTH_BITS"]

MAX_CODE_LENGTH = 20  # bounds the decoder's lookup table at 2**20 entries
LENGTH_BITS = 5  # a code length 0..20 in the stored table


class HuffmanError(ValueError):
    """A Huffman code or bit stream is malformed."""


def _code_lengths(freqs: np.ndarray) -> np.ndarray:
    """Optimal prefix-code lengths for ``freqs`` (0 for unused symbols).

    Ties are broken by the smallest symbol in a subtree, so the lengths (and hence the
    canonical code) depend only on the frequencies.
    """
    used = np.flatnonzero(freqs)
    lengths = np.zeros(freqs.size, dtype=np.int64)
    if used.size == 0:
        return lengths
    if used.size == 1:  # a lone symbol still needs one bit per occurrence
        lengths[used[0]] = 1
        return lengths
    f = freqs.astype(np.float64)
    while True:
        heap = [(float(f[s]), int(s), [int(s)]) for s in used]
        heapq.heapify(heap)
        depth = np.zeros(freqs.size, dtype=np.int64)
        while len(heap) > 1:
            fa, ka, a = heapq.heappop(heap)
            fb, kb, b = heapq.heappop(heap)
            depth[a] += 1
            depth[b] += 1
            heapq.heappush(heap, (fa + fb, min(ka, kb), a + b))
        if depth.max() <= MAX_CODE_LENGTH:
            return depth
        # Too deep (only for extremely skewed counts): flatten the distribution the way
        # zlib does and rebuild; the code stays prefix-free and nearly optimal.
        f[used] = np.maximum(np.floor(f[used] / 2.0), 1.0)


@dataclass(frozen=True, eq=False)
class HuffmanCode:
    """A canonical Huffman code over the symbols ``0 .. len(lengths) - 1``.

    Parameters
    ----------
    lengths : numpy.ndarray
        Code length of each symbol, 0 for a symbol that never occurs.
    """

    lengths: np.ndarray

    def __post_init__(self):
        lengths = np.asarray(self.lengths, dtype=np.int64).reshape(-1)
        if lengths.size == 0 or lengths.min() < 0 or lengths.max() > MAX_CODE_LENGTH:
            raise HuffmanError(f"code lengths must lie in 0..{MAX_CODE_LENGTH}")
        used = lengths[lengths > 0]
        # Kraft: a prefix code exists iff sum 2**-l <= 1.
        if used.size and np.sum(np.ldexp(1.0, -used)) > 1.0 + 1e-12:
            raise HuffmanError("code lengths violate the Kraft inequality")
        object.__setattr__(self, "lengths", lengths)
        codes = np.zeros(lengths.size, dtype=np.int64)
        order = np.lexsort((np.arange(lengths.size), lengths))
        code, prev_len = 0, 0
        for s in order:
            n = int(lengths[s])
            if n == 0:
                continue
            if prev_len:
                code = (code + 1) << (n - prev_len)
            else:
                code = 0
            codes[s] = code
            prev_len = n
        object.__setattr__(self, "codes", codes)

    @classmethod
    def from_frequencies(cls, freqs) -> "HuffmanCode":
        """The optimal code for symbol counts ``freqs`` (index = symbol)."""
        freqs = np.asarray(freqs)
        if freqs.ndim != 1 or freqs.size == 0 or (freqs < 0).any():
            raise HuffmanError("frequencies must be a non-empty 1-D array of counts >= 0")
        return cls(_code_lengths(freqs))

    @classmethod
    def from_symbols(cls, symbols, alphabet_size: int | None = None) -> "HuffmanCode":
        """The optimal code for a symbol stream (non-negative integers)."""
        s = np.asarray(symbols, dtype=np.int64).reshape(-1)
        if s.size and s.min() < 0:
            raise HuffmanError("symbols must be non-negative integers")
        size = max(int(s.max()) + 1 if s.size else 1, alphabet_size or 1)
        return cls.from_frequencies(np.bincount(s, minlength=size))

    @property
    def alphabet_size(self) -> int:
        return int(self.lengths.size)

    @property
    def table_bits(self) -> int:
        """Bits a decoder needs to rebuild the code: one length per symbol."""
        return self.alphabet_size * LENGTH_BITS

    def encoded_bits(self, symbols) -> int:
        """Length in bits of the encoding of ``symbols``."""
        s = np.asarray(symbols, dtype=np.int64).reshape(-1)
        return int(self.lengths[s].sum())

    def encode(self, symbols) -> tuple[bytes, int]:
        """Encode a symbol stream.

        Returns
        -------
        data : bytes
            The codes, most significant bit first, zero-padded to whole bytes.
        n_bits : int
            Number of meaningful bits in ``data``.
        """
        s = np.asarray(symbols, dtype=np.int64).reshape(-1)
        if s.size and (s.min() < 0 or s.max() >= self.alphabet_size
                       or (self.lengths[s] == 0).any()):
            raise HuffmanError("a symbol has no code in this Huffman code")
        lens = self.lengths[s]
        total = int(lens.sum())
        if total == 0:
            return b"", 0
        starts = np.cumsum(lens) - lens
        rep_len = np.repeat(lens, lens)
        offs = np.arange(total) - np.repeat(starts, lens)
        bits = (np.repeat(self.codes[s], lens) >> (rep_len - 1 - offs)) & 1
        return np.packbits(bits.astype(np.uint8)).tobytes(), total

    def decode(self, data: bytes, count: int, n_bits: int | None = None) -> np.ndarray:
        """Decode ``count`` symbols from ``data`` (as returned by :meth:`encode`).

        Raises
        ------
        HuffmanError
            If the bits run out or hold a sequence no code matches.
        """
        out = np.zeros(count, dtype=np.int64)
        if count == 0:
            return out
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).astype(np.int64)
        if n_bits is not None:
            bits = bits[:n_bits]
        max_len = int(self.lengths.max())
        if max_len == 0:
            raise HuffmanError("cannot decode symbols with an empty code")
        # Lookup table indexed by the next max_len bits: every code fills the slots of
        # all windows it prefixes.
        table_sym = np.full(1 << max_len, -1, dtype=np.int64)
        table_len = np.zeros(1 << max_len, dtype=np.int64)
        for sym in np.flatnonzero(self.lengths):
            n = int(self.lengths[sym])
            lo = int(self.codes[sym]) << (max_len - n)
            table_sym[lo:lo + (1 << (max_len - n))] = sym
            table_len[lo:lo + (1 << (max_len - n))] = n
        padded = np.concatenate([bits, np.zeros(max_len, dtype=np.int64)])
        window = np.zeros(bits.size, dtype=np.int64)
        for t in range(max_len):
            window = (window << 1) | padded[t:t + bits.size]
        syms = table_sym[window].tolist()
        lens = table_len[window].tolist()
        pos, limit = 0, bits.size
        for i in range(count):
            if pos >= limit:
                raise HuffmanError(f"the bit stream ended after {i} of {count} symbols")
            sym = syms[pos]
            if sym < 0:
                raise HuffmanError(f"invalid code at bit {pos}")
            out[i] = sym
            pos += lens[pos]
        if pos > limit:
            raise HuffmanError("the last code runs past the end of the bit stream")
        return out


@dataclass(frozen=True, eq=False)
class HuffmanStream:
    """One Huffman-coded stream: its code, payload and symbol count."""

    code: HuffmanCode
    data: bytes
    n_bits: int
    count: int

    @classmethod
    def of(cls, symbols, alphabet_size: int | None = None) -> "HuffmanStream":
        s = np.asarray(symbols, dtype=np.int64).reshape(-1)
        code = HuffmanCode.from_symbols(s, alphabet_size)
        data, n_bits = code.encode(s)
        return cls(code, data, n_bits, int(s.size))

    def decode(self) -> np.ndarray:
        return self.code.decode(self.data, self.count, self.n_bits)

    @property
    def bits(self) -> int:
        """Payload plus code table."""
        return self.n_bits + self.code.table_bits


@dataclass(frozen=True, eq=False)
class HuffmanLayer:
    """A layer's relative-indexed CSC encoding with its three streams Huffman-coded.

    ``counts`` holds every PE's per-column entry counts (PE 0's ``n_in`` counts first),
    ``v`` and ``z`` the PEs' entry streams one after the other.
    """

    n_out: int
    n_in: int
    n_pe: int
    rel_bits: int
    v: HuffmanStream
    z: HuffmanStream
    counts: HuffmanStream

    @property
    def bits(self) -> int:
        """Everything a decoder needs for the sparse matrix (codebook and biases apart)."""
        return self.v.bits + self.z.bits + self.counts.bits

    @property
    def index_bits(self) -> int:
        """Bits of the codebook-index stream alone (payload and table)."""
        return self.v.bits

    @property
    def position_bits(self) -> int:
        """Bits of the relative indices and pointers (payload and tables)."""
        return self.z.bits + self.counts.bits


def huffman_encode_layer(enc, index_bits: int | None = None) -> HuffmanLayer:
    """Huffman-code an :class:`~eiegen.compiler.encode.EncodedLayer`.

    Parameters
    ----------
    enc : EncodedLayer
        Output of ``encode_layer``.
    index_bits : int, optional
        Codebook index width; the ``v`` alphabet then has ``2**index_bits`` symbols so
        that every layer's table has the same size (default: the largest index used).
    """
    v = np.concatenate([np.asarray(s.v, dtype=np.int64) for s in enc.pe])
    z = np.concatenate([np.asarray(s.z, dtype=np.int64) for s in enc.pe])
    counts = np.concatenate([np.diff(np.asarray(s.ptr, dtype=np.int64)) for s in enc.pe])
    return HuffmanLayer(
        n_out=enc.n_out, n_in=enc.n_in, n_pe=enc.n_pe, rel_bits=enc.rel_bits,
        v=HuffmanStream.of(v, None if index_bits is None else 1 << index_bits),
        z=HuffmanStream.of(z, 1 << enc.rel_bits),
        counts=HuffmanStream.of(counts))


def huffman_decode_layer(h: HuffmanLayer):
    """Rebuild the exact :class:`EncodedLayer` that :func:`huffman_encode_layer` coded
    (same ``v``, ``z`` and ``ptr`` arrays, same dtypes as the encoder produces)."""
    counts = h.counts.decode().reshape(h.n_pe, h.n_in)
    per_pe = counts.sum(axis=1)
    v_all, z_all = h.v.decode(), h.z.decode()
    if v_all.size != per_pe.sum() or z_all.size != per_pe.sum():
        raise HuffmanError("entry streams disagree with the column counts")
    vdt = np.uint8 if v_all.max(initial=0) < 256 else np.uint16
    zdt = np.uint8 if h.rel_bits <= 8 else np.uint16
    bounds = np.concatenate([[0], np.cumsum(per_pe)])
    slices = []
    for k in range(h.n_pe):
        a, b = bounds[k], bounds[k + 1]
        ptr = np.concatenate([[0], np.cumsum(counts[k])]).astype(np.int64)
        slices.append(PESlice(v=v_all[a:b].astype(vdt), z=z_all[a:b].astype(zdt), ptr=ptr))
    return EncodedLayer(n_out=h.n_out, n_in=h.n_in, rel_bits=h.rel_bits, pe=tuple(slices))
