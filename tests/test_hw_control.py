"""The control unit's command decoding, through the top level: INFO, empty RUN, unknown
opcodes, zero-length commands, back-pressure on the response stream."""

from eiegen.arch import ArchConfig
from eiegen.hw import protocol as P
from eiegen.hw.simulation import simulate, stream_get, stream_put
from eiegen.hw.top import EIE


def test_commands():
    cfg = ArchConfig(n_pe=3, max_layers=2)
    dut = EIE(cfg)
    words = ([0x7F000000]                                  # unknown opcode: ignored
             + P.info()
             + P.write(cfg, P.MEM_LAYERS, 0, [11, 12, 13, 14, 21, 22, 23, 24])
             + P.write(cfg, P.MEM_ACT, 0, [])                # zero-length write
             + P.write_input(cfg, [1, -2, 3, -4, 5])
             + P.read_output(cfg, 5)
             + [P.header(P.OP_READ, P.MEM_ACT), P.act_address(cfg, 4), 0]  # empty read
             + P.run(0) + P.read_counters())
    got = []

    async def sender(ctx):
        for w in words:
            await stream_put(ctx, dut.host_in, w)

    async def receiver(ctx):
        n = 5 + 4 + 5 + 0 + 1 + 1 + P.COUNTERS_PER_PE * cfg.n_pe
        while len(got) < n:
            for _ in range(len(got) % 3):                   # back-pressure
                await ctx.tick()
            got.append(await stream_get(ctx, dut.host_out))
        descs = [ctx.get(dut.control.descriptors.data[k]) for k in range(2)]
        assert descs == [14 << 96 | 13 << 64 | 12 << 32 | 11, 24 << 96 | 23 << 64 | 22 << 32 | 21]

    simulate(dut, sender, receiver)
    info, read, empty, run, counters = P.split_responses(got)
    assert P.parse_info(cfg, info)["n_pe"] == 3
    assert list(P.parse_output(cfg, read, 5)) == [1, -2, 3, -4, 5]
    assert empty.payload == ()
    assert P.parse_run(run) == 0
    assert P.parse_counters(cfg, counters).busy == (0, 0, 0)
