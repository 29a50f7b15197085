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


def test_shift_is_clamped_at_the_accumulator_width():
    # Tiny weights and inputs in the default config (16-bit activations and weights,
    # 32-bit accumulator), worked by hand: inputs of 1e-6 take frac_in = 34 (2**34 * 1e-6
    # = 17180 <= 32767 < 2**35 * 1e-6); the codebook's 1e-9 would take 44 bits (2**44 *
    # 1e-9 = 17592), the search window stops at 40, and the partial sums (2e-15 at most,
    # 2e-15 * 2**74 = 3.8e7 < 2**31) leave that alone: frac_w = 40. The output, 2e-15,
    # would take 63 bits, the window gives 40, and frac_in + frac_w - 40 = 34 is more
    # than the shift a 32-bit accumulator allows (31): frac_out goes up to 74 - 31 = 43.
    cb = np.array([0.0, 1e-9])
    idx = np.array([[1, 1]])
    layer = Layer(weight=cb[idx], bias=None, activation="none", codebook=cb, indices=idx)
    cfg = ArchConfig()
    assert (cfg.act_bits, cfg.weight_bits, cfg.acc_bits) == (16, 16, 32)
    for policy in ("saturate", "worst_case"):
        (fmt,) = choose_formats(Network((layer,)), cfg, np.full((1, 2), 1e-6),
                                acc_policy=policy)
        assert (fmt.frac_in, fmt.frac_w, fmt.frac_out) == (34, 40, 43)
        assert fmt.shift == cfg.acc_bits - 1


def test_calibrated_weight_bits_at_the_log2_rounding_edge():
    # A peak one float ulp above acc_max / 2**10: log2(acc_max / need) rounds to exactly
    # 10, but need * 2**10 exceeds acc_max, so the rule (need * 2**(frac_in + f) <=
    # acc_max) gives frac_in + f = 9, f = 6 with frac_in = 3; checked here in exact
    # rational arithmetic. The codebook (1.0) alone would allow 14 bits, and a million
    # entries per row keep the worst-case proof from allowing any of 7..14 (each weight
    # is at least 1 there: 10**6 * 2**15 > 2**31).
    from fractions import Fraction

    from eiegen.compiler.formats import _calibrated_weight_format
    cfg = ArchConfig()
    acc_max = (1 << (cfg.acc_bits - 1)) - 1
    need = float(np.nextafter(acc_max / 2.0 ** 10, np.inf))
    assert math.floor(math.log2(acc_max / need)) == 10  # the float edge
    cb = np.array([0.0, 1.0])
    counts = np.array([[0, 10 ** 6]])
    f = _calibrated_weight_format(cb, counts, None, 3, need, 0, cfg)
    fits = [g for g in range(-40, 15) if Fraction(need) * 2 ** (3 + g) <= acc_max]
    assert f == max(fits) == 6


def test_the_worst_case_proof_can_allow_more_bits_than_the_headroom():
    # One weight of 1.0 and one input of 1.0: the codebook allows frac_w = 14 (2**14 <=
    # 32767 < 2**15), and there the worst case |w| * 2**15 = 2**29 stays below 2**31, so
    # nothing can saturate. 16 bits of headroom above the calibrated peak (1.0, times
    # the input format's room 32767 / 2**14) would allow only frac_w = 0 (need * 2**14 =
    # 32767 * 2**16 < 2**31, twice that is not), but the proof allows more, and the
    # saturate policy takes the larger: 14, as worst_case does.
    cb = np.array([0.0, 1.0])
    idx = np.array([[1]])
    net = Network((Layer(weight=cb[idx], bias=None, activation="none", codebook=cb,
                         indices=idx),))
    cfg = ArchConfig()
    x = np.ones((1, 1))
    assert worst_case(cb, idx, None, 14, 14, cfg) == 1 << 29
    (sat,) = choose_formats(net, cfg, x, acc_policy="saturate", headroom_bits=16)
    (wc,) = choose_formats(net, cfg, x, acc_policy="worst_case")
    assert sat.frac_in == wc.frac_in == 14
    assert sat.frac_w == wc.frac_w == 14


def test_an_all_zero_codebook_gets_the_default_weight_bits():
    # every format holds zero weights: the most bits, weight_bits - 1 (as the saturate
    # policy and the input format default), and a worst case of 0, one (sign) bit
    cfg = ArchConfig()
    idx = np.array([[0, 0, 0], [0, 0, 0]])
    assert choose_weight_format(np.zeros(3), idx, None, 5, cfg) == (cfg.weight_bits - 1, 1)
    assert worst_case(np.zeros(3), idx, None, 5, cfg.weight_bits - 1, cfg) == 0


def test_layer_formats_are_immutable_values():
    import dataclasses
    fmt = LayerFormat(7, 9, 5, 1.0, 2.0, 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fmt.frac_out = 6
    assert len({fmt, LayerFormat(7, 9, 5, 1.0, 2.0, 20)}) == 1  # hashable, by value


def test_formats_take_calibration_as_lists():
    net = random_network(3, [6, 5, 4], density=0.6)
    calib = np.random.default_rng(3).uniform(-2, 2, size=(5, 6))
    cfg = ArchConfig()
    assert choose_formats(net, cfg, calib.tolist()) == choose_formats(net, cfg, calib)


def test_no_partial_sums_no_headroom_figure():
    # zero inputs and no bias: every partial sum is 0, so there is no room to measure
    net = random_network(0, [5, 3], density=0.5, bias=False)
    (fmt,) = choose_formats(net, ArchConfig(), np.zeros((2, 5)))
    assert fmt.calib_acc_peak == 0.0 and fmt.acc_headroom_bits is None
    # every output is 0, so every format holds them: the most bits, frac_in + frac_w
    assert fmt.calib_max_out == 0.0 and fmt.frac_out == fmt.frac_in + fmt.frac_w


def test_a_pool_step_keeps_its_input_format():
    # One max-pooling step (compiler/lower.py) on the pair (p1 + q1, p2 + q2): outputs
    # p' = p1 + q1 and q' = relu(p2 + q2 - p1 - q1). Inputs (0.3, 0, 0, 1): the largest
    # input 1.0 takes frac_in = 14 (16-bit activations); the outputs 0.3 and 0.7 (0.875
    # with OUTPUT_MARGIN) would allow 15 (2**15 * 0.875 = 28672 <= 32767), as a plain
    # layer gets, but a pool step keeps its input's format so that the pooled maximum is
    # exact on the input's grid: 14.
    from eiegen.compiler.lower import POOL_CODEBOOK, PoolStepLayer
    idx = np.array([[1, 1, 0, 0], [2, 2, 1, 1]])
    args = dict(weight=POOL_CODEBOOK[idx], bias=None, activation="relu",
                codebook=POOL_CODEBOOK, indices=idx)
    x = np.array([[0.3, 0.0, 0.0, 1.0]])
    cfg = ArchConfig()
    (plain,) = choose_formats(Network((Layer(**args),)), cfg, x)
    (pool,) = choose_formats(Network((PoolStepLayer(**args),)), cfg, x)
    assert (plain.frac_in, plain.frac_out) == (14, 15)
    assert (pool.frac_in, pool.frac_out) == (14, 14)
