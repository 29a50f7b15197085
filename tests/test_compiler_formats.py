import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.compiler.examples import relu_like_inputs, trained_like_layer
from eiegen.compiler.formats import (ACC_HEADROOM_BITS, OUTPUT_MARGIN, LayerFormat,
                                     accumulator_peak,
                                     choose_formats, choose_weight_format, frac_bits_for,
                                     input_scale)
from eiegen.compiler.network import Layer, Network
from eiegen.sim.golden import run_golden

from reference_models import fixed_round


def worst_case(codebook, indices, bias, frac_in, frac_w, cfg):
    """max_i sum_j |w_ij| * 2**(act_bits-1) + |b_i| in Python ints, the bound the
    compiler must keep below 2**(acc_bits-1)."""
    cbq = [abs(fixed_round(c, frac_w, cfg.weight_bits)) for c in codebook]
    bias = np.zeros(len(indices)) if bias is None else bias
    return max(sum(cbq[int(v)] for v in row) * (1 << (cfg.act_bits - 1))
               + abs(fixed_round(b, frac_in + frac_w, cfg.acc_bits))
               for row, b in zip(np.asarray(indices), bias))


# ---- frac_bits_for ----

def test_frac_bits_for_examples():
    assert frac_bits_for(1.0, 16, 0) == 14  # 1.0 * 2**15 = 32768 does not fit
    assert frac_bits_for(0.99, 16, 0) == 15
    assert frac_bits_for(3.0, 8, 0) == 5  # 96 fits, 192 does not
    assert frac_bits_for(1000.0, 8, 0) == -3  # 125
    assert frac_bits_for(0.0, 8, 7) == 7  # nothing to fit: the default
    assert frac_bits_for(float("nan"), 8, 3) == 3
    # half an LSB above the largest code still rounds into range (round half to even)
    assert frac_bits_for(32767.4 / 32768, 16, 0) == 15


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-9, 1e9), st.integers(4, 32))
def test_frac_bits_for_fits_and_is_maximal(max_abs, bits):
    hi = (1 << (bits - 1)) - 1
    f = frac_bits_for(max_abs, bits, default=0)
    assert round(max_abs * 2.0 ** f) <= hi
    if f < 40:  # the top of the search window
        assert round(max_abs * 2.0 ** (f + 1)) > hi


def test_frac_bits_for_window():
    assert frac_bits_for(1e-30, 16, 0) == 40  # clamped to the search window
    assert frac_bits_for(1e30, 16, 0) == -40


# ---- choose_weight_format ----

def test_weight_format_without_accumulator_pressure():
    cfg = ArchConfig(act_bits=8, weight_bits=8, acc_bits=48)
    cb = np.array([0.0, 0.3, -0.7])
    idx = np.array([[1, 2, 0], [0, 0, 1]])
    f, bits = choose_weight_format(cb, idx, None, 7, cfg)
    assert f == frac_bits_for(0.7, 8, 0) == 7
    assert bits == worst_case(cb, idx, None, 7, f, cfg).bit_length() + 1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 300), acc_extra=st.integers(0, 10),
       with_bias=st.booleans(), frac_in=st.integers(-4, 12))
def test_weight_format_is_the_largest_that_cannot_wrap(seed, n_in, acc_extra, with_bias, frac_in):
    cfg = ArchConfig(act_bits=8, weight_bits=8, acc_bits=16 + acc_extra)
    rng = np.random.default_rng(seed)
    cb = np.concatenate(([0.0], rng.normal(0, 1, 15)))
    idx = rng.integers(0, 16, size=(int(rng.integers(1, 20)), n_in))
    bias = rng.normal(0, 4, len(idx)) if with_bias else None
    f, bits = choose_weight_format(cb, idx, bias, frac_in, cfg)
    worst = worst_case(cb, idx, bias, frac_in, f, cfg)
    assert worst < 1 << (cfg.acc_bits - 1)
    assert bits == worst.bit_length() + 1 <= cfg.acc_bits
    assert round(np.max(np.abs(cb)) * 2.0 ** f) < 1 << (cfg.weight_bits - 1)  # weights fit
    # one more fractional bit would break one of the two rules
    weights_fit = f + 1 <= frac_bits_for(float(np.max(np.abs(cb))), cfg.weight_bits, 0)
    if weights_fit:
        assert worst_case(cb, idx, bias, frac_in, f + 1, cfg) >= 1 << (cfg.acc_bits - 1)


def test_weight_format_wide_operands_do_not_overflow_int64():
    # 4096 * 2**22 * 2**31 = 2**65: the bound itself exceeds int64 at the first frac_w tried.
    cfg = ArchConfig(act_bits=32, weight_bits=24, acc_bits=56, n_pe=4, act_depth=1024)
    cb = np.array([0.0, 1.0])
    idx = np.ones((4, 4096), dtype=np.int64)
    f, bits = choose_weight_format(cb, idx, None, 0, cfg)
    worst = 4096 * (1 << f) * (1 << 31)
    assert worst < 1 << 55 <= 2 * worst  # the largest frac_w that keeps the bound
    assert bits == worst.bit_length() + 1 == 56


def test_weight_format_impossible():
    cfg = ArchConfig(act_bits=16, weight_bits=16, acc_bits=32)
    cb = np.array([0.0, 2.0 ** 54])  # 2**14 at the smallest frac_w (-40)
    idx = np.ones((1, 8), dtype=np.int64)  # 8 * 2**14 * 2**15 = 2**32 > 2**31
    with pytest.raises(ValueError, match="increase acc_bits"):
        choose_weight_format(cb, idx, None, 0, cfg)


# ---- choose_formats ----

@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4),
       calib_scale=st.sampled_from([1e-3, 0.5, 1.0, 37.0, 1e4]),
       act_bits=st.sampled_from([8, 12, 16]), weight_scale=st.sampled_from([None, 1e-3, 30.0]),
       policy=st.sampled_from(["saturate", "worst_case"]))
def test_formats_rules(seed, depth, calib_scale, act_bits, weight_scale, policy):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, size=depth + 1).tolist()
    net = random_network(rng, sizes, density=0.4, scale=weight_scale)
    cfg = ArchConfig(act_bits=act_bits, weight_bits=act_bits, acc_bits=2 * act_bits + 12)
    calib = rng.uniform(-calib_scale, calib_scale, size=(16, net.n_in))
    formats = choose_formats(net, cfg, calib, acc_policy=policy)
    outs = net.forward(calib, all_layers=True)
    acc_max = (1 << (cfg.acc_bits - 1)) - 1
    hi = (1 << (act_bits - 1)) - 1
    assert formats[0].calib_max_in == float(np.max(np.abs(calib)))
    assert round(formats[0].calib_max_in * 2.0 ** formats[0].frac_in) <= hi  # inputs fit
    for k, (fmt, out) in enumerate(zip(formats, outs)):
        assert 0 <= fmt.shift <= cfg.acc_bits - 1
        assert fmt.shift == fmt.frac_in + fmt.frac_w - fmt.frac_out
        assert fmt.calib_max_out == float(np.max(np.abs(out)))
        # outputs fit with OUTPUT_MARGIN of room, and the format is the finest that does
        margin_out = fmt.calib_max_out * OUTPUT_MARGIN
        if fmt.shift < cfg.acc_bits - 1:  # not clamped by the largest shift: outputs fit
            assert round(margin_out * 2.0 ** fmt.frac_out) <= hi
        if fmt.shift > 0 and fmt.calib_max_out > 0:  # not clamped at 0: and maximal
            assert round(margin_out * 2.0 ** (fmt.frac_out + 1)) > hi
        f, bits = choose_weight_format(net[k].codebook, net[k].indices, net[k].bias,
                                       fmt.frac_in, cfg)
        x = calib if k == 0 else outs[k - 1]
        assert fmt.calib_acc_peak == accumulator_peak(net[k].codebook, net[k].indices,
                                                      net[k].bias, x)
        assert fmt.acc_policy == policy
        if policy == "worst_case":
            assert (fmt.frac_w, fmt.acc_worst_bits) == (f, bits)
        else:
            # never fewer bits than the proof gives, never more than the codebook allows
            f_cb = frac_bits_for(float(np.max(np.abs(net[k].codebook))), cfg.weight_bits,
                                 cfg.weight_bits - 1)
            assert f <= fmt.frac_w <= f_cb
            if fmt.frac_w > f:  # the calibrated rule chose: it holds and is maximal
                room = (fmt.calib_acc_peak * 2.0 ** (fmt.frac_in + ACC_HEADROOM_BITS)
                        * input_scale(fmt.calib_max_in, fmt.frac_in, cfg.act_bits))
                assert room * 2.0 ** fmt.frac_w <= acc_max
                assert fmt.frac_w == f_cb or room * 2.0 ** (fmt.frac_w + 1) > acc_max
            worst = worst_case(net[k].codebook, net[k].indices, net[k].bias, fmt.frac_in,
                               fmt.frac_w, cfg)
            assert fmt.acc_worst_bits == worst.bit_length() + 1
        if k:
            assert fmt.frac_in == formats[k - 1].frac_out
            assert fmt.calib_max_in == formats[k - 1].calib_max_out


def test_shift_never_negative():
    # Outputs far smaller than one accumulator LSB would want frac_out > frac_in + frac_w.
    layer = Layer(weight=np.zeros((2, 3)), bias=[1e-12, -1e-12], codebook=[0.0, 1.0],
                  indices=np.zeros((2, 3), dtype=np.int64), activation="none")
    cfg = ArchConfig()
    (fmt,) = choose_formats(Network((layer,)), cfg, np.ones((4, 3)) * 0.5)
    assert fmt.shift == 0 and fmt.frac_out == fmt.frac_in + fmt.frac_w


def test_all_zero_calibration_uses_defaults():
    net = random_network(0, [5, 3], density=0.5)
    cfg = ArchConfig()
    (fmt,) = choose_formats(net, cfg, np.zeros((2, 5)))
    assert fmt.frac_in == cfg.act_bits - 1 and fmt.calib_max_in == 0.0


def test_layer_format_to_dict():
    fmt = LayerFormat(frac_in=7, frac_w=9, frac_out=5, calib_max_in=1.0, calib_max_out=2.0,
                      acc_worst_bits=20)
    assert fmt.shift == 11
    d = fmt.to_dict()
    assert d == {"frac_in": 7, "frac_w": 9, "frac_out": 5, "shift": 11,
                 "calib_max_in": 1.0, "calib_max_out": 2.0, "acc_worst_bits": 20,
                 "acc_policy": "worst_case", "calib_acc_peak": None,
                 "acc_headroom_bits": None}
    assert LayerFormat.from_dict(d) == fmt
    sat = LayerFormat(7, 9, 5, 1.0, 2.0, 40, "saturate", 3.5, 2.19)
    assert LayerFormat.from_dict(sat.to_dict()) == sat
    old = {k: v for k, v in d.items() if not k.startswith(("acc_p", "calib_acc", "acc_h"))}
    assert LayerFormat.from_dict(old).acc_policy == "worst_case"  # older manifests


# ---- the calibrated accumulator rule ----

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 70), n_out=st.integers(1, 9),
       signed=st.booleans(), blocks=st.sampled_from([1, 3, 64]))
def test_accumulator_peak_bounds_the_ordered_partial_sums(seed, n_in, n_out, signed, blocks):
    rng = np.random.default_rng(seed)
    layer = random_network(rng, [n_in, n_out], density=0.5)[0]
    x = rng.normal(0, 2, (5, n_in)) if signed else rng.exponential(1, (5, n_in))
    prefix = (np.cumsum(x[:, None, :] * layer.weight[None], axis=2)
              + layer.bias[None, :, None])
    exact = max(float(np.max(np.abs(prefix))), float(np.max(np.abs(layer.bias))))
    bound = accumulator_peak(layer.codebook, layer.indices, layer.bias, x, blocks=blocks)
    assert bound >= exact * (1 - 1e-12)
    if blocks >= n_in:  # one column per block: the bound is the exact peak
        assert bound == pytest.approx(exact, rel=1e-12)


def test_wide_layer_keeps_its_weight_bits():
    # issue 18: an FC8-like layer (4096 inputs, 25% weights, ReLU inputs up to ~10) lost
    # weight bits to the worst-case proof; 200 of its rows show the same formats
    rng = np.random.default_rng(0)
    layer = trained_like_layer(rng, 4096, 200)
    x = relu_like_inputs(rng, 128, 4096)
    net = Network((layer,))
    cfg = ArchConfig()
    (sat,) = choose_formats(net, cfg, x)
    (worst,) = choose_formats(net, cfg, x, acc_policy="worst_case")
    assert worst.frac_w == 11 and worst.acc_worst_bits <= 32  # the proof's price
    assert sat.frac_w >= 14 and sat.acc_worst_bits > 32
    # the room asked for: the input format's scale over the calibration's largest input
    scale = math.log2(input_scale(sat.calib_max_in, sat.frac_in, cfg.act_bits))
    assert 0 < scale < 1
    assert scale <= sat.acc_headroom_bits < scale + 1  # less than one bit more
    assert (sat.frac_in, sat.frac_out) == (worst.frac_in, worst.frac_out)
    (less,) = choose_formats(net, cfg, x, headroom_bits=2)
    assert less.frac_w == sat.frac_w - 2
    assert scale + 2 <= less.acc_headroom_bits < scale + 3


def test_input_scale_is_the_input_formats_room():
    # 16-bit activations, frac_in 11: the format's top is 32767 / 2048 = 15.9995
    assert input_scale(10.0, 11, 16) == pytest.approx(32767 / 2048 / 10.0)
    assert input_scale(32767 / 2048, 11, 16) == 1.0  # at the top: no room
    assert input_scale(20.0, 11, 16) == 1.0  # beyond it (the inputs clip): never below 1
    assert input_scale(1e-9, 11, 16) == 2.0  # frac_in not chosen from max_in: at most 2
    assert input_scale(0.0, 11, 16) == 1.0
    for m in (0.3, 1.0, 7.7, 1234.5):  # whenever frac_in is the one chosen for max_in
        assert 1.0 <= input_scale(m, frac_bits_for(m, 16, 15), 16) < 2.0


def test_policy_arguments_are_checked():
    net = random_network(0, [5, 3], density=0.5)
    with pytest.raises(ValueError, match="acc_policy must be one of saturate, worst_case"):
        choose_formats(net, ArchConfig(), np.ones((2, 5)), acc_policy="wrap")
    with pytest.raises(ValueError, match="headroom_bits must be an integer in 0..16"):
        choose_formats(net, ArchConfig(), np.ones((2, 5)), headroom_bits=-1)


# ---- the accumulator bound holds in the compiled program ----

def adversarial_inputs(w_int, act_bits):
    """For every row, the inputs at +-2**(act_bits-1) that push its sum furthest down
    and furthest up."""
    lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    down = np.where(w_int > 0, lo, np.where(w_int < 0, hi, 0))
    up = np.where(w_int > 0, hi, np.where(w_int < 0, lo, 0))
    return np.concatenate([down, up])


def exact_accumulators(w_int, bias_int, x):
    return (np.asarray(x, dtype=object) @ w_int.T.astype(object)) + bias_int.astype(object)


def compiled_single_layer(layer, cfg):
    # the proof's policy: these tests check that nothing can leave the accumulator
    program = compile_network(Network((layer,)), cfg, calibration=np.ones((1, layer.n_in)),
                              acc_policy="worst_case")
    lp = program.layers[0]
    w_int = np.asarray(lp.codebook_q, dtype=np.int64)[layer.indices]
    bias_int = np.array([fixed_round(b, lp.fmt.frac_in + lp.fmt.frac_w, cfg.acc_bits)
                         for b in layer.bias_or_zeros()], dtype=np.int64)
    return program, w_int, bias_int


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 64), n_out=st.integers(1, 24),
       density=st.sampled_from([0.2, 0.6, 1.0]),
       widths=st.sampled_from([(8, 8, 16), (8, 8, 20), (12, 8, 24), (16, 16, 32)]))
def test_adversarial_inputs_never_wrap(seed, n_in, n_out, density, widths):
    act_bits, weight_bits, acc_bits = widths
    cfg = ArchConfig(n_pe=4, act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    layer = random_network(rng, [n_in, n_out], density=density, scale=float(rng.uniform(0.1, 50)))[0]
    program, w_int, bias_int = compiled_single_layer(layer, cfg)
    x = adversarial_inputs(w_int, act_bits)
    (acc,) = run_golden(program, x, accumulators=True)[1]
    exact = exact_accumulators(w_int, bias_int, x)
    assert acc.tolist() == exact.tolist()  # the wrapping accumulator never wrapped
    worst_bits = program.layers[0].fmt.acc_worst_bits
    assert worst_bits <= acc_bits
    assert max(abs(int(a)) for a in exact.flat) < 1 << (worst_bits - 1)


def test_worst_case_is_reached_and_tight():
    # Positive codebook and negative biases: the "down" inputs reach exactly
    # -(sum_j |w_ij| * 2**(act_bits-1) + |b_i|), the bound itself.
    cfg = ArchConfig(n_pe=2, act_bits=8, weight_bits=8, acc_bits=16)
    rng = np.random.default_rng(5)
    codebook = np.concatenate(([0.0], rng.uniform(0.5, 2.0, 15)))
    indices = rng.integers(1, 16, size=(6, 40))
    layer = Layer(weight=codebook[indices], bias=-rng.uniform(0.1, 1.0, 6), activation="none",
                  codebook=codebook, indices=indices)
    program, w_int, bias_int = compiled_single_layer(layer, cfg)
    fmt = program.layers[0].fmt
    # the accumulator constrains frac_w here: the weights alone would allow more bits
    assert fmt.frac_w < frac_bits_for(float(codebook.max()), cfg.weight_bits, 0)
    x = adversarial_inputs(w_int, cfg.act_bits)[:6]
    (acc,) = run_golden(program, x, accumulators=True)[1]
    exact = exact_accumulators(w_int, bias_int, x)
    assert acc.tolist() == exact.tolist()
    reached = max(-int(exact[i, i]) for i in range(6))
    assert reached == worst_case(codebook, indices, layer.bias, fmt.frac_in, fmt.frac_w, cfg)
    assert fmt.acc_worst_bits == reached.bit_length() + 1
    assert reached < 1 << (cfg.acc_bits - 1) <= 2 * reached  # frac_w + 1 would overflow


def test_the_default_policy_follows_the_accumulator_hardware():
    net = random_network(3, [20, 8], density=0.5)
    x = np.random.default_rng(0).uniform(-1, 1, size=(16, 20))
    (sat,) = choose_formats(net, ArchConfig(), x)
    (wrapping,) = choose_formats(net, ArchConfig(acc_saturate=0), x)
    assert sat.acc_policy == "saturate" and wrapping.acc_policy == "worst_case"
    with pytest.raises(ValueError, match="acc_saturate"):
        choose_formats(net, ArchConfig(acc_saturate=0), x, acc_policy="saturate")


def test_frac_bits_for_an_exact_half_lsb_tie():
    # 127.5/128 at 7 fractional bits is 127.5 LSBs, which rounds half up to 128: beyond
    # an 8-bit word's 127, so one bit fewer (6: 63.75 -> 64). Just below the tie, 7 fit.
    from eiegen.compiler.formats import frac_bits_for
    assert frac_bits_for(127.5 / 128, 8, 0) == 6
    assert frac_bits_for(127.49 / 128, 8, 0) == 7
    assert frac_bits_for(0.0, 8, 5) == 5 and frac_bits_for(float("nan"), 8, 3) == 3
