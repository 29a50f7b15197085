import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.pack import (byte_rows_hex_lines, hex_lines, pack_entries, unpack_entries,
                                  word_bytes, words_to_ints)


def reference_words(v, z, index_bits, rel_bits, entries_per_word):
    """Entry e at bits (e mod epw) * entry_bits of word e div epw, as Python ints."""
    entry_bits = index_bits + rel_bits
    words = [0] * (-(-len(v) // entries_per_word))
    for e, (vi, zi) in enumerate(zip(v, z)):
        words[e // entries_per_word] |= (vi | zi << index_bits) << (e % entries_per_word * entry_bits)
    return words


def test_word_bytes():
    assert [word_bytes(b) for b in (1, 8, 9, 16, 63, 64, 65)] == [1, 1, 2, 2, 8, 8, 9]


def test_eie_word_layout():
    # EIE: 8 entries of (4-bit v, 4-bit z) in a 64-bit word; entry 0 in the low byte.
    v = [1, 2, 0, 3, 4, 5, 6, 7, 9]
    z = [2, 0, 15, 2, 0, 0, 0, 1, 3]
    words = pack_entries(np.array(v), np.array(z), 4, 4, 8)
    assert words.shape == (2, 8) and words.dtype == np.uint8
    assert words_to_ints(words) == [0x1706050423F00221, 0x39]
    assert byte_rows_hex_lines(words, 64) == "1706050423f00221\n0000000000000039\n"


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 32), st.data())
def test_pack_unpack_round_trip(index_bits, rel_bits, epw, data):
    n = data.draw(st.integers(0, 3 * epw + 2))
    v = data.draw(st.lists(st.integers(0, (1 << index_bits) - 1), min_size=n, max_size=n))
    z = data.draw(st.lists(st.integers(0, (1 << rel_bits) - 1), min_size=n, max_size=n))
    words = pack_entries(np.array(v, dtype=np.int64), np.array(z, dtype=np.int64),
                         index_bits, rel_bits, epw)
    word_bits = (index_bits + rel_bits) * epw
    n_words = -(-n // epw)
    assert words.shape == (n_words, word_bytes(word_bits))
    ints = words_to_ints(words)
    assert ints == reference_words(v, z, index_bits, rel_bits, epw)
    assert all(w < 1 << word_bits for w in ints)  # bits above word_bits stay zero
    uv, uz = unpack_entries(words, index_bits, rel_bits, epw)
    assert len(uv) == len(uz) == n_words * epw
    assert uv[:n].tolist() == v and uz[:n].tolist() == z
    assert not uv[n:].any() and not uz[n:].any()  # unused slots of the last word are zero
    expected_hex = "".join(f"{w:0{-(-word_bits // 4)}x}\n" for w in ints)
    assert byte_rows_hex_lines(words, word_bits) == expected_hex


@pytest.mark.parametrize("index_bits, rel_bits, epw", [(4, 4, 8), (3, 2, 3), (1, 1, 1),
                                                       (5, 4, 7), (8, 8, 32), (2, 5, 5)])
def test_odd_word_widths(index_bits, rel_bits, epw):
    rng = np.random.default_rng(index_bits * 100 + rel_bits * 10 + epw)
    n = 5 * epw + 1
    v = rng.integers(0, 1 << index_bits, n)
    z = rng.integers(0, 1 << rel_bits, n)
    words = pack_entries(v, z, index_bits, rel_bits, epw)
    assert words_to_ints(words) == reference_words(v.tolist(), z.tolist(), index_bits, rel_bits, epw)
    uv, uz = unpack_entries(words, index_bits, rel_bits, epw)
    assert np.array_equal(uv[:n], v) and np.array_equal(uz[:n], z)


def test_hex_lines():
    assert hex_lines([-1, 5, -2048, 2047], 12) == "fff\n005\n800\n7ff\n"
    assert hex_lines([1, 2], 9) == "001\n002\n"
    assert hex_lines(np.array([0xFFFFFFFF], dtype=np.uint32), 32) == "ffffffff\n"
    assert hex_lines([], 8) == ""


def test_byte_rows_hex_lines_empty_and_narrow():
    assert byte_rows_hex_lines(np.zeros((0, 2), dtype=np.uint8), 12) == ""
    words = pack_entries(np.array([3, 1]), np.array([1, 0]), 2, 1, 1)  # 3-bit words
    assert byte_rows_hex_lines(words, 3) == "7\n1\n"
