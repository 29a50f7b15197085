"""Verilog generation: compact memory initialisation, Verilator lint with the documented
waivers, the `eiegen verilog` command."""

import re

import pytest

from eiegen.arch import ArchConfig
from eiegen.cli import main
from eiegen.hw.verilog import (LINT_WAIVERS, compact_memory_init, generate, generate_design,
                               lint, write_design)


def test_compact_memory_init():
    text = "\n".join(["  reg [7:0] m [3:0];", "  initial begin", "    m[0] = 8'h00;",
                      "    m[1] = 8'h05;", "    m[2] = 8'h00;", "    m[3] = 8'h00;", "  end",
                      "  initial begin", "    x = 1;", "  end"])
    out = compact_memory_init(text)
    assert "for (i = 0; i < 4; i = i + 1) m[i] = 0;" in out
    assert "m[1] = 8'h05;" in out and "m[0] = 8'h00;" not in out
    assert "    x = 1;" in out


@pytest.mark.verilator
@pytest.mark.parametrize("cfg", [ArchConfig(n_pe=3, entries_per_word=5, queue_depth=3),
                                 ArchConfig(n_pe=1, queue_depth=1, max_layers=1)])
def test_lint_clean_with_waivers(tmp_path, cfg):
    path = tmp_path / "eie.v"
    path.write_text(generate(cfg))
    result = lint(path)
    assert result.returncode == 0, result.stderr
    assert len(LINT_WAIVERS) <= 6


@pytest.mark.verilator
def test_command_with_program(tmp_path, capsys):
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network
    cfg = ArchConfig(n_pe=2)
    program = compile_network(random_network(3, [8, 6, 4], density=0.5), cfg)
    program.save(tmp_path / "prog")
    out = tmp_path / "eie.v"
    assert main(["verilog", "--program", str(tmp_path / "prog"), "-o", str(out), "--lint"]) == 0
    text = out.read_text()
    assert "module eie(" in text
    word = program.spmat_words(1)[0]
    assert f"{word:x}" in text.replace("_", "").lower()
    assert "clean" in capsys.readouterr().out
    assert main(["verilog", "--program", str(tmp_path / "prog"), "--pe", "3",
                 "-o", str(out)]) == 2


@pytest.mark.verilator
@pytest.mark.parametrize("cfg", [ArchConfig(n_pe=3, entries_per_word=5, queue_depth=3),
                                 ArchConfig(n_pe=1, queue_depth=1, max_layers=1)])
def test_sram_view_lint_clean_with_waivers(tmp_path, cfg):
    written = write_design(tmp_path, cfg, memories="sram")
    assert written["model"].name == "eiegen_sram_1r1w.v" and written["init"] == []
    assert "reg [" not in written["logic"].read_text().split("eiegen_sram_1r1w #(")[1][:10]
    result = lint(written["logic"], extra=[written["model"]])
    assert result.returncode == 0, result.stderr
    # the single-text form (logic + model) lints the same
    path = tmp_path / "one.v"
    path.write_text(generate(cfg, memories="sram"))
    assert lint(path).returncode == 0


def test_default_view_unchanged():
    cfg = ArchConfig(n_pe=1, queue_depth=1, max_layers=1)
    text = generate(cfg)
    assert text == generate_design(cfg).text and "eiegen_sram_1r1w" not in text
    with pytest.raises(ValueError, match="'amaranth' or 'sram'"):
        generate(cfg, memories="flops")


def test_sram_view_has_no_memory_arrays_but_the_queues():
    cfg = ArchConfig(n_pe=2)
    logic = generate_design(cfg, memories="sram").logic
    arrays = re.findall(r"^\s*reg \[[^\]]*\] (\S+) \[", logic, flags=re.M)
    assert arrays and all("queue" in a or a.startswith("mem") for a in arrays), arrays
    assert len(arrays) == cfg.n_pe
    assert logic.count("eiegen_sram_1r1w #(") == 1 + 7 * cfg.n_pe


@pytest.mark.verilator
def test_command_sram_view_with_program(tmp_path, capsys):
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.examples import random_network
    cfg = ArchConfig(n_pe=2)
    program = compile_network(random_network(3, [8, 6, 4], density=0.5), cfg)
    program.save(tmp_path / "prog")
    out = tmp_path / "v" / "top.v"
    assert main(["verilog", "--program", str(tmp_path / "prog"), "--memories", "sram",
                 "-o", str(out), "--lint"]) == 0
    assert "clean" in capsys.readouterr().out
    init = tmp_path / "v" / "init"
    assert (tmp_path / "v" / "eiegen_sram_1r1w.v").exists()
    text = out.read_text()
    assert f'"{init.resolve()}/spmat_001.hex"' in text
    # the init files hold the same words as the program folder's hex images
    spmat = (init / "spmat_001.hex").read_text().split()
    assert spmat[:len(program.spmat_words(1))] == \
        (tmp_path / "prog" / "pe001" / "spmat.hex").read_text().split()
    assert (init / "ptr_even_000.hex").read_text().split()[:3] == \
        (tmp_path / "prog" / "pe000" / "ptr_even.hex").read_text().split()[:3]
