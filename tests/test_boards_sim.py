"""The simulated board end to end: host driver -> pyserial -> UART model on the pins ->
UART bridge -> accelerator -> UART bridge -> driver, on random small networks; plus the
link's timeout and garbled-response errors (no hardware, no simulator needed for those)."""

import json
import time

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.boards.catalog import get_board
from eiegen.boards.host import BoardSession, run_board
from eiegen.boards.serial_link import (BoardLinkError, LinkGarbled, LinkTimeout, UARTLink, bytes_to_words,
                                       words_to_bytes)
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network


def test_word_framing_is_little_endian():
    data = words_to_bytes([0x01020304, 0xFFFFFFFF])
    assert data == bytes([4, 3, 2, 1, 255, 255, 255, 255])
    assert bytes_to_words(data) == [0x01020304, 0xFFFFFFFF]
    with pytest.raises(ValueError, match="whole number"):
        bytes_to_words(b"\x00\x01\x02")


def test_timeout_is_an_error_not_a_hang():
    with UARTLink("loop://", baud=115200, timeout=0.2) as link:
        start = time.monotonic()
        with pytest.raises(LinkTimeout, match=r"waiting for 2 words \(8 bytes\).*got 0 bytes"):
            link.read(2)
        assert time.monotonic() - start < 2.0
        link.write([0x12345678])  # one word arrives, a second does not
        with pytest.raises(LinkTimeout, match="got 4 bytes"):
            link.read(2)


def test_garbled_link_is_reported():
    # A loop-back port echoes the INFO command: a header that is not a response.
    start = time.monotonic()
    with pytest.raises(LinkGarbled, match="garbled response.*baud rate"):
        BoardSession("loop://", ArchConfig(n_pe=4), timeout=0.2)
    assert time.monotonic() - start < 3.0


def _program(cfg, seed, sizes):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, density=0.3)
    program = compile_network(net, cfg)
    x = program.quantize_input(rng.uniform(-1, 1, (2, sizes[0])))
    return program, x


@pytest.mark.verilator
def test_simulated_icebreaker_end_to_end(tmp_path, capsys):
    """The iCEBreaker top (SPRAM sparse matrix, its board config) over the UART: the
    driver loads each random network through the protocol and gets the golden outputs;
    then `eiegen run` does the same through the command line."""
    from eiegen.boards.sim import SimBoard
    from eiegen.cli import main

    board = get_board("icebreaker")
    cfg = board.default_config()
    with SimBoard(cfg, board=board, divisor=8) as sim:
        for seed, sizes in ((1, [24, 20, 10]), (2, [17, 9, 13, 5])):
            program, x = _program(cfg, seed, sizes)
            result = run_board(sim.url, program, x, clock_hz=1e6, timeout=30)
            assert result.match, (result.outputs, result.golden)
            assert all(c > 0 for c in result.cycles)
            assert all(sum(c.busy) > 0 for c in result.counters)
            assert result.info["n_pe"] == cfg.n_pe
        program.save(tmp_path / "prog")
        xf = x * 2.0 ** -program.input_frac
        xf[0, 1] = 1e3  # floats; one clips at the input format, and `run` says so
        np.save(tmp_path / "x.npy", xf)
        rc = main(["run", str(tmp_path / "prog"), "--port", sim.url, "--inputs",
                   str(tmp_path / "x.npy"), "--clock", "1e6", "--timeout", "30",
                   "-o", str(tmp_path / "run.json")])
        out, err = capsys.readouterr()
        assert rc == 0, out
        assert "outputs equal to the golden model: yes" in out
        assert "eiegen run: warning: input: 1 of 2 inputs (1 values) clip" in err
        rep = json.loads((tmp_path / "run.json").read_text())
        assert rep["input_saturation"] == {"values": 1, "inputs": 1}


@pytest.mark.verilator
def test_simulated_board_refuses_a_program_for_another_config():
    from eiegen.boards.sim import SimBoard

    cfg = ArchConfig(n_pe=2, act_depth=16, spmat_depth=64, ptr_depth=64, bias_depth=32,
                     max_layers=2)
    other = cfg.replace(spmat_depth=128)
    program, x = _program(other, 3, [12, 8, 6])
    with SimBoard(cfg, divisor=8) as sim:
        with BoardSession(sim.url, cfg, clock_hz=1e6, timeout=30) as session:
            with pytest.raises(Exception, match="compiled for config"):
                session.load(program)
            mine, x = _program(cfg, 3, [12, 8, 6])
            session.load(mine)
            result = session.run(mine, x)
            assert result.match
        # the port can be opened again; INFO refuses a host that expects another config
        with pytest.raises(BoardLinkError, match="another architecture config"):
            BoardSession(sim.url, other, clock_hz=1e6, timeout=30)
