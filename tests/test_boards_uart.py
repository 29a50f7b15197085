"""The UART, break detector and UART bridge in the Amaranth simulator, against a
bit-level line model: framing, little-endian words, FIFO, resync, errors."""

import pytest
from amaranth.hdl import Module

from eiegen.boards.bridge import UARTBridge
from eiegen.boards.uart import BreakDetector, UARTRx, UARTTx, check_divisor
from eiegen.hw.simulation import simulate, stream_get, stream_put

DIV = 6


async def send_byte(ctx, line, byte, div=DIV, stop=1):
    for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [stop]:
        ctx.set(line, bit)
        await ctx.tick().repeat(div)
    ctx.set(line, 1)


async def recv_byte(ctx, line, div=DIV, limit=10_000):
    for _ in range(limit):
        if not ctx.get(line):
            break
        await ctx.tick()
    else:
        raise AssertionError("no start bit")
    await ctx.tick().repeat(div // 2)
    assert ctx.get(line) == 0
    value = 0
    for k in range(8):
        await ctx.tick().repeat(div)
        value |= ctx.get(line) << k
    await ctx.tick().repeat(div)
    assert ctx.get(line) == 1, "stop bit"
    return value


def test_divisor_is_checked():
    with pytest.raises(ValueError, match="divisor"):
        check_divisor(3)


def test_rx_tx_loop():
    m = Module()
    m.submodules.rx = rx = UARTRx(DIV)
    m.submodules.tx = tx = UARTTx(DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    data = [0x00, 0xFF, 0x55, 0xA3, 0x01, 0x80]
    got = []

    async def sender(ctx):
        for b in data:
            await stream_put(ctx, tx.inp, b)

    async def receiver(ctx):
        while len(got) < len(data):
            await ctx.tick()
            if ctx.get(rx.out.valid):
                got.append(ctx.get(rx.out.payload))

    simulate(m, sender, receiver)
    assert got == data


def test_rx_frame_error_and_break():
    m = Module()
    m.submodules.rx = rx = UARTRx(DIV)
    m.submodules.brk = brk = BreakDetector(DIV, frames=2)
    seen = {"err": 0, "brk": 0, "bytes": []}

    async def bench(ctx):
        async def line(v):
            ctx.set(rx.rx, v)
            ctx.set(brk.rx, v)
        await line(1)
        await ctx.tick().repeat(5)
        # a byte whose stop bit is 0: framing error, nothing delivered
        for bit in [0] + [1] * 8 + [0]:
            await line(bit)
            for _ in range(DIV):
                await ctx.tick()
                seen["err"] |= ctx.get(rx.frame_error)
        await line(1)
        await ctx.tick().repeat(3 * DIV)
        # a break: low for three frames
        await line(0)
        for _ in range(30 * DIV):
            await ctx.tick()
            seen["brk"] |= ctx.get(brk.brk)
        await line(1)
        await ctx.tick().repeat(2)
        assert not ctx.get(brk.brk)
        # and the receiver still works afterwards
        for bit in [0] + [(0x5A >> k) & 1 for k in range(8)] + [1]:
            await line(bit)
            for _ in range(DIV):
                await ctx.tick()
                if ctx.get(rx.out.valid):
                    seen["bytes"].append(ctx.get(rx.out.payload))
        await line(1)
        for _ in range(2 * DIV):
            await ctx.tick()
            if ctx.get(rx.out.valid):
                seen["bytes"].append(ctx.get(rx.out.payload))

    simulate(m, bench)
    assert seen["err"] and seen["brk"]
    assert seen["bytes"] == [0x5A]


def _bridge(**kw):
    return UARTBridge(DIV, fifo_depth=16, resync_cycles=60 * DIV, **kw)


def test_bridge_words_little_endian_both_ways():
    dut = _bridge()
    words = [0x01020304, 0xDEADBEEF, 0, 0xFFFFFFFF]
    back = [0xE1E00001, 0x12345678]
    got_in, got_out = [], []

    async def host(ctx):
        for w in words:
            for k in range(4):
                await send_byte(ctx, dut.rx, (w >> 8 * k) & 0xFF)

    async def accel(ctx):
        for _ in words:
            got_in.append(await stream_get(ctx, dut.host_in))
        for w in back:
            await stream_put(ctx, dut.host_out, w)

    async def monitor(ctx):
        data = []
        for _ in range(4 * len(back)):
            data.append(await recv_byte(ctx, dut.tx))
        for i in range(0, len(data), 4):
            got_out.append(int.from_bytes(bytes(data[i:i + 4]), "little"))

    simulate(dut, host, accel, monitor)
    assert got_in == words
    assert got_out == back


def test_bridge_buffers_while_busy_and_flags_overflow():
    dut = _bridge()
    state = {}

    async def host(ctx):
        for b in range(12):  # 3 words while the accelerator takes nothing
            await send_byte(ctx, dut.rx, b)
        state["err_before"] = ctx.get(dut.error)
        words = []
        for _ in range(3):
            words.append(await stream_get(ctx, dut.host_in))
        state["words"] = words
        for b in range(40):  # more than the 16-byte FIFO holds, nobody reading
            await send_byte(ctx, dut.rx, b)
        await ctx.tick().repeat(4)
        state["overflow"] = ctx.get(dut.overflow)
        state["error"] = ctx.get(dut.error)

    simulate(dut, host)
    assert state["err_before"] == 0
    assert state["words"] == [0x03020100, 0x07060504, 0x0B0A0908]
    assert state["overflow"] == 1 and state["error"] == 1


def test_bridge_drops_a_partial_word_after_idle():
    dut = _bridge()
    got = []

    async def host(ctx):
        for b in (0xAA, 0xBB):  # two stray bytes, then silence
            await send_byte(ctx, dut.rx, b)
        await ctx.tick().repeat(100 * DIV)
        for b in (1, 2, 3, 4):
            await send_byte(ctx, dut.rx, b)
        got.append(await stream_get(ctx, dut.host_in))

    simulate(dut, host)
    assert got == [0x04030201]

