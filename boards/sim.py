"""The simulated board: the board top (minus PLL) in Verilator with a UART model on its
pins, reachable as a pyserial ``socket://`` port.

``with SimBoard(cfg) as board: run_board(board.url, program, x, ...)`` runs the host
driver (:mod:`eiegen.boards.host`), the UART link, the UART bridge, the protocol and the
accelerator exactly as on hardware; only the serial cable is a TCP socket and the baud
rate is ``divisor`` cycles per bit.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

from eiegen.sim.verilator import VerilatorBuild, build_verilog, verilator_env

from .memory import SPRAM_SIM_MODEL
from .top import SimBoardTop, memory_backend

__all__ = ["SimBoard", "build_sim_board", "SIM_TOPLEVEL"]

SIM_TOPLEVEL = "eie_board"


def build_sim_board(cfg, program=None, *, board=None, divisor: int = 8) -> VerilatorBuild:
    """Verilog of the simulated board top (with the board's memory backend, e.g. SPRAM
    plus its behavioural model) built in Verilator, cached per design."""
    top = SimBoardTop(cfg, program, divisor=divisor, memories=memory_backend(board))
    text = amaranth_verilog.convert(top, name=SIM_TOPLEVEL)
    if board is not None and board.spram_spmat:
        text += "\n" + SPRAM_SIM_MODEL
    tag = f"board-{board.name if board else 'generic'}-{cfg.n_pe}pe-{cfg.digest()[:8]}"
    return build_verilog(text, SIM_TOPLEVEL, tag=tag)


class SimBoard:
    """A running simulated board.

    Parameters
    ----------
    cfg : ArchConfig
    program : Program, optional
        Preloaded into the memories (as in a bitstream).
    board : Board, optional
        Use the board's memory backend (iCEBreaker: SPRAM model).
    divisor : int
        UART clock cycles per bit in simulation.

    Attributes
    ----------
    url : str
        ``socket://127.0.0.1:<port>`` for pyserial.
    """

    def __init__(self, cfg, program=None, *, board=None, divisor: int = 8,
                 connect_timeout: float = 300.0):
        self.cfg = cfg
        self.divisor = divisor
        self.build = build_sim_board(cfg, program, board=board, divisor=divisor)
        verilator_env()
        self._tmp = tempfile.TemporaryDirectory(prefix="eiegen-board-")
        self._portfile = Path(self._tmp.name) / "port"
        self._log = Path(self._tmp.name) / "sim.log"
        self._error = None
        env = {"EIEGEN_UART_PORTFILE": str(self._portfile),
               "EIEGEN_UART_DIVISOR": str(divisor)}
        self._thread = threading.Thread(target=self._run, args=(env,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + connect_timeout
        while not self._portfile.exists():
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated board did not start: {self._error}; "
                                   f"log: {self.log_tail()}")
            time.sleep(0.05)
        self.url = f"socket://127.0.0.1:{int(self._portfile.read_text())}"

    def _run(self, env):
        from cocotb_tools.runner import get_runner

        try:
            get_runner("verilator").test(
                test_module="eiegen.boards.cocotb_uart", hdl_toplevel=SIM_TOPLEVEL,
                hdl_toplevel_lang="verilog", build_dir=self.build.build_dir,
                test_dir=self._tmp.name, extra_env=env,
                results_xml=os.path.join(self._tmp.name, "results.xml"), log_file=self._log)
        except BaseException as e:  # reported to the host thread
            self._error = e

    def log_tail(self) -> str:
        return self._log.read_text()[-2000:] if self._log.exists() else "(no log)"

    def close(self, timeout: float = 60.0) -> None:
        """End the simulation (the host must have closed its port)."""
        if self._thread is not None:
            Path(str(self._portfile) + ".stop").write_text("")
            self._thread.join(timeout=timeout)
            self._thread = None
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
