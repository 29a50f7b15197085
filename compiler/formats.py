"""Choosing each layer's fixed-point formats (docs/fixed-point.md).

A layer reads activations with ``frac_in`` fractional bits, expands codebook indices into
``weight_bits`` weights with ``frac_w`` fractional bits, accumulates ``bias + sum w*a`` in
``acc_bits`` with ``frac_in + frac_w`` fractional bits and writes back
``round_shift(acc, shift)`` with ``frac_out = frac_in + frac_w - shift`` fractional bits.

Rules, in order (all recorded in the program manifest):

1. ``frac_in`` of the first layer: the most fractional bits for which the largest
   calibration input still fits the activation range.
2. ``frac_w``: the most fractional bits for which the largest codebook entry fits the
   weight range and the accumulator has room, by one of two policies:

   * ``"saturate"`` (default): the largest partial sum the calibration inputs produce
     (bias, then the row's products in the hardware's column order), scaled as the
     inputs would be if the largest reached the top of the input format
     (:func:`input_scale`, 1x..2x), times ``2**headroom_bits`` (default
     :data:`ACC_HEADROOM_BITS`), fits the accumulator; or the worst-case proof below
     holds, whichever allows more bits. The hardware's
     accumulator saturates (and counts it) rather than wraps, so an input beyond the
     calibration costs accuracy on that row only, never a wrapped sign.
   * ``"worst_case"``: no input whatsoever can leave the accumulator range: the worst
     case ``max_i (sum_j |w_ij| * 2**(act_bits-1) + |bias_i|)`` stays below
     ``2**(acc_bits-1)``. A proof, so nothing ever saturates (EIE's arithmetic), paid
     for with weight bits on wide layers.

   The worst-case bits at the chosen ``frac_w`` are recorded either way.
3. ``frac_out``: the most fractional bits for which the largest calibration output times
   :data:`OUTPUT_MARGIN` fits the activation range (outputs beyond it saturate, and the
   report counts them), and no more than ``frac_in + frac_w`` (the shift cannot be
   negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import signed_range, to_fixed

__all__ = ["LayerFormat", "frac_bits_for", "choose_weight_format", "choose_formats",
           "accumulator_peak", "input_scale", "ACC_POLICIES", "ACC_HEADROOM_BITS",
           "OUTPUT_MARGIN"]

# Fractional bits are searched in this window; it covers values from ~1e-12 to ~1e12.
_FRAC_MIN, _FRAC_MAX = -40, 40
ACC_POLICIES = ("saturate", "worst_case")
# Room above the calibrated partial sums beyond the input format's own scale
# (input_scale): none by default. Each bit costs a codebook bit, which on the digits MLP
# is what separates 0.02% from 0.006% of the output range, while partial sums of held-out
# data exceed the calibration's by at most 7% in the measured cases (docs/fixed-point.md).
ACC_HEADROOM_BITS = 0
# The output format must hold the calibration's largest output times this: held-out data
# goes a little beyond the calibration's extremes (the FC6-like bench: 1.0053 against a
# calibrated peak just under 1.0, which clipped one output at 0.53% of the range); a
# format with no room above the peak clips such outputs, 25% of room costs at most one
# output bit and only when the peak sits in the top 20% of its format.
OUTPUT_MARGIN = 1.25


@dataclass(frozen=True)
class LayerFormat:
    frac_in: int
    frac_w: int
    frac_out: int
    calib_max_in: float
    calib_max_out: float
    acc_worst_bits: int  # bits the worst-case accumulator magnitude needs (sign included)
    acc_policy: str = "worst_case"  # how frac_w was chosen (programs older than the policy)
    # an upper bound on the largest |partial sum| of the calibration inputs, in real units
    calib_acc_peak: float | None = None
    # log2(2**(acc_bits-1) / that peak in accumulator units): the room left above it
    acc_headroom_bits: float | None = None

    @property
    def shift(self) -> int:
        return self.frac_in + self.frac_w - self.frac_out

    def to_dict(self) -> dict:
        return {"frac_in": self.frac_in, "frac_w": self.frac_w, "frac_out": self.frac_out,
                "shift": self.shift, "calib_max_in": self.calib_max_in,
                "calib_max_out": self.calib_max_out, "acc_worst_bits": self.acc_worst_bits,
                "acc_policy": self.acc_policy, "calib_acc_peak": self.calib_acc_peak,
                "acc_headroom_bits": self.acc_headroom_bits}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerFormat":
        """Inverse of :meth:`to_dict` (``shift`` is derived); manifests written before the
        accumulator policy existed load as ``"worst_case"``."""
        return cls(d["frac_in"], d["frac_w"], d["frac_out"], d["calib_max_in"],
                   d["calib_max_out"], d["acc_worst_bits"], d.get("acc_policy", "worst_case"),
                   d.get("calib_acc_peak"), d.get("acc_headroom_bits"))


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


def _index_counts(indices: np.ndarray, size: int) -> np.ndarray:
    """How often each codebook index occurs in every row, (n_out, size), without a dense
    int64 copy of the indices."""
    counts = np.zeros((indices.shape[0], size), dtype=np.int64)
    for v in range(1, size):
        counts[:, v] = np.count_nonzero(indices == v, axis=1)
    return counts


def _worst_case(counts, cb, bias, frac_in: int, f: int, cfg: ArchConfig) -> int:
    """max_i (sum_j |w_q,ij| * 2**(act_bits-1) + |b_q,i|) at ``frac_w = f``."""
    cbq = np.abs(to_fixed(cb, f, cfg.weight_bits))
    bias_q = np.abs(to_fixed(bias, frac_in + f, cfg.acc_bits)) if bias is not None else 0
    # Python ints: with wide activations and weights the worst case can exceed int64
    # (the row sums themselves cannot: n_in * 2**31 < 2**63).
    sums = (counts @ cbq).astype(object)
    return int(np.max(sums * (1 << (cfg.act_bits - 1)) + np.asarray(bias_q, dtype=object)))


def choose_weight_format(codebook, indices, bias, frac_in: int, cfg: ArchConfig):
    """(frac_w, worst-case accumulator bits) of the ``"worst_case"`` policy for one layer;
    see the module docstring."""
    cb = np.asarray(codebook, dtype=np.float64)
    f = frac_bits_for(float(np.max(np.abs(cb))), cfg.weight_bits, default=cfg.weight_bits - 1)
    counts = _index_counts(indices, len(cb))
    acc_hi = 1 << (cfg.acc_bits - 1)
    while True:
        worst = _worst_case(counts, cb, bias, frac_in, f, cfg)
        if worst < acc_hi:
            return f, worst.bit_length() + 1
        if f <= _FRAC_MIN:
            raise ValueError("no weight format keeps the accumulator from overflowing; "
                             "increase acc_bits")
        f -= 1


def accumulator_peak(codebook, indices, bias, x, blocks: int = 64) -> float:
    """An upper bound on ``max |partial sum|`` over the rows and the float inputs ``x``
    (batch, n_in): the bias, then the row's products added in column order (the order
    the hardware accumulates them).

    The columns are cut into about ``blocks`` blocks. At a block's start the running sum
    is known exactly; inside it every prefix lies between that sum plus the block's
    negative products and that sum plus its positive products. Two matrix products per
    block (four when ``x`` has negative values), never a dense weight matrix, so a
    25088 x 4096 layer with a few hundred inputs takes seconds.
    """
    cb = np.asarray(codebook, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n_out, n_in = indices.shape
    b = np.zeros(n_out) if bias is None else np.asarray(bias, dtype=np.float64)
    if not x.size:
        return float(np.max(np.abs(b), initial=0.0))
    cb_pos, cb_neg = np.maximum(cb, 0.0), np.minimum(cb, 0.0)
    x_pos, x_neg = np.maximum(x, 0.0), np.minimum(x, 0.0)
    signed_inputs = bool((x < 0).any())
    run = np.broadcast_to(b, (x.shape[0], n_out)).copy()
    peak = float(np.max(np.abs(b), initial=0.0))
    step = max(1, -(-n_in // blocks))
    for j0 in range(0, n_in, step):
        cols = slice(j0, j0 + step)
        w_pos, w_neg = cb_pos[indices[:, cols]].T, cb_neg[indices[:, cols]].T
        up = x_pos[:, cols] @ w_pos
        down = x_pos[:, cols] @ w_neg
        if signed_inputs:
            up += x_neg[:, cols] @ w_neg
            down += x_neg[:, cols] @ w_pos
        peak = max(peak, float(np.max(run + up)), float(-np.min(run + down)))
        run += up + down
    return peak


def input_scale(max_in: float, frac_in: int, act_bits: int) -> float:
    """How far the largest calibration input ``max_in`` could grow before it clips at
    the input format (``frac_in``, ``act_bits``): the format's top over ``max_in``, kept
    in 1..2 (1 when the inputs are all zero; below 2 whenever ``frac_in`` is the one
    :func:`frac_bits_for` chose).

    The calibrated accumulator room is the calibration's peak partial sum times this: a
    calibration input scaled up until its largest value reaches the top of the input
    format cannot saturate the accumulator, so for inputs that grow in scale the input
    clips (and is counted) before the accumulator does. Room for more would cost codebook
    bits and protect only inputs the input format clips anyway."""
    if not max_in > 0:
        return 1.0
    top = signed_range(act_bits)[1] * 2.0 ** -frac_in
    return min(max(top / max_in, 1.0), 2.0)


def _calibrated_weight_format(cb, counts, bias, frac_in: int, peak: float, headroom_bits: int,
                              cfg: ArchConfig, scale: float = 1.0) -> int:
    """frac_w of the ``"saturate"`` policy: the most bits for which the codebook fits and
    ``peak * scale * 2**headroom_bits`` fits the accumulator, or more if the worst case
    allows."""
    f_cb = frac_bits_for(float(np.max(np.abs(cb))), cfg.weight_bits,
                         default=cfg.weight_bits - 1)
    acc_max = (1 << (cfg.acc_bits - 1)) - 1
    f = f_cb
    need = peak * scale * 2.0 ** headroom_bits
    if need > 0:
        # frac_in + f fractional bits: need * 2**(frac_in + f) <= acc_max
        f = min(f_cb, math.floor(math.log2(acc_max / need)) - frac_in)
        while f > _FRAC_MIN and need * 2.0 ** (frac_in + f) > acc_max:
            f -= 1  # log2 rounding at the edge
        f = max(f, _FRAC_MIN)
    # where even every input at full scale cannot leave the range, no headroom is needed
    acc_hi = 1 << (cfg.acc_bits - 1)
    for g in range(f_cb, f, -1):
        if _worst_case(counts, cb, bias, frac_in, g, cfg) < acc_hi:
            return g
    return f


def choose_formats(net, cfg: ArchConfig, calibration: np.ndarray, *,
                   acc_policy: str | None = None,
                   headroom_bits: int = ACC_HEADROOM_BITS) -> list[LayerFormat]:
    """Formats for every layer of a quantized network, from float calibration inputs.

    ``acc_policy`` (:data:`ACC_POLICIES`) and ``headroom_bits`` choose ``frac_w``; see
    the module docstring. The default follows the hardware: ``"saturate"`` when its
    accumulators saturate (``cfg.acc_saturate``), else ``"worst_case"``, the only rule
    that is safe for a wrapping accumulator."""
    if acc_policy is None:
        acc_policy = "saturate" if cfg.acc_saturate else "worst_case"
    if acc_policy == "saturate" and not cfg.acc_saturate:
        raise ValueError("the calibrated accumulator policy ('saturate') needs saturating "
                         "accumulators, but this config has acc_saturate = 0 (they wrap): "
                         "use acc_policy 'worst_case' or set acc_saturate to 1")
    if acc_policy not in ACC_POLICIES:
        raise ValueError(f"acc_policy must be one of {', '.join(ACC_POLICIES)}, "
                         f"got {acc_policy!r}")
    if isinstance(headroom_bits, bool) or not isinstance(headroom_bits, int) \
            or not 0 <= headroom_bits <= 16:
        raise ValueError(f"headroom_bits must be an integer in 0..16, got {headroom_bits!r}")
    calibration = np.asarray(calibration, dtype=np.float64)
    outs = net.forward(calibration, all_layers=True)
    max_in = float(np.max(np.abs(calibration))) if calibration.size else 0.0
    frac_in = frac_bits_for(max_in, cfg.act_bits, default=cfg.act_bits - 1)
    formats = []
    x = calibration
    for layer, out in zip(net.layers, outs):
        cb = np.asarray(layer.codebook, dtype=np.float64)
        peak = accumulator_peak(cb, layer.indices, layer.bias, x)
        if acc_policy == "worst_case":
            frac_w, worst_bits = choose_weight_format(cb, layer.indices, layer.bias,
                                                      frac_in, cfg)
        else:
            counts = _index_counts(layer.indices, len(cb))
            frac_w = _calibrated_weight_format(cb, counts, layer.bias, frac_in, peak,
                                               headroom_bits, cfg,
                                               input_scale(max_in, frac_in, cfg.act_bits))
            worst_bits = _worst_case(counts, cb, layer.bias, frac_in, frac_w,
                                     cfg).bit_length() + 1
        headroom = (round(cfg.acc_bits - 1 - math.log2(peak) - frac_in - frac_w, 2)
                    if peak > 0 else None)
        max_out = float(np.max(np.abs(out))) if out.size else 0.0
        frac_out = frac_bits_for(max_out * OUTPUT_MARGIN, cfg.act_bits,
                                 default=frac_in + frac_w)
        # shift = frac_in + frac_w - frac_out must lie in 0..acc_bits-1
        frac_out = min(frac_out, frac_in + frac_w)
        if getattr(layer, "keeps_input_format", False):
            # a max-pooling step (compiler/lower.py): sums and differences of its inputs,
            # exact on the input's grid and never beyond its range, so the pooled value is
            # the exact maximum of the fixed-point inputs
            frac_out = min(frac_out, frac_in)
        frac_out = max(frac_out, frac_in + frac_w - (cfg.acc_bits - 1))
        formats.append(LayerFormat(frac_in, frac_w, frac_out, max_in, max_out, worst_bits,
                                   acc_policy, peak, headroom))
        frac_in, max_in, x = frac_out, max_out, out
    return formats
