"""A plain 8N1 UART: receiver, transmitter and break detector.

``divisor`` is the bit time in clock cycles (clock / baud, rounded). The receiver waits
for a falling edge, samples the start bit half a bit later (rejecting glitches) and then
every data and stop bit in its middle, so it tolerates a baud mismatch of a few percent
and needs ``divisor >= 4``. The serial lines idle high.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "BreakDetector", "check_divisor"]


def check_divisor(divisor) -> int:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"the UART divisor (clock cycles per bit) must be an integer >= 4, "
                         f"got {divisor!r}")
    return divisor


class UARTRx(wiring.Component):
    """Receiver: bytes on ``out`` (no back-pressure: a byte not taken is lost and
    flagged on ``overrun``).

    Attributes
    ----------
    rx : In(1)
        The serial line (already synchronised to the clock).
    out : Out(stream.Signature(8, always_ready=True))
    frame_error : Out(1)
        Pulses when a stop bit reads 0 (the byte is dropped).
    busy : Out(1)
        A frame is being received.
    """

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "out": Out(stream.Signature(8, always_ready=True)),
            "frame_error": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        timer = Signal(range(div * 3 // 2 + 1))
        bits = Signal(4)
        shreg = Signal(8)
        m.d.sync += [self.out.valid.eq(0), self.frame_error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~self.rx):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(self.rx):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), shreg.eq(Cat(shreg[1:], self.rx)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(self.rx):
                        m.d.sync += [self.out.valid.eq(1), self.out.payload.eq(shreg)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.frame_error.eq(1)
                        m.next = "WAIT_HIGH"
            with m.State("WAIT_HIGH"):  # a break or noise: resynchronise on idle
                with m.If(self.rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Transmitter: one start bit, 8 data bits (LSB first), one stop bit per byte.

    Attributes
    ----------
    inp : In(stream.Signature(8))
    tx : Out(1)
    """

    def __init__(self, divisor: int):
        self.divisor = check_divisor(divisor)
        super().__init__({
            "inp": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        timer = Signal(range(div))
        shreg = Signal(10, init=0x3FF)  # stop, data[7:0], start (LSB leaves first)
        left = Signal(4)
        m.d.comb += [self.tx.eq(shreg[0]), self.inp.ready.eq(left == 0)]
        with m.If(self.inp.valid & self.inp.ready):
            m.d.sync += [shreg.eq(Cat(0, self.inp.payload, 1)), left.eq(10),
                         timer.eq(div - 1)]
        with m.Elif(left != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), left.eq(left - 1),
                             timer.eq(div - 1)]
        return m


class BreakDetector(wiring.Component):
    """``brk`` is high while ``rx`` has been low for at least ``frames`` whole frames
    (10 bit times each): a serial *break*, which no byte can produce.

    The host sends one to reset the accelerator and the bridge (docs/boards.md).
    """

    def __init__(self, divisor: int, frames: int = 2):
        self.limit = check_divisor(divisor) * 10 * frames
        super().__init__({"rx": In(1, init=1), "brk": Out(1)})

    def elaborate(self, platform):
        m = Module()
        low = Signal(range(self.limit + 1))
        with m.If(self.rx):
            m.d.sync += low.eq(0)
        with m.Elif(low != self.limit):
            m.d.sync += low.eq(low + 1)
        m.d.comb += self.brk.eq(low == self.limit)
        return m
