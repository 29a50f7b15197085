"""The host driver: runs compiled programs on an accelerator over any word link.

A link (:class:`eiegen.links.WordLink`) has ``write(words)`` and ``read(n, timeout_cycles)``;
:class:`eiegen.sim.link.SimLink` is one (Verilator), a board's UART link is another. The driver speaks the host protocol
(:mod:`eiegen.hw.protocol`, docs/protocol.md) and nothing else, so the same code drives
simulations and boards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eiegen.hw import protocol as P
from eiegen.links import WordLink

__all__ = ["HostDriver", "Inference"]


@dataclass
class Inference:
    """One input vector's run: last-layer outputs (hardware order) and counters."""

    outputs: np.ndarray
    cycles: int
    counters: P.Counters


@dataclass
class HostDriver:
    link: WordLink
    cfg: object
    timeout_cycles: int = 50_000_000
    log: list = field(default_factory=list)

    def _responses(self, expected_ops) -> list:
        """Read exactly the responses to ``expected_ops`` [(op, payload words), ...]."""
        out = []
        for op, n in expected_ops:
            head = self.link.read(1, self.timeout_cycles)[0]
            if head != P.response_header(op, n):
                raise P.ProtocolError(
                    f"expected the response to op {op} with {n} words, got header {head:#010x}")
            out.append(P.Response(op, tuple(self.link.read(n, self.timeout_cycles)) if n else ()))
        return out

    def info(self) -> dict:
        self.link.write(P.info())
        resp, = self._responses([(P.OP_INFO, P.response_words(self.cfg, P.OP_INFO))])
        return P.parse_info(self.cfg, resp)

    def load(self, program) -> None:
        """Load every memory image of ``program`` through the protocol."""
        if program.cfg != self.cfg:
            raise ValueError("the program was compiled for a different architecture config")
        self.link.write(P.load_program(program))

    def infer(self, program, x_int) -> Inference:
        """Run all layers on one integer input vector (network order)."""
        cfg = self.cfg
        n_out = program.n_out
        self.link.write(P.write_input(cfg, x_int) + P.run(len(program.layers))
                        + P.read_output(cfg, n_out) + P.read_counters())
        r_run, r_out, r_cnt = self._responses([
            (P.OP_RUN, P.response_words(cfg, P.OP_RUN)),
            (P.OP_READ, n_out),
            (P.OP_COUNTERS, P.response_words(cfg, P.OP_COUNTERS))])
        return Inference(P.parse_output(cfg, r_out, n_out), P.parse_run(r_run),
                         P.parse_counters(cfg, r_cnt))
