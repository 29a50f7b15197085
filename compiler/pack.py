"""Packing entries into memory words, and writing $readmemh images."""

from __future__ import annotations

import numpy as np

from eiegen.fixedpoint import to_unsigned

__all__ = ["pack_entries", "unpack_entries", "word_bytes", "words_to_ints", "hex_lines",
           "byte_rows_hex_lines"]


def word_bytes(word_bits: int) -> int:
    return (word_bits + 7) // 8


def pack_entries(v: np.ndarray, z: np.ndarray, index_bits: int, rel_bits: int,
                 entries_per_word: int) -> np.ndarray:
    """Entries ``v | z << index_bits`` packed little-endian into words; returns a uint8
    array (words, bytes per word)."""
    entry_bits = index_bits + rel_bits
    word_bits = entry_bits * entries_per_word
    n = len(v)
    n_words = -(-n // entries_per_word)
    entries = np.zeros(n_words * entries_per_word, dtype=np.int64)
    entries[:n] = np.asarray(v, dtype=np.int64) | (np.asarray(z, dtype=np.int64) << index_bits)
    bits = ((entries[:, None] >> np.arange(entry_bits)) & 1).astype(np.uint8)
    bits = bits.reshape(n_words, word_bits)
    pad = word_bytes(word_bits) * 8 - word_bits
    if pad:
        bits = np.concatenate([bits, np.zeros((n_words, pad), dtype=np.uint8)], axis=1)
    return np.packbits(bits, axis=1, bitorder="little").reshape(n_words, word_bytes(word_bits))


def unpack_entries(words: np.ndarray, index_bits: int, rel_bits: int, entries_per_word: int):
    """Inverse of :func:`pack_entries`: (v, z) of every entry slot of every word."""
    entry_bits = index_bits + rel_bits
    words = np.asarray(words, dtype=np.uint8)
    # (-1 cannot be inferred for zero words, e.g. a PE that owns no entries)
    words = words.reshape(len(words), -1 if len(words) else word_bytes(entry_bits * entries_per_word))
    bits = np.unpackbits(words, axis=1, bitorder="little")[:, :entry_bits * entries_per_word]
    bits = bits.reshape(-1, entry_bits).astype(np.int64)
    entries = (bits << np.arange(entry_bits)).sum(axis=1)
    return entries & ((1 << index_bits) - 1), entries >> index_bits


def words_to_ints(words: np.ndarray) -> list[int]:
    """uint8 (words, bytes) little-endian rows -> Python ints."""
    return [int.from_bytes(row.tobytes(), "little") for row in np.asarray(words, dtype=np.uint8)]


def hex_lines(values, bits: int) -> str:
    """Signed or unsigned integers as ``bits``-wide two's-complement hex, one per line."""
    digits = (bits + 3) // 4
    vals = to_unsigned(np.asarray(values, dtype=np.int64), bits)
    return "".join(f"{int(x):0{digits}x}\n" for x in vals)


def byte_rows_hex_lines(words: np.ndarray, bits: int) -> str:
    """uint8 (words, bytes) little-endian rows as ``bits``-wide hex, one word per line."""
    words = np.asarray(words, dtype=np.uint8)
    if len(words) == 0:
        return ""
    nbytes = words.shape[1]
    text = np.ascontiguousarray(words[:, ::-1]).tobytes().hex()
    digits = (bits + 3) // 4
    skip = 2 * nbytes - digits  # leading digits that are always zero
    step = 2 * nbytes
    return "".join(text[i + skip:i + step] + "\n" for i in range(0, len(text), step))
