"""Gate-level statistics: the Yosys report parses, its totals equal the sum of its parts."""

import json

import pytest

from eiegen.arch import ArchConfig
from eiegen.asic.synth import PE_UNITS, UNITS, format_synth, parse_stat, synthesize, unit_of


def test_unit_of():
    assert unit_of("\\eie.pe3.arith") == (3, "arith")
    assert unit_of("eie.pe12.pointer.even") == (12, "pointer")
    assert unit_of("eie.pe0") == (0, "pe")
    assert unit_of("eie.lnzd") == (None, "lnzd")
    assert unit_of("eie") == (None, "top")
    # issue 21's memories: the column mask sits directly under the PE
    assert unit_of("eie.pe5.colmask") == (5, "pe")
    assert unit_of("eie.pe1.arith.acc1") == (1, "arith")
    assert unit_of("eie.pe1.actrw.bias_wb") == (1, "actrw")
    with pytest.raises(ValueError, match="unknown PE unit 'x'"):
        unit_of("eie.pe0.x")


def test_parse_stat_sums():
    stat = {"modules": {
        "\\eie": {"num_cells_by_type": {"$_AND_": 2, "\\eie.pe0": 1}},
        "\\eie.pe0.arith": {"num_cells_by_type": {"$_XOR_": 10, "$_DFF_P_": 3}},
        "\\eie.pe0.arith.acc": {"num_cells_by_type": {"eiegen_sram_1r1w": 1}},
        "\\eie.pe1.arith": {"num_cells_by_type": {"$_XOR_": 10, "$_SDFFE_PP0P_": 3}},
        "\\eie.control": {"num_cells_by_type": {"$_MUX_": 4}},
    }}
    r = parse_stat(stat, {"n_pe": 2})
    assert r.units["arith"]["cells"] == 26 and r.units["arith"]["flops"] == 6
    assert r.pes[1]["arith"]["cells"] == 13
    assert r.total["cells"] == 2 + 26 + 4
    assert r.total["area"] == pytest.approx(2 * 1.064 + 20 * 1.596 + 3 * 4.522
                                            + 3 * (4.522 + 1.862 + 1.064) + 4 * 1.862)


def test_synthesis_refuses_a_folder_with_files_in_it(tmp_path):
    keep = tmp_path / "eie.v"
    keep.write_text("the user's own file\n")
    with pytest.raises(ValueError, match="is not an empty folder"):
        synthesize(ArchConfig(n_pe=2), workdir=tmp_path)
    assert keep.read_text() == "the user's own file\n"


def test_synthesis_of_two_pes(tmp_path):
    cfg = ArchConfig(n_pe=2)
    r = synthesize(cfg, workdir=tmp_path)
    assert (tmp_path / "yosys.log").exists()
    data = json.loads(r.to_json())
    for key in ("cells", "flops"):
        assert r.total[key] == sum(u[key] for u in r.units.values())
        assert r.total[key] == sum(m[key] for m in r.modules.values())
        for unit in PE_UNITS:
            assert r.units[unit][key] == sum(pe[unit][key] for pe in r.pes)
    assert r.total["area"] == pytest.approx(sum(u["area"] for u in r.units.values()))
    assert r.total["area"] == pytest.approx(r.total["flop_area"] + r.total["comb_area"])
    assert data["total"]["cells"] == r.total["cells"]
    # every unit has logic; the arithmetic unit (a multiplier) is the biggest of a PE
    assert all(r.units[u]["cells"] > 0 for u in UNITS)
    assert max(PE_UNITS, key=lambda u: r.units[u]["area"]) == "arith"
    # the queue's memory is flip-flops: depth x (activation + column) bits at least
    assert r.pes[0]["queue"]["flops"] >= cfg.queue_depth * (cfg.act_bits + 8)
    table = format_synth(r)
    assert "sparse-matrix read" in table and f"{r.total['cells']}" in table


def test_per_pe_synthesis_counts_pe0_for_every_pe(tmp_path):
    # PE 0 and the rest in two Yosys runs (the way the 64-PE designs with bias_reset
    # fit the WebAssembly Yosys): the same modules as one run, each PE PE 0's copy, and
    # the same logic up to Yosys' choices per run (flop enables, gate mapping)
    cfg = ArchConfig(n_pe=2, col_filter=1, bias_reset=1)
    r = synthesize(cfg, workdir=tmp_path, per_pe=True)
    assert r.method == "pe0" and (tmp_path / "yosys_pe0.log").exists()
    assert r.pes[0] == r.pes[1] and r.pes[0]["arith"]["cells"] > 0
    assert unit_of("eie.pe1.colmask") == (1, "pe") and "eie.pe1.colmask" in r.modules
    assert r.units["lnzd"]["cells"] > 0 and r.units["control"]["cells"] > 0
    assert r.total["cells"] == sum(u["cells"] for u in r.units.values())
    whole = synthesize(cfg)
    assert set(whole.modules) == set(r.modules)
    assert r.total["area"] == pytest.approx(whole.total["area"], rel=0.05)
