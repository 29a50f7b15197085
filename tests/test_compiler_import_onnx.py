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
     "node 'sig' of type Sigmoid is not supported"),
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


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\xff\x00garbage")
    with pytest.raises(NetworkError, match="not a readable ONNX file"):
        import_model(tmp_path / "bad.onnx")
