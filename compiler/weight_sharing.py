"""Weight sharing: cluster each layer's surviving weights into a small codebook.

Deep Compression (Han, Mao, Dally, ICLR 2016) replaces every surviving weight of a layer
by the nearest of ``k`` shared values, found by 1-D k-means; each weight then stores only
a ``b``-bit index. eiegen fixes the codebook layout to what the hardware reads:

* the codebook has ``2**bits`` entries and ``codebook[0] == 0.0`` exactly, because index 0
  is what pruned weights and the padding entries of the sparse format select;
* the surviving (non-zero) weights share the ``k = 2**bits - 1`` entries ``1 .. k``,
  stored in ascending order.

Four ways to choose the centroids are offered:

``linear``
    k-means started from ``k`` points spaced evenly over ``[min, max]``. Deep Compression
    found this best: it keeps centroids near the rare large-magnitude weights, which
    matter most for accuracy.
``density``
    k-means started at evenly spaced quantiles of the weights (dense regions get more
    centroids).
``random``
    k-means started from ``k`` distinct weights drawn at random (Forgy), seeded.
``optimal``
    The exact minimum of the within-cluster sum of squared errors, by dynamic
    programming over the sorted weights (1-D clusters are contiguous intervals), so no
    k-means initialisation can do better.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "share_weights", "cluster_1d", "kmeans_1d", "optimal_1d",
           "within_cluster_sse"]

METHODS = ("linear", "density", "random", "optimal")

MAX_BITS = 8  # the widest codebook index the architecture supports (ArchConfig.index_bits)


def _check_bits(bits) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) \
            or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"index bits must be an integer in 1..{MAX_BITS}, got {bits!r}")
    return int(bits)


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"weight-sharing method {method!r} is not supported; "
                         f"supported: {', '.join(METHODS)}")
    return method


def share_weights(weight: np.ndarray, bits: int = 4, method: str = "linear", *,
                  seed: int = 0, max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Quantize one layer's weights to a ``2**bits``-entry codebook.

    Zero weights are the pruned ones: they get index 0, whose codebook value is exactly
    0.0. The non-zero weights are clustered into at most ``2**bits - 1`` centroids held in
    entries ``1 ..`` in ascending order. If a layer has no more distinct non-zero values
    than that, each value becomes its own centroid, so sharing an already shared layer
    changes nothing.

    Parameters
    ----------
    weight : numpy.ndarray
        The layer's weights, any shape (the IR uses ``(n_out, n_in)``), finite.
    bits : int
        Codebook index bits, 1..8.
    method : {"linear", "density", "random", "optimal"}
        How the centroids are found (see the module docstring).
    seed : int
        Seed of the ``random`` initialisation; the other methods are deterministic.
    max_iter : int
        Iteration limit of k-means (it normally converges much sooner).

    Returns
    -------
    codebook : numpy.ndarray
        float64, ``2**bits`` entries, ``codebook[0] == 0.0``. Entries no cluster needs
        (a layer with fewer distinct weights than centroids) are 0.0 and unused.
    indices : numpy.ndarray
        int64, the shape of ``weight``; ``codebook[indices]`` is the quantized layer.

    Raises
    ------
    ValueError
        For bits outside 1..8, an unknown method, or a non-finite weight.
    """
    bits = _check_bits(bits)
    method = _check_method(method)
    w = np.asarray(weight, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinity; they cannot be clustered")
    k = (1 << bits) - 1
    codebook = np.zeros(k + 1, dtype=np.float64)
    indices = np.zeros(w.shape, dtype=np.int64)
    nz = w != 0.0
    values = w[nz]
    if values.size == 0:
        return codebook, indices

    distinct = np.unique(values)
    if distinct.size <= k:
        centroids = distinct
        labels = np.searchsorted(distinct, values)
    else:
        centroids, labels = cluster_1d(values, k, method, seed=seed, max_iter=max_iter)
    codebook[1:1 + centroids.size] = centroids
    indices[nz] = labels + 1
    return codebook, indices


def cluster_1d(values: np.ndarray, k: int, method: str = "linear", *, seed: int = 0,
               max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Cluster 1-D ``values`` into ``k`` clusters.

    Parameters
    ----------
    values : numpy.ndarray
        1-D finite values (at least one).
    k : int
        Number of clusters, at least 1.
    method : {"linear", "density", "random", "optimal"}
        Initialisation of k-means, or the exact dynamic program.
    seed, max_iter : int
        As for :func:`share_weights`.

    Returns
    -------
    centroids : numpy.ndarray
        ``k`` centroids in ascending order (a centroid whose cluster ended up empty keeps
        its last position).
    labels : numpy.ndarray
        int64 cluster number of every value, aligned with ``values``.
    """
    method = _check_method(method)
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("cannot cluster an empty set of values")
    if k < 1:
        raise ValueError(f"the number of clusters must be at least 1, got {k}")
    if method == "optimal":
        return optimal_1d(x, k)
    if method == "linear":
        init = np.linspace(x.min(), x.max(), k)
    elif method == "density":
        init = np.quantile(x, np.linspace(0.0, 1.0, k))
    else:  # random (Forgy): distinct data points, so no cluster starts out empty
        distinct = np.unique(x)
        rng = np.random.default_rng(seed)
        take = rng.choice(distinct.size, size=min(k, distinct.size), replace=False)
        init = distinct[take]
        if init.size < k:  # fewer distinct values than clusters: spare centroids repeat
            init = np.concatenate([init, np.full(k - init.size, init[0])])
    return kmeans_1d(x, init, max_iter=max_iter)


def _assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid of each value; ``centroids`` ascending. Ties go to the lower
    centroid, and duplicated centroids attract nothing beyond their first copy."""
    bounds = (centroids[:-1] + centroids[1:]) / 2.0
    return np.searchsorted(bounds, x, side="left").astype(np.int64)


def kmeans_1d(values: np.ndarray, init: np.ndarray, *,
              max_iter: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means in one dimension from the given initial centroids.

    Assignment is a binary search against the midpoints of the sorted centroids, so each
    iteration costs ``O(n log k)``. Lloyd iterations never increase the within-cluster
    error; they stop when the assignment no longer changes.

    Returns
    -------
    centroids, labels : numpy.ndarray
        As for :func:`cluster_1d`.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    c = np.sort(np.asarray(init, dtype=np.float64).reshape(-1))
    k = c.size
    labels = _assign(x, c)
    for _ in range(max_iter):
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=x, minlength=k)
        filled = counts > 0
        # An empty cluster keeps its centroid: linear initialisation relies on that to
        # keep codebook entries out in the sparse tails where the large weights live.
        new = c.copy()
        new[filled] = sums[filled] / counts[filled]
        order = np.argsort(new, kind="stable")
        new = new[order]
        new_labels = _assign(x, new)
        c = new
        if np.array_equal(new_labels, labels) and np.all(order == np.arange(k)):
            break
        labels = new_labels
    return c, labels


def within_cluster_sse(values: np.ndarray, centroids: np.ndarray,
                       labels: np.ndarray) -> float:
    """Sum of squared distances from each value to its assigned centroid."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    d = x - np.asarray(centroids, dtype=np.float64)[np.asarray(labels)]
    return float(np.dot(d, d))


def optimal_1d(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact 1-D k-means: the clustering with the least within-cluster squared error.

    In one dimension an optimal clustering consists of contiguous runs of the sorted
    values, so ``D[m][i]``, the least error of splitting the first ``i + 1`` sorted
    values into ``m + 1`` clusters, obeys
    ``D[m][i] = min_j D[m-1][j-1] + cost(j, i)`` with ``cost`` an interval's squared
    error from prefix sums (the Ckmeans.1d.dp recurrence, Wang and Song 2011). The best
    split point ``j`` is monotone in ``i``, so each row is solved by divide and conquer
    in ``O(n log n)``; every recursion level is evaluated at once with numpy.

    Parameters
    ----------
    values : numpy.ndarray
        1-D finite values.
    k : int
        Number of clusters. With fewer distinct values than ``k`` the spare centroids
        repeat the largest value and stay empty.

    Returns
    -------
    centroids, labels : numpy.ndarray
        As for :func:`cluster_1d`.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("cannot cluster an empty set of values")
    if k < 1:
        raise ValueError(f"the number of clusters must be at least 1, got {k}")
    order = np.argsort(x, kind="stable")
    xs = x[order]
    # Equal values always share a cluster in some optimum, so run the program on the
    # distinct values weighted by their multiplicity: fewer points and no ties.
    u, counts = np.unique(xs, return_counts=True)
    n = u.size
    kk = min(k, n)
    centred = u - (xs.mean())  # centring keeps the prefix-sum cancellation small
    w = counts.astype(np.float64)
    s0 = np.concatenate([[0.0], np.cumsum(w)])
    s1 = np.concatenate([[0.0], np.cumsum(w * centred)])
    s2 = np.concatenate([[0.0], np.cumsum(w * centred * centred)])

    def cost(j, i):
        # squared error of distinct values j..i (inclusive) around their weighted mean
        c0 = s0[i + 1] - s0[j]
        c1 = s1[i + 1] - s1[j]
        return np.maximum((s2[i + 1] - s2[j]) - c1 * c1 / c0, 0.0)

    idx = np.arange(n)
    prev = cost(np.zeros(n, dtype=np.int64), idx)  # one cluster over 0..i
    starts = np.zeros((kk, n), dtype=np.int32)  # start of the last cluster, per (m, i)
    for m in range(1, kk):
        cur = np.full(n, np.inf)
        arg = np.zeros(n, dtype=np.int64)
        # Rows i < m cannot hold m + 1 non-empty clusters; solve i in m..n-1 with the
        # split j (start of the last cluster) in m..i.
        lo = np.array([m]); hi = np.array([n - 1])
        olo = np.array([m]); ohi = np.array([n - 1])
        while lo.size:
            mid = (lo + hi) // 2
            top = np.minimum(ohi, mid)
            width = top - olo + 1
            owner = np.repeat(np.arange(mid.size), width)
            offs = np.arange(owner.size) - np.repeat(np.cumsum(width) - width, width)
            j = olo[owner] + offs
            i = mid[owner]
            val = prev[j - 1] + cost(j, i)
            # first minimum per group: sort by (group, value) and take group heads
            o = np.lexsort((j, val, owner))
            head = np.concatenate([[0], np.flatnonzero(np.diff(owner[o])) + 1])
            best = j[o[head]]
            cur[mid] = val[o[head]]
            arg[mid] = best
            left = lo <= mid - 1
            right = mid + 1 <= hi
            lo, hi, olo, ohi = (
                np.concatenate([lo[left], mid[right] + 1]),
                np.concatenate([mid[left] - 1, hi[right]]),
                np.concatenate([olo[left], best[right]]),
                np.concatenate([best[left], ohi[right]]))
        prev = cur
        starts[m] = arg
    # Walk the split points back from the last value.
    bounds = np.zeros(kk + 1, dtype=np.int64)
    bounds[kk] = n
    end = n - 1
    for m in range(kk - 1, 0, -1):
        bounds[m] = starts[m, end]
        end = bounds[m] - 1
    centroids = np.empty(k, dtype=np.float64)
    ulabels = np.empty(n, dtype=np.int64)
    for m in range(kk):
        a, b = bounds[m], bounds[m + 1]
        centroids[m] = np.dot(w[a:b], u[a:b]) / w[a:b].sum()
        ulabels[a:b] = m
    centroids[kk:] = u[-1]
    labels_sorted = np.repeat(ulabels, counts)
    labels = np.empty(x.size, dtype=np.int64)
    labels[order] = labels_sorted
    return centroids, labels
