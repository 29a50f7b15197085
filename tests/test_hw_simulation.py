"""The stream helpers, on an Amaranth FIFO."""

from amaranth.lib.fifo import SyncFIFO

from eiegen.hw.simulation import simulate, stream_get, stream_put


def test_put_get_round_trip():
    dut = SyncFIFO(width=8, depth=2)
    got = []

    async def producer(ctx):
        for v in range(10):
            await stream_put(ctx, dut.w_stream, v)

    async def consumer(ctx):
        for _ in range(10):
            await ctx.tick()
            got.append(await stream_get(ctx, dut.r_stream))

    simulate(dut, producer, consumer)
    assert got == list(range(10))
