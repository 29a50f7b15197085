"""The whole accelerator, loaded and run through the host protocol, against the golden
model; the performance counters against what the testbench observed."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.hw.simulation import run_host
from eiegen.sim.golden import run_golden, saturation_counters

from reference_models import reference_issue_cycles


def make_case(seed, cfg, sizes, density, n_inputs=2, input_zeros=0.5):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, density=density, index_bits=cfg.index_bits)
    program = compile_network(net, cfg)
    x = rng.normal(size=(n_inputs, sizes[0]))
    x[rng.random(x.shape) < input_zeros] = 0.0
    inputs = list(program.quantize_input(x)) + [np.zeros(sizes[0], dtype=np.int64)]
    return program, inputs


def expected_busy(program, x):
    """Issue cycles each PE must spend per layer: the columns of its non-zero inputs,
    stepped entry by entry (merged padding issues with the next entry)."""
    cfg = program.cfg
    acts = [np.asarray(x)] + run_golden(program, x)[:-1]
    total = np.zeros(cfg.n_pe, dtype=np.int64)
    for k, a in enumerate(acts):
        for pe in range(cfg.n_pe):
            ptr = program.layer_pointers(k, pe)
            v, z = program.pe_entries(pe)
            issues = np.array(reference_issue_cycles(ptr, v[ptr[0]:], z[ptr[0]:],
                                                     cfg.entries_per_word, cfg.max_gap,
                                                     bool(cfg.merge_padding)), dtype=np.int64)
            total[pe] += issues[a != 0].sum()
    return total


def check(program, inputs, preload=False):
    res = run_host(program, inputs, preload=preload)
    cfg = program.cfg
    assert res.info["n_pe"] == cfg.n_pe
    obs = res.observed
    for i, x in enumerate(inputs):
        golden, sats = run_golden(program, x, saturations=True)
        np.testing.assert_array_equal(res.outputs[i], golden[-1])
        cnt = res.counters[i]
        assert list(cnt.saturated) == saturation_counters(sats).tolist()
        assert cnt.cycles == res.cycles[i]
        # RUN's header is taken in cycle 0, the first layer starts in cycle 1, the response
        # header is offered in the cycle after the last write-back cycle
        assert obs.run_cycles[i] == res.cycles[i] + 1
        overhead = sum(1 + 2 * -(-lp.n_out // cfg.n_pe) for lp in program.layers)
        assert res.cycles[i] == overhead + obs.compute_cycles[i]
        assert list(cnt.busy) == obs.busy[i]
        assert list(cnt.starved) == obs.starved[i]
        assert list(cnt.stalled) == obs.stalled[i]
        assert list(cnt.busy) == list(expected_busy(program, x))
    return res


CASES = [
    # n_pe, queue depth, sizes, weight density, extra config
    (1, 1, [6, 5, 4], 1.0, {}),
    (2, 2, [10, 9, 7], 0.5, {}),
    (3, 8, [14, 11, 5], 0.2, {"entries_per_word": 3}),
    (4, 4, [60, 40, 9], 0.01, {}),
    (8, 8, [33, 20, 17], 0.3, {}),
    (4, 1, [12, 80, 6], 0.04, {"rel_bits": 2}),          # long gaps: padding entries (below)
    (2, 3, [9, 8], 1.0, {"entries_per_word": 1, "index_bits": 2}),
]


@pytest.mark.parametrize("n_pe,depth,sizes,density,extra", CASES)
def test_random_networks(n_pe, depth, sizes, density, extra):
    cfg = ArchConfig(n_pe=n_pe, queue_depth=depth, **extra)
    program, inputs = make_case(n_pe * 100 + depth, cfg, sizes, density)
    check(program, inputs)


def test_padding_case_has_padding():
    cfg = ArchConfig(n_pe=4, queue_depth=1, rel_bits=2)
    program, _ = make_case(401, cfg, [12, 80, 6], 0.04)
    v, _ = program.pe_entries(0)
    assert (v == 0).sum() > 0


def test_all_zero_and_dense_inputs():
    cfg = ArchConfig(n_pe=4, queue_depth=2)
    program, _ = make_case(7, cfg, [16, 12, 8], 0.4)
    rng = np.random.default_rng(7)
    dense = program.quantize_input(rng.uniform(0.1, 1.0, size=16))
    assert np.all(dense != 0)
    res = check(program, [np.zeros(16, dtype=np.int64), dense])
    # all-zero input: nothing is broadcast in layer 0
    assert res.counters[0].busy[0] <= res.counters[1].busy[0]


def test_elaboration_time_program():
    cfg = ArchConfig(n_pe=3, queue_depth=4)
    program, inputs = make_case(11, cfg, [13, 10, 6], 0.3)
    check(program, inputs, preload=True)


@pytest.mark.slow
@pytest.mark.parametrize("n_pe", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("depth", [1, 2, 8])
def test_random_networks_sweep(n_pe, depth):
    for density in (0.01, 0.1, 1.0):
        cfg = ArchConfig(n_pe=n_pe, queue_depth=depth, rel_bits=3)
        program, inputs = make_case(int(density * 1000) + n_pe, cfg, [24, 30, 20, 7], density)
        check(program, inputs)


@pytest.mark.parametrize("n_pe", [5, 63, 64])
def test_large_arrays_elaborate(n_pe):
    from amaranth.hdl import Fragment
    from eiegen.hw.top import EIE
    cfg = ArchConfig(n_pe=n_pe, spmat_depth=16, ptr_depth=16, bias_depth=4, act_depth=4)
    Fragment.get(EIE(cfg), None)
