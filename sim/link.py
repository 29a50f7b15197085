"""A word link to a design running in Verilator, for host-side Python.

:class:`SimLink` starts the simulation (cocotb runner, test module
:mod:`eiegen.sim.cocotb_link`) in a background thread and talks to it over a Unix socket,
so the host code that drives a simulated accelerator is the same code that drives a real
one: ``write(words)``, ``read(n)``. The simulated clock only advances while the host
waits for words or writes them.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

from eiegen.links import LinkError, LinkTimeout

from .verilator import VerilatorBuild, verilator_env

__all__ = ["SimLink", "LinkTimeout", "LinkError"]


class SimLink:
    """Host end of a simulated accelerator's 32-bit stream interface.

    Parameters
    ----------
    build : VerilatorBuild
        The design, built by :func:`eiegen.sim.verilator.build_verilog` for Verilator
        or Icarus (``build.simulator``).
    in_port, out_port : str
        Names of the top level's input and output stream ports.
    waves : Path, optional
        Write an FST waveform (the build must have been made with ``waves=True``).
    xcheck : bool
        Watch the design's control signals for X or Z (a 4-state simulator, i.e. an
        Icarus build): after :meth:`close`, ``x_report`` lists what was seen
        (``x_violations`` the X and Z values, ``x_watched`` how many signals).
    """

    def __init__(self, build: VerilatorBuild, in_port: str = "i_stream",
                 out_port: str = "o_stream", waves: Path | None = None,
                 connect_timeout: float = 120.0, xcheck: bool = False):
        self.build = build
        self.cycle = 0
        self.x_report: list[str] = []
        verilator_env()
        self._tmp = tempfile.TemporaryDirectory(prefix="eiegen-link-")
        path = os.path.join(self._tmp.name, "link.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(1)
        server.settimeout(connect_timeout)
        self._error: BaseException | None = None
        self._log = Path(self._tmp.name) / "sim.log"
        bulk = os.path.join(self._tmp.name, "bulk.hex")
        env = {"EIEGEN_LINK": path, "EIEGEN_IN": in_port, "EIEGEN_OUT": out_port,
               "EIEGEN_BULK_FILE": bulk}
        self._xcheck = os.path.join(self._tmp.name, "xcheck.txt") if xcheck else ""
        if xcheck:
            env["EIEGEN_XCHECK"] = self._xcheck
        self._plusargs = [f"+EIEGEN_BULK={bulk}"]
        self._thread = threading.Thread(target=self._run_sim, args=(env, waves), daemon=True)
        self._thread.start()
        try:
            self._conn = self._accept(server, connect_timeout)
        finally:
            server.close()
        self._r = self._conn.makefile("r")
        self._w = self._conn.makefile("w")

    def _run_sim(self, env, waves):
        from cocotb_tools.runner import get_runner

        try:
            # The model writes its trace to the path given with --trace-file (default
            # dump.fst in the test directory), so several links can trace at once.
            # (Icarus writes <toplevel>.fst into the build folder instead)
            trace = (["--trace-file", str(Path(waves).resolve())]
                     if waves and self.build.simulator == "verilator" else [])
            get_runner(self.build.simulator).test(
                test_module="eiegen.sim.cocotb_link", hdl_toplevel=self.build.toplevel,
                hdl_toplevel_lang="verilog", build_dir=self.build.build_dir,
                test_dir=self._tmp.name, extra_env=env, waves=bool(waves),
                plusargs=self._plusargs, test_args=trace,
                results_xml=os.path.join(self._tmp.name, "results.xml"), log_file=self._log)
        except BaseException as e:  # reported to the host thread
            self._error = e

    def _accept(self, server, seconds: float):
        """The simulation's connection. A simulation that ends without connecting (a
        broken or deleted build) fails as soon as it ends, not after ``seconds``."""
        server.settimeout(0.5)
        deadline = time.monotonic() + seconds
        while True:
            try:
                return server.accept()[0]
            except socket.timeout:
                if not self._thread.is_alive():
                    raise LinkError(f"the simulation ended before it connected"
                                    f"{self._why()}; log: {self._log_tail()}") from None
                if time.monotonic() > deadline:
                    raise LinkError(f"the simulation did not start within {seconds} s; "
                                    f"log: {self._log_tail()}") from None

    def _why(self) -> str:
        """What the simulation thread raised, if anything, for the error messages."""
        self._thread.join(timeout=5)  # it may still be unwinding
        e = self._error
        return f" ({type(e).__name__}: {e})" if e is not None else ""

    def _log_tail(self) -> str:
        return self._log.read_text()[-2000:] if self._log.exists() else "(no log)"

    def _request(self, obj) -> dict:
        try:
            self._w.write(json.dumps(obj) + "\n")
            self._w.flush()
            line = self._r.readline()
        except OSError as e:
            raise LinkError(f"simulation link broke: {e}; log: {self._log_tail()}") from None
        if not line:
            raise LinkError(f"the simulation ended unexpectedly{self._why()}; "
                            f"log: {self._log_tail()}")
        reply = json.loads(line)
        self.cycle = reply.get("cycle", self.cycle)
        return reply

    def write(self, words) -> int:
        """Send words; returns the cycle after the last one was accepted."""
        return self._request({"op": "write", "words": [int(w) for w in words]})["cycle"]

    def read(self, n: int, timeout_cycles: int = 10_000_000) -> list[int]:
        """Receive exactly ``n`` words (raises :class:`LinkTimeout` if they do not come)."""
        reply = self._request({"op": "read", "n": int(n), "timeout": int(timeout_cycles)})
        if "error" in reply:
            raise LinkTimeout(reply["error"])
        return reply["words"]

    def cycles(self) -> int:
        return self._request({"op": "cycles"})["cycle"]

    def close(self) -> None:
        if getattr(self, "_conn", None) is None:
            return
        try:
            self._request({"op": "quit"})
        except LinkError:
            pass  # the simulation already ended; the request that found it out said why
        for f in (self._r, self._w, self._conn):
            f.close()
        self._conn = None
        self._thread.join(timeout=60)
        if self._xcheck and os.path.exists(self._xcheck):
            self.x_report = Path(self._xcheck).read_text().splitlines()
        self._tmp.cleanup()

    @property
    def x_violations(self) -> list[str]:
        """The X or Z values seen on control signals (``xcheck``; after close)."""
        return [line for line in self.x_report if not line.startswith("#")]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
