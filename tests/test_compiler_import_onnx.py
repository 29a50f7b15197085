import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from eiegen.compiler.import_onnx import import_onnx  # noqa: E402
from eiegen.compiler.model_import import UnsupportedModelError, import_model  # noqa: E402
from eiegen.compiler.network import NetworkError  # noqa: E402

rng = np.random.default_rng(0)
W1 = rng.normal(size=(16, 8)).astype(np.float32)  # MatMul layout (n_in, n_out)
B1 = rng.normal(size=8).astype(np.float32)
W2 = rng.normal(size=(3, 8)).astype(np.float32)  # Gemm transB=1 layout (n_out, n_in)
B2 = rng.normal(size=3).astype(np.float32)


def model(nodes, in_shape=("N", 1, 4, 4), extra=()):
    inits = [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(B1, "B1"),
             numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(B2, "B2"),
             numpy_helper.from_array(np.array([-1, 16], dtype=np.int64), "shape"), *extra]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          inits)
    return helper.make_model(g)


def chain(first="Reshape"):
    head = (helper.make_node("Reshape", ["x", "shape"], ["xf"], name="flat")
            if first == "Reshape" else helper.make_node("Flatten", ["x"], ["xf"], name="flat"))
    return [head,
            helper.make_node("MatMul", ["xf", "W1"], ["h"], name="mm1"),
            helper.make_node("Add", ["h", "B1"], ["hb"], name="add1"),
            helper.make_node("Relu", ["hb"], ["hr"], name="relu1"),
            helper.make_node("Dropout", ["hr"], ["hd"], name="drop"),
            helper.make_node("Gemm", ["hd", "W2", "B2"], ["y"], name="fc2", transB=1,
                             alpha=0.5)]


@pytest.mark.parametrize("first", ["Reshape", "Flatten"])
def test_import_matches_reference(tmp_path, first):
    m = model(chain(first))
    onnx.checker.check_model(m)
    onnx.save(m, tmp_path / "m.onnx")
    net = import_model(tmp_path / "m.onnx")
    assert [la.name for la in net] == ["mm1", "fc2"]
    assert [la.activation for la in net] == ["relu", "none"]
    x = rng.random((5, 16))
    ref = (np.maximum(x @ W1 + B1, 0) @ W2.T) * 0.5 + B2
    assert np.allclose(net.forward(x), ref, atol=1e-5)


def replace_node(nodes, name, new):
    return [new if n.name == name else n for n in nodes]


@pytest.mark.parametrize("change, match", [
    (lambda n: replace_node(n, "relu1", helper.make_node("Sigmoid", ["hb"], ["hr"],
                                                          name="sig")),
     "node 'sig' of type Sigmoid: is followed by node 'fc2' \\(Gemm\\); a Sigmoid is only "
     "supported as the model's last operation"),
    (lambda n: [helper.make_node("Tanh", ["W1"], ["t"], name="tanh"), *n],
     "node 'tanh' of type Tanh is not supported"),
    (lambda n: replace_node(n, "flat", helper.make_node("Flatten", ["x"], ["xf"], name="flat",
                                                         axis=2)),
     "node 'flat' of type Flatten: has axis=2"),
    (lambda n: n[1:], "node 'mm1' of type MatMul: does not continue a straight chain"),
    (lambda n: replace_node(n, "add1", helper.make_node("Add", ["h", "h"], ["hb"],
                                                         name="add1")),
     "takes its addend 'h' from a computed tensor"),
])
def test_unsupported_nodes_named(change, match):
    with pytest.raises(UnsupportedModelError, match=match) as e:
        import_onnx(model(change(chain())))
    assert "supported: Gemm, MatMul + Add" in str(e.value)


def test_bad_reshape_and_unflattened_input():
    bad = numpy_helper.from_array(np.array([-1, 4, 4], dtype=np.int64), "shape3")
    nodes = replace_node(chain(), "flat", helper.make_node("Reshape", ["x", "shape3"], ["xf"],
                                                            name="flat"))
    with pytest.raises(UnsupportedModelError, match="batch-flat"):
        import_onnx(model(nodes, extra=[bad]))
    with pytest.raises(UnsupportedModelError, match="rank > 2"):
        import_onnx(model([helper.make_node("Identity", ["x"], ["xf"], name="id"),
                           *chain()[1:]]))


def test_nodes_missing_their_constant_input_are_refused():
    # found by fuzzing: a Conv or Reshape without its second input was an IndexError
    for node, match in ((helper.make_node("Conv", ["x"], ["xf"], name="flat"), "no weight"),
                        (helper.make_node("Reshape", ["x"], ["xf"], name="flat"), "no shape")):
        with pytest.raises(UnsupportedModelError, match=match):
            import_onnx(model(replace_node(chain(), "flat", node)))


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\xff\x00garbage")
    with pytest.raises(NetworkError, match="not a readable ONNX file"):
        import_model(tmp_path / "bad.onnx")


# BatchNormalization after the first layer, with statistics far from (0, 1)
BN = {"scale": rng.uniform(0.5, 2.0, 8), "bnb": rng.uniform(-1, 1, 8),
      "mean": rng.normal(0, 2, 8), "var": rng.uniform(0.5, 4.0, 8)}
BN_INITS = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in BN.items()]


def bn_reference(x, eps=1e-3):
    h = x @ W1 + B1
    h = BN["scale"] * (h - BN["mean"]) / np.sqrt(BN["var"] + eps) + BN["bnb"]
    return np.maximum(h, 0) @ W2.T * 0.5 + B2


def with_bn(nodes):
    """``nodes`` with a BatchNormalization between the first layer's Add and its Relu."""
    bn = helper.make_node("BatchNormalization", ["hb", "scale", "bnb", "mean", "var"], ["hn"],
                          name="bn", epsilon=1e-3)
    out = []
    for n in nodes:
        if n.name == "relu1":
            out += [bn, helper.make_node("Relu", ["hn"], ["hr"], name="relu1")]
        else:
            out.append(n)
    return out


def test_batchnorm_after_matmul_add_folded():
    net = import_onnx(model(with_bn(chain()), extra=BN_INITS))
    assert [la.name for la in net] == ["mm1", "fc2"]
    x = rng.normal(size=(6, 16))
    assert np.allclose(net.forward(x), bn_reference(x), atol=1e-5)


def test_batchnorm_refusals():
    relu_bn = [n for n in chain()]
    relu_bn.insert(4, helper.make_node("BatchNormalization", ["hr", "scale", "bnb", "mean",
                                                               "var"], ["hn"], name="bn"))
    relu_bn[5] = helper.make_node("Dropout", ["hn"], ["hd"], name="drop")
    with pytest.raises(UnsupportedModelError, match="node 'bn' of type BatchNormalization: "
                                                    "follows a ReLU; a BatchNorm is only "
                                                    "supported straight after"):
        import_onnx(model(relu_bn, extra=BN_INITS))
    training = [n if n.name != "bn" else helper.make_node(
        "BatchNormalization", list(n.input), ["hn"], name="bn", training_mode=1)
        for n in with_bn(chain())]
    with pytest.raises(UnsupportedModelError, match="'bn' of type BatchNormalization: is in "
                                                    "training mode"):
        import_onnx(model(training, extra=BN_INITS))


def softmax_chain(op="Softmax", **attrs):
    return [*chain()[:-1], helper.make_node("Gemm", ["hd", "W2", "B2"], ["z"], name="fc2",
                                            transB=1, alpha=0.5),
            helper.make_node(op, ["z"], ["y"], name="prob", **attrs)]


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Sigmoid"])
def test_final_softmax_dropped_with_note(op):
    net = import_onnx(model(softmax_chain(op)))
    assert len(net) == 2 and net[-1].activation == "none"
    assert len(net.notes) == 1 and f"dropped the final {op} (node 'prob')" in net.notes[0]
    assert "argmax (the predicted class) is the same" in net.notes[0]


def test_softmax_over_the_batch_refused():
    with pytest.raises(UnsupportedModelError, match="'prob' of type Softmax: has axis=0"):
        import_onnx(model(softmax_chain(axis=0)))


@pytest.fixture
def torch_mod():
    return pytest.importorskip("torch")


# the TorchScript exporter is deprecated since torch 2.9 and says so, from its call and from
# inside (typing_extensions.deprecated); it is still the one that needs no onnxscript
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("trained", [True, False])
def test_legacy_torch_export_with_batchnorm(tmp_path, torch_mod, trained):
    """torch.onnx.export(dynamo=False), the exporter that needs no onnxscript. Untrained,
    its BatchNorm's running_var equals its weight (ones): the exporter stores one and
    reads the other through an Identity ahead of the chain, which is a constant."""
    nn = torch_mod.nn
    torch_mod.manual_seed(7)
    m = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
                      nn.Softmax(dim=1))
    if trained:
        m.train()
        with torch_mod.no_grad():
            for _ in range(10):
                m(torch_mod.randn(32, 5) * 2 + 1)
    m.eval()
    torch_mod.onnx.export(m, torch_mod.zeros(1, 5), tmp_path / "m.onnx", dynamo=False)
    ops = [n.op_type for n in onnx.load(tmp_path / "m.onnx").graph.node]
    assert "BatchNormalization" in ops and (trained or "Identity" in ops)
    net = import_model(tmp_path / "m.onnx")
    x = np.random.default_rng(7).normal(1, 2, (8, 5))
    with torch_mod.no_grad():
        ref = m[:-1](torch_mod.tensor(x, dtype=torch_mod.float32)).double().numpy()
    assert np.allclose(net.forward(x), ref, atol=1e-5)
    assert len(net.notes) == 1
