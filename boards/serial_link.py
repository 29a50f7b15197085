"""The host end of a board's UART: a word link for :class:`eiegen.sim.driver.HostDriver`.

Framing (docs/boards.md): each 32-bit word is 4 bytes, least significant first, in both
directions. :class:`UARTLink` works on anything with pyserial's ``Serial`` interface:
a device (``/dev/ttyUSB1``), or a pyserial URL such as ``socket://127.0.0.1:5555``,
which is how the simulated board (:mod:`eiegen.boards.sim`) is reached: the exact same
code path as a real board.

Failures are reported, never waited on forever: every read has a deadline
(:class:`LinkTimeout`, with how many bytes did arrive), and a response that does not
parse raises :class:`LinkGarbled` with what came instead and the usual causes.
"""

from __future__ import annotations

import contextlib
import math
import struct
import time

from eiegen.links import LinkError, LinkTimeout

__all__ = ["UARTLink", "LinkTimeout", "LinkGarbled", "BoardLinkError", "open_serial",
           "words_to_bytes", "bytes_to_words", "explain_garbled"]


class BoardLinkError(LinkError):
    """The serial link to a board failed (a timeout is :class:`eiegen.links.LinkTimeout`:
    fewer bytes than expected arrived before the deadline)."""


class LinkGarbled(BoardLinkError):
    """Bytes arrived but do not form the expected protocol response."""


def words_to_bytes(words) -> bytes:
    return b"".join(struct.pack("<I", int(w) & 0xFFFFFFFF) for w in words)


def bytes_to_words(data: bytes) -> list[int]:
    if len(data) % 4:
        raise ValueError(f"{len(data)} bytes are not a whole number of 32-bit words")
    return list(struct.unpack(f"<{len(data) // 4}I", data))


def open_serial(port: str, baud: int, timeout: float = 0.1):
    """A pyserial port for a device path or URL (``socket://host:port``, ``loop://``)."""
    try:
        import serial
    except ImportError:
        raise BoardLinkError("pyserial is not installed: pip install pyserial") from None
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=timeout,
                                     write_timeout=max(timeout, 5.0))
    except (serial.SerialException, ValueError, OSError) as e:
        raise BoardLinkError(f"cannot open {port}: {e}") from None


class UARTLink:
    """Words over a serial port.

    Parameters
    ----------
    port : str or serial.Serial
        A device path or pyserial URL (opened at ``baud``), or an open port.
    baud : int
        The line rate (also used to allow for transfer time in deadlines).
    clock_hz : float
        The design clock, to turn the driver's ``timeout_cycles`` into seconds.
    timeout : float
        Seconds allowed on top of transfer and compute time for every read.
    """

    def __init__(self, port, *, baud: int = 115200, clock_hz: float = 12e6,
                 timeout: float = 2.0):
        # every deadline below is computed from these three: a NaN or infinite one makes
        # a read wait forever on a silent port, a zero one divides by zero
        for name, value in (("baud", baud), ("clock_hz", clock_hz), ("timeout", timeout)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise BoardLinkError(f"{name} must be a finite positive number, got {value!r}")
        self.baud = baud
        self.clock_hz = clock_hz
        self.timeout = timeout
        self.port = open_serial(port, baud) if isinstance(port, str) else port
        self.name = port if isinstance(port, str) else getattr(port, "port", "serial port")
        self.bytes_out = 0
        self.bytes_in = 0

    # ---- the word-link interface HostDriver uses ----
    def write(self, words) -> None:
        data = words_to_bytes(words)
        try:
            self.port.write(data)
            self.port.flush()
        except Exception as e:  # pyserial raises SerialException / SerialTimeoutException
            raise BoardLinkError(f"writing {len(data)} bytes to {self.name} failed: {e}") \
                from None
        self.bytes_out += len(data)

    def read(self, n: int, timeout_cycles: int | None = None) -> list[int]:
        """Exactly ``n`` words, or :class:`LinkTimeout`. The deadline is the transfer
        time at the baud rate (twice over), plus ``timeout_cycles`` of the design clock
        (capped at a minute), plus ``timeout``."""
        want = 4 * n
        compute = min(60.0, (timeout_cycles or 0) / self.clock_hz)
        seconds = self.timeout + compute + 2 * want * 10 / self.baud
        data = self._read_bytes(want, seconds)
        if len(data) < want:
            raise LinkTimeout(
                f"timed out after {seconds:.2f} s waiting for {n} words ({want} bytes) from "
                f"{self.name}; got {len(data)} bytes"
                + (f" ({data[:16].hex()}...)" if data else "")
                + f". Is the board programmed with an eiegen bitstream, at {self.baud} baud?")
        return bytes_to_words(data)

    # ---- helpers ----
    def _read_bytes(self, want: int, seconds: float) -> bytes:
        deadline = time.monotonic() + seconds
        buf = bytearray()
        while len(buf) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.port.timeout = min(left, 0.2)
            try:
                chunk = self.port.read(want - len(buf))
            except Exception as e:
                raise BoardLinkError(f"reading from {self.name} failed: {e}") from None
            buf += chunk
        self.bytes_in += len(buf)
        return bytes(buf)

    def drain(self, quiet: float = 0.05, limit: float = 1.0) -> bytes:
        """Discard whatever arrives until the line has been quiet for ``quiet`` s."""
        junk = bytearray()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            self.port.timeout = quiet
            chunk = self.port.read(4096)
            if not chunk:
                break
            junk += chunk
        return bytes(junk)

    def reset_board(self, duration: float = 0.05) -> None:
        """Send a serial break: the board top resets the accelerator and the bridge
        (docs/boards.md). Links without break support skip it: pyserial's ``socket://``
        ignores it by itself, a back end that raises NotImplementedError and a port object
        without ``send_break`` are skipped here. A break that a real port fails to send
        (unplugged, closed) is a :class:`BoardLinkError`: the board would not be reset."""
        send_break = getattr(self.port, "send_break", None)
        if send_break is None:
            return
        try:
            import serial
            errors = (OSError, serial.SerialException)
        except ImportError:  # a port object that is not pyserial's
            errors = (OSError,)
        with contextlib.suppress(ImportError):
            import termios  # the POSIX back end's tcsendbreak raises termios.error
            errors += (termios.error,)
        try:
            send_break(duration)
        except NotImplementedError:
            return
        except errors as e:
            raise BoardLinkError(f"sending a break (reset) to {self.name} failed: {e}") from None

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def explain_garbled(error: Exception, link) -> LinkGarbled:
    """Wrap a protocol error from a response into a :class:`LinkGarbled` with hints."""
    return LinkGarbled(
        f"garbled response from {getattr(link, 'name', 'the board')}: {error}. "
        f"Usual causes: a wrong baud rate, a bitstream for another configuration or "
        f"not an eiegen bitstream, or bytes left from an interrupted session "
        f"(send a break, or power-cycle the board)")
