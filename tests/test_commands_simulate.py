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


@pytest.mark.verilator
def test_simulate_labels_outputs_timing_and_fidelity(saved_case, capsys):
    from eiegen.sim.fidelity import input_saturation, measure_fidelity, program_network
    from eiegen.sim.golden import run_golden

    case, tmp = saved_case
    program = case.program
    rng = np.random.default_rng(7)
    x = rng.uniform(-0.5, 0.5, size=(3, program.n_in))
    x[1, 2] = 50.0  # clips at the input format
    y = np.array([0, 3, 1])
    np.savez(tmp / "data.npz", x=x, y=y)
    net = program_network(program)
    net.save(tmp / "net.npz")
    out = tmp / "rep"
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "data.npz"),
                 "--model", str(tmp / "net.npz"), "--board", "icebreaker", "-o", str(out)]) == 0
    text, err = capsys.readouterr()
    rep = json.loads((out / "report.json").read_text())
    golden = run_golden(program, program.quantize_input(x))[-1]
    outputs = np.load(out / "outputs.npy")
    assert np.array_equal(outputs, program.dequantize_output(golden))  # RTL == golden
    assert np.array_equal(np.load(out / "outputs_int.npy"), program.to_network_order(golden))
    fid = measure_fidelity(program, x, net)
    assert rep["fidelity"] == json.loads(json.dumps(fid.to_dict()))
    assert rep["fidelity"]["reference"] == "network"
    assert rep["input_saturation"] == dict(zip(("values", "inputs"),
                                               input_saturation(program, x))) \
        == {"values": 1, "inputs": 1}
    assert rep["warnings"] == list(fid.warnings) and rep["warnings"][0].startswith("input: 1 of 3")
    assert f"eiegen simulate: warning: {rep['warnings'][0]}" in err
    pred = np.argmax(outputs, axis=1)
    fpred = np.argmax(fid.float_outputs, axis=1)
    acc = rep["accuracy"]
    assert acc["rtl_accuracy"] == pytest.approx(100 * np.mean(pred == y))
    assert acc["float_accuracy"] == pytest.approx(100 * np.mean(fpred == y))
    assert acc["rtl_float_agreement"] == pytest.approx(100 * np.mean(pred == fpred))
    cycles = np.array(rep["cycles"]["per_input"])
    assert len(cycles) == 3 and rep["timing"]["clock_mhz"] == 30.0  # the board's clock
    assert rep["timing"]["latency_us"]["max"] == pytest.approx(cycles.max() / 30.0)
    assert rep["timing"]["inferences_per_second"] == pytest.approx(30e6 / cycles.mean())
    assert "accuracy: RTL" in text and "fidelity against the float network" in text


def test_simulate_rejects_bad_labels(saved_case, capsys):
    case, tmp = saved_case
    n_in = case.program.n_in
    np.save(tmp / "xf.npy", np.zeros((4, n_in)))
    np.save(tmp / "y3.npy", np.zeros(3, dtype=np.int64))
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "xf.npy"),
                 "--labels", str(tmp / "y3.npy"), "-o", str(tmp / "rep")]) == 2
    assert "labels must be 4 integers" in capsys.readouterr().err
    np.savez(tmp / "odd.npz", inputs=np.zeros((4, n_in)))
    assert main(["simulate", str(tmp / "prog"), "--inputs", str(tmp / "odd.npz")]) == 2
    assert "needs x (and y) or x_test (and y_test)" in capsys.readouterr().err
    assert not (tmp / "rep").exists()


# ---- refused before the build, nothing written (issue 19, items 9 and 10) ----

@pytest.mark.parametrize("make, argv, match", [
    (lambda n: np.full((2, n), np.nan), [], r"1?\d* NaN or infinite value\(s\), the first at "
                                            r"sample 0, feature 0"),
    (lambda n: np.full((2, n), np.inf), [], "NaN or infinite"),
    (lambda n: np.zeros((0, n)), [], "hold no samples"),
    (lambda n: np.zeros((2, n), dtype=complex), [], "must be real numbers"),
    (lambda n: np.zeros((2, n)), ["--waves", "nowhere/w.fst"], "folder nowhere does not exist"),
])
def test_simulate_refuses_before_building(saved_case, capsys, make, argv, match, monkeypatch):
    case, tmp = saved_case
    monkeypatch.chdir(tmp)
    np.save(tmp / "in.npy", make(case.program.n_in))
    rc = main(["simulate", "prog", "--inputs", "in.npy", "-o", "rep"] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and not (tmp / "rep").exists()
    assert __import__("re").search(match, err), err


def test_read_inputs_refuses_a_limit_below_one(saved_case):
    from eiegen.cli import CliError
    from eiegen.commands.simulate import read_inputs

    case, tmp = saved_case
    with pytest.raises(CliError, match="--limit must be at least 1, got -1"):
        read_inputs(tmp / "x.npy", case.program, limit=-1)  # x[:-1] dropped the last input
    assert len(read_inputs(tmp / "x.npy", case.program, limit=1).x_int) == 1
