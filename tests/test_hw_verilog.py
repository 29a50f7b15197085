"""Verilog generation: compact memory initialisation, Verilator lint with the documented
waivers, the `eiegen verilog` command."""

import pytest

from eiegen.arch import ArchConfig
from eiegen.cli import main
from eiegen.hw.verilog import LINT_WAIVERS, compact_memory_init, generate, lint


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
