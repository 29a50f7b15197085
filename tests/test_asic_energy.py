"""The energy and area model: technology figures, sums of parts, dense baseline, the EIE
comparison, `eiegen asic`."""

import json

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.asic.energy import (EIE_TABLE2, UNIT_ORDER, area_model, eie_comparison,
                                energy_report, format_eie_comparison, format_energy)
from eiegen.asic.events import broadcast_bits, memory_geometry
from eiegen.asic.tech import technology
from eiegen.cli import main
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network


def test_45nm_figures():
    t = technology("45nm")
    assert t.sram_read_pj(64, 1024) == pytest.approx(10.0)            # 8 KB
    assert t.sram_read_pj(64, 128 * 1024) == pytest.approx(100.0)     # 1 MB
    assert t.mult_pj(32, 32) == pytest.approx(3.2, rel=0.05)          # Horowitz: 3.1
    assert t.dram_pj(32) == 640.0 and t.add_pj(32) == 0.1
    assert t.cell_area_um2("$_SDFFE_PP0P_") == pytest.approx(4.522 + 1.862 + 1.064)
    assert t.cell_area_um2("$_DFF_P_") == 4.522
    assert t.cell_area_um2("$_DFF_PP0_") == pytest.approx(4.522 + 0.798)
    with pytest.raises(ValueError, match="unknown technology node '7nm'"):
        technology("7nm")
    # EIE Table II is self-consistent
    assert sum(p for p, _ in EIE_TABLE2["by_module"].values() if p) == \
        pytest.approx(EIE_TABLE2["total"][0], abs=2e-3)
    assert sum(a for _, a in EIE_TABLE2["by_type"].values()) == EIE_TABLE2["total"][1]


def _report(synth=None, **options):
    cfg = ArchConfig(n_pe=2, **options)
    rng = np.random.default_rng(3)
    program = compile_network(random_network(rng, [24, 16, 8], density=0.2), cfg)
    x = rng.normal(size=(2, 24))
    x[rng.random(x.shape) < 0.6] = 0
    inputs = np.vstack([program.quantize_input(x), np.zeros((1, 24), dtype=np.int64)])
    return energy_report(program, inputs, synth=synth)


def test_energy_sums_and_dense_baseline():
    report = _report()
    for inf in report["inferences"]:
        assert inf["total"] == pytest.approx(sum(inf["by_unit"].values()))
        assert inf["total"] == pytest.approx(sum(inf["by_kind"].values()))
        assert inf["total"] == pytest.approx(sum(layer["total"] for layer in inf["layers"]))
        for layer in inf["layers"]:
            assert layer["total"] == pytest.approx(sum(layer["by_unit"].values()))
            assert layer["dense"]["macs"] == layer["events"]["n_in"] * layer["events"]["n_out"]
        assert inf["dense"] > 10 * inf["total"]          # DRAM weights dominate
    zero = report["inferences"][-1]              # all-zero input: no MACs in layer 0
    assert zero["layers"][0]["macs"] == 0 and zero["layers"][0]["by_kind"]["mac"] == 0
    assert "pJ" in format_energy(report) and "saving" in format_energy(report)


OPTIONS = {"col_filter": 1, "broadcast_width": 2, "bias_reset": 1, "wb_overlap": 1}


def test_options_memories_and_their_energy():
    # issue 21's memories are in the area and priced per access like every other one
    base, opts = ArchConfig.eie(), ArchConfig.eie(**OPTIONS)
    a, b = area_model(base)["memories"], area_model(opts)["memories"]
    assert set(b) - set(a) == {"colmask", "accumulators1", "bias_wb"}
    assert b["accumulators1"] == b["accumulators"] and b["bias_wb"] == b["bias"]
    t = technology("45nm")
    assert b["colmask"] == pytest.approx(t.sram_area_um2(64, opts.mask_depth))
    assert broadcast_bits(base) == 16 + 17 and broadcast_bits(opts) == 2 * (1 + 16 + 17 + 64)
    plain, report = _report(), _report(**OPTIONS)
    for layer in report["inferences"][0]["layers"]:
        assert set(layer["by_memory"]) == set(memory_geometry(ArchConfig(n_pe=2, **OPTIONS)))
        assert layer["total"] == pytest.approx(sum(layer["by_unit"].values()))
        ev = layer["events"]
        w, d = memory_geometry(ArchConfig(n_pe=2, **OPTIONS))["bias"]
        # bias_reset: the bias is read once per row the issues touch (its first issue),
        # so at most once per MAC and never for an untouched layer
        assert layer["by_memory"]["bias"] == pytest.approx(
            sum(ev["reads"]["bias"]) * t.sram_read_pj(w, d))
        assert 0 < sum(ev["reads"]["bias"]) <= layer["macs"]
    # the same work: the options change how it is fetched, not the MACs
    assert [la["macs"] for la in plain["inferences"][0]["layers"]] == \
        [la["macs"] for la in report["inferences"][0]["layers"]]


def test_area_model_and_eie_comparison():
    cfg = ArchConfig.eie()
    area = area_model(cfg)
    assert set(area["units"]) == set(UNIT_ORDER)
    assert area["total"] == pytest.approx(sum(u["total"] for u in area["units"].values()))
    # 128 KB of sparse matrix at 0.346 um^2 per bit, 70 % efficiency
    assert area["memories"]["spmat"] == pytest.approx(128 * 1024 * 8 * 0.346 / 0.7 + 2000)
    cmp = eie_comparison(_report())
    assert cmp["total"]["power_mw"] == pytest.approx(
        sum(m["power_mw"] for m in cmp["modules"].values()))
    text = format_eie_comparison(cmp)
    assert "9.157" in text and "638024" in text


def test_command_without_synthesis(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["asic", "--pe", "2", "--layers", "16,12,6", "--no-synth",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "energy per inference" in text
    data = json.loads(out.read_text())
    assert data["config"]["n_pe"] == 2 and len(data["energy"]["inferences"]) == 2
    assert "synthesis" not in data


def test_command_reuses_a_synthesis_report(tmp_path, capsys):
    from eiegen.asic.synth import parse_stat
    cfg = ArchConfig(n_pe=2)
    stat = {"modules": {"\\eie.pe0.arith": {"num_cells_by_type": {"$_XOR_": 10}},
                        "\\eie.pe1.arith": {"num_cells_by_type": {"$_XOR_": 10}}}}
    saved = tmp_path / "synth.json"
    saved.write_text(parse_stat(stat, cfg.to_dict()).to_json())
    assert main(["asic", "--pe", "2", "--layers", "16,12,6", "--synth-json", str(saved)]) == 0
    assert "arithmetic" in capsys.readouterr().out
    assert main(["asic", "--pe", "3", "--layers", "16,12,6", "--synth-json", str(saved)]) == 2


def test_command_eie_takes_config_overrides(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["asic", "--eie", "--no-synth", "--inputs", "1", "--set", "col_filter=1",
                 "--set", "broadcast_width=2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["config"] == ArchConfig.eie(col_filter=1, broadcast_width=2).to_dict()
    layer = data["energy"]["inferences"][0]["layers"][0]
    assert "colmask" in layer["by_memory"] and layer["events"]["columns"] > 1000
    capsys.readouterr()
    assert main(["asic", "--eie", "--no-synth", "--config", str(out)]) == 2
    assert "give no --config" in capsys.readouterr().err


def test_command_synthesis_per_pe_and_a_failed_synthesis(tmp_path, capsys, monkeypatch):
    import eiegen.asic.synth as synth

    calls = []

    def failing(cfg, *, tech, per_pe):
        calls.append(per_pe)
        raise RuntimeError("Yosys synthesis failed (134):\nstd::bad_alloc\n...")

    monkeypatch.setattr(synth, "synthesize", failing)
    args = ["asic", "--pe", "2", "--layers", "16,12,6"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Yosys synthesis failed (134)" in err
    assert "try --synth-per-pe" in err
    assert main(args + ["--synth-per-pe"]) == 2 and calls == [False, True]
    assert "try --synth-per-pe" not in capsys.readouterr().err
