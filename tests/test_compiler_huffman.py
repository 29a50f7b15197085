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
