"""compiler/lower.py: convolutions and max pooling lowered to sparse layers."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.lower import POOL_CODEBOOK, lower_network, lowered_shapes, pool_steps
from eiegen.compiler.network import ConvLayer, Layer, Network
from eiegen.compiler.program import ProgramError
from eiegen.compiler.weight_sharing import share_weights
from eiegen.sim.golden import run_golden


def _quantized(layer, bits=4):
    cb, idx = share_weights(layer.weight, bits=bits)
    return layer.quantize(cb, idx)


def _cnn(seed=0, pool=(2, 2), **conv):
    rng = np.random.default_rng(seed)
    geo = dict(in_shape=(2, 6, 6), kernel=3, padding=1)
    geo.update(conv)
    c1 = ConvLayer(weight=rng.normal(size=(4, 2 // geo.get("groups", 1) * 9)),
                   bias=rng.normal(size=4) * 0.1, name="c1", pool=pool, **geo)
    fc = Layer(rng.normal(size=(3, c1.n_out)) * 0.3, rng.normal(size=3) * 0.1, "none", "fc")
    return Network((_quantized(c1), _quantized(fc)))


@pytest.mark.parametrize("geo", [dict(), dict(stride=2, pool=None), dict(dilation=2, padding=2),
                                 dict(groups=2), dict(pool=(3, 3), pool_stride=(2, 2),
                                                      pool_padding=(1, 1))])
def test_lowered_network_computes_the_same_function(geo):
    net = _cnn(**geo)
    low, rep = lower_network(net)
    x = np.random.default_rng(3).normal(size=(16, net.n_in))
    np.testing.assert_allclose(low.forward(x), net.forward(x), atol=1e-12)
    assert [(la.name, la.n_in, la.n_out) for la in low] == \
        [(s[0], s[2], s[3]) for s in lowered_shapes(net)]
    conv = rep.layers[0]
    assert conv.kind == "conv" and conv.weights == net[0].nnz
    assert conv.nnz == low[0].nnz > conv.weights  # each kernel weight repeated per position


def test_lowered_conv_shares_the_kernel_codebook():
    net = _cnn()
    low, _ = lower_network(net)
    np.testing.assert_array_equal(low[0].codebook, net[0].codebook)
    assert set(np.unique(low[0].indices)) <= set(np.unique(net[0].indices)) | {0}
    for step in low[1:-1]:
        np.testing.assert_array_equal(step.codebook, POOL_CODEBOOK)


def test_pool_tree_depth():
    assert len(pool_steps(np.arange(4)[None])) == 3  # 2x2: 4, 2, 1 outputs per window
    assert [n for n, *_ in pool_steps(np.arange(4)[None])] == [4, 2, 1]
    assert len(pool_steps(np.arange(9)[None])) == 5  # 3x3: ceil(log2 9) + 1


def test_max_pool_on_the_array_is_exact():
    """The pooled integers are exactly the max of the conv layer's integers."""
    net = _cnn(seed=4)
    x = np.random.default_rng(5).uniform(0, 1, size=(64, net.n_in))
    program = compile_network(net, ArchConfig(n_pe=4), calibration=x)
    outs = run_golden(program, program.quantize_input(x))
    conv = program.to_network_order(outs[0], 0)
    pooled = program.to_network_order(outs[3], 3)
    assert program.layers[3].fmt.frac_out == program.layers[0].fmt.frac_out
    win = net[0].pool_windows()
    np.testing.assert_array_equal(pooled, conv[:, win].max(axis=2))
    assert program.lowering.to_dict()["extra_layers"] == 3


def test_a_conv_too_large_is_refused_with_the_field_to_raise():
    net = _cnn()
    with pytest.raises(ProgramError, match=r"c1: conv2d 2->4 3x3.*lowered to 144x72.*"
                                           r"raise act_depth to 36"):
        compile_network(net, ArchConfig(n_pe=4, act_depth=16))


@pytest.mark.verilator
def test_tiny_cnn_runs_on_the_rtl_bit_exact():
    """conv 1->2 3x3 + ReLU + 2x2 max pool + FC on a 4x4 map: five sparse layers, RTL ==
    golden on every word (the default 2-PE config other tests build, so the cache hits)."""
    from eiegen.sim.harness import run_verilator

    rng = np.random.default_rng(6)
    conv = ConvLayer(weight=rng.normal(size=(2, 9)), bias=rng.normal(size=2) * 0.1,
                     name="c", in_shape=(1, 4, 4), kernel=3, pool=(2, 2))
    fc = Layer(rng.normal(size=(3, 2)), rng.normal(size=3) * 0.1, "none", "fc")
    net = Network((_quantized(conv), _quantized(fc)))
    x = rng.uniform(0, 1, size=(12, 16))
    program = compile_network(net, ArchConfig(n_pe=2), calibration=x)
    assert len(program.layers) == 5
    xq = program.quantize_input(x)
    run = run_verilator(program, xq)
    np.testing.assert_array_equal(run.outputs, run_golden(program, xq)[-1])
