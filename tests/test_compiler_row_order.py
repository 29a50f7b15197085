import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.encode import decode_layer, encode_layer
from eiegen.compiler.examples import random_indices
from eiegen.compiler.row_order import order_rows_for_padding, padding_entries


def per_pe(indices, n_pe, rel_bits, attr):
    return [getattr(s, attr) for s in encode_layer(indices, n_pe, rel_bits).pe]


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pe=st.integers(1, 9), rel_bits=st.integers(1, 4),
       n_out=st.integers(1, 90), n_in=st.integers(1, 40),
       density=st.sampled_from([0.0, 0.02, 0.1, 0.3, 1.0]))
def test_order_is_a_per_pe_permutation_never_worse(seed, n_pe, rel_bits, n_out, n_in, density):
    rng = np.random.default_rng(seed)
    idx = random_indices(rng, n_out, n_in, density, 16, dtype=np.uint8)
    perm = order_rows_for_padding(idx, n_pe, rel_bits)
    assert sorted(perm.tolist()) == list(range(n_out))
    assert np.array_equal(perm % n_pe, np.arange(n_out) % n_pe)  # rows stay on their PE
    before = per_pe(idx, n_pe, rel_bits, "n_entries")
    after = per_pe(idx[perm], n_pe, rel_bits, "n_entries")
    assert all(a <= b for a, b in zip(after, before))
    # the reordered layer encodes exactly the permuted matrix
    assert np.array_equal(decode_layer(encode_layer(idx[perm], n_pe, rel_bits)), idx[perm])
    assert np.array_equal(order_rows_for_padding(idx, n_pe, rel_bits), perm)  # deterministic


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rel_bits=st.integers(1, 4), rows=st.integers(1, 70),
       n_in=st.integers(1, 30), density=st.sampled_from([0.01, 0.05, 0.2, 0.6]))
def test_padding_entries_matches_the_encoder(seed, rel_bits, rows, n_in, density):
    rng = np.random.default_rng(seed)
    idx = random_indices(rng, rows, n_in, density, 16, dtype=np.uint8)
    assert padding_entries(idx != 0, rel_bits) == per_pe(idx, 1, rel_bits, "n_padding")[0]


def test_cuts_padding_of_an_eie_like_slice():
    # EIE's Alex-7 shape for one PE of 64: 64 local rows, 9% weights, 4-bit indices.
    rng = np.random.default_rng(3)
    idx = random_indices(rng, 64 * 4, 1024, 0.09, 16, dtype=np.uint8)
    perm = order_rows_for_padding(idx, 4, 4)
    before = per_pe(idx, 4, 4, "n_padding")
    after = per_pe(idx[perm], 4, 4, "n_padding")
    assert all(a < 0.95 * b for a, b in zip(after, before)), (before, after)


def test_gap_free_layer_is_left_alone():
    idx = np.ones((12, 5), dtype=np.uint8)
    assert np.array_equal(order_rows_for_padding(idx, 3, 2), np.arange(12))
