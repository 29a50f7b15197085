"""The simulation report, fed with golden outputs and cycle-model counters (no RTL)."""

import json
from types import SimpleNamespace

import numpy as np

from eiegen.sim.cycle_model import estimate_batch
from eiegen.sim.golden import run_golden
from eiegen.sim.regression import make_case
from eiegen.sim.report import (format_report, layer_label, plot_report,
                               simulation_report, work_per_layer)


def counters_of(est):
    return SimpleNamespace(cycles=est.cycles, busy=est.busy, starved=est.starved,
                           stalled=est.stalled)


def report_for(case, tamper=False):
    model = estimate_batch(case.program, case.inputs)
    outputs = run_golden(case.program, case.inputs)[-1].copy()
    if tamper:
        outputs[0, 0] += 1
    return simulation_report(case.program, case.inputs, outputs,
                             [counters_of(e) for e in model], model=model, sim_seconds=0.5)


def test_report_contents(tmp_path):
    case = make_case("n4", 2)
    rep = report_for(case)
    assert rep["outputs_match_golden"] and rep["cycle_model"]["matches_rtl"]
    assert sum(layer["cycles"] for layer in rep["layers"]) == rep["cycles"]["total"]
    work = work_per_layer(case.program, case.inputs)
    for k, layer in enumerate(rep["layers"]):
        assert layer["work_bound"] == int(work[:, k].max(axis=1).sum())
        assert 0 <= layer["compute_efficiency"] <= 1
        busiest = layer["work_bound"]  # 0 when every input of the layer is zero
        assert layer["work_balance"] == (work[:, k].mean(axis=1).sum() / busiest if busiest
                                         else 1.0)
    assert rep["compute_efficiency"] == rep["work_bound"]["total"] / rep["cycles"]["total"]
    assert rep["work_balance"] == work.mean(axis=2).sum() / rep["work_bound"]["total"]
    assert rep["totals"]["busy"] == sum(rep["per_pe"]["busy"])
    assert rep["simulated_cycles_per_second"] == rep["cycles"]["total"] / 0.5
    json.dumps(rep)  # serialisable
    text = format_report(rep)
    assert "outputs match golden model: yes" in text and "(exact)" in text
    assert "PE utilisation" in text and case.program.layers[0].name in text
    plot_report(rep, tmp_path / "per_pe.png")
    assert (tmp_path / "per_pe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_mismatch():
    rep = report_for(make_case("n2", 1), tamper=True)
    assert not rep["outputs_match_golden"]
    assert rep["mismatches"][0]["input"] == 0 and rep["mismatches"][0]["output"] == 0
    assert "NO" in format_report(rep) and "first mismatches" in format_report(rep)


def test_report_without_model(tmp_path):
    case = make_case("n1", 0)
    model = estimate_batch(case.program, case.inputs)
    rep = simulation_report(case.program, case.inputs, run_golden(case.program, case.inputs)[-1],
                            [counters_of(e) for e in model])
    assert "cycle_model" not in rep and "cycles" not in rep["layers"][0]
    format_report(rep)
    plot_report(rep, tmp_path / "p.png")
    assert np.isclose(sum(rep["per_pe"]["utilisation"]) * rep["cycles"]["total"],
                      sum(rep["per_pe"]["busy"]))


def test_balancing_raises_work_balance_not_compute_efficiency():
    """The two figures --balance used to share a name: balancing evens out the work (work
    balance up, cycles down), and the cycles come down less than the work bound does."""
    from eiegen.arch import ArchConfig
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network

    net = random_network(3, [96, 160, 10], density=0.15)
    x = np.random.default_rng(3).uniform(0, 1, (12, 96))
    reps = []
    for balance in (False, True):
        program = compile_network(net, ArchConfig(n_pe=16), calibration=x, balance=balance)
        xi = program.quantize_input(x)
        model = estimate_batch(program, xi)
        reps.append(simulation_report(program, xi, run_golden(program, xi)[-1],
                                      [counters_of(e) for e in model], model=model))
    plain, balanced = reps
    assert balanced["cycles"]["total"] < plain["cycles"]["total"]
    assert balanced["work_balance"] > plain["work_balance"]
    assert balanced["compute_efficiency"] < plain["compute_efficiency"]
    text = format_report(balanced)
    assert "work balance (mean PE / busiest PE)" in text
    assert "compute efficiency (work bound / cycles)" in text


def test_layer_labels_number_layers_as_the_network_does():
    # an nn.Sequential's indices count the ReLUs: 0/2/4 are layers 0/1/2
    assert [layer_label(k, n) for k, n in enumerate(["0", "2", "4"])] == [
        "layer 0", "layer 1", "layer 2"]
    assert layer_label(1, "fc1") == "layer 1" and layer_label(0, "encoder.0") == \
        "layer 0 (encoder.0)"
