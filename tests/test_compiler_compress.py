import numpy as np
import pytest

from eiegen.compiler.compress import (CompressionConfig, compress, quantize_network,
                                      save_network)
from eiegen.compiler.finetune import NumpyTrainer, accuracy
from eiegen.compiler.network import Layer, Network


def data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16)) * 2
    y = rng.integers(0, 4, n)
    return centres[y] + rng.normal(size=(n, 16)), y


def trained(seed=0):
    rng = np.random.default_rng(seed)
    net = Network((Layer(rng.normal(size=(40, 16)) * 0.3, np.zeros(40), "relu", "fc1"),
                   Layer(rng.normal(size=(4, 40)) * 0.3, np.zeros(4), "none", "fc2")))
    x, y = data()
    return NumpyTrainer(x, y, lr=1e-2).train_weights(net, None, 10)


def test_full_pipeline_with_retraining():
    x, y = data()
    net = trained()
    cfg = CompressionConfig(sparsity=(0.8, 0.5), prune_steps=3, retrain_epochs=2, bits=3,
                            codebook_epochs=2)
    res = compress(net, cfg, trainer=NumpyTrainer(x, y, lr=1e-2),
                   metric=lambda n: accuracy(n, x, y))
    names = [s for s, _ in res.report.stages]
    assert names == ["dense", "pruned", "quantized", "trained quantization", "huffman"]
    assert res.network.quantized
    assert [la.nnz for la in res.network] == [la.nnz for la in res.pruned]
    assert res.pruned[0].nnz == round(0.2 * 640)
    assert all(len(la.codebook) == 8 for la in res.network)
    assert res.report.stage("huffman") == res.report.stage("trained quantization")
    assert res.report.stage("trained quantization") > 90
    assert res.report.total()["ratio"] > 4


def test_one_shot_without_trainer_is_deterministic():
    net = trained()
    cfg = CompressionConfig(quality=(1.0, 0.5), bits=(4, 2), method="optimal")
    a = compress(net, cfg)
    b = compress(net, cfg)
    assert not a.report.stages  # no metric given
    for la, lb in zip(a.network, b.network):
        assert np.array_equal(la.weight, lb.weight)
    assert [len(la.codebook) for la in a.network] == [16, 4]


def test_global_sparsity_and_no_pruning():
    net = trained()
    res = compress(net, CompressionConfig(global_sparsity=0.9, prune_steps=2))
    total = sum(la.weight.size for la in net)
    assert sum(la.nnz for la in res.network) <= round(0.1 * total)
    res = compress(net, CompressionConfig(), metric=lambda n: 1.0)
    assert [s for s, _ in res.report.stages] == ["dense", "quantized", "huffman"]


@pytest.mark.parametrize("cfg, match", [
    (CompressionConfig(sparsity=0.5, quality=1.0), "at most one"),
    (CompressionConfig(bits=(4,)), "1 values given for a network of 2"),
    (CompressionConfig(bits=9), "1..8"),
    (CompressionConfig(method="kmeans"), "supported: linear"),
    (CompressionConfig(prune_steps=0), "prune_steps"),
    (CompressionConfig(sparsity=1.5), r"\[0, 1\)"),
    (CompressionConfig(retrain_epochs=1), "need a trainer"),
])
def test_bad_config_rejected_before_work(cfg, match):
    with pytest.raises(ValueError, match=match):
        compress(trained(), cfg)


def test_quantize_network_and_save_round_trip(tmp_path):
    net = quantize_network(trained(), [4, 3])
    save_network(net, tmp_path / "q.npz")
    back = Network.load(tmp_path / "q.npz")
    for a, b in zip(net, back):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.bias, b.bias) and a.name == b.name
