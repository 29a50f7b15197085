import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.encode import (decode_layer, decode_slice, encode_layer, entry_rows,
                                   rows_of_pe)
from eiegen.compiler.examples import random_indices

from reference_models import reference_encode_pe


def check_encoding(indices, n_pe, rel_bits):
    """Encode, then check every PE against the reference encoder and the round trip."""
    enc = encode_layer(indices, n_pe, rel_bits)
    n_out, n_in = indices.shape
    assert (enc.n_out, enc.n_in, enc.n_pe, enc.rel_bits) == (n_out, n_in, n_pe, rel_bits)
    max_gap = (1 << rel_bits) - 1
    for k, s in enumerate(enc.pe):
        v, z, ptr = reference_encode_pe(indices, n_pe, k, rel_bits)
        assert s.v.tolist() == v
        assert s.z.tolist() == z
        assert s.ptr.tolist() == ptr
        assert s.n_entries == len(v) and s.n_padding == v.count(0)
        assert s.column_lengths().tolist() == np.diff(ptr).tolist()
        assert np.all(s.z <= max_gap)
    assert np.array_equal(decode_layer(enc), indices)
    assert enc.n_entries == np.count_nonzero(indices) + enc.n_padding
    return enc


def test_paper_example_column():
    # EIE's example: one PE's column [0,0,1,2,0 x 18,3] -> v=[1,2,0,3], z=[2,0,15,2]
    col = [0, 0, 1, 2] + [0] * 18 + [3]
    enc = check_encoding(np.array(col)[:, None], n_pe=1, rel_bits=4)
    assert enc.pe[0].v.tolist() == [1, 2, 0, 3]
    assert enc.pe[0].z.tolist() == [2, 0, 15, 2]
    assert enc.pe[0].ptr.tolist() == [0, 4]
    assert enc.n_padding == 1


def test_paper_example_interleaved():
    # The same column as PE 1's local rows when 3 PEs interleave the rows.
    col = [0, 0, 1, 2] + [0] * 18 + [3]
    indices = np.zeros((3 * len(col), 2), dtype=np.int64)
    indices[1::3, 1] = col
    indices[0::3, 0] = 5  # PE 0: a dense column 0
    enc = check_encoding(indices, n_pe=3, rel_bits=4)
    assert enc.pe[1].v.tolist() == [1, 2, 0, 3]
    assert enc.pe[1].z.tolist() == [2, 0, 15, 2]
    assert enc.pe[1].ptr.tolist() == [0, 0, 4]
    assert enc.pe[0].v.tolist() == [5] * len(col) and enc.pe[2].n_entries == 0


@pytest.mark.parametrize("gap, pads, z_last", [(14, 0, 14), (15, 0, 15), (16, 1, 0),
                                               (31, 1, 15), (32, 2, 0), (40, 2, 8)])
def test_gap_lengths_around_the_padding_period(gap, pads, z_last):
    col = np.zeros((gap + 1, 1), dtype=np.int64)
    col[gap] = 7
    enc = check_encoding(col, n_pe=1, rel_bits=4)
    assert enc.pe[0].v.tolist() == [0] * pads + [7]
    assert enc.pe[0].z.tolist() == [15] * pads + [z_last]


def test_trailing_zeros_need_no_padding():
    col = np.zeros((100, 1), dtype=np.int64)
    col[0] = 1
    enc = check_encoding(col, n_pe=1, rel_bits=2)
    assert enc.n_entries == 1


def test_all_zero_layer():
    enc = check_encoding(np.zeros((10, 7), dtype=np.int64), n_pe=4, rel_bits=4)
    assert enc.n_entries == 0 and enc.n_padding == 0
    for s in enc.pe:
        assert s.ptr.tolist() == [0] * 8 and len(s.v) == len(s.z) == 0


def test_more_pes_than_rows():
    rng = np.random.default_rng(3)
    indices = random_indices(rng, 5, 9, 0.6)
    enc = check_encoding(indices, n_pe=64, rel_bits=4)
    assert all(enc.pe[k].n_entries == 0 for k in range(5, 64))


def test_dense_matrix_many_pes():
    indices = np.random.default_rng(4).integers(1, 16, size=(130, 3))
    enc = check_encoding(indices, n_pe=64, rel_bits=1)
    assert enc.n_padding == 0 and enc.n_entries == 130 * 3


def test_wide_codebook_indices_and_uint8_input():
    indices = np.array([[0, 300], [2, 0]])
    enc = check_encoding(indices, n_pe=1, rel_bits=3)
    assert enc.pe[0].v.dtype == np.uint16
    small = np.array([[0, 200], [2, 0]], dtype=np.uint8)
    enc = check_encoding(small, n_pe=2, rel_bits=3)
    assert enc.pe[0].v.dtype == np.uint8


def test_decode_slice_returns_real_entries():
    col = [0, 0, 1, 2] + [0] * 18 + [3]
    s = encode_layer(np.array(col)[:, None], 1, 4).pe[0]
    rows, cols, v = decode_slice(s, 1)
    assert rows.tolist() == [2, 3, 22] and cols.tolist() == [0, 0, 0] and v.tolist() == [1, 2, 3]


def test_entry_rows_counts_padding_and_restarts_per_column():
    # column 0: rows 2, 3 and, after a padding entry (z = 15, row 18), row 22; column 1
    # empty; column 2: row 0
    idx = np.zeros((23, 3), dtype=np.int64)
    idx[[2, 3, 22], 0] = [1, 2, 3]
    idx[0, 2] = 4
    s = encode_layer(idx, 1, 4).pe[0]
    cols, rows = entry_rows(s.ptr, s.z)
    assert cols.tolist() == [0, 0, 0, 0, 2] and rows.tolist() == [2, 3, 19, 22, 0]
    # a layer that starts inside a memory image: pointers offset, z from ptr[0] on
    shifted = np.asarray(s.ptr) + 7
    assert [a.tolist() for a in entry_rows(shifted, s.z)] == [cols.tolist(), rows.tolist()]
    with pytest.raises(ValueError, match="a slice of 2 columns has 3 pointers, got 4"):
        decode_slice(s, 2)


def test_decode_into_a_larger_shape():
    indices = np.array([[1, 0], [0, 2]])
    enc = encode_layer(indices, 2, 4)
    dense = decode_layer(enc, n_out=4, n_in=3)
    assert dense.shape == (4, 3) and np.array_equal(dense[:2, :2], indices)
    assert not dense[2:].any() and not dense[:, 2:].any()


def test_bad_input():
    with pytest.raises(ValueError, match=r"2-D .*shape \(3,\)"):
        encode_layer(np.zeros(3, dtype=np.int64), 1, 4)
    with pytest.raises(ValueError, match="must be integers, got float64"):
        encode_layer(np.zeros((3, 3)), 1, 4)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 300))
def test_rows_of_pe(n_out, n_pe):
    counts = [rows_of_pe(n_out, n_pe, k) for k in range(n_pe)]
    assert counts == [len(range(k, n_out, n_pe)) for k in range(n_pe)]
    assert sum(counts) == n_out


@st.composite
def index_matrices(draw):
    """Random shapes and densities, with rows and columns zeroed out at random and
    sometimes long zero runs, so empty rows/columns and padding are common."""
    n_out = draw(st.integers(1, 90))
    n_in = draw(st.integers(1, 12))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    indices = random_indices(rng, n_out, n_in, density, codebook_size=draw(st.sampled_from([2, 16, 256])))
    indices[rng.random(n_out) < 0.2] = 0  # empty rows
    indices[:, rng.random(n_in) < 0.2] = 0  # empty columns
    return indices


@settings(max_examples=120, deadline=None)
@given(index_matrices(), st.sampled_from([1, 2, 3, 5, 7, 16, 64]), st.integers(1, 5))
def test_round_trip_matches_reference(indices, n_pe, rel_bits):
    check_encoding(indices, n_pe, rel_bits)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 64]))
def test_round_trip_sparse_tall_layers(seed, n_pe):
    # Tall and very sparse: gaps well beyond 2**rel_bits - 1 in every PE.
    rng = np.random.default_rng(seed)
    indices = random_indices(rng, int(rng.integers(200, 3000)), 4, 0.01)
    enc = check_encoding(indices, n_pe, rel_bits=2)
    if n_pe == 1 and np.count_nonzero(indices) >= 2:
        assert enc.n_padding > 0


def test_stream_dtypes_are_as_narrow_as_the_values():
    # codebook indices up to 255 in bytes, beyond in 16 bits; relative indices of up to
    # 8 bits in bytes (huffman_decode_layer rebuilds exactly these dtypes)
    idx = np.zeros((3, 2), dtype=np.int64)
    idx[0, 0], idx[2, 1] = 255, 7
    assert all(s.v.dtype == np.uint8 for s in encode_layer(idx, 1, 8).pe)
    assert all(s.z.dtype == np.uint8 for s in encode_layer(idx, 1, 8).pe)
    assert all(s.z.dtype == np.uint16 for s in encode_layer(idx, 1, 9).pe)
    idx[1, 1] = 256
    assert all(s.v.dtype == np.uint16 for s in encode_layer(idx, 1, 8).pe)
