"""Progress of a long run on stderr, readable in a terminal and in a log file.

In a terminal the bar redraws itself in place with ``\\r``. Written to a file or a pipe
(CI logs, ``2> log``) those redraws would pile up on one line that grows with every
input, so there it prints one plain line each time another tenth of the work is done.
"""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """Callable as ``progress(done, total)``, as the simulators and the board driver do.

    Parameters
    ----------
    what : str
        What is counted (``"inputs"``, ``"digits"``).
    stream : file, optional
        Where to write; stderr (looked up at each call) by default.
    tty : bool, optional
        Redraw in place; by default when ``stream`` is a terminal.
    steps : int
        Lines per run when not redrawing (default 10: one per 10%).
    eta : bool
        Also show the time left at the current rate (long sweeps).

    The rate counts from the first call (``done = 0``), so a build or load that comes
    before the first input does not dilute it.
    """

    width = 30

    def __init__(self, what: str = "inputs", *, stream=None, tty: bool | None = None,
                 steps: int = 10, eta: bool = False):
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        self.what = what
        self.stream = stream
        self.tty = tty
        self.steps = steps
        self.eta = eta
        self.start = None
        self.printed = -1  # the last step printed as a line (non-terminal)

    def __call__(self, done: int, total: int) -> None:
        out = self.stream if self.stream is not None else sys.stderr
        tty = self.tty if self.tty is not None else bool(getattr(out, "isatty", bool)())
        if self.start is None:
            self.start = time.monotonic()
        rate = done / max(1e-9, time.monotonic() - self.start)
        text = f"{done}/{total} {self.what} ({rate:.1f}/s)"
        if self.eta and 0 < done < total:
            left = int(round((total - done) / rate))
            text += f" eta {left // 60}:{left % 60:02d}"
        if tty:
            filled = self.width * done // max(1, total)
            out.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {text}")
            if done == total:
                out.write("\n")
        else:
            step = self.steps * done // max(1, total)
            if step <= self.printed:
                return
            self.printed = step
            out.write(f"{100 * done // max(1, total):3d}% {text}\n")
        out.flush()
