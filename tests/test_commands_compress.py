import json
import re

import numpy as np
import pytest

from eiegen.cli import main
from eiegen.compiler.network import Layer, Network


@pytest.fixture
def model_and_data(tmp_path):
    rng = np.random.default_rng(0)
    net = Network((Layer(rng.normal(size=(20, 8)), np.zeros(20), "relu", "fc1"),
                   Layer(rng.normal(size=(3, 20)), np.zeros(3), "none", "fc2")))
    net.save(tmp_path / "m.npz")
    x = rng.normal(size=(60, 8))
    y = rng.integers(0, 3, 60)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])
    return tmp_path


def test_compress_writes_network_and_report(model_and_data, capsys):
    t = model_and_data
    rc = main(["compress", str(t / "m.npz"), "--sparsity", "0.7,0.5", "--steps", "2",
               "--bits", "3", "--data", str(t / "d.npz"), "--epochs", "1",
               "--codebook-epochs", "1", "-o", str(t / "out.npz"), "--json", str(t / "r.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "huffman" in out and "total" in out
    net = Network.load(t / "out.npz")
    assert net.quantized and len(net[0].codebook) == 8
    report = json.loads((t / "r.json").read_text())
    assert [s["stage"] for s in report["stages"]][0] == "dense"
    assert report["total"]["nnz"] == sum(la.nnz for la in net)


@pytest.mark.parametrize("extra, match", [
    (["--sparsity", "1.5"], r"\[0, 1\)"),
    (["--bits", "4,4,4"], "3 values given for a network of 2"),
    (["--epochs", "2"], "give --data"),
    (["-o", "out.txt"], "must end in .npz"),
])
def test_bad_requests_write_nothing(model_and_data, capsys, extra, match, monkeypatch):
    t = model_and_data
    monkeypatch.chdir(t)
    rc = main(["compress", "m.npz", "-o", "out.npz", *extra] if "-o" not in extra
              else ["compress", "m.npz", *extra])
    assert rc == 2
    err = capsys.readouterr().err
    assert re.search(match, err)
    assert not (t / "out.npz").exists() and not (t / "out.txt").exists()


def test_missing_model(tmp_path, capsys):
    assert main(["compress", str(tmp_path / "nope.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("values", [["0.7", "0.5"], ["0.7,0.5"], ["0.7,", "0.5"]])
def test_per_layer_values_by_spaces_or_commas(model_and_data, capsys, values):
    t = model_and_data
    rc = main(["compress", str(t / "m.npz"), "--sparsity", *values, "--bits", "3", "2",
               "-o", str(t / "out.npz")])
    assert rc == 0
    net = Network.load(t / "out.npz")
    assert [round(1 - la.nnz / la.weight.size, 1) for la in net] == [0.7, 0.5]
    assert [len(la.codebook) for la in net] == [8, 4]


def test_per_layer_option_swallowing_the_model_says_so(model_and_data, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compress", "--sparsity", "0.7", "0.5", str(model_and_data / "m.npz")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "expected a float or a list (separated by spaces or commas)" in err
    assert "give the model before this option" in err


def test_import_notes_printed(tmp_path, capsys):
    """A final Softmax is dropped on import, and the CLI says so (argmax unchanged)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["z"], name="fc", transB=1),
         helper.make_node("Softmax", ["z"], ["y"], name="prob", axis=1)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W")])
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    assert main(["compress", str(tmp_path / "m.onnx"), "--sparsity", "0.5"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("eiegen compress: note: dropped the final Softmax (node 'prob'): ")
    assert "argmax (the predicted class) is the same" in err and err.count("\n") == 1
