"""Numeric command-line options, checked when they are parsed.

A number that reaches the code unchecked fails late or never: a NaN timeout waits forever
(every comparison with NaN is false), a zero clock divides by zero, a negative limit
silently drops inputs (issue 19). Every numeric option of the CLI is parsed by
:func:`number`, so a bad value is refused with one line naming the option, the range and
the value, before any file is read or written.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["number", "int_list"]


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def number(kind=float, lo=None, hi=None, *, lo_open: bool = False, what: str = ""):
    """An argparse ``type`` for a finite ``kind`` (int or float) in ``lo..hi``.

    ``lo_open`` excludes ``lo`` itself (e.g. a timeout must be above 0 s). ``what`` says
    what the number is ("seconds", "Hz"), for the message.
    """
    if lo is not None and hi is not None:
        bounds = f"{'above' if lo_open else 'from'} {_fmt(lo)} up to {_fmt(hi)}"
    elif lo is not None:
        bounds = f"{'above' if lo_open else 'at least'} {_fmt(lo)}"
    else:
        bounds = "" if hi is None else f"up to {_fmt(hi)}"
    name = "an integer" if kind is int else "a finite number"
    expected = " ".join(filter(None, [name, bounds, f"({what})" if what else ""]))

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        bad = isinstance(value, float) and not math.isfinite(value)
        bad = bad or (lo is not None and (value < lo or (lo_open and value == lo)))
        bad = bad or (hi is not None and value > hi)
        if bad:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # what argparse names in its messages
    return parse


def int_list(lo: int = 1, hi: int = 1 << 20, min_items: int = 1):
    """An argparse ``type`` for comma-separated integers (layer sizes), each in lo..hi."""
    def parse(text: str):
        try:
            values = [int(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers such as 256,128,64, got {text!r}") from None
        if len(values) < min_items or any(not lo <= v <= hi for v in values):
            raise argparse.ArgumentTypeError(
                f"expected at least {min_items} comma-separated integers, each between {lo} "
                f"and {hi}, got {text!r}")
        return values

    parse.__name__ = "list"
    return parse


def config_setting(text: str) -> tuple:
    """An argparse ``type`` for ``FIELD=VALUE``: a config field (:class:`ArchConfig`) and
    an integer in its range (:func:`eiegen.arch.field_range`, the table the config itself
    checks against), parsed by :func:`number`; returns ``(field, value)``."""
    from eiegen.arch import ConfigError, field_range

    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE such as col_filter=1, got "
                                         f"{text!r}")
    try:
        lo, hi, what = field_range(name)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    try:
        return name, number(int, lo, hi, what=what)(value.strip())
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{name}: {e}") from None
