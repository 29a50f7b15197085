"""The arithmetic unit: codebook lookup, row accumulation, multiply-accumulate with the
bypass on back-to-back updates of one row, against a behavioural model."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import wrap
from eiegen.hw.arith import ArithmeticUnit
from eiegen.hw.simulation import simulate


def column_entries(rows, cfg):
    """(z, first, skip) of a column's entries at ``rows``; a gap too long for ``z`` is
    bridged the way a merged padding entry arrives: ``skip`` adds ``2**rel_bits`` rows."""
    prev, out = -1, []
    for k, r in enumerate(rows):
        gap = r - prev - 1
        skip = int(k > 0 and gap > cfg.max_gap)
        out.append((gap - skip * (cfg.max_gap + 1), int(k == 0), skip))
        prev = r
    return out


@pytest.mark.parametrize("bubbles", [0.0, 0.3])
def test_accumulate_with_bypass(bubbles):
    cfg = ArchConfig(act_depth=32, acc_bits=32, max_layers=2)
    rng = np.random.default_rng(int(bubbles * 10))
    lo, hi = -(1 << 15), (1 << 15) - 1
    codebook = [0] + [int(w) for w in rng.integers(lo, hi + 1, 15)]
    codebook[1], codebook[2] = lo, hi                      # extremes
    dut = ArithmeticUnit(cfg, codebook_init=[0] * 16 + codebook)
    bias = [int(b) for b in rng.integers(-1 << 20, 1 << 20, 32)]
    entries = []                                            # (act, v, z, first, skip, row)
    last_row = None
    for _ in range(90):
        # a column's first row fits z (< 16); later ones may need a skip
        head = int(rng.integers(0, 16))
        rows = [head] + sorted(int(r) for r in rng.choice(np.arange(head + 1, 32),
                                                            size=min(31 - head, int(rng.integers(0, 4))),
                                                            replace=False))
        if last_row is not None and last_row < 16 and rng.random() < 0.7:
            rows = [last_row] + [r for r in rows if r > last_row]  # same row as the last entry
        elif len(entries) >= 2 and entries[-2][5] < 16 and rng.random() < 0.5:
            rows = [entries[-2][5]]                              # the row one entry back
        act = int(rng.choice([lo, hi, int(rng.integers(lo, hi))]))
        for (z, first, skip), r in zip(column_entries(rows, cfg), rows):
            entries.append((act, int(rng.integers(0, 16)), z, first, skip, r))
        last_row = rows[-1]
    back_to_back = sum(a[5] == b[5] for a, b in zip(entries, entries[1:]))
    assert back_to_back > 5
    # one entry apart: the sum then is in the w_ stage's previous-write register
    one_apart = sum(a[5] == c[5] != b[5] for a, b, c in zip(entries, entries[1:], entries[2:]))
    assert one_apart > 3
    assert sum(e[4] for e in entries) > 5  # merged padding arrives
    model = list(bias)
    for act, v, _, _, _, r in entries:
        model[r] = wrap(model[r] + codebook[v] * act, cfg.acc_bits)
    got = []

    async def bench(ctx):
        ctx.set(dut.layer, 1)
        for r, b in enumerate(bias):                        # preload
            ctx.set(dut.acc_wr.en, 1)
            ctx.set(dut.acc_wr.addr, r)
            ctx.set(dut.acc_wr.data, b)
            await ctx.tick()
        ctx.set(dut.acc_wr.en, 0)
        for act, v, z, first, skip, _ in entries:
            while rng.random() < bubbles:
                ctx.set(dut.inp.valid, 0)
                await ctx.tick()
            ctx.set(dut.inp.valid, 1)
            ctx.set(dut.inp.payload, {"act": act, "v": v, "z": z, "first": first, "skip": skip})
            await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        for _ in range(dut.latency):
            assert not ctx.get(dut.idle)
            await ctx.tick()
        assert ctx.get(dut.idle)
        for r in range(32):
            ctx.set(dut.acc_rd.en, 1)
            ctx.set(dut.acc_rd.addr, r)
            await ctx.tick()
            got.append(ctx.get(dut.acc_rd.data))
        assert [ctx.get(dut.acc.data[r]) for r in range(32)] == model

    simulate(dut, bench)
    assert got == model


def test_accumulator_wraps():
    cfg = ArchConfig(act_bits=8, weight_bits=8, acc_bits=16, act_depth=2)
    dut = ArithmeticUnit(cfg, codebook_init=[0, 127] + [0] * 14)

    async def bench(ctx):
        for k in range(5):
            ctx.set(dut.inp.valid, 1)
            ctx.set(dut.inp.payload, {"act": 127, "v": 1, "z": 0, "first": 1})
            await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        for _ in range(dut.latency + 1):
            await ctx.tick()
        assert ctx.get(dut.acc.data[0]) == wrap(5 * 127 * 127, 16)

    simulate(dut, bench)
