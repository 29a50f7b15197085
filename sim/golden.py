"""The golden model: executes a compiled program with the hardware's integer arithmetic.

It reads the program's memory images (pointers, packed sparse-matrix words, codebooks,
biases, descriptors), not the network it came from, so an encoding bug cannot hide behind
a correct matrix. Per output row: ``acc = wrap(bias + sum w*a, acc_bits)``, then
round-shift, saturate and ReLU (eiegen/fixedpoint.py). The sums are computed with int64
prefix sums, which wrap modulo 2**64 and are therefore exact modulo 2**acc_bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiegen.fixedpoint import requantize, wrap

__all__ = ["LayerMatrix", "layer_matrix", "run_golden", "run_float"]


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
    from eiegen.compiler.encode import PESlice, decode_slice

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


def accumulate(m: LayerMatrix, a: np.ndarray, acc_bits: int) -> np.ndarray:
    """wrap(bias + W @ a) for a batch ``a`` of shape (n_in, batch)."""
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


def run_golden(program, x_int, *, accumulators: bool = False):
    """Run the program on integer inputs ``x_int`` (n_in,) or (batch, n_in).

    Returns each layer's outputs (hardware row order), shaped like the input; with
    ``accumulators=True`` also each layer's accumulator values before write-back.
    """
    cfg = program.cfg
    x = np.asarray(x_int, dtype=np.int64)
    single = x.ndim == 1
    a = (x[None, :] if single else x).T
    if a.shape[0] != program.n_in:
        raise ValueError(f"input has {a.shape[0]} values, the program expects {program.n_in}")
    outs, accs = [], []
    for k, lp in enumerate(program.layers):
        acc = accumulate(layer_matrix(program, k), a, cfg.acc_bits)
        a = requantize(acc, lp.shift, cfg.act_bits, lp.relu)
        accs.append(acc[:, 0] if single else acc.T)
        outs.append(a[:, 0] if single else a.T)
    return (outs, accs) if accumulators else outs


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
