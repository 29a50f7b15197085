import numpy as np
import pytest

from eiegen.digits import (SHAPE, compress_digits, digits_data,
                                    fixed_point_accuracy, load_shipped)
from eiegen.compiler.finetune import accuracy


def test_data_split_is_fixed():
    x_tr, y_tr, x_te, y_te = digits_data()
    assert x_tr.shape == (1198, 64) and x_te.shape == (599, 64)
    assert 0.0 <= x_tr.min() and x_tr.max() <= 1.0
    assert np.array_equal(digits_data()[3], y_te)


def test_shipped_models_meet_the_goals():
    dense, net = load_shipped("dense"), load_shipped("compressed")
    report = load_shipped("report")
    assert tuple([dense.n_in] + [la.n_out for la in dense]) == SHAPE
    assert net.quantized and all(len(la.codebook) == 16 for la in net)
    _, _, x_te, y_te = digits_data()
    dense_acc, acc = accuracy(dense, x_te, y_te), accuracy(net, x_te, y_te)
    assert dense_acc - acc <= 1.0
    assert report["total"]["ratio"] >= 40.0
    stages = {s["stage"]: s["metric"] for s in report["stages"]}
    assert stages["dense"] == pytest.approx(dense_acc)
    assert stages["huffman"] == pytest.approx(acc)


def test_fixed_point_matches_float():
    pytest.importorskip("eiegen.sim.golden")
    net = load_shipped("compressed")
    x_tr, _, x_te, y_te = digits_data()
    fx = fixed_point_accuracy(net, x_te, y_te, calibration=x_tr)
    assert abs(fx - accuracy(net, x_te, y_te)) <= 0.5


def test_one_shot_pipeline_runs_without_training():
    net, report = compress_digits(trainer=None, fixed_point=False)
    assert net.quantized and report.total()["ratio"] > 30
    assert [s for s, _ in report.stages] == ["dense", "pruned", "quantized", "huffman"]


@pytest.mark.slow
def test_pipeline_reproduces_the_shipped_model():
    net, report = compress_digits(fixed_point=False)
    shipped = load_shipped("compressed")
    for a, b in zip(net, shipped):
        assert np.array_equal(a.indices, b.indices)
        assert np.allclose(a.codebook, b.codebook, atol=1e-9)
