import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.compiler.examples import random_network
from eiegen.compiler.network import Layer, Network, NetworkError


def _quantized(n_out=3, n_in=4, **kw):
    codebook = np.array([0.0, 0.5, -1.25])
    indices = np.arange(n_out * n_in).reshape(n_out, n_in) % 3
    return Layer(weight=codebook[indices], codebook=codebook, indices=indices, **kw)


# ---- Layer validation ----

@pytest.mark.parametrize("weight, match", [
    (np.zeros(4), r"2-D .*got shape \(4,\)"),
    (np.zeros((0, 3)), r"non-empty .*got shape \(0, 3\)"),
    (np.array([[1.0, np.nan]]), "NaN or infinity"),
    (np.array([[1.0, np.inf]]), "NaN or infinity"),
    (np.array([["a", "b"]]), "weight must be numeric"),
])
def test_bad_weights(weight, match):
    with pytest.raises(NetworkError, match=match):
        Layer(weight=weight, name="fc")


def test_bad_bias_and_activation():
    with pytest.raises(NetworkError, match="layer 'fc': bias has 2 values but the layer has 3 outputs"):
        Layer(weight=np.ones((3, 2)), bias=np.ones(2), name="fc")
    with pytest.raises(NetworkError, match="bias contains NaN"):
        Layer(weight=np.ones((3, 2)), bias=[0.0, np.nan, 1.0])
    with pytest.raises(NetworkError, match="activation 'tanh' is not supported; supported: relu, none"):
        Layer(weight=np.ones((3, 2)), activation="tanh")


def test_bad_quantization():
    w = np.array([[0.0, 0.5]])
    with pytest.raises(NetworkError, match="needs both codebook and indices"):
        Layer(weight=w, codebook=[0.0, 0.5])
    with pytest.raises(NetworkError, match="codebook entry 0 must be exactly 0.0"):
        Layer(weight=np.array([[0.1, 0.5]]), codebook=[0.1, 0.5], indices=[[0, 1]])
    with pytest.raises(NetworkError, match=r"indices must lie in 0\.\.1"):
        Layer(weight=w, codebook=[0.0, 0.5], indices=[[0, 2]])
    with pytest.raises(NetworkError, match="indices must be integers"):
        Layer(weight=w, codebook=[0.0, 0.5], indices=[[0.0, 1.0]])
    with pytest.raises(NetworkError, match=r"indices shape \(2,\) differs"):
        Layer(weight=w, codebook=[0.0, 0.5], indices=[0, 1])
    with pytest.raises(NetworkError, match=r"weight differs from codebook\[indices\]"):
        Layer(weight=np.array([[0.0, 0.25]]), codebook=[0.0, 0.5], indices=[[0, 1]])


def test_layer_properties_and_quantize():
    layer = Layer(weight=np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]]), activation="none")
    assert (layer.n_out, layer.n_in, layer.nnz, layer.relu, layer.quantized) == (3, 2, 2, False, False)
    assert layer.bias_or_zeros().tolist() == [0.0, 0.0, 0.0]
    q = layer.quantize([0.0, 1.0, 2.0], np.array([[0, 2], [1, 0], [0, 0]]))
    assert q.quantized and q.weight.tolist() == layer.weight.tolist()
    assert q.indices.dtype == np.int64 and q.activation == "none"


def test_layer_forward():
    layer = Layer(weight=np.array([[1.0, -2.0], [0.5, 0.5]]), bias=[0.25, -3.0])
    x = np.array([[1.0, 1.0], [2.0, -1.0]])
    assert layer.forward(x).tolist() == [[0.0, 0.0], [4.25, 0.0]]
    lin = Layer(weight=layer.weight, bias=layer.bias, activation="none")
    assert lin.forward(x).tolist() == [[-0.75, -2.0], [4.25, -2.5]]


# ---- Network ----

def test_network_needs_layers_and_matching_shapes():
    with pytest.raises(NetworkError, match="at least one layer"):
        Network(())
    with pytest.raises(NetworkError,
                       match=r"layer 0 \(a\) has 3 outputs but layer 1 \(b\) expects 5 inputs"):
        Network((Layer(np.ones((3, 2)), name="a"), Layer(np.ones((4, 5)), name="b")))


def test_network_forward():
    net = random_network(1, [6, 5, 3], density=0.5)
    x = np.random.default_rng(2).normal(size=(4, 6))
    h1 = np.maximum(x @ net[0].weight.T + net[0].bias, 0)
    h2 = h1 @ net[1].weight.T + net[1].bias
    assert np.array_equal(net.forward(x), h2)
    outs = net.forward(x, all_layers=True)
    assert len(outs) == 2 and np.array_equal(outs[0], h1)
    # a single vector may take another BLAS path: equal up to float64 summation order
    np.testing.assert_allclose(net.forward(x[0]), h2[0], rtol=1e-12, atol=1e-15)
    assert net.forward(x[0]).shape == (3,)
    assert (net.n_in, net.n_out, len(net), net.quantized) == (6, 3, 2, True)
    with pytest.raises(NetworkError, match="input has 5 features, the network expects 6"):
        net.forward(np.zeros(5))


# ---- .npz persistence ----

def _assert_same(a: Network, b: Network):
    assert len(a) == len(b)
    for la, lb in zip(a, b):
        assert np.array_equal(la.weight, lb.weight)
        assert (la.bias is None) == (lb.bias is None)
        if la.bias is not None:
            assert np.array_equal(la.bias, lb.bias)
        assert (la.activation, la.name, la.quantized) == (lb.activation, lb.name, lb.quantized)
        if la.quantized:
            assert np.array_equal(la.codebook, lb.codebook)
            assert np.array_equal(la.indices, lb.indices)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4), bias=st.booleans(),
       index_bits=st.integers(1, 6), relu_last=st.booleans())
def test_npz_round_trip_quantized(tmp_path_factory, seed, depth, bias, index_bits, relu_last):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 20, size=depth + 1).tolist()
    net = random_network(rng, sizes, density=0.3, index_bits=index_bits, bias=bias,
                         relu_last=relu_last)
    path = tmp_path_factory.mktemp("npz") / "net.npz"
    net.save(path)
    _assert_same(Network.load(path), net)


def test_npz_round_trip_float_and_names(tmp_path):
    net = Network((Layer(np.array([[1.5, -2.0]]), name="first", activation="none"),
                   Layer(np.array([[3.0]]), bias=[0.5])))
    net.save(tmp_path / "n.npz")
    back = Network.load(tmp_path / "n.npz")
    _assert_same(back, Network((net[0], Layer(np.array([[3.0]]), bias=[0.5], name="fc1"))))
    assert back[1].name == "fc1"  # unnamed layers get a default name on load


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, match", [
    ({"layer0.bias": np.ones(2)}, "layer0.weight is missing"),
    ({"layer0.weight": np.ones((3, 2)), "layer1.weight": np.ones((2, 4))},
     r"layer 0 \(fc0\) has 3 outputs but layer 1 \(fc1\) expects 4 inputs"),
    ({"layer0.weight": np.ones((3, 2)), "layer0.activation": np.array("sigmoid")},
     "layer0: .*activation 'sigmoid' is not supported"),
    ({"layer0.weight": np.ones((1, 2)), "layer0.codebook": np.array([1.0]),
      "layer0.indices": np.zeros((1, 2), dtype=np.int64)}, "layer0: .*codebook entry 0 must be exactly 0.0"),
    ({"layer0.weight": np.array([[1.0, np.nan]])}, "layer0: .*NaN"),
    ({"layer0.weight": np.ones((2, 2)), "layer0.bias": np.array([1.0, np.inf])}, "layer0: .*bias contains NaN"),
    ({"layer0.weight": np.ones(3)}, r"layer0: .*2-D .*shape \(3,\)"),
    ({"layer0.weight": np.ones((2, 2)), "layer2.weight": np.ones((2, 2))}, r"run 0\.\.1 without gaps, found \[0, 2\]"),
    ({"layer0.weights": np.ones((2, 2))}, "unexpected key 'layer0.weights'"),
    ({"weights": np.ones((2, 2))}, "unexpected key 'weights'"),
    ({"layer0.weight": np.ones((2, 2)), "layer0.name": np.array(["a", 1], dtype=object)},
     "holds Python objects \\(pickled data\\)"),
])
def test_malformed_files(tmp_path, arrays, match):
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(NetworkError, match=match) as e:
        Network.load(path)
    assert "bad.npz" in str(e.value)  # the message names the file


def test_unreadable_files(tmp_path):
    with pytest.raises(NetworkError, match="does not exist"):
        Network.load(tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file")
    with pytest.raises(NetworkError, match="junk.npz is not a readable .npz file"):
        Network.load(junk)
    empty = tmp_path / "empty.npz"
    with zipfile.ZipFile(empty, "w"):
        pass
    with pytest.raises(NetworkError, match="no layers found"):
        Network.load(empty)


# ---- silent degradation refused (issue 19, item 9) ----

@pytest.mark.parametrize("edit, match", [
    (lambda a: a["layer0.weight"].__setitem__((0, 0), 1e300), "weight holds 1e\\+300, beyond"),
    (lambda a: a["layer0.bias"].__setitem__(0, 1e300), "bias holds 1e\\+300"),
    (lambda a: a.__setitem__("layer0.weight", a["layer0.weight"] + 1j),
     "complex values \\(the imaginary part would be lost\\)"),
    (lambda a: a.__setitem__("layer0.weight", a["layer0.weight"] > 0), "got booleans"),
    (lambda a: a.__setitem__("layer01.weight", a["layer1.weight"]), "unexpected key 'layer01.weight'"),
    (lambda a: a.__setitem__("layer00.weight", a["layer0.weight"]), "unexpected key 'layer00.weight'"),
])
def test_absurd_or_ambiguous_networks_refused(tmp_path, edit, match):
    rng = np.random.default_rng(0)
    a = {"layer0.weight": rng.normal(size=(3, 4)), "layer0.bias": rng.normal(size=3),
         "layer1.weight": rng.normal(size=(2, 3))}
    edit(a)
    np.savez(tmp_path / "m.npz", **a)
    with pytest.raises(NetworkError, match=match):
        Network.load(tmp_path / "m.npz")


def test_nan_codebook_refused():
    cb = np.array([0.0, 0.5, np.nan])
    idx = np.array([[0, 1], [1, 0]])
    with pytest.raises(NetworkError, match="codebook contains NaN or infinity"):
        Layer(weight=np.array([[0.0, 0.5], [0.5, 0.0]]), codebook=cb, indices=idx)
