"""Compile-time load balancing (an eiegen extension; EIE itself does not do this).

EIE interleaves rows over PEs (row i -> PE i mod N), so a PE that happens to own dense
rows does more work on every column and the others wait for it at the end of the layer.
Permuting a layer's rows changes nothing mathematically as long as the next layer's
columns are permuted the same way, so the hardware stays exactly as it is. Each PE keeps
the number of rows interleaving gives it, so activation memories are sized as before.

Two things cost cycles: the busiest PE's total work, and the coupling of the PEs through
the broadcast. Every PE must take every non-zero activation into its queue, so a column
with much work for one PE and little for the others lets that PE fall behind by up to a
queue's depth, and then the broadcast waits for it while the others run dry. Three row
assignments are built for every layer:

* ``interleaved``: EIE's, row i -> PE i mod N;
* ``balanced`` (:func:`balance_rows`): longest-processing-time first on the rows'
  non-zeros, then swaps between the busiest PE and the others;
* ``spread`` (:func:`spread_rows`): rows in decreasing order of their non-zeros, each to
  the PE (with a free slot) whose rows so far share the fewest non-zero columns with it,
  so that every column's work is spread evenly over the PEs; then the same swaps.

Each PE's rows are then ordered to cut padding (compiler/row_order.py), and the layer
takes the assignment the timing model (eiegen.timing) predicts to be fastest with
every input non-zero (the compiler does not know the activations), among those whose
busiest PE has no more entries than interleaving's, so a balanced program fits wherever
the plain one does.
"""

from __future__ import annotations

import heapq

import numpy as np

from eiegen.timing import config_timing

from .encode import encode_layer, rows_of_pe
from .network import Layer, Network
from .row_order import order_rows_for_padding
from .stats import encoded_issues

__all__ = ["balance_rows", "spread_rows", "balance_layer_rows", "permute_network"]


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


def spread_rows(nonzero: np.ndarray, n_pe: int) -> np.ndarray:
    """A row order (as :func:`balance_rows`) that spreads every column's non-zeros evenly
    over the PEs. ``nonzero``: (n_out, n_in) bool."""
    nonzero = np.asarray(nonzero, dtype=bool)
    n_out, n_in = nonzero.shape
    slots = np.array([rows_of_pe(n_out, n_pe, k) for k in range(n_pe)])
    counts = np.zeros((n_pe, n_in), dtype=np.int32)  # non-zeros per PE and column so far
    used = np.zeros(n_pe, dtype=np.int64)
    assigned: list[list[int]] = [[] for _ in range(n_pe)]
    row_work = nonzero.sum(axis=1)
    for row in np.argsort(-row_work, kind="stable"):
        cols = np.flatnonzero(nonzero[row])
        # shared columns; a PE with more work overall shares more, so this also balances
        overlap = counts[:, cols].sum(axis=1).astype(np.float64)
        overlap[used >= slots] = np.inf
        k = int(np.argmin(overlap))  # lowest PE on ties: deterministic
        assigned[k].append(int(row))
        used[k] += 1
        counts[k, cols] += 1
    _refine(row_work, assigned)
    perm = np.empty(n_out, dtype=np.int64)
    for k, rows in enumerate(assigned):
        perm[k::n_pe] = sorted(rows)
    return perm


def _dense_input_cycles(indices: np.ndarray, cfg) -> tuple[int, int]:
    """(busiest PE's entries, predicted compute cycles with every input non-zero) of a
    layer in this row order, the layer placed at the start of the PEs' memories."""
    enc = encode_layer(indices, cfg.n_pe, cfg.rel_bits)
    issues = encoded_issues(cfg, enc)
    n_out, n_in = indices.shape
    # the config's broadcast (width, column filter): the timing the program will run with
    t = config_timing(cfg, issues, np.ones(n_in, dtype=np.int64), n_out)
    return max(s.n_entries for s in enc.pe), t.compute


def layer_row_candidates(indices: np.ndarray, n_pe: int, rel_bits: int) -> dict:
    """The candidate row orders of one layer (module docstring), padding-ordered."""
    nonzero = indices != 0
    cands = {"interleaved": np.arange(len(indices), dtype=np.int64),
             "balanced": balance_rows(nonzero.sum(axis=1), n_pe),
             "spread": spread_rows(nonzero, n_pe)}
    return {name: perm[order_rows_for_padding(indices[perm], n_pe, rel_bits)]
            for name, perm in cands.items()}


def balance_layer_rows(indices: np.ndarray, cfg, candidates: dict | None = None) -> np.ndarray:
    """One layer's row order for the architecture ``cfg``: the candidate the cycle model
    predicts fastest for dense inputs, among those whose busiest PE has no more entries
    than plain interleaving's (first candidate on ties). ``candidates``: the layer's
    :func:`layer_row_candidates` for ``cfg.n_pe`` and ``cfg.rel_bits``, when already
    worked out (they do not depend on the broadcast options, so a sweep over those
    computes them once)."""
    indices = np.asarray(indices)
    limit = max(s.n_entries for s in encode_layer(indices, cfg.n_pe, cfg.rel_bits).pe)
    if candidates is None:
        candidates = layer_row_candidates(indices, cfg.n_pe, cfg.rel_bits)
    best = None
    for perm in candidates.values():
        entries, cycles = _dense_input_cycles(indices[perm], cfg)
        if entries <= limit and (best is None or cycles < best[0]):
            best = (cycles, perm)
    return best[1]


def permute_network(net, cfg):
    """(balanced network, per-layer row orders) for the architecture ``cfg``. Layer k's
    rows are reordered (:func:`balance_layer_rows`) and layer k+1's columns follow; the
    last layer's outputs come out in ``row_orders[-1]`` order. (Reordering a layer's
    columns never changes its entries per PE, so each layer's choice is independent of
    the others.)"""
    layers, orders = [], []
    col_perm = None
    for layer in net.layers:
        idx = layer.indices if col_perm is None else layer.indices[:, col_perm]
        perm = balance_layer_rows(idx, cfg)
        idx = idx[perm]
        bias = None if layer.bias is None else layer.bias[perm]
        layers.append(Layer(weight=layer.codebook[idx], bias=bias, activation=layer.activation,
                            name=layer.name, codebook=layer.codebook, indices=idx))
        orders.append(perm)
        col_perm = perm
    return Network(tuple(layers)), orders
