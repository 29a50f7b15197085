"""Activation read/write: write-back rounding/saturation/ReLU at the extremes (against
eiegen.fixedpoint), bias preload, register-file role swap, host writes and reads."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import requantize
from eiegen.hw.actrw import ActivationReadWrite
from eiegen.hw.simulation import simulate


def interesting_values(acc_bits, shift, rng):
    top = (1 << (acc_bits - 1)) - 1
    vals = {-top - 1, -top, -1, 0, 1, top, top - 1}
    for s in (shift, max(shift - 1, 0)):
        half = 1 << s
        for base in (-3 * half, -half, 0, half, 5 * half, 1 << 20, -(1 << 20)):
            vals |= {base + d for d in (-1, 0, 1, half // 2 - 1, half // 2, half // 2 + 1)}
    vals |= {int(v) for v in rng.integers(-top - 1, top, 20)}
    return sorted(v for v in vals if -top - 1 <= v <= top)


@pytest.mark.parametrize("acc_bits,act_bits", [(32, 16), (20, 8)])
def test_writeback_matches_fixedpoint(acc_bits, act_bits):
    cfg = ArchConfig(acc_bits=acc_bits, act_bits=act_bits, weight_bits=act_bits, act_depth=128)
    dut = ActivationReadWrite(cfg)
    rng = np.random.default_rng(acc_bits)
    combos = [(s, r) for s in (0, 1, 2, 7, act_bits, acc_bits - 1, acc_bits + 3) for r in (0, 1)]

    async def bench(ctx):
        for shift, relu in combos:
            values = interesting_values(acc_bits, shift, rng)[:cfg.act_depth]
            sel = int(rng.integers(0, 2))
            ctx.set(dut.sel, sel)
            ctx.set(dut.shift, shift)
            ctx.set(dut.relu, relu)
            for r, v in enumerate(values + [None] * dut.writeback_latency):
                if 0 < r <= len(values):           # the accumulator answers one cycle later
                    ctx.set(dut.acc_rd.data, values[r - 1])
                ctx.set(dut.wb_en, v is not None)
                ctx.set(dut.row, r if v is not None else 0)
                if v is not None:
                    assert ctx.get(dut.acc_rd.en) and ctx.get(dut.acc_rd.addr) == r
                await ctx.tick()
            want = requantize(np.array(values), shift, act_bits, bool(relu))
            dst = (1 - sel) * cfg.act_depth
            got = [ctx.get(dut.regfile.data[dst + r]) for r in range(len(values))]
            assert got == list(want), (shift, relu)

    simulate(dut, bench)


def test_preload_swap_and_host_access():
    cfg = ArchConfig(act_depth=8, bias_depth=16)
    bias = list(range(-8, 8))
    dut = ActivationReadWrite(cfg, bias_init=bias)
    writes = []

    async def bench(ctx):
        ctx.set(dut.bias_base, 5)
        for r in range(4):                          # preload rows 0..3 from bias[5..8]
            ctx.set(dut.pre_en, 1)
            ctx.set(dut.row, r)
            await ctx.tick()
            if r:
                assert ctx.get(dut.acc_wr.en)
            writes.append((ctx.get(dut.acc_wr.addr), ctx.get(dut.acc_wr.data)))
        ctx.set(dut.pre_en, 0)
        await ctx.tick()
        assert not ctx.get(dut.acc_wr.en)
        for sel in (0, 1):                          # host writes go to the source file
            ctx.set(dut.sel, sel)
            ctx.set(dut.act_wr.en, 1)
            ctx.set(dut.act_wr.addr, 3)
            ctx.set(dut.act_wr.data, -100 - sel)
            await ctx.tick()
        ctx.set(dut.act_wr.en, 0)
        assert ctx.get(dut.regfile.data[3]) == -100
        assert ctx.get(dut.regfile.data[cfg.act_depth + 3]) == -101
        for sel in (0, 1):                          # src reads follow sel
            ctx.set(dut.sel, sel)
            ctx.set(dut.src.en, 1)
            ctx.set(dut.src.addr, 3)
            await ctx.tick()
            ctx.set(dut.src.en, 0)
            assert ctx.get(dut.src.data) == -100 - sel

    simulate(dut, bench)
    assert writes == [(r, bias[5 + r]) for r in range(4)]
    assert (dut.preload_latency, dut.writeback_latency) == (1, 2)
