"""Choosing each layer's fixed-point formats (docs/fixed-point.md).

A layer reads activations with ``frac_in`` fractional bits, expands codebook indices into
``weight_bits`` weights with ``frac_w`` fractional bits, accumulates ``bias + sum w*a`` in
``acc_bits`` with ``frac_in + frac_w`` fractional bits and writes back
``round_shift(acc, shift)`` with ``frac_out = frac_in + frac_w - shift`` fractional bits.

Rules, in order (all recorded in the program manifest):

1. ``frac_in`` of the first layer: the most fractional bits for which the largest
   calibration input still fits the activation range.
2. ``frac_w``: the most fractional bits for which the largest codebook entry fits the
   weight range *and* no input whatsoever can wrap the accumulator: the worst case
   ``max_i (sum_j |w_ij| * 2**(act_bits-1) + |bias_i|)`` must stay below
   ``2**(acc_bits-1)``. This is a proof, not a calibration estimate, so the accumulator's
   wrap-around never happens.
3. ``frac_out``: the most fractional bits for which the largest calibration output fits
   the activation range (outputs beyond it saturate, and the report counts them), and no
   more than ``frac_in + frac_w`` (the shift cannot be negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import signed_range, to_fixed

__all__ = ["LayerFormat", "frac_bits_for", "choose_weight_format", "choose_formats"]

# Fractional bits are searched in this window; it covers values from ~1e-12 to ~1e12.
_FRAC_MIN, _FRAC_MAX = -40, 40


@dataclass(frozen=True)
class LayerFormat:
    frac_in: int
    frac_w: int
    frac_out: int
    calib_max_in: float
    calib_max_out: float
    acc_worst_bits: int  # bits the worst-case accumulator magnitude needs (sign included)

    @property
    def shift(self) -> int:
        return self.frac_in + self.frac_w - self.frac_out

    def to_dict(self) -> dict:
        return {"frac_in": self.frac_in, "frac_w": self.frac_w, "frac_out": self.frac_out,
                "shift": self.shift, "calib_max_in": self.calib_max_in,
                "calib_max_out": self.calib_max_out, "acc_worst_bits": self.acc_worst_bits}


def frac_bits_for(max_abs: float, bits: int, default: int) -> int:
    """Most fractional bits such that ``max_abs`` rounds into a signed ``bits`` range."""
    if not max_abs > 0:
        return default
    hi = signed_range(bits)[1]
    f = math.floor(math.log2((hi + 0.5) / max_abs))  # values up to hi + 0.5 may round to hi
    f = min(max(f, _FRAC_MIN), _FRAC_MAX)
    while f > _FRAC_MIN and round(max_abs * 2.0 ** f) > hi:  # log2 rounding at the edge
        f -= 1
    return f


def _row_abs_sums(indices: np.ndarray, codebook_q_abs: np.ndarray) -> np.ndarray:
    """sum_j |codebook_q[indices[i, j]]| for every row i, without a dense int64 copy."""
    n_out = indices.shape[0]
    counts = np.zeros((n_out, len(codebook_q_abs)), dtype=np.int64)
    for v in range(1, len(codebook_q_abs)):
        counts[:, v] = np.count_nonzero(indices == v, axis=1)
    return counts @ codebook_q_abs


def choose_weight_format(codebook, indices, bias, frac_in: int, cfg: ArchConfig):
    """(frac_w, worst-case accumulator bits) for one layer; see the module docstring."""
    cb = np.asarray(codebook, dtype=np.float64)
    f = frac_bits_for(float(np.max(np.abs(cb))), cfg.weight_bits, default=cfg.weight_bits - 1)
    acc_hi = 1 << (cfg.acc_bits - 1)
    act_mag = 1 << (cfg.act_bits - 1)
    while True:
        cbq = np.abs(to_fixed(cb, f, cfg.weight_bits))
        bias_q = np.abs(to_fixed(bias, frac_in + f, cfg.acc_bits)) if bias is not None else 0
        # Python ints: with wide activations and weights the worst case can exceed int64
        # (the row sums themselves cannot: n_in * 2**31 < 2**63).
        sums = _row_abs_sums(indices, cbq).astype(object)
        worst = int(np.max(sums * act_mag + np.asarray(bias_q, dtype=object)))
        if worst < acc_hi:
            return f, worst.bit_length() + 1
        if f <= _FRAC_MIN:
            raise ValueError("no weight format keeps the accumulator from overflowing; "
                             "increase acc_bits")
        f -= 1


def choose_formats(net, cfg: ArchConfig, calibration: np.ndarray) -> list[LayerFormat]:
    """Formats for every layer of a quantized network, from float calibration inputs."""
    calibration = np.asarray(calibration, dtype=np.float64)
    outs = net.forward(calibration, all_layers=True)
    max_in = float(np.max(np.abs(calibration))) if calibration.size else 0.0
    frac_in = frac_bits_for(max_in, cfg.act_bits, default=cfg.act_bits - 1)
    formats = []
    for layer, out in zip(net.layers, outs):
        frac_w, worst_bits = choose_weight_format(layer.codebook, layer.indices, layer.bias,
                                                  frac_in, cfg)
        max_out = float(np.max(np.abs(out))) if out.size else 0.0
        frac_out = frac_bits_for(max_out, cfg.act_bits, default=frac_in + frac_w)
        # shift = frac_in + frac_w - frac_out must lie in 0..acc_bits-1
        frac_out = min(frac_out, frac_in + frac_w)
        frac_out = max(frac_out, frac_in + frac_w - (cfg.acc_bits - 1))
        formats.append(LayerFormat(frac_in, frac_w, frac_out, max_in, max_out, worst_bits))
        frac_in, max_in = frac_out, max_out
    return formats
