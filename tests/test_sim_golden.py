import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.sim.golden import layer_matrix, run_float, run_golden, saturation_counters

from reference_models import fixed_round, reference_network

WIDTHS = [(16, 16, 32), (8, 8, 20), (8, 8, 16), (12, 10, 30), (6, 5, 24)]


def golden_in_network_order(program, x):
    outs, accs = run_golden(program, x, accumulators=True)
    return ([program.to_network_order(y, k) for k, y in enumerate(outs)],
            [program.to_network_order(a, k) for k, a in enumerate(accs)])


def reference_per_pe(program, k, row_counts):
    """Per-row counts (network order) of layer k summed per PE (hardware row p is PE
    p % n_pe)."""
    order = program.layers[k].row_order
    hw = np.asarray(row_counts) if order is None else np.asarray(row_counts)[order]
    n_pe = program.cfg.n_pe
    return [int(hw[pe::n_pe].sum()) for pe in range(n_pe)]


def assert_matches_reference(net, program, x):
    """Bit-exact comparison of every layer's accumulators, outputs and clamped additions
    per PE, one input at a time against the Python-int reference; returns the reference
    outputs."""
    outs, accs = golden_in_network_order(program, x)
    _, sats = run_golden(program, x, saturations=True)
    ref_outs = []
    for b, xb in enumerate(x):
        ref = reference_network(net, program, xb)
        for k, (ref_acc, ref_out, ref_sat) in enumerate(ref):
            assert accs[k][b].tolist() == ref_acc, (b, k)
            assert outs[k][b].tolist() == ref_out, (b, k)
            assert sats[k][b].tolist() == reference_per_pe(program, k, ref_sat), (b, k)
        ref_outs.append([out for _, out, _ in ref])
    return ref_outs


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 3),
       n_pe=st.sampled_from([1, 3, 4, 64]), widths=st.sampled_from(WIDTHS),
       balance=st.booleans(), calib_scale=st.sampled_from([0.01, 1.0, 100.0]),
       bias=st.booleans(), relu_last=st.booleans(), density=st.sampled_from([0.05, 0.3, 1.0]))
def test_golden_is_bit_exact(seed, depth, n_pe, widths, balance, calib_scale, bias, relu_last,
                             density):
    act_bits, weight_bits, acc_bits = widths
    cfg = ArchConfig(n_pe=n_pe, act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, size=depth + 1).tolist()
    net = random_network(rng, sizes, density=density, bias=bias, relu_last=relu_last)
    calib = rng.uniform(-calib_scale, calib_scale, size=(8, net.n_in))
    program = compile_network(net, cfg, calibration=calib, balance=balance)
    lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    x = np.concatenate([rng.integers(lo, hi + 1, size=(3, net.n_in)),
                        np.full((1, net.n_in), lo), np.full((1, net.n_in), hi)])
    assert_matches_reference(net, program, x)


def test_saturating_outputs_are_bit_exact():
    # Calibrated on inputs that are small but for one large value each (which sets the
    # input format), then run on inputs that are all full scale: the outputs saturate.
    cfg = ArchConfig(n_pe=4, act_bits=8, weight_bits=8, acc_bits=24)
    rng = np.random.default_rng(1)
    net = random_network(rng, [30, 20, 10], density=0.5)
    calib = rng.uniform(-0.01, 0.01, size=(16, 30))
    calib[np.arange(16), rng.integers(0, 30, 16)] = 1.0
    program = compile_network(net, cfg, calibration=calib)
    x = rng.integers(-128, 128, size=(12, 30))
    ref = assert_matches_reference(net, program, x)
    first = np.array([r[0] for r in ref])
    last = np.array([r[1] for r in ref])
    assert np.count_nonzero(first == 127) > 10  # ReLU layer: saturates high, clamps at 0
    assert first.min() == 0
    assert np.count_nonzero(np.abs(last) >= 127) > 5  # linear layer: both ends
    assert last.min() == -128 and last.max() == 127


def test_relu_and_shapes():
    net = random_network(2, [12, 9, 5], density=0.4)
    program = compile_network(net, ArchConfig(n_pe=3))
    x = np.random.default_rng(0).integers(-2000, 2000, size=(4, 12))
    outs = run_golden(program, x)
    assert [o.shape for o in outs] == [(4, 9), (4, 5)]
    assert outs[0].min() >= 0 and outs[1].min() < 0
    single = run_golden(program, x[2])
    assert [o.tolist() for o in single] == [o[2].tolist() for o in outs]
    outs2, accs = run_golden(program, x[2], accumulators=True)
    assert accs[0].shape == (9,) and accs[1].shape == (5,)
    with pytest.raises(ValueError, match="input has 11 values, the program expects 12"):
        run_golden(program, np.zeros(11, dtype=np.int64))


def test_golden_reads_the_memory_images():
    net = random_network(4, [10, 6], density=0.6)
    program = compile_network(net, ArchConfig(n_pe=2))
    x = np.random.default_rng(0).integers(-1000, 1000, size=(2, 10))
    before = run_golden(program, x)[0]
    program.__dict__.pop("_golden_cache", None)
    program.images["codebook"][3] += 100  # change one weight in the codebook memory
    program.layers[0].codebook_q[3] += 100  # ... and what the reference reads
    after = assert_matches_reference(net, program, x)
    assert np.any(net[0].indices == 3)
    assert not np.array_equal(before, np.array([a[0] for a in after]))


def test_accumulator_saturates_like_the_hardware():
    # A hand-edited codebook drives the accumulator far out of its 16 bits: the golden
    # model must clamp after every addition, as the hardware's saturating adder does, and
    # count the clamped additions per PE.
    cfg = ArchConfig(n_pe=2, act_bits=8, weight_bits=8, acc_bits=16)
    net = random_network(8, [40, 6], density=1.0, relu_last=False)
    program = compile_network(net, cfg)
    big = [0] + [127] * 15
    program.images["codebook"][:16] = big
    program.layers[0].codebook_q = big
    x = np.full((2, 40), 127)
    x[1] = -128
    _, accs = golden_in_network_order(program, x)
    assert accs[0][0].tolist() == [(1 << 15) - 1] * 6
    assert accs[0][1].tolist() == [-(1 << 15)] * 6
    _, sats = run_golden(program, x, saturations=True)
    assert sats[0].shape == (2, 2) and np.all(sats[0] >= 3 * 37)  # 3 rows per PE
    assert saturation_counters(sats).tolist() == sats[0].tolist()
    assert_matches_reference(net, program, x)


def _two_row_program(order_a, order_b):
    """One 6-input layer whose rows use codebook entries ``order_a`` and ``order_b``
    (1: +127, 2: -127), on a 16-bit accumulator, no bias."""
    from eiegen.compiler.network import Network
    cfg = ArchConfig(n_pe=1, act_bits=8, weight_bits=8, acc_bits=16)
    layer = random_network(1, [6, 2], density=1.0, bias=False, relu_last=False)[0]
    idx = np.array([order_a, order_b])
    net = Network((layer.quantize(np.array([0.0, 0.5, -0.5] + [0.0] * 13), idx),))
    program = compile_network(net, cfg)
    cb = [0, 127, -127] + [0] * 13
    program.images["codebook"][:16] = cb
    program.layers[0].codebook_q = cb
    return net, program


def test_saturation_depends_on_column_order():
    # Both rows add the same six products, +-127*127 = +-16129: three positive, three
    # negative. A wrapping (or exact) sum is 0 for both; summed saturating in column
    # order, the first row clamps at 32767 on its third addition and then falls to
    # 32767 - 3 * 16129 = -15620, the second clamps at -32768 and rises to 15619.
    net, program = _two_row_program([1, 1, 1, 2, 2, 2], [2, 2, 2, 1, 1, 1])
    x = np.full((1, 6), 127)
    (out,), (acc,), (sat,) = run_golden(program, x, accumulators=True, saturations=True)
    assert acc[0].tolist() == [-15620, 15619]
    assert sat.tolist() == [[2]]
    assert_matches_reference(net, program, x)
    # alternating signs never leave the range: the prefix-sum path, nothing clamped
    net, program = _two_row_program([1, 2, 1, 2, 1, 2], [2, 1, 2, 1, 2, 1])
    (out,), (acc,), (sat,) = run_golden(program, x, accumulators=True, saturations=True)
    assert acc[0].tolist() == [0, 0] and sat.tolist() == [[0]]


def test_a_wrapping_accumulator_wraps_in_any_order():
    # acc_saturate = 0 (EIE, the iCEBreaker): both orders wrap to the exact sum, 0, and
    # nothing is counted; the compiler then proves the wrap never happens on real inputs
    net, program = _two_row_program([1, 1, 1, 2, 2, 2], [2, 2, 2, 1, 1, 1])
    program.cfg = program.cfg.replace(acc_saturate=0)
    x = np.full((1, 6), 127)
    (out,), (acc,), (sat,) = run_golden(program, x, accumulators=True, saturations=True)
    assert acc[0].tolist() == [0, 0] and sat.tolist() == [[0]]
    program.images["codebook"][:16] = [0, 127, 127] + [0] * 13  # 6 * 16129 wraps
    program.layers[0].codebook_q = [0, 127, 127] + [0] * 13
    program.__dict__.pop("_golden_cache", None)
    (out,), (acc,), (sat,) = run_golden(program, x, accumulators=True, saturations=True)
    assert acc[0].tolist() == [6 * 16129 - (1 << 16)] * 2 and sat.tolist() == [[0]]


def test_golden_batches_mix_saturating_and_plain_rows():
    # a batch in which some (row, input) pairs saturate and others do not, over several
    # chunks of the vectorised path, against the reference one input at a time
    cfg = ArchConfig(n_pe=3, act_bits=8, weight_bits=8, acc_bits=18)
    rng = np.random.default_rng(11)
    net = random_network(rng, [50, 31, 7], density=0.6)
    calib = rng.uniform(-0.02, 0.02, size=(8, 50))
    program = compile_network(net, cfg, calibration=calib, balance=True)
    big = [0] + rng.integers(60, 128, size=15).tolist()  # whatever formats were chosen
    program.images["codebook"][:16] = big
    program.layers[0].codebook_q = big
    x = rng.integers(0, 128, size=(9, 50))  # same-sign products: large partial sums
    x[::3] //= 64  # small inputs: those rows stay in range
    assert_matches_reference(net, program, x)
    _, sats = run_golden(program, x, saturations=True)
    per_input = saturation_counters(sats).sum(axis=1)
    assert per_input.max() > 0 and per_input.min() == 0


def test_entry_past_the_last_row_is_refused():
    net = random_network(5, [6, 4], density=1.0)
    program = compile_network(net, ArchConfig(n_pe=1, rel_bits=4))
    program.layers[0].n_out = 3  # the memory still holds 4 rows
    with pytest.raises(ValueError, match="an entry addresses row 3 of 3"):
        layer_matrix(program, 0)


def test_layer_matrix_matches_the_network():
    net = random_network(6, [25, 18], density=0.3)
    program = compile_network(net, ArchConfig(n_pe=4, rel_bits=2), balance=True)
    m = layer_matrix(program, 0)
    order = program.layers[0].row_order
    dense = np.zeros((18, 25), dtype=np.int64)
    dense[m.rows, m.cols] = m.index
    assert np.array_equal(dense, net[0].indices[order])
    assert np.all(np.diff(m.rows) >= 0)
    assert m.row_start.tolist() == np.searchsorted(m.rows, np.arange(19)).tolist()
    assert m.weights.tolist() == [program.layers[0].codebook_q[i] for i in m.index]
    lp = program.layers[0]
    expected_bias = [fixed_round(b, lp.fmt.frac_in + lp.fmt.frac_w, 32) for b in net[0].bias[order]]
    assert m.bias.tolist() == expected_bias
    assert layer_matrix(program, 0) is m  # decoded once per program


# ---- golden vs the float network ----
#
# Error bound, layer by layer (all quantities in real units; f_in, f_w, f_out are the
# layer's formats). Let x be the float inputs with the golden model's inputs
# a = x + e, |e_j| <= E_j. The weights are w_q = w + d with |d| <= 2**-f_w / 2 (rounding
# to nearest; the formats guarantee the codebook fits, so no weight saturates), the bias
# b_q = b + c with |c| <= 2**-(f_in+f_w) / 2. The accumulator holds exactly (it never
# wraps, see test_compiler_formats) b_q + sum_j w_q,j a_j, so
#     acc - (b + sum_j w_j x_j) = c + sum_j w_q,j e_j + sum_j d_j x_j
#     |acc - y| <= 2**-(f_in+f_w)/2 + sum_j |w_q,j| E_j + 2**-f_w/2 * sum_{j: w_j != 0} |x_j|.
# Write-back rounds to 2**-f_out (error <= 2**-f_out / 2) and saturates; when the
# calibration covered these inputs, |y| <= (2**(act_bits-1) - 1/2) * 2**-f_out, so
# saturating never moves the output further from y than that half LSB. ReLU is
# 1-Lipschitz. Hence E_out,i = |acc - y| bound + 2**-f_out / 2, and E_out feeds the next
# layer. The first layer's inputs are rounded: E_j = 2**-f_in / 2. The float reference is
# itself rounded, by at most n * 2**-53 relative to sum |w||x| + |b| (n <= 64 terms here),
# which the bound absorbs with a 1e-13 relative term.

def float_error_bounds(net, program, x_float):
    """Per-layer bounds on |golden - float|, shape (batch, n_out) each, network order."""
    ys = net.forward(x_float, all_layers=True)
    e = np.full_like(x_float, 2.0 ** -program.layers[0].fmt.frac_in / 2)
    h = x_float
    bounds = []
    for layer, lp, y in zip(net.layers, program.layers, ys):
        fmt = lp.fmt
        wq = np.abs(np.asarray(lp.codebook_q, dtype=np.float64)[layer.indices]) * 2.0 ** -fmt.frac_w
        nz = (layer.indices != 0).astype(np.float64)
        acc_err = (2.0 ** -(fmt.frac_in + fmt.frac_w) / 2 + e @ wq.T
                   + 2.0 ** -fmt.frac_w / 2 * (np.abs(h) @ nz.T))
        float_slack = 1e-13 * (np.abs(h) @ np.abs(layer.weight).T + np.abs(layer.bias_or_zeros()))
        e = acc_err + 2.0 ** -fmt.frac_out / 2 + float_slack
        bounds.append(e)
        h = y
    return ys, bounds


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 3), n_pe=st.sampled_from([1, 4, 64]),
       widths=st.sampled_from(WIDTHS), balance=st.booleans(),
       scale=st.sampled_from([0.1, 1.0, 50.0]), density=st.sampled_from([0.1, 0.5]))
def test_golden_within_derived_bound_of_float(seed, depth, n_pe, widths, balance, scale, density):
    act_bits, weight_bits, acc_bits = widths
    cfg = ArchConfig(n_pe=n_pe, act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 64, size=depth + 1).tolist()
    net = random_network(rng, sizes, density=density)
    x = rng.uniform(-scale, scale, size=(16, net.n_in))
    program = compile_network(net, cfg, calibration=x, balance=balance)
    assert all(lp.shift < acc_bits - 1 for lp in program.layers)  # outputs fit: no clamp
    xq = program.quantize_input(x)
    outs = run_golden(program, xq)
    ys, bounds = float_error_bounds(net, program, x)
    for k, (out, y, bound) in enumerate(zip(outs, ys, bounds)):
        got = program.to_network_order(out, k) * 2.0 ** -program.layers[k].fmt.frac_out
        err = np.abs(got - y)
        assert np.all(err <= bound), (k, float(np.max(err - bound)))
    final = program.dequantize_output(outs[-1])
    assert np.all(np.abs(final - ys[-1]) <= bounds[-1])


def test_float_bound_is_not_vacuous():
    # At 16 bits the bound is well under 1% of the outputs, and the golden model's actual
    # error uses a good part of it (rounding errors partly cancel, so not all of it).
    cfg = ArchConfig(n_pe=4)
    rng = np.random.default_rng(3)
    net = random_network(rng, [60, 40, 20], density=0.3)
    x = rng.uniform(-1, 1, size=(64, 60))
    program = compile_network(net, cfg, calibration=x)
    outs = run_golden(program, program.quantize_input(x))
    ys, bounds = float_error_bounds(net, program, x)
    for k, min_used in ((0, 0.3), (1, 0.1)):
        got = program.to_network_order(outs[k], k) * 2.0 ** -program.layers[k].fmt.frac_out
        assert np.max(bounds[k]) < 5e-3 * np.max(np.abs(ys[k]))
        assert np.max(np.abs(got - ys[k]) / bounds[k]) > min_used


@pytest.mark.parametrize("balance", [False, True])
def test_run_float(balance):
    # run_float uses the stored fixed-point biases: its distance to the float network is
    # the bias rounding (<= 2**-(f_in+f_w)/2) propagated through |W| of later layers,
    # plus float64 summation-order rounding.
    rng = np.random.default_rng(7)
    net = random_network(rng, [30, 20, 10], density=0.3)
    program = compile_network(net, ArchConfig(n_pe=4), balance=balance)
    x = rng.uniform(-1, 1, size=(5, 30))
    e = np.zeros(1)
    for layer, lp in zip(net.layers, program.layers):
        e = np.abs(layer.weight) @ (e * np.ones(layer.n_in)) + 2.0 ** -(lp.fmt.frac_in + lp.fmt.frac_w) / 2
    got = run_float(program, x)
    want = net.forward(x)
    assert got.shape == (5, 10)
    assert np.all(np.abs(got - want) <= e + 1e-12 * np.max(np.abs(want)))
    assert np.allclose(run_float(program, x[0]), got[0], rtol=1e-12, atol=1e-12)


# ---- accumulate() against an entry-by-entry oracle on every path: the int64 prefix
# sums, the ordered saturating loop, prefix sums that would overflow int64, and batches
# split into chunks (mutation testing, bench/mutation) ----

def matrix(row_lens, weights, cols, bias):
    from eiegen.sim.golden import LayerMatrix
    row_start = np.concatenate([[0], np.cumsum(row_lens)]).astype(np.int64)
    rows = np.repeat(np.arange(len(row_lens)), row_lens)
    return LayerMatrix(rows, np.asarray(cols, dtype=np.int64), np.zeros(len(rows), np.int64),
                       np.asarray(weights, dtype=np.int64), row_start,
                       np.asarray(bias, dtype=np.int64))


def oracle(m, a, acc_bits):
    """Each row's sum in entry order, clamped to acc_bits after every addition, and the
    number of clamped additions: Python integers, one entry at a time."""
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    n_out, batch = len(m.row_start) - 1, a.shape[1]
    out = np.zeros((n_out, batch), dtype=object)
    sat = np.zeros((n_out, batch), dtype=np.int64)
    for r in range(n_out):
        for b in range(batch):
            acc = int(m.bias[r])
            for e in range(m.row_start[r], m.row_start[r + 1]):
                s = acc + int(m.weights[e]) * int(a[m.cols[e], b])
                sat[r, b] += not lo <= s <= hi
                acc = min(max(s, lo), hi)
            out[r, b] = acc
    return out.astype(np.int64), sat


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), acc_bits=st.sampled_from([6, 10, 16, 24, 48]),
       wide=st.booleans())
def test_accumulate_matches_the_entry_by_entry_oracle(seed, acc_bits, wide):
    from eiegen.sim.golden import accumulate
    rng = np.random.default_rng(seed)
    n_in, n_out, batch = 7, int(rng.integers(1, 6)), int(rng.integers(1, 5))
    lens = rng.integers(0, 9, n_out)
    # wide: 31-bit weights and activations, prefix sums far beyond int64 (2**62 * 8)
    mag = (1 << 31) - 1 if wide else 40
    m = matrix(lens, rng.integers(-mag, mag + 1, lens.sum()), rng.integers(0, n_in, lens.sum()),
               rng.integers(-mag, mag + 1, n_out) >> (0 if acc_bits > 32 else 26))
    a = rng.integers(-mag, mag + 1, size=(n_in, batch))
    want, want_sat = oracle(m, a, acc_bits)
    got, got_sat = accumulate(m, a, acc_bits)
    assert np.array_equal(got, want) and np.array_equal(got_sat, want_sat)


def test_accumulate_in_chunks_of_the_batch():
    # 2**17 + 1 entries: chunks of 31 input vectors (2**22 products, memory stays
    # bounded), so 70 inputs take three; some rows saturate in some inputs, most do not
    from eiegen.sim.golden import accumulate
    rng = np.random.default_rng(4)
    n_out, per_row, n_in = 1025, 128, 50
    lens = np.full(n_out, per_row)
    lens[-1] = (1 << 17) + 1 - per_row * (n_out - 1)
    bias = rng.integers(-100, 100, n_out)
    bias[:40] = 4000  # near the 13-bit limit: these rows saturate (the ordered path)
    m = matrix(lens, rng.integers(-7, 8, lens.sum()), rng.integers(0, n_in, lens.sum()), bias)
    a = rng.integers(-30, 31, size=(n_in, 70))
    got, got_sat = accumulate(m, a, 13)
    # the oracle, vectorised over rows and inputs (one entry position at a time)
    lo, hi = -(1 << 12), (1 << 12) - 1
    acc = np.repeat(m.bias[:, None], 70, axis=1)
    sat = np.zeros_like(acc)
    for t in range(int(lens.max())):
        live = np.flatnonzero(lens > t)
        e = m.row_start[live] + t
        s = acc[live] + m.weights[e, None] * a[m.cols[e]]
        sat[live] += (s < lo) | (s > hi)
        acc[live] = np.clip(s, lo, hi)
    assert np.array_equal(got, acc) and np.array_equal(got_sat, sat)
    assert sat.any() and (sat == 0).any()


def test_saturation_counters_stop_at_32_bits():
    # the hardware's counter is 32 bits wide (docs/protocol.md): it stops at 2**32 - 1
    sats = [np.array([[3, (1 << 31)], [1, 0]]), np.array([[4, (1 << 31) + 5], [2, 1]])]
    assert saturation_counters(sats).tolist() == [[7, (1 << 32) - 1], [3, 1]]


def test_accumulate_a_layer_beyond_the_chunk_budget():
    # 2**22 + 1 entries: more products than one chunk's budget (2**22) for even one input,
    # so every input vector is a chunk of its own, on the saturating path and on the
    # wrapping one. No partial sum comes near 2**31 (|w * a| <= 210, 2**22 * 210 < 2**30),
    # so the 32-bit saturating sums are the plain sums; the 16-bit wrapping ones are
    # those modulo 2**16. Oracle: per-row float sums (exact: below 2**53).
    from eiegen.sim.golden import accumulate
    rng = np.random.default_rng(5)
    n_out, n_in, batch = 8, 64, 3
    lens = np.full(n_out, (1 << 19))
    lens[-1] += 1
    m = matrix(lens, rng.integers(-7, 8, lens.sum()), rng.integers(0, n_in, lens.sum()),
               rng.integers(-100, 100, n_out))
    a = rng.integers(-30, 31, size=(n_in, batch))
    want = np.stack([np.bincount(m.rows, weights=m.weights * a[m.cols, b], minlength=n_out)
                     for b in range(batch)], axis=1).astype(np.int64) + m.bias[:, None]
    got, sat = accumulate(m, a, 32)
    assert np.array_equal(got, want) and not sat.any()
    wrapped, _ = accumulate(m, a, 16, saturate=False)
    assert np.array_equal(wrapped, (want + (1 << 15)) % (1 << 16) - (1 << 15))
    assert (want != wrapped).any()  # some sums do wrap at 16 bits
