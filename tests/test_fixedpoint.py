from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.fixedpoint import (from_unsigned, requantize, round_shift, saturate, signed_range,
                               to_fixed, to_unsigned, wrap)

SETTINGS = settings(max_examples=60, deadline=None)


def test_signed_range():
    assert signed_range(4) == (-8, 7)
    assert signed_range(16) == (-32768, 32767)
    assert signed_range(1) == (-1, 0)


@SETTINGS
@given(st.integers(-(1 << 63), (1 << 63) - 1), st.integers(2, 63))
def test_wrap_is_twos_complement(x, bits):
    expected = x % (1 << bits)
    if expected >= 1 << (bits - 1):
        expected -= 1 << bits
    assert wrap(x, bits) == expected
    assert isinstance(wrap(x, bits), int)
    assert wrap(np.array([x, x]), bits).tolist() == [expected, expected]
    assert wrap(np.int64(x), bits) == expected


def test_wrap_examples():
    assert wrap(128, 8) == -128
    assert wrap(-129, 8) == 127
    assert wrap(np.array([255, 256, -1]), 8).tolist() == [-1, 0, -1]
    big = np.array([-(1 << 62), (1 << 62)])
    assert wrap(big, 64).tolist() == big.tolist()
    # 63 bits still wrap (only 64 and more leave int64 alone): 2**62 is one past the top
    edge = np.array([1 << 62, -(1 << 62) - 1, (1 << 63) - 1])
    assert wrap(edge, 63).tolist() == [-(1 << 62), (1 << 62) - 1, -1]
    assert [wrap(int(v), 63) for v in edge] == [-(1 << 62), (1 << 62) - 1, -1]


@SETTINGS
@given(st.integers(-(1 << 55), (1 << 55)), st.integers(0, 40))
def test_round_shift_rounds_half_up(x, shift):
    exact = Fraction(x, 1 << shift)
    expected = math.floor(exact + Fraction(1, 2))  # nearest, ties towards +infinity
    assert round_shift(x, shift) == expected
    assert round_shift(np.array([x]), shift).tolist() == [expected]


def test_round_shift_ties_and_errors():
    assert round_shift(np.array([3, -3, 1, -1, 2, -2]), 1).tolist() == [2, -1, 1, 0, 1, -1]
    assert round_shift(np.array([5, -5]), 0).tolist() == [5, -5]
    with pytest.raises(ValueError, match="shift must be >= 0, got -1"):
        round_shift(4, -1)


def test_saturate():
    assert saturate(np.array([-200, -128, 0, 127, 200]), 8).tolist() == [-128, -128, 0, 127, 127]


def test_requantize_order_round_then_saturate_then_relu():
    acc = np.array([255, 254, 253, -3, -1000, 1 << 40])
    # shift 1: 127.5 -> 128 saturates to 127, 127 -> 127, 126.5 -> 127, -1.5 -> -1
    assert requantize(acc, 1, 8, relu=False).tolist() == [127, 127, 127, -1, -128, 127]
    assert requantize(acc, 1, 8, relu=True).tolist() == [127, 127, 127, 0, 0, 127]


def test_to_fixed_rounds_half_to_even_and_saturates():
    assert to_fixed([0.5, 1.5, 2.5, -0.5, -1.5], 0, 8).tolist() == [0, 2, 2, 0, -2]
    assert to_fixed([0.25, 0.375, -1.0], 3, 8).tolist() == [2, 3, -8]
    assert to_fixed([1000.0, -1000.0], 0, 8).tolist() == [127, -128]
    assert to_fixed([24.0, 25.0], -3, 8).tolist() == [3, 3]  # negative frac: 24/8, 25/8
    assert to_fixed(1.0, 15, 16).tolist() == 32767
    assert to_fixed(-1.0, 15, 16).tolist() == -32768
    assert to_fixed([0.1], 4, 8).dtype == np.int64


@SETTINGS
@given(st.floats(-1e3, 1e3), st.integers(-8, 20))
def test_to_fixed_is_nearest_within_range(x, frac):
    q = int(to_fixed(x, frac, 24))
    lo, hi = signed_range(24)
    scaled = x * 2.0 ** frac
    if lo <= scaled <= hi:
        assert abs(q - scaled) <= 0.5
    else:
        assert q == (hi if scaled > 0 else lo)


@SETTINGS
@given(st.integers(1, 63), st.data())
def test_unsigned_round_trip(bits, data):
    lo, hi = signed_range(bits)
    xs = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=8))
    u = to_unsigned(xs, bits)
    assert all(0 <= int(b) < (1 << bits) for b in u)
    assert [int(b) for b in u] == [x % (1 << bits) for x in xs]
    assert from_unsigned(u, bits).tolist() == xs


def test_unsigned_examples():
    assert to_unsigned([-1, -128, 5], 8).tolist() == [255, 128, 5]
    assert from_unsigned([255, 128, 127], 8).tolist() == [-1, -128, 127]
    assert from_unsigned([(1 << 63) - 1, 1 << 62, 5], 63).tolist() == [-1, -(1 << 62), 5]


def test_lists_are_taken_as_arrays():
    # callers pass lists too: the functions convert, they do not rely on numpy inputs
    assert wrap([255, 256, -129], 8).tolist() == [-1, 0, 127]
    assert round_shift([3, -3, 5], 1).tolist() == [2, -1, 3]
