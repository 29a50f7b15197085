"""Fixed-point arithmetic shared by the compiler, the golden model and the cycle model.

The hardware computes, for every output row ``i`` of a layer (see docs/fixed-point.md)::

    acc_i = bias_i
    acc_i = saturate(acc_i + w_ij * a_j, acc_bits)    # for each non-zero, in column order
    y_i   = saturate_act(round_shift(acc_i, shift))   # act_bits
    y_i   = max(y_i, 0) if the layer has ReLU

``round_shift`` rounds half up (towards +infinity): ``(acc + 2**(shift-1)) >> shift`` with
an arithmetic shift, and is the identity for ``shift == 0``. The accumulator saturates
after every addition (it never wraps), so a sum that leaves the range depends on the order
of the additions: the PE's, column order (sim/golden.py follows it). The compiler leaves
room for the calibration's partial sums (compiler/formats.py); each PE counts its
clamped additions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["signed_range", "wrap", "round_shift", "saturate", "requantize", "to_fixed",
           "to_unsigned", "from_unsigned"]


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap(x, bits: int):
    """Two's-complement wrap-around of integers (numpy int64 arrays or Python ints)."""
    half = 1 << (bits - 1)
    if isinstance(x, (int, np.integer)):
        return ((int(x) + half) % (1 << bits)) - half
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    return ((x + half) & ((1 << bits) - 1)) - half


def round_shift(x, shift: int):
    """Arithmetic right shift by ``shift`` rounding half up (towards +infinity)."""
    if shift < 0:
        raise ValueError(f"output shift must be >= 0, got {shift}")
    x = np.asarray(x, dtype=np.int64)
    if shift == 0:
        return x
    return (x + (1 << (shift - 1))) >> shift


def saturate(x, bits: int):
    lo, hi = signed_range(bits)
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def requantize(acc, shift: int, act_bits: int, relu: bool):
    """The write-back path: round-shift, saturate, then optional ReLU."""
    y = saturate(round_shift(acc, shift), act_bits)
    return np.maximum(y, 0) if relu else y


def to_fixed(x, frac_bits: int, bits: int):
    """Float -> signed fixed point with ``frac_bits`` fractional bits, round half to even
    (numpy's rint) and saturation. ``frac_bits`` may be negative."""
    scaled = np.rint(np.asarray(x, dtype=np.float64) * np.ldexp(1.0, frac_bits))
    lo, hi = signed_range(bits)
    return np.clip(scaled, lo, hi).astype(np.int64)


def to_unsigned(x, bits: int):
    """Signed integers -> their ``bits``-wide two's-complement bit patterns."""
    return np.asarray(x, dtype=np.int64) & ((1 << bits) - 1) if bits < 64 else np.asarray(x)


def from_unsigned(x, bits: int):
    """``bits``-wide two's-complement bit patterns -> signed integers."""
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (bits - 1)
    return np.where(x >= half, x - half - half, x)  # 1 << bits overflows int64 at 63 bits
