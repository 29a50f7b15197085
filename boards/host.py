"""Host API for a board: connect, load a program, stream inputs, read outputs and
performance counters, check against the golden model.

The protocol work is :class:`eiegen.sim.driver.HostDriver`'s (the same driver that runs
the Verilator simulations); this module adds the serial link
(:class:`~eiegen.boards.serial_link.UARTLink`), a clean start (break, drain, INFO
check) and clear errors: a timeout or a garbled response raises, it never hangs.

    with BoardSession("/dev/ttyUSB1", program.cfg) as board:
        board.load(program)
        result = board.run(program, x_int)        # outputs, counters, golden check
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from eiegen.hw import protocol as P
from eiegen.sim.driver import HostDriver

from .serial_link import BoardLinkError, LinkGarbled, UARTLink, explain_garbled

__all__ = ["BoardSession", "BoardRun", "run_board"]


@dataclass
class BoardRun:
    """The result of running a program on a batch of inputs on a board."""

    outputs: np.ndarray  # (batch, n_out), hardware row order
    golden: np.ndarray
    cycles: list
    counters: list  # protocol.Counters per input
    info: dict
    seconds: float
    link_bytes: tuple  # (sent, received)

    @property
    def match(self) -> bool:
        return bool(np.array_equal(self.outputs, self.golden))

    @property
    def mismatches(self) -> int:
        return int(np.sum(np.any(self.outputs != self.golden, axis=1)))

    def to_dict(self) -> dict:
        return {"inputs": int(len(self.outputs)), "outputs_match_golden": self.match,
                "mismatched_inputs": self.mismatches, "cycles": [int(c) for c in self.cycles],
                "busy": [list(map(int, c.busy)) for c in self.counters],
                "starved": [list(map(int, c.starved)) for c in self.counters],
                "stalled": [list(map(int, c.stalled)) for c in self.counters],
                "saturated": [list(map(int, c.saturated)) for c in self.counters],
                "info": self.info, "seconds": self.seconds,
                "bytes_sent": self.link_bytes[0], "bytes_received": self.link_bytes[1]}


class BoardSession:
    """A connection to a board running an eiegen bitstream built for ``cfg``.

    Parameters
    ----------
    port : str or serial.Serial
        Serial device or pyserial URL (``socket://...`` for the simulated board).
    cfg : ArchConfig
        The configuration the bitstream was built for (checked with INFO).
    baud, clock_hz, timeout :
        See :class:`~eiegen.boards.serial_link.UARTLink`.
    timeout_cycles : int
        Design-clock cycles a command may take (a RUN) before the read times out.
    reset : bool
        Send a serial break first (resets the accelerator and the bridge).
    """

    def __init__(self, port, cfg, *, baud: int = 115200, clock_hz: float = 12e6,
                 timeout: float = 2.0, timeout_cycles: int = 50_000_000, reset: bool = True):
        self.cfg = cfg
        self.link = UARTLink(port, baud=baud, clock_hz=clock_hz, timeout=timeout)
        self.driver = HostDriver(self.link, cfg, timeout_cycles=timeout_cycles)
        try:
            if reset:
                self.link.reset_board()
            self.link.drain()
            try:
                self.info = self._guard(self.driver.info)
            except LinkGarbled as e:
                if "the accelerator reports" not in str(e):
                    raise
                raise BoardLinkError(
                    f"the board at {self.link.name} runs a bitstream for another "
                    f"architecture config: {e.__cause__ or e}") from None
        except BaseException:
            self.link.close()
            raise

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except P.ProtocolError as e:
            raise explain_garbled(e, self.link) from e

    def load(self, program) -> None:
        """Write every memory image of ``program`` (including the SPRAM-held sparse matrix,
        which no bitstream can preload)."""
        if program.cfg != self.cfg:
            raise BoardLinkError(
                f"the program was compiled for config {program.cfg.digest()}, the board "
                f"runs {self.cfg.digest()}: compile it with the board's config")
        self._guard(self.driver.load, program)

    def infer(self, program, x_int):
        """One input vector (integers, network order) -> :class:`Inference`."""
        return self._guard(self.driver.infer, program, x_int)

    def run(self, program, inputs, *, progress=None) -> BoardRun:
        """Run ``inputs`` (batch, n_in) integers; outputs checked against the golden model."""
        from eiegen.sim.golden import run_golden

        x = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
        start = time.monotonic()
        results = []
        for i, xi in enumerate(x):
            results.append(self.infer(program, xi))
            if progress:
                progress(i + 1, len(x))
        seconds = time.monotonic() - start
        golden = np.asarray(run_golden(program, x)[-1], dtype=np.int64)
        outputs = np.stack([r.outputs for r in results]).astype(np.int64)
        return BoardRun(outputs, golden, [r.cycles for r in results],
                        [r.counters for r in results], self.info, seconds,
                        (self.link.bytes_out, self.link.bytes_in))

    def close(self) -> None:
        self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_board(port, program, inputs, *, load: bool = True, **kw) -> BoardRun:
    """Connect, load ``program`` (unless ``load=False``), run ``inputs``, check."""
    with BoardSession(port, program.cfg, **kw) as board:
        if load:
            board.load(program)
        return board.run(program, inputs)
