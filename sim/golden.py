"""The golden model: executes a compiled program with the hardware's integer arithmetic.

It reads the program's memory images (pointers, packed sparse-matrix words, codebooks,
biases, descriptors), not the network it came from, so an encoding bug cannot hide behind
a correct matrix. Per output row: ``acc = bias``, then ``acc = saturate(acc + w*a,
acc_bits)`` for each entry in the order the PE receives them (column order: the LNZD
broadcasts columns in increasing order), then round-shift, saturate and ReLU
(eiegen/fixedpoint.py). A saturating sum depends on that order, so it is followed
exactly: rows whose int64 prefix sums never leave the accumulator range (checked with
their running minimum and maximum) cannot saturate and take the vectorised prefix-sum
result; only the others are summed entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiegen.compiler.encode import PESlice, decode_slice
from eiegen.fixedpoint import requantize, signed_range, wrap

__all__ = ["LayerMatrix", "layer_matrix", "accumulate", "run_golden", "run_float",
           "saturation_counters", "COUNTER_MAX"]

COUNTER_MAX = (1 << 32) - 1  # the hardware's saturation counter stops here


@dataclass(frozen=True, eq=False)
class LayerMatrix:
    """A layer's non-zeros decoded from the memory images, sorted by hardware row."""

    rows: np.ndarray
    cols: np.ndarray
    index: np.ndarray  # codebook indices
    weights: np.ndarray  # fixed-point codebook values
    row_start: np.ndarray  # n_out + 1 offsets into the arrays above
    bias: np.ndarray  # n_out, fixed point


def layer_matrix(program, layer: int) -> LayerMatrix:
    """Decode one layer from the program's memory images (cached on the program)."""
    cache = program.__dict__.setdefault("_golden_cache", {})
    if layer in cache:
        return cache[layer]
    lp = program.layers[layer]
    n_pe = program.cfg.n_pe
    cb = program.codebook_q(layer).astype(np.int64)
    rows, cols, index = [], [], []
    bias = np.zeros(lp.n_out, dtype=np.int64)
    for k in range(n_pe):
        ptr = program.layer_pointers(layer, k)
        v, z = program.pe_entries(k)
        lo, hi = int(ptr[0]), int(ptr[-1])
        s = PESlice(v=v[lo:hi], z=z[lo:hi], ptr=ptr - lo)
        lrow, c, idx = decode_slice(s, lp.n_in)
        rows.append(lrow * n_pe + k)
        cols.append(c)
        index.append(idx)
        mine = bias[k::n_pe]
        mine[:] = program.images[f"pe{k}.bias"][lp.bias_base:lp.bias_base + len(mine)]
    rows, cols, index = (np.concatenate(a).astype(np.int64) for a in (rows, cols, index))
    if len(rows) and rows.max() >= lp.n_out:
        raise ValueError(f"layer {layer}: an entry addresses row {rows.max()} of {lp.n_out}")
    order = np.argsort(rows, kind="stable")
    rows, cols, index = rows[order], cols[order], index[order]
    row_start = np.searchsorted(rows, np.arange(lp.n_out + 1))
    m = LayerMatrix(rows, cols, index, cb[index], row_start, bias)
    cache[layer] = m
    return m


def accumulate(m: LayerMatrix, a: np.ndarray, acc_bits: int, saturate: bool = True):
    """``(acc, saturations)`` for a batch ``a`` of shape (n_in, batch): each row's
    column-ordered saturating sum ``bias + W @ a`` and how many of its additions were
    clamped, both (n_out, batch). With ``saturate=False`` (``acc_saturate = 0``) the sum
    wraps at ``acc_bits`` instead, which makes it independent of the order."""
    if not saturate:
        return _wrapped_sums(m, a, acc_bits), np.zeros((len(m.row_start) - 1, a.shape[1]),
                                                       dtype=np.int64)
    batch = a.shape[1]
    n_out = len(m.row_start) - 1
    lo, hi = signed_range(acc_bits)
    out = np.empty((n_out, batch), dtype=np.int64)
    sat = np.zeros((n_out, batch), dtype=np.int64)
    lens = np.diff(m.row_start)
    rows_used = np.flatnonzero(lens)
    # every prefix sum is exact in int64 when this bound holds (Python ints: no overflow);
    # otherwise (very wide configs) every row takes the exact entry-by-entry loop
    bound = (int(np.abs(m.weights).max(initial=0)) * int(np.abs(a).max(initial=0))
             * int(lens.max(initial=0)) + int(np.abs(m.bias).max(initial=0)))
    exact = bound < 1 << 62
    chunk = max(1, (1 << 22) // max(1, len(m.rows)))
    row_of = np.repeat(np.arange(n_out), lens)
    for b0 in range(0, batch, chunk):
        ab = a[:, b0:b0 + chunk]
        out[:, b0:b0 + chunk] = m.bias[:, None]
        if not len(rows_used):
            continue
        if exact:
            prod = m.weights[:, None] * ab[m.cols]
            csum = np.zeros((len(m.rows) + 1, prod.shape[1]), dtype=np.int64)
            np.cumsum(prod, axis=0, out=csum[1:])
            del prod
            # partial sum after each entry: bias + the row's prefix up to that entry
            part = csum[1:] - csum[m.row_start[row_of]] + m.bias[row_of, None]
            starts = m.row_start[rows_used]
            risky = ((np.maximum.reduceat(part, starts, axis=0) > hi)
                     | (np.minimum.reduceat(part, starts, axis=0) < lo)).any(axis=1)
            out[rows_used, b0:b0 + chunk] = part[m.row_start[rows_used + 1] - 1]
            del part, csum
            slow = rows_used[risky]
        else:
            slow = rows_used
        if len(slow):
            acc, n_sat = _ordered_sums(m, slow, ab, lo, hi)
            out[slow, b0:b0 + chunk] = acc
            sat[slow, b0:b0 + chunk] = n_sat
    return out, sat


def _wrapped_sums(m: LayerMatrix, a: np.ndarray, acc_bits: int) -> np.ndarray:
    """wrap(bias + W @ a): int64 prefix sums wrap modulo 2**64, so they are exact modulo
    2**acc_bits whatever the order."""
    batch = a.shape[1]
    out = np.empty((len(m.row_start) - 1, batch), dtype=np.int64)
    chunk = max(1, (1 << 22) // max(1, len(m.rows)))
    with np.errstate(over="ignore"):
        for b0 in range(0, batch, chunk):
            prod = m.weights[:, None] * a[m.cols, b0:b0 + chunk]
            csum = np.zeros((len(m.rows) + 1, prod.shape[1]), dtype=np.int64)
            np.cumsum(prod, axis=0, out=csum[1:])
            out[:, b0:b0 + chunk] = (csum[m.row_start[1:]] - csum[m.row_start[:-1]]
                                     + m.bias[:, None])
    return wrap(out, acc_bits)


def _ordered_sums(m: LayerMatrix, rows, ab, lo: int, hi: int):
    """Saturating sums of ``rows`` entry by entry in their (column) order, vectorised over
    the rows and the batch: what the x_ stage of hw/arith.py does."""
    starts, lens = m.row_start[rows], m.row_start[rows + 1] - m.row_start[rows]
    acc = np.repeat(m.bias[rows, None], ab.shape[1], axis=1)
    n_sat = np.zeros_like(acc)
    for t in range(int(lens.max())):
        live = np.flatnonzero(lens > t)
        e = starts[live] + t
        s = acc[live] + m.weights[e, None] * ab[m.cols[e]]
        over = (s > hi) | (s < lo)
        n_sat[live] += over
        acc[live] = np.clip(s, lo, hi)
    return acc, n_sat


def run_golden(program, x_int, *, accumulators: bool = False, saturations: bool = False):
    """Run the program on integer inputs ``x_int`` (n_in,) or (batch, n_in).

    Returns each layer's outputs (hardware row order), shaped like the input; with
    ``accumulators=True`` also each layer's accumulator values before write-back; with
    ``saturations=True`` also each layer's clamped additions per PE, (n_pe,) or
    (batch, n_pe) (:func:`saturation_counters` turns them into the hardware's counter).
    The extras follow the outputs in that order: ``outs``, ``(outs, accs)``,
    ``(outs, sats)`` or ``(outs, accs, sats)``.
    """
    cfg = program.cfg
    x = np.asarray(x_int, dtype=np.int64)
    single = x.ndim == 1
    a = (x[None, :] if single else x).T
    if a.shape[0] != program.n_in:
        raise ValueError(f"input has {a.shape[0]} values, the program expects {program.n_in}")
    outs, accs, sats = [], [], []
    n_pe = cfg.n_pe
    for k, lp in enumerate(program.layers):
        acc, sat = accumulate(layer_matrix(program, k), a, cfg.acc_bits,
                              saturate=bool(cfg.acc_saturate))
        a = requantize(acc, lp.shift, cfg.act_bits, lp.relu)
        # row i belongs to PE i % n_pe
        per_pe = np.zeros((n_pe, sat.shape[1]), dtype=np.int64)
        np.add.at(per_pe, np.arange(lp.n_out) % n_pe, sat)
        accs.append(acc[:, 0] if single else acc.T)
        outs.append(a[:, 0] if single else a.T)
        sats.append(per_pe[:, 0] if single else per_pe.T)
    if not (accumulators or saturations):
        return outs
    return (outs,) + ((accs,) if accumulators else ()) + ((sats,) if saturations else ())


def saturation_counters(sats) -> np.ndarray:
    """The PEs' ``saturated`` counters after a run: per-layer counts from
    ``run_golden(..., saturations=True)`` summed over the layers, stopping at 2**32 - 1
    as the hardware counter does."""
    return np.minimum(np.sum(sats, axis=0), COUNTER_MAX)


def run_float(program, x) -> np.ndarray:
    """Float reference of the quantized network the program encodes: float centroids,
    the biases as stored (the program keeps only their fixed-point values), no rounding
    or saturation. Returns the last layer in network order."""
    h = np.asarray(x, dtype=np.float64)
    single = h.ndim == 1
    h = (h[None, :] if single else h).T
    for k, lp in enumerate(program.layers):
        m = layer_matrix(program, k)
        w = np.asarray(lp.codebook, dtype=np.float64)[m.index]
        y = np.zeros((lp.n_out, h.shape[1]))
        np.add.at(y, m.rows, w[:, None] * h[m.cols])
        y += (m.bias * 2.0 ** -(lp.fmt.frac_in + lp.fmt.frac_w))[:, None]
        h = np.maximum(y, 0) if lp.relu else y
    return program.to_network_order(h[:, 0] if single else h.T)
