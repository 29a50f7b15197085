"""PLL settings and instances: iCE40 ``SB_PLL40_PAD`` and ECP5 ``EHXPLLL``.

The divider searches follow the vendors' rules (the same ranges ``icepll`` and
``ecppll`` use); the chosen frequency is the closest one reachable that is not above the
request, so timing is checked against a clock the board really runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.hdl import Elaboratable, Instance, Module, Signal

__all__ = ["PLLSettings", "ice40_pll", "ecp5_pll", "ICE40PLL", "ECP5PLL", "ICE40_RANGE",
           "ECP5_RANGE"]

# Output ranges of the PLLs (Hz): a request outside them is refused, not rounded to an
# edge the vendor does not guarantee.
ICE40_RANGE = (16e6, 275e6)
ECP5_RANGE = (3.125e6, 400e6)


def _check_request(request, rng, what: str) -> None:
    if not (isinstance(request, (int, float)) and math.isfinite(request)
            and rng[0] <= request <= rng[1]):
        raise ValueError(f"an {what} PLL makes {rng[0] / 1e6:g}..{rng[1] / 1e6:g} MHz, "
                         f"not {request!r} Hz: pass --clock in that range (e.g. 30e6)")


@dataclass(frozen=True)
class PLLSettings:
    f_in: float
    f_out: float  # what the PLL really makes
    params: dict  # vendor divider parameters


def _pick(best, f, request, params):
    if f > request * (1 + 1e-9):
        return best
    if best is None or f > best[0] + 1e-6:
        return (f, params)
    return best


def ice40_pll(f_in: float, request: float) -> PLLSettings:
    """SB_PLL40 (SIMPLE feedback): f_pfd = f_in/(DIVR+1) in 10..133 MHz, f_vco =
    f_pfd*(DIVF+1) in 533..1066 MHz, f_out = f_vco / 2**DIVQ (DIVQ 1..6), f_out >= 16 MHz."""
    _check_request(request, ICE40_RANGE, "iCE40")
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if f >= 16e6:
                    best = _pick(best, f, request, (divr, divf, divq, pfd))
    if best is None:
        raise ValueError(f"an iCE40 PLL cannot make {request / 1e6:.2f} MHz from "
                         f"{f_in / 1e6:.2f} MHz (outputs 16..275 MHz)")
    f, (divr, divf, divq, pfd) = best
    # The loop filter range follows the PFD frequency (iCE40 sysCLOCK PLL guide).
    rng = next(k for k, lim in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12), 1) if pfd < lim)
    return PLLSettings(f_in, f, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                 "FILTER_RANGE": rng})


def ecp5_pll(f_in: float, request: float) -> PLLSettings:
    """EHXPLLL with CLKOP feedback: f_pfd = f_in/CLKI_DIV >= 3.125 MHz, f_out = f_pfd *
    CLKFB_DIV, f_vco = f_out * CLKOP_DIV in 400..800 MHz."""
    _check_request(request, ECP5_RANGE, "ECP5")
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for fb in range(1, 81):
            f = pfd * fb
            for op in range(1, 129):
                if 400e6 <= f * op <= 800e6:
                    best = _pick(best, f, request, (clki, fb, op))
                    break
    if best is None:
        raise ValueError(f"an ECP5 PLL cannot make {request / 1e6:.2f} MHz from "
                         f"{f_in / 1e6:.2f} MHz")
    f, (clki, fb, op) = best
    return PLLSettings(f_in, f, {"CLKI_DIV": clki, "CLKFB_DIV": fb, "CLKOP_DIV": op})


class _PLL(Elaboratable):
    """A PLL instance: ``clk`` out of ``clk_in`` (a pin or a clock net), ``locked``."""

    def __init__(self, settings: PLLSettings, clk_in):
        self.settings = settings
        self.clk_in = clk_in
        self.clk = Signal()
        self.locked = Signal()


class ICE40PLL(_PLL):
    """``SB_PLL40_PAD``: ``clk_in`` is the clock input pin itself (no input buffer)."""

    def elaborate(self, platform):
        m = Module()
        p = self.settings.params
        m.submodules.pll = Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"], p_DIVQ=p["DIVQ"],
            p_FILTER_RANGE=p["FILTER_RANGE"],
            i_PACKAGEPIN=self.clk_in, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=self.clk, o_LOCK=self.locked)
        return m


class ECP5PLL(_PLL):
    """``EHXPLLL`` fed by ``clk_in`` (from the clock pin's input buffer)."""

    def elaborate(self, platform):
        m = Module()
        p = self.settings.params
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.settings.f_in / 1e6:.6f}",
            a_FREQUENCY_PIN_CLKOP=f"{self.settings.f_out / 1e6:.6f}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"], p_CLKOP_DIV=p["CLKOP_DIV"],
            p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, i_CLKFB=self.clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=self.clk, o_LOCK=self.locked)
        return m
