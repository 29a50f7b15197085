import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.network import Layer
from eiegen.compiler.weight_sharing import (METHODS, cluster_1d, kmeans_1d, optimal_1d,
                                            share_weights, within_cluster_sse)


def brute_force_sse(x, k):
    """Least within-cluster error over every split of the sorted values into k runs."""
    xs = np.sort(x)
    n = len(xs)
    k = min(k, n)
    best = np.inf
    for cuts in itertools.combinations(range(1, n), k - 1):
        b = [0, *cuts, n]
        best = min(best, sum(((xs[a:c] - xs[a:c].mean()) ** 2).sum() for a, c in zip(b, b[1:])))
    return best


values = st.lists(st.floats(-10, 10, allow_nan=False, allow_subnormal=False), min_size=1,
                  max_size=60).map(np.array)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_codebook_convention(method, bits):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(40, 30))
    w[rng.random(w.shape) < 0.8] = 0.0
    codebook, indices = share_weights(w, bits, method)
    assert codebook.shape == (1 << bits,) and codebook[0] == 0.0
    assert indices.shape == w.shape and indices.dtype == np.int64
    assert np.all((indices == 0) == (w == 0))  # exactly the pruned weights use entry 0
    assert np.all(np.diff(codebook[1:]) >= 0)  # centroids ascending
    # the IR accepts the result as a quantized layer
    Layer(codebook[indices], codebook=codebook, indices=indices)


def test_few_distinct_values_are_kept_exactly():
    w = np.array([[0.0, 0.5, -0.25], [0.5, 0.0, 2.0]])
    codebook, indices = share_weights(w, 4)
    assert np.array_equal(codebook[indices], w)
    # sharing an already shared layer changes nothing
    c2, i2 = share_weights(codebook[indices], 4)
    assert np.array_equal(c2, codebook) and np.array_equal(i2, indices)


def test_all_pruned_layer():
    codebook, indices = share_weights(np.zeros((3, 4)), 2)
    assert np.array_equal(codebook, np.zeros(4)) and not indices.any()


@pytest.mark.parametrize("bad", [0, 9, 2.0, True])
def test_bad_bits_rejected(bad):
    with pytest.raises(ValueError, match="index bits"):
        share_weights(np.ones((2, 2)), bad)


def test_bad_method_and_values_rejected():
    with pytest.raises(ValueError, match="supported: linear, density, random, optimal"):
        share_weights(np.ones((2, 2)), 2, "kmeans++")
    with pytest.raises(ValueError, match="NaN"):
        share_weights(np.array([[np.nan, 1.0]]), 2)


def test_kmeans_never_increases_error():
    rng = np.random.default_rng(2)
    x = rng.laplace(size=2000)
    init = np.linspace(x.min(), x.max(), 15)
    bounds = (init[:-1] + init[1:]) / 2
    before = within_cluster_sse(x, init, np.searchsorted(bounds, x))
    c, labels = kmeans_1d(x, init)
    assert within_cluster_sse(x, c, labels) <= before


@settings(max_examples=60, deadline=None)
@given(values, st.integers(1, 4))
def test_optimal_matches_brute_force(x, k):
    x = x[:10]
    c, labels = optimal_1d(x, k)
    assert within_cluster_sse(x, c, labels) <= brute_force_sse(x, k) * (1 + 1e-9) + 1e-9


@settings(max_examples=80, deadline=None)
@given(values, st.integers(1, 15), st.integers(0, 3))
def test_optimal_never_worse_than_kmeans(x, k, seed):
    c, labels = optimal_1d(x, k)
    best = within_cluster_sse(x, c, labels)
    for method in ("linear", "density", "random"):
        ck, lk = cluster_1d(x, k, method, seed=seed)
        assert best <= within_cluster_sse(x, ck, lk) * (1 + 1e-9) + 1e-12


def test_optimal_labels_are_nearest_centroids():
    rng = np.random.default_rng(3)
    x = rng.normal(size=3000)
    c, labels = optimal_1d(x, 15)
    nearest = np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)
    assert np.allclose(np.abs(x - c[labels]), np.abs(x - c[nearest]))
    assert np.all(np.diff(c) > 0)


def test_random_is_seeded():
    x = np.random.default_rng(4).normal(size=500)
    a = cluster_1d(x, 7, "random", seed=5)
    b = cluster_1d(x, 7, "random", seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
