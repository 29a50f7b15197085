"""Compile-time load balancing (an eiegen extension; EIE itself does not do this).

EIE interleaves rows over PEs (row i -> PE i mod N), so a PE that happens to own dense
rows does more work on every column and the others wait for it at the end of the layer.
Permuting a layer's rows changes nothing mathematically as long as the next layer's
columns are permuted the same way, so the hardware stays exactly as it is. The permutation
is chosen greedily (longest-processing-time first): rows in decreasing order of their
entry count, each to the least-loaded PE that still has a free slot, then refined by
swapping rows between the busiest PE and the others; if that is worse than plain
interleaving (the heuristics are not optimal), interleaving is kept. Each PE keeps the
number of rows interleaving gives it, so activation memories are sized as before.
"""

from __future__ import annotations

import heapq

import numpy as np

from .encode import encode_layer, rows_of_pe
from .row_order import order_rows_for_padding

__all__ = ["balance_rows", "balance_layer_rows", "permute_network"]


def balance_rows(row_work: np.ndarray, n_pe: int) -> np.ndarray:
    """A row order ``perm``: hardware row ``p`` computes original row ``perm[p]``."""
    row_work = np.asarray(row_work)
    n_out = len(row_work)
    slots = [rows_of_pe(n_out, n_pe, k) for k in range(n_pe)]
    assigned: list[list[int]] = [[] for _ in range(n_pe)]
    heap = [(0, k) for k in range(n_pe) if slots[k]]
    heapq.heapify(heap)
    # Stable order for ties keeps the result deterministic.
    for row in np.argsort(-row_work, kind="stable"):
        load, k = heapq.heappop(heap)
        assigned[k].append(int(row))
        if len(assigned[k]) < slots[k]:
            heapq.heappush(heap, (load + int(row_work[row]), k))
    _refine(row_work, assigned)
    perm = np.empty(n_out, dtype=np.int64)
    for k, rows in enumerate(assigned):
        perm[k::n_pe] = sorted(rows)  # ascending inside a PE keeps gaps short
    # Greedy is not optimal: keep plain interleaving when it happens to be better.
    identity = np.arange(n_out, dtype=np.int64)
    if _max_pe_work(row_work, perm, n_pe) > _max_pe_work(row_work, identity, n_pe):
        return identity
    return perm


def _refine(row_work: np.ndarray, assigned: list, max_swaps: int | None = None) -> None:
    """Swap rows between the busiest PE and another one while that lowers the busier
    of the two, in place. LPT leaves the busiest PE up to a row's work above the mean,
    and far more when PEs own different numbers of rows (``n_out`` not a multiple of
    ``n_pe``: the PEs with one row more should get the sparsest rows); each swap takes
    the pair whose exchange brings the two loads closest to each other."""
    n_pe = len(assigned)
    loads = np.array([int(row_work[rows].sum()) if rows else 0 for rows in assigned])
    max_swaps = 4 * sum(map(len, assigned)) if max_swaps is None else max_swaps
    for _ in range(max_swaps):
        p = int(np.argmax(loads))
        mine = row_work[assigned[p]]
        best = None  # (new max of the pair, q, index in p, index in q, work moved)
        for q in range(n_pe):
            gap = int(loads[p] - loads[q])
            if q == p or gap <= 1 or not assigned[q]:
                continue
            theirs = row_work[assigned[q]]
            order = np.argsort(theirs, kind="stable")
            srt = theirs[order]
            # the best partner of row a has work close to work[a] - gap / 2
            at = np.searchsorted(srt, mine - gap / 2)
            for cand in (np.clip(at - 1, 0, len(srt) - 1), np.clip(at, 0, len(srt) - 1)):
                moved = mine - srt[cand]
                new_max = np.where((moved > 0) & (moved < gap),
                                   np.maximum(loads[p] - moved, loads[q] + moved),
                                   np.iinfo(np.int64).max)
                i = int(np.argmin(new_max))
                if new_max[i] < loads[p] and (best is None or new_max[i] < best[0]):
                    best = (int(new_max[i]), q, i, int(order[cand[i]]), int(moved[i]))
        if best is None:
            return
        _, q, i, j, moved = best
        assigned[p][i], assigned[q][j] = assigned[q][j], assigned[p][i]
        loads[p] -= moved
        loads[q] += moved


def _max_pe_work(row_work: np.ndarray, perm: np.ndarray, n_pe: int) -> int:
    return max(int(row_work[perm[k::n_pe]].sum()) for k in range(n_pe))


def _max_entries(indices: np.ndarray, n_pe: int, rel_bits: int) -> int:
    return max(s.n_entries for s in encode_layer(indices, n_pe, rel_bits).pe)


def balance_layer_rows(indices: np.ndarray, n_pe: int, rel_bits: int | None = None) -> np.ndarray:
    """One layer's row order: balanced by non-zeros; with ``rel_bits``, plain interleaving
    where padding would make the balanced order's busiest PE busier, then each PE's rows
    reordered to cut padding."""
    perm = balance_rows(np.count_nonzero(indices, axis=1), n_pe)
    if rel_bits is None:
        return perm
    if _max_entries(indices[perm], n_pe, rel_bits) > _max_entries(indices, n_pe, rel_bits):
        perm = np.arange(len(indices), dtype=np.int64)
    return perm[order_rows_for_padding(indices[perm], n_pe, rel_bits)]


def permute_network(net, n_pe: int, rel_bits: int | None = None):
    """(balanced network, per-layer row orders). Layer k's rows are reordered and layer
    k+1's columns follow; the last layer's outputs come out in ``row_orders[-1]`` order.

    Rows are balanced by their non-zeros; with ``rel_bits`` a layer keeps plain
    interleaving when the padding entries of the balanced order would make its busiest PE
    busier, and then each PE's rows are reordered to cut padding
    (compiler/row_order.py). (Reordering a layer's columns never changes its entries per
    PE, so each layer's choice is independent of the others.)"""
    from .network import Layer, Network

    layers, orders = [], []
    col_perm = None
    for layer in net.layers:
        idx = layer.indices if col_perm is None else layer.indices[:, col_perm]
        perm = balance_layer_rows(idx, n_pe, rel_bits)
        idx = idx[perm]
        bias = None if layer.bias is None else layer.bias[perm]
        layers.append(Layer(weight=layer.codebook[idx], bias=bias, activation=layer.activation,
                            name=layer.name, codebook=layer.codebook, indices=idx))
        orders.append(perm)
        col_perm = perm
    return Network(tuple(layers)), orders
