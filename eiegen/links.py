"""What the host driver talks to: a link carrying 32-bit words to an accelerator and back
(a Verilator simulation, :class:`eiegen.sim.link.SimLink`; a board's UART,
:class:`eiegen.boards.serial_link.UARTLink`), and the one exception hierarchy every link
raises, so a caller catches :class:`LinkError` whatever the link is."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["WordLink", "LinkError", "LinkTimeout"]


class LinkError(RuntimeError):
    """A link to an accelerator failed (it could not be opened, or it broke)."""


class LinkTimeout(LinkError):
    """The accelerator did not send the expected words in time."""


@runtime_checkable
class WordLink(Protocol):
    """A link to an accelerator's host streams (docs/protocol.md)."""

    def write(self, words) -> object:
        """Send 32-bit command words."""

    def read(self, n: int, timeout_cycles: int | None = None) -> list[int]:
        """Receive exactly ``n`` response words, or raise :class:`LinkTimeout`."""
