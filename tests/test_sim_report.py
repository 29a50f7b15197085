"""The simulation report, fed with golden outputs and cycle-model counters (no RTL)."""

import json
from types import SimpleNamespace

import numpy as np

from eiegen.sim.cycle_model import estimate_batch
from eiegen.sim.golden import run_golden
from eiegen.sim.regression import make_case
from eiegen.sim.report import format_report, plot_report, simulation_report, work_per_layer


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
        assert 0 <= layer["load_balance_efficiency"] <= 1
    assert 0 < rep["load_balance_efficiency"] <= 1
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
