"""`eiegen simulate`: Verilator run, golden check, per-layer cycles from the cycle model,
report JSON and PNG, FST waveform."""

import json

import numpy as np
import pytest

from eiegen.cli import main
from eiegen.sim.regression import make_case


@pytest.fixture
def saved_case(tmp_path):
    case = make_case("n2", 3)
    case.program.save(tmp_path / "prog")
    np.save(tmp_path / "x.npy", case.inputs)
    return case, tmp_path


@pytest.mark.verilator
@pytest.mark.slow
def test_simulate_with_waves(saved_case, capsys):
    case, tmp = saved_case
    waves = tmp / "w.fst"
    out = tmp / "rep"
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "x.npy"),
                 "-o", str(out), "--waves", str(waves)]) == 0
    text = capsys.readouterr().out
    assert "outputs match golden model: yes" in text and "(exact)" in text
    rep = json.loads((out / "report.json").read_text())
    assert rep["n_inputs"] == len(case.inputs)
    assert rep["cycle_model"]["matches_rtl"]
    assert [layer["name"] for layer in rep["layers"]] == [lp.name for lp in case.program.layers]
    assert sum(layer["cycles"] for layer in rep["layers"]) == rep["cycles"]["total"]
    assert (out / "per_pe.png").stat().st_size > 1000
    data = waves.read_bytes()
    assert len(data) > 10_000 and data[0] == 0  # an FST file starts with its header block
    assert b"VerilatedFst" in data[:400]


@pytest.mark.verilator
def test_simulate_limit_and_integer_inputs(saved_case, capsys):
    case, tmp = saved_case
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "x.npy"), "--limit", "1",
                 "-o", str(tmp / "rep")]) == 0
    rep = json.loads((tmp / "rep" / "report.json").read_text())
    assert rep["n_inputs"] == 1 and rep["outputs_match_golden"]


def test_simulate_rejects_bad_inputs(saved_case, capsys):
    case, tmp = saved_case
    np.save(tmp / "bad.npy", np.zeros((2, case.program.n_in + 1)))
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "bad.npy")]) != 0
    assert "shape" in capsys.readouterr().err
    np.save(tmp / "big.npy", np.full((1, case.program.n_in), 1 << 20))
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "big.npy")]) != 0
