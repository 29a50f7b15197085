"""The end-to-end demo (eiegen/demo.py): real compression, compilation, Verilog and a
Verilator simulation of a few held-out digits."""

import json

import numpy as np
import pytest

from eiegen.demo import format_summary, run_demo


@pytest.mark.verilator
@pytest.mark.slow
def test_demo_runs_the_whole_flow(tmp_path):
    rep = run_demo(tmp_path, n_pe=8, queue_depth=8, train=False, limit=12, log=lambda s: None)
    s = rep["summary"]
    assert s["rtl_equals_golden"]
    assert s["cycle_model_exact"]
    assert s["rtl_accuracy"] == s["golden_fixed_point_accuracy"]
    assert s["n_test"] == 12
    # the compressed model of the compression issue: >= 40x, within a point of dense
    assert s["compression_ratio"] >= 40
    assert s["float_accuracy"] - s["compressed_float_accuracy"] <= 1.0
    sim = rep["simulation"]
    assert s["cycles_per_inference"] == pytest.approx(np.mean(sim["cycles"]["per_input"]))
    assert 0 < s["compute_phase_efficiency"] <= 1
    assert 0 < s["compute_efficiency"] <= s["compute_phase_efficiency"]
    assert 0 < s["work_balance"] <= 1
    assert s["inferences_per_second"] == pytest.approx(100e6 / s["cycles_per_inference"])
    for name in ("report.json", "eie.v", "config.json", "program/manifest.json",
                 "weights.png", "sparsity.png", "per_pe.png", "layers.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "report.json").read_text())["summary"] == json.loads(
        json.dumps(s))
    text = format_summary(s)
    assert f"{s['compression_ratio']:.1f}x" in text and "RTL == golden" in text


@pytest.mark.verilator
@pytest.mark.slow
def test_cnn_demo_runs_the_whole_flow(tmp_path):
    # `eiegen demo --cnn` (issue 22): the LeNet-style digits CNN trained, compressed,
    # lowered (convolutions and max pooling become sparse layers) and run in Verilator
    rep = run_demo(tmp_path, n_pe=8, queue_depth=8, limit=12, log=lambda s: None, cnn=True)
    s = rep["summary"]
    assert s["rtl_equals_golden"] and s["cycle_model_exact"] and s["n_test"] == 12
    assert s["rtl_accuracy"] == s["golden_fixed_point_accuracy"]
    assert s["compression_ratio"] >= 35
    assert s["float_accuracy"] - s["compressed_float_accuracy"] <= 1.0
    assert (tmp_path / "program" / "manifest.json").exists()


def test_summary_names_both_balance_figures():
    s = {"float_accuracy": 98.0, "compressed_float_accuracy": 97.9,
         "golden_fixed_point_accuracy": 97.9, "rtl_accuracy": 97.9, "rtl_equals_golden": True,
         "compression_ratio": 45.0, "cycles_per_inference": 300.0, "cycle_model_exact": True,
         "work_balance": 0.826, "compute_efficiency": 0.269, "compute_phase_efficiency": 0.309,
         "clock_mhz": 100.0, "inferences_per_second": 333333.0}
    text = format_summary(s)
    assert "work balance                      82.6%  (mean PE's work / busiest PE's)" in text
    assert ("compute efficiency                26.9% of all cycles, 30.9% of compute cycles  "
            "(work bound / cycles)") in text
    assert "load-balance" not in text
