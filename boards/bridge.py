"""The UART bridge between a serial line and the accelerator's 32-bit host streams.

Framing (docs/boards.md): every 32-bit word travels as 4 bytes, least significant byte
first, in both directions; there is nothing else on the line. Received bytes wait in a
FIFO (the line has no flow control: the accelerator does not take commands while it
runs or while a response is being sent). A partial word left alone for ``resync_cycles``
is dropped, so a host that stopped mid-word (or a glitch) cannot shift every later word
by a byte.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .uart import UARTRx, UARTTx

__all__ = ["UARTBridge", "ByteFIFO"]


class ByteFIFO(wiring.Component):
    """A lean byte FIFO in one block RAM (``depth`` a power of two), between two byte
    streams: ``w`` in, ``r`` out (a synchronous read into an output register, so
    ``r.payload`` is valid while ``r.valid``). Smaller than
    :class:`amaranth.lib.fifo.SyncFIFOBuffered` (no level counter), which matters on a
    5280-cell iCE40."""

    def __init__(self, depth: int):
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"ByteFIFO depth must be a power of two >= 2, got {depth}")
        self.depth = depth
        super().__init__({"w": In(stream.Signature(8)), "r": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        bits = (self.depth - 1).bit_length()
        m.submodules.mem = mem = Memory(shape=8, depth=self.depth, init=[])
        wp, rp = mem.write_port(), mem.read_port()
        w_ptr = Signal(bits + 1)
        r_ptr = Signal(bits + 1)
        empty = w_ptr == r_ptr
        w, r = self.w, self.r
        m.d.comb += w.ready.eq((w_ptr[:bits] != r_ptr[:bits]) | (w_ptr[bits] == r_ptr[bits]))
        m.d.comb += [wp.addr.eq(w_ptr[:bits]), wp.data.eq(w.payload),
                     wp.en.eq(w.valid & w.ready)]
        with m.If(wp.en):
            m.d.sync += w_ptr.eq(w_ptr + 1)
        fetch = ~empty & (~r.valid | r.ready)
        m.d.comb += [rp.addr.eq(r_ptr[:bits]), rp.en.eq(fetch), r.payload.eq(rp.data)]
        with m.If(fetch):
            m.d.sync += [r_ptr.eq(r_ptr + 1), r.valid.eq(1)]
        with m.Elif(r.ready):
            m.d.sync += r.valid.eq(0)
        return m


class UARTBridge(wiring.Component):
    """Bytes <-> 32-bit words, with a receive FIFO, resynchronisation and error flags.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit.
    fifo_depth : int
        Received bytes buffered while the accelerator does not take commands (512: one
        iCE40 block RAM, 128 words).
    resync_cycles : int
        Idle cycles after which a partial received word is dropped.

    Attributes
    ----------
    rx : In(1)
        The serial input pin (asynchronous; synchronised here).
    tx : Out(1)
    host_in : Out(stream.Signature(32))
        Command words to the accelerator.
    host_out : In(stream.Signature(32))
        Response words from the accelerator.
    error : Out(1)
        Sticky: a framing error, or a word arrived while the FIFO was full (lost).
    overflow, frame_error : Out(1)
        The two causes of ``error``, sticky.
    activity : Out(1)
        Toggles with every word received or sent (an LED flickers while data moves).
    """

    def __init__(self, divisor: int, *, fifo_depth: int = 512, resync_cycles: int = 1 << 16):
        if fifo_depth < 2 or fifo_depth & (fifo_depth - 1):
            raise ValueError(f"fifo_depth must be a power of two >= 2, got {fifo_depth}")
        if resync_cycles < 40 * divisor:
            raise ValueError(f"resync_cycles ({resync_cycles}) must cover at least 4 bytes "
                             f"(40 bit times = {40 * divisor} cycles)")
        self.divisor = divisor
        self.fifo_depth = fifo_depth
        self.resync_cycles = resync_cycles
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "host_in": Out(stream.Signature(32)),
            "host_out": In(stream.Signature(32)),
            "error": Out(1),
            "overflow": Out(1),
            "frame_error": Out(1),
            "activity": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UARTRx(self.divisor)
        m.submodules.utx = utx = UARTTx(self.divisor)
        m.submodules.fifo = fifo = ByteFIFO(self.fifo_depth)
        m.submodules.rx_sync = FFSynchronizer(self.rx, urx.rx, init=1)
        m.d.comb += self.tx.eq(utx.tx)

        # receive: bytes into the FIFO (one block RAM), then little-endian words
        m.d.comb += [fifo.w.payload.eq(urx.out.payload), fifo.w.valid.eq(urx.out.valid)]
        with m.If(urx.out.valid & ~fifo.w.ready):
            m.d.sync += self.overflow.eq(1)
        word = Signal(32)
        nbytes = Signal(3)  # bytes of the word being assembled; 4 = complete
        idle = Signal(range(self.resync_cycles + 1))
        full = nbytes == 4
        m.d.comb += [self.host_in.valid.eq(full), self.host_in.payload.eq(word),
                     fifo.r.ready.eq(~full)]
        with m.If(self.host_in.valid & self.host_in.ready):
            m.d.sync += nbytes.eq(0)
        with m.Elif(fifo.r.valid & fifo.r.ready):
            m.d.sync += [word.eq(Cat(word[8:], fifo.r.payload)), nbytes.eq(nbytes + 1)]
        with m.Elif((nbytes != 0) & ~full & (idle == self.resync_cycles)):
            m.d.sync += nbytes.eq(0)  # a partial word nobody completes: drop it
        with m.If(urx.out.valid | urx.busy | fifo.r.valid | (nbytes == 0) | full):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.resync_cycles):
            m.d.sync += idle.eq(idle + 1)
        with m.If(urx.frame_error):
            m.d.sync += self.frame_error.eq(1)

        # transmit: the accelerator's word is taken into a register as soon as the last
        # one has gone, then its bytes go out low first. The register cuts the path from
        # the accelerator's read-back multiplexers (PE, counter) to the UART's shift
        # register, which was the iCEBreaker's critical path.
        tx_word = Signal(32)
        tx_full = Signal()
        sent = Signal(2)
        m.d.comb += [self.host_out.ready.eq(~tx_full),
                     utx.inp.valid.eq(tx_full),
                     utx.inp.payload.eq(tx_word.word_select(sent, 8))]
        with m.If(self.host_out.valid & ~tx_full):
            m.d.sync += [tx_word.eq(self.host_out.payload), tx_full.eq(1)]
        with m.If(utx.inp.valid & utx.inp.ready):
            m.d.sync += sent.eq(sent + 1)
            with m.If(sent == 3):
                m.d.sync += tx_full.eq(0)

        m.d.comb += self.error.eq(self.overflow | self.frame_error)
        # activity: the LED toggles with every word moved (a counter to stretch pulses
        # costs cells the UP5K does not have to spare)
        with m.If((self.host_in.valid & self.host_in.ready)
                  | (self.host_out.valid & self.host_out.ready)):
            m.d.sync += self.activity.eq(~self.activity)
        return m
