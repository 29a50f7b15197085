"""sim/fidelity.py: every figure recomputed here from the golden model and the float
network; warnings on constructed saturating and low-precision cases, none on the shipped
digits MLP or the built-in example."""

import json
import math

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network, default_calibration
from eiegen.digits import digits_arch, digits_data, load_shipped
from eiegen.compiler.examples import example_network, random_network
from eiegen.fixedpoint import round_shift
from eiegen.sim.fidelity import (classification, input_saturation, measure_fidelity,
                                 predictions, program_network)
from eiegen.sim.golden import run_golden


def small_case(seed=0, cfg=None, balance=True, calib_scale=1.0, bias=True):
    rng = np.random.default_rng(seed)
    net = random_network(rng, [24, 16, 12, 5], density=0.4, bias=bias)
    calib = rng.uniform(-calib_scale, calib_scale, size=(32, 24))
    cfg = cfg or ArchConfig(n_pe=3)
    return net, compile_network(net, cfg, calibration=calib, balance=balance), calib


def test_program_network_is_the_compiled_network_in_network_order():
    net, program, x = small_case(bias=False)  # no bias: nothing is rounded on the way
    assert program.layers[0].row_order is not None  # balancing permuted the rows
    ref = program_network(program)
    for a, b in zip(ref.forward(x, all_layers=True), net.forward(x, all_layers=True)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_figures_are_golden_against_float():
    net, program, x = small_case()
    fid = measure_fidelity(program, x, net)
    outs = run_golden(program, program.quantize_input(x))
    ref = net.forward(x, all_layers=True)
    assert fid.reference == "network" and fid.n_inputs == len(x)
    for k, la in enumerate(fid.layers):
        g = program.to_network_order(outs[k], k) * 2.0 ** -program.layers[k].fmt.frac_out
        err = g - ref[k]
        rng = ref[k].max() - ref[k].min()
        assert la.name == program.layers[k].name
        assert la.max_abs_error == pytest.approx(np.abs(err).max(), rel=1e-12)
        assert la.mean_abs_error == pytest.approx(np.abs(err).mean(), rel=1e-12)
        assert la.max_error_pct == pytest.approx(100 * np.abs(err).max() / rng, rel=1e-12)
        assert la.sqnr_db == pytest.approx(
            10 * math.log10(np.sum(ref[k] ** 2) / np.sum(err ** 2)), rel=1e-12)
        q = np.abs(np.asarray(program.layers[k].codebook_q))
        used = q[np.asarray(program.layers[k].codebook) != 0]
        assert la.weight_bits_max == int(used.max()).bit_length()
        assert la.weight_bits_min == int(used.min()).bit_length()
        assert la.weight_bits_avail == program.cfg.weight_bits - 1
    assert np.array_equal(fid.golden_outputs, program.dequantize_output(outs[-1]))
    assert fid.warnings == ()


def test_report_is_deterministic_and_json_clean():
    net, program, x = small_case()
    a = json.dumps(measure_fidelity(program, x, net).to_dict(), sort_keys=True,
                   allow_nan=False)
    b = json.dumps(measure_fidelity(program, x, net).to_dict(), sort_keys=True,
                   allow_nan=False)
    assert a == b
    assert "fc0" in measure_fidelity(program, x, net).table()


def test_input_saturation_counted_and_warned():
    net, program, calib = small_case(calib_scale=1.0)
    x = np.random.default_rng(5).uniform(-0.5, 0.5, size=(20, 24))
    x[3, 4] = 7.0
    x[11, [0, 5]] = -9.0
    values, vectors = input_saturation(program, x)
    top = (1 << (program.cfg.act_bits - 1)) - 1
    scaled = np.rint(x * 2.0 ** program.input_frac)
    assert values == int(np.count_nonzero((scaled > top) | (scaled < -top - 1))) == 3
    assert vectors == 2
    fid = measure_fidelity(program, x, net, calibration="default uniform[-1,1]")
    assert (fid.input_saturations, fid.inputs_saturated) == (3, 2)
    first = fid.warnings[0]
    assert first.startswith("input: 2 of 20 inputs (3 values) clip")
    assert "--calibration" in first and "default uniform[-1,1]" in first


def test_output_saturation_counted_and_warned():
    # Calibrated on small inputs (one large value each sets the input format), run on
    # full-scale ones: the outputs leave the format chosen from the calibration outputs.
    cfg = ArchConfig(n_pe=2, act_bits=8, weight_bits=8, acc_bits=24)
    rng = np.random.default_rng(1)
    net = random_network(rng, [16, 12, 4], density=1.0)
    calib = rng.uniform(-0.01, 0.01, size=(16, 16))
    calib[np.arange(16), rng.integers(0, 16, 16)] = 1.0
    program = compile_network(net, cfg, calibration=calib)
    x = rng.choice([-1.0, 1.0], size=(8, 16))
    fid = measure_fidelity(program, x, net)
    outs, accs = run_golden(program, program.quantize_input(x), accumulators=True)
    for k, (lp, la) in enumerate(zip(program.layers, fid.layers)):
        pre = round_shift(accs[k], lp.shift)
        expect = (pre > 127) if lp.relu else (pre > 127) | (pre < -128)
        assert la.output_saturations == int(expect.sum())
    assert sum(la.output_saturations for la in fid.layers) > 0
    named = [w for w in fid.warnings if "clip at act_bits=8" in w]
    assert named and all("--calibration" in w and "act_bits" in w for w in named)


def test_accumulator_saturation_counted_and_warned():
    # Biases set to the accumulator's top: every positive product then clamps.
    net, program, x = small_case(cfg=ArchConfig(n_pe=2, act_bits=8, weight_bits=8,
                                                acc_bits=16))
    hi = (1 << 15) - 1
    for k in range(program.cfg.n_pe):
        program.images[f"pe{k}.bias"][:] = hi
    program.__dict__.pop("_golden_cache", None)
    fid = measure_fidelity(program, x)  # the program's float reference: the biases as stored
    _, sats = run_golden(program, program.quantize_input(x), saturations=True)
    assert [la.acc_saturations for la in fid.layers] == [int(np.sum(s)) for s in sats]
    assert fid.layers[0].acc_saturations > 0
    assert any(w.startswith(f"layer {fid.layers[0].name}: the accumulator saturated")
               and "acc_bits" in w for w in fid.warnings)


def test_low_sqnr_warned_with_threshold():
    cfg = ArchConfig(n_pe=2, act_bits=6, weight_bits=5, acc_bits=24)
    net, program, x = small_case(cfg=cfg)
    fid = measure_fidelity(program, x, net)
    low = [la for la in fid.layers if la.sqnr_db is not None and la.sqnr_db < 40]
    assert low
    said = [[w for w in fid.warnings
             if w.startswith(f"layer {la.name}: SQNR {la.sqnr_db:.1f} dB is below 40 dB")]
            for la in low]
    assert all(len(s) == 1 for s in said)
    assert "raise" in said[0][0]  # the first one names a field...
    for la, (w,) in zip(low[1:], said[1:]):  # ...the next ones too, or point upstream
        assert "raise" in w or (f"carried from layer {low[0].name}" in w
                                and la.sqnr_db >= low[0].sqnr_db - 6)
    quiet = measure_fidelity(program, x, net, sqnr_warn_db=min(la.sqnr_db for la in low) - 1)
    assert not any("SQNR" in w for w in quiet.warnings)


def test_quiet_on_the_digits_mlp_and_the_example():
    x_tr, y_tr, x_te, y_te = digits_data()
    net = load_shipped("compressed")
    program = compile_network(net, digits_arch(), calibration=x_tr, balance=True)
    fid = measure_fidelity(program, x_te, net)
    assert fid.warnings == ()
    rep = classification(y_te, golden=fid.golden_outputs, float=fid.float_outputs)
    assert rep["float_accuracy"] == pytest.approx(
        100 * np.mean(np.argmax(net.forward(x_te), axis=1) == y_te))
    assert rep["golden_float_agreement"] == pytest.approx(
        100 * np.mean(np.argmax(fid.golden_outputs, 1) == np.argmax(fid.float_outputs, 1)))
    ex = example_network()
    calib = default_calibration(ex.n_in)
    assert measure_fidelity(compile_network(ex, ArchConfig(), calibration=calib),
                            calib, ex).warnings == ()


def test_single_output_predictions_are_the_logit_sign():
    assert predictions(np.array([[0.5], [-0.1], [0.0]])).tolist() == [1, 0, 0]
    assert predictions(np.array([[0.1, 0.3], [2.0, -1.0]])).tolist() == [1, 0]


def test_an_unshared_network_is_named_as_such():
    # compile_network weight-shares a plain network itself: the reference is then the
    # network before sharing, and the report says so
    rng = np.random.default_rng(4)
    net = random_network(rng, [20, 10, 4], density=0.5)
    plain = type(net)(tuple(type(la)(weight=la.weight * 1.01, bias=la.bias,
                                     activation=la.activation, name=la.name) for la in net))
    x = rng.uniform(-1, 1, size=(16, 20))
    fid = measure_fidelity(compile_network(plain, ArchConfig(n_pe=2), calibration=x), x, plain)
    assert fid.reference == "unshared network"
    assert "before weight sharing" in fid.table()
