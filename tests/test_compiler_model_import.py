import numpy as np
import pytest

from eiegen.compiler.model_import import ChainBuilder, UnsupportedModelError, import_model
from eiegen.compiler.network import Layer, Network, NetworkError


def test_npz_and_network_pass_through(tmp_path):
    net = Network((Layer(np.ones((3, 4)), np.zeros(3), "relu", "a"),))
    net.save(tmp_path / "n.npz")
    assert np.array_equal(import_model(tmp_path / "n.npz")[0].weight, net[0].weight)
    assert import_model(net) is net


def test_unknown_inputs_rejected(tmp_path):
    with pytest.raises(NetworkError, match="does not exist"):
        import_model(tmp_path / "missing.npz")
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(NetworkError, match="supported: .npz"):
        import_model(tmp_path / "m.h5")
    with pytest.raises(NetworkError, match="cannot import a dict"):
        import_model({})


def test_chain_builder_rules():
    b = ChainBuilder("test", "FC, ReLU")
    with pytest.raises(UnsupportedModelError, match="node 'r0' of type Relu: applies ReLU to "
                                                    "the network input.*supported: FC, ReLU"):
        b.relu("r0", "Relu")
    b.input([None, 1, 2, 2])
    with pytest.raises(UnsupportedModelError, match="rank > 2"):
        b.fc("fc", "Gemm", np.ones((3, 4)))
    b.flatten("flat", "Flatten")
    with pytest.raises(UnsupportedModelError, match="expects 5 inputs but receives 4"):
        b.fc("fc", "Gemm", np.ones((3, 5)))
    b.fc("fc1", "MatMul", np.ones((3, 4)))
    b.bias("add", "Add", np.arange(3.0))
    with pytest.raises(UnsupportedModelError, match="not the bias"):
        b.bias("add2", "Add", np.arange(3.0))
    b.relu("r1", "Relu")
    b.relu("r2", "Relu")
    net = b.network()
    assert net[0].relu and net[0].name == "fc1" and net[0].bias.tolist() == [0, 1, 2]
