"""Board tops: the accelerator behind a UART bridge, with clocking, reset and LEDs.

:class:`BoardCore` is the part shared by hardware and simulation: the accelerator
(``EIE``), the :class:`~eiegen.boards.bridge.UARTBridge`, a break detector and the LEDs.
:class:`BoardTop` puts it on an amaranth-boards platform (PLL where the board clock is
slower than the design clock, power-on reset); :class:`SimBoardTop` exposes the same
core with plain ``clk``/``rst``/UART/LED ports for Verilator (no PLL).

Clock domains: ``sync`` runs everything and is reset by power-on (after the PLL locks),
by the top's ``rst`` (simulation), and by a serial *break* on the UART input (the host's
way to reset the accelerator and the bridge without touching the board). The break
detector itself runs in ``free``, the same clock without reset.
"""

from __future__ import annotations

from amaranth.hdl import (ClockDomain, ClockSignal, Const, DomainRenamer, Elaboratable, Module,
                          ResetSignal, Signal)
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from eiegen.hw.top import EIE

from .bridge import UARTBridge
from .memory import DistributedMemories, ICE40SPRAMMemories
from .pll import ECP5PLL, ICE40PLL, ecp5_pll, ice40_pll
from .uart import BreakDetector

__all__ = ["BoardCore", "BoardTop", "SimBoardTop", "uart_divisor", "memory_backend"]


def uart_divisor(clock_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; refuses a rate the clock cannot make within 2%."""
    div = round(clock_hz / baud)
    if div < 4:
        raise ValueError(f"a {clock_hz / 1e6:.2f} MHz clock is too slow for {baud} baud "
                         f"(needs at least 4 cycles per bit)")
    err = abs(clock_hz / div - baud) / baud
    if err > 0.02:
        raise ValueError(f"{baud} baud from {clock_hz / 1e6:.3f} MHz is {100 * err:.1f}% "
                         f"off (divisor {div}); choose another baud rate or clock")
    return div


def memory_backend(board):
    """The memory factory a board's accelerator is built with."""
    if board is not None and board.spram_spmat:
        return ICE40SPRAMMemories()
    if board is not None and board.distributed:
        return DistributedMemories(board.distributed)
    return "amaranth"


class BoardCore(Elaboratable):
    """Accelerator + UART bridge + break detector + LEDs (domains ``sync`` and ``free``).

    Parameters
    ----------
    cfg : ArchConfig
    program : Program, optional
        Preloaded into the memories the bitstream can initialise.
    divisor : int
        Clock cycles per UART bit.
    memories : memory factory or view name, for ``EIE``
    resync_cycles, activity_cycles : int
        See :class:`~eiegen.boards.bridge.UARTBridge`.
    """

    def __init__(self, cfg, program=None, *, divisor: int, memories="amaranth",
                 resync_cycles: int | None = None, fifo_depth: int = 512):
        self.cfg = cfg
        self.eie = EIE(cfg, program, memories=memories)
        self.bridge = UARTBridge(divisor, fifo_depth=fifo_depth,
                                 resync_cycles=resync_cycles or max(40 * divisor, 1 << 16))
        self.breaker = BreakDetector(divisor)
        self.rx = Signal(init=1)
        self.tx = Signal(init=1)
        self.brk = Signal()
        self.led_activity = Signal()
        self.led_error = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.eie = eie = self.eie
        m.submodules.bridge = bridge = self.bridge
        m.submodules.breaker = breaker = DomainRenamer("free")(self.breaker)
        wiring.connect(m, bridge.host_in, eie.host_in)
        wiring.connect(m, eie.host_out, bridge.host_out)
        rx_free = Signal(init=1)
        m.submodules.rx_free = FFSynchronizer(self.rx, rx_free, o_domain="free", init=1)
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx),
                     self.breaker.rx.eq(rx_free), self.brk.eq(self.breaker.brk),
                     self.led_activity.eq(bridge.activity | self.brk),
                     self.led_error.eq(bridge.error)]
        return m


class SimBoardTop(wiring.Component):
    """The board core with plain ports, for Verilator: ``clk``, ``rst``, ``uart_rx``,
    ``uart_tx``, ``led_activity``, ``led_error`` (no PLL; ``rst`` or a break resets)."""

    def __init__(self, cfg, program=None, *, divisor: int = 8, memories="amaranth",
                 resync_cycles: int | None = None):
        self.core = BoardCore(cfg, program, divisor=divisor, memories=memories,
                              resync_cycles=resync_cycles or 200 * divisor)
        super().__init__({
            "clk": In(1), "rst": In(1), "uart_rx": In(1, init=1), "uart_tx": Out(1, init=1),
            "led_activity": Out(1), "led_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.domains.sync = ClockDomain("sync")
        m.domains.free = ClockDomain("free", reset_less=True)
        m.d.comb += [ClockSignal("sync").eq(self.clk), ClockSignal("free").eq(self.clk),
                     ResetSignal("sync").eq(self.rst | core.brk),
                     core.rx.eq(self.uart_rx), self.uart_tx.eq(core.tx),
                     self.led_activity.eq(core.led_activity),
                     self.led_error.eq(core.led_error)]
        return m


class BoardTop(Elaboratable):
    """The accelerator on a board (amaranth-boards platform from ``board``).

    Parameters
    ----------
    board : Board
        From :mod:`eiegen.boards.catalog`.
    cfg : ArchConfig
    program : Program, optional
        Initialises the memories the bitstream can initialise (not SPRAM).
    clock : float
        Requested design clock in Hz; a PLL makes the closest frequency not above it
        when it differs from the board oscillator (``self.clock`` is what is made).
    baud : int
    """

    POR_SECONDS = 20e-6  # iCE40 block RAMs read as zero for ~3 us after configuration

    def __init__(self, board, cfg, program=None, *, clock: float | None = None,
                 baud: int | None = None):
        # A constructor that refuses its arguments (a clock no PLL makes) leaves an object
        # nobody can use; without this, Amaranth warns "created but never used" whenever
        # it is collected, in whatever test runs then. Cleared once construction succeeds.
        self._MustUse__silence = True
        self.board = board
        self.requested = float(clock or board.clock)
        self.baud = baud or board.baud
        self.pll = None
        if abs(self.requested - board.clock_in) < 1:
            self.clock = board.clock_in
        elif board.family == "ice40":
            self.pll = ice40_pll(board.clock_in, self.requested)
            self.clock = self.pll.f_out
        elif board.family == "ecp5":
            self.pll = ecp5_pll(board.clock_in, self.requested)
            self.clock = self.pll.f_out
        else:
            raise ValueError(f"{board.name}: the design clock must be the board clock "
                             f"({board.clock_in / 1e6:g} MHz) for {board.family} (no PLL "
                             f"model); got {self.requested / 1e6:g} MHz")
        self.divisor = uart_divisor(self.clock, self.baud)
        self.memories = memory_backend(board)
        self.core = BoardCore(cfg, program, divisor=self.divisor, memories=self.memories,
                              resync_cycles=max(40 * self.divisor, int(self.clock * 0.02)))
        self._MustUse__silence = False

    def elaborate(self, platform):
        m = Module()
        board = self.board
        m.submodules.core = core = self.core
        m.domains.sync = ClockDomain("sync")
        m.domains.free = ClockDomain("free", reset_less=True)
        clk_res = board.platform_class().default_clk
        if self.pll is not None and board.family == "ice40":
            pad = platform.request(clk_res, 0, dir="-")
            m.submodules.pll = pll = ICE40PLL(self.pll, pad.io)
            clk, locked = pll.clk, pll.locked
        else:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(clk_res, 0, dir="-"))
            if self.pll is not None:
                m.submodules.pll = pll = ECP5PLL(self.pll, clk_buf.i)
                clk, locked = pll.clk, pll.locked
            else:
                clk, locked = clk_buf.i, Const(1)
        if self.pll is None or board.family != "ice40":
            # nextpnr-ice40 derives the PLL output's constraint from the input's
            platform.add_clock_constraint(clk, self.clock)
        m.d.comb += [ClockSignal("sync").eq(clk), ClockSignal("free").eq(clk)]

        por = Signal(range(int(self.POR_SECONDS * self.clock) + 2))
        por_done = Signal()
        with m.If(~locked):
            m.d.free += [por.eq(0), por_done.eq(0)]
        with m.Elif(~por_done):
            m.d.free += por.eq(por + 1)
            with m.If(por == int(self.POR_SECONDS * self.clock)):
                m.d.free += por_done.eq(1)
        # the reset is a register: it fans out to most flip-flops of the design, so no
        # logic (the break counter's comparator, the OR) may sit in front of that net
        # (on the 16-PE ULX3S build it was the critical path); one cycle later is harmless
        rst = Signal(init=1)
        m.d.free += rst.eq(~por_done | core.brk)
        m.d.comb += ResetSignal("sync").eq(rst)

        # every subsignal raw (the ULX3S's uart also has dtr/rts); only rx and tx are used
        uart_pins = [io.name for io in platform.lookup("uart", 0).ios]
        uart = platform.request("uart", 0, dir={name: "-" for name in uart_pins})
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.led_act = led_act = io.Buffer(
            "o", platform.request("led", board.led_activity, dir="-"))
        m.submodules.led_err = led_err = io.Buffer(
            "o", platform.request("led", board.led_error, dir="-"))
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx),
                     led_act.o.eq(core.led_activity), led_err.o.eq(core.led_error)]
        return m
