import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.encode import decode_layer, encode_layer
from eiegen.compiler.huffman import (MAX_CODE_LENGTH, HuffmanCode, HuffmanError,
                                     huffman_decode_layer, huffman_encode_layer)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=300))
def test_round_trip(symbols):
    code = HuffmanCode.from_symbols(symbols)
    data, n_bits = code.encode(symbols)
    assert n_bits == code.encoded_bits(symbols)
    assert len(data) == -(-n_bits // 8)
    assert code.decode(data, len(symbols), n_bits).tolist() == symbols


def test_canonical_and_optimal():
    freqs = np.array([45, 13, 12, 16, 9, 5])  # CLRS example: cost 224
    code = HuffmanCode.from_frequencies(freqs)
    assert int((code.lengths * freqs).sum()) == 224
    # canonical: codes of one length are consecutive in symbol order, shorter first
    order = np.lexsort((np.arange(6), code.lengths))
    bits = ["{:0{}b}".format(code.codes[s], code.lengths[s]) for s in order]
    assert bits == sorted(bits)
    assert all(not b.startswith(a) for a in bits for b in bits if a != b)  # prefix free
    # the lengths alone determine the code
    again = HuffmanCode(code.lengths)
    assert np.array_equal(again.codes, code.codes)


def test_beats_fixed_width_on_skewed_data():
    rng = np.random.default_rng(0)
    s = np.minimum(rng.geometric(0.5, 5000) - 1, 15)
    code = HuffmanCode.from_symbols(s, 16)
    assert code.encoded_bits(s) < 4 * s.size * 0.6
    assert code.alphabet_size == 16 and code.table_bits == 16 * 5


def test_single_symbol_and_empty():
    code = HuffmanCode.from_symbols([3, 3, 3])
    data, n = code.encode([3, 3, 3])
    assert n == 3 and code.decode(data, 3, n).tolist() == [3, 3, 3]
    assert code.encode([]) == (b"", 0)


def test_length_limit():
    fib = [1, 1]
    while len(fib) < 40:
        fib.append(fib[-1] + fib[-2])
    code = HuffmanCode.from_frequencies(np.array(fib))
    assert code.lengths.max() <= MAX_CODE_LENGTH
    s = np.arange(40)
    data, n = code.encode(s)
    assert code.decode(data, 40, n).tolist() == s.tolist()


def test_errors():
    code = HuffmanCode.from_symbols([0, 1, 1, 2])
    with pytest.raises(HuffmanError, match="no code"):
        code.encode([5])
    data, n = code.encode([0, 1, 2])
    with pytest.raises(HuffmanError, match="ended"):
        code.decode(data, 10, n)
    with pytest.raises(HuffmanError, match="Kraft"):
        HuffmanCode(np.array([1, 1, 1]))


@pytest.mark.parametrize("n_pe, rel_bits", [(1, 4), (4, 3), (3, 2)])
def test_layer_round_trip_restores_the_exact_encoding(n_pe, rel_bits):
    rng = np.random.default_rng(n_pe)
    idx = rng.integers(1, 16, size=(70, 45))
    idx[rng.random(idx.shape) < 0.9] = 0
    enc = encode_layer(idx, n_pe, rel_bits)
    h = huffman_encode_layer(enc, 4)
    back = huffman_decode_layer(h)
    for a, b in zip(enc.pe, back.pe):
        for f in ("v", "z", "ptr"):
            assert getattr(a, f).dtype == getattr(b, f).dtype
            assert np.array_equal(getattr(a, f), getattr(b, f))
    assert np.array_equal(decode_layer(back), idx)
    fixed = enc.n_entries * (4 + rel_bits)
    assert h.v.n_bits + h.z.n_bits < fixed
    assert h.bits == h.index_bits + h.position_bits


def fibonacci(n):
    fib = [1, 1]
    while len(fib) < n:
        fib.append(fib[-1] + fib[-2])
    return np.array(fib[:n])


def test_length_limit_is_exactly_20():
    # Fibonacci counts give the deepest Huffman tree: n symbols, lengths 1, 2, ..., n-2
    # and two of n-1. With 21 symbols the deepest code is 20 long, within the limit (the
    # decoder's table is 2**20 entries, docs/compression.md): the optimal code is kept.
    code = HuffmanCode.from_frequencies(fibonacci(21))
    assert sorted(code.lengths.tolist()) == list(range(1, 20)) + [20, 20]
    # 22 symbols would need 21: the counts are flattened until the code fits in 20
    code = HuffmanCode.from_frequencies(fibonacci(22))
    assert code.lengths.max() == 20
    assert np.sum(np.ldexp(1.0, -code.lengths)) == 1.0  # still a complete prefix code
    HuffmanCode(np.array([20, 20, 1, 2, 3]))  # 20 is a valid length ...
    with pytest.raises(HuffmanError, match="0..20"):  # ... 21 is not
        HuffmanCode(np.array([21, 1]))


@pytest.mark.parametrize("lengths", [[], [-1, 1], [1, -1, 1], [0, 21]])
def test_code_lengths_out_of_range_are_refused(lengths):
    with pytest.raises(HuffmanError, match="lengths must lie"):
        HuffmanCode(np.array(lengths, dtype=np.int64))


@pytest.mark.parametrize("freqs", [[], [[1, 2], [3, 4]], [3, -1, 2]])
def test_frequencies_are_checked(freqs):
    with pytest.raises(HuffmanError, match="frequencies"):
        HuffmanCode.from_frequencies(np.array(freqs))


def test_negative_symbols_are_refused():
    with pytest.raises(HuffmanError, match="non-negative"):
        HuffmanCode.from_symbols([1, -2])
    with pytest.raises(HuffmanError, match="no code"):
        HuffmanCode.from_symbols([0, 1]).encode([-1])


def test_a_bit_pattern_no_code_matches_is_refused():
    # lengths 1 and 2 give codes 0 and 10; 11 starts no code (the code is incomplete)
    code = HuffmanCode(np.array([1, 2]))
    assert code.codes.tolist() == [0, 2]
    assert code.decode(bytes([0b01000000]), 2, 3).tolist() == [0, 1]
    with pytest.raises(HuffmanError, match="invalid code at bit 1"):
        code.decode(bytes([0b01100000]), 2, 3)
    with pytest.raises(HuffmanError, match="runs past the end"):
        code.decode(bytes([0b10000000]), 1, 1)  # the 2-bit code cut after its first bit
    with pytest.raises(HuffmanError, match="empty code"):
        HuffmanCode(np.zeros(3, dtype=np.int64)).decode(b"\x00", 1, 8)
    assert code.decode(b"", 0).tolist() == []


def test_stream_and_layer_sizes():
    from eiegen.compiler.huffman import LENGTH_BITS, HuffmanStream
    s = HuffmanStream.of([0, 0, 0, 1, 2], alphabet_size=8)
    # 0 -> 1 bit, 1 and 2 -> 2 bits: 3 + 4 = 7 payload bits; a 5-bit length per symbol
    assert s.n_bits == 7 and s.code.table_bits == 8 * LENGTH_BITS == 40
    assert s.bits == 47
    idx = np.array([[1, 0, 3], [0, 2, 0]])
    enc = encode_layer(idx, 1, 2)
    # index_bits fixes the codebook alphabet at 2**index_bits; default: largest index + 1
    assert huffman_encode_layer(enc, 4).v.code.alphabet_size == 16
    assert huffman_encode_layer(enc).v.code.alphabet_size == 4
    assert huffman_encode_layer(enc).z.code.alphabet_size == 4  # 2**rel_bits


def test_default_alphabet_is_the_largest_symbol_plus_one():
    # without alphabet_size the code covers 0 .. max(symbols), and an empty stream one
    # symbol (one LENGTH_BITS table entry): a stream of zeros costs 1 table entry, not 2
    from eiegen.compiler.huffman import LENGTH_BITS
    assert HuffmanCode.from_symbols([0, 0, 0]).alphabet_size == 1
    assert HuffmanCode.from_symbols([0, 0, 0]).table_bits == LENGTH_BITS
    assert HuffmanCode.from_symbols([]).alphabet_size == 1
    assert HuffmanCode.from_symbols([2, 0]).alphabet_size == 3
    assert HuffmanCode.from_symbols([2, 0], alphabet_size=5).alphabet_size == 5
    assert HuffmanCode.from_symbols([4], alphabet_size=2).alphabet_size == 5  # never less


def test_streams_are_immutable():
    import dataclasses
    from eiegen.compiler.huffman import HuffmanStream
    s = HuffmanStream.of([0, 1, 1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_bits = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.code.lengths = np.array([1, 1])
    enc = encode_layer(np.array([[1, 0], [0, 2]]), 1, 2)
    h = huffman_encode_layer(enc)
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.v = s
