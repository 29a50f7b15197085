"""The arithmetic unit: codebook lookup, row accumulation, multiply-accumulate with the
bypass on back-to-back updates of one row, against a behavioural model."""

import numpy as np
import pytest

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import signed_range, wrap
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


@pytest.mark.parametrize("bubbles, acc_bits", [(0.0, 32), (0.3, 32), (0.0, 34), (0.3, 34)])
def test_accumulate_with_bypass(bubbles, acc_bits):
    # 32 bits: full-scale products (2**30) saturate the accumulator within a few
    # additions, also through both bypass paths; 34 bits: these sums never do
    cfg = ArchConfig(act_depth=32, acc_bits=acc_bits, max_layers=2)
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
    acc_lo, acc_hi = signed_range(cfg.acc_bits)
    saturations = []  # per entry: whether its addition is clamped
    for act, v, _, _, _, r in entries:
        exact = model[r] + codebook[v] * act
        model[r] = min(max(exact, acc_lo), acc_hi)
        saturations.append(model[r] != exact)
    if acc_bits == 32:
        assert 5 < sum(saturations) < len(entries) - 5
    else:
        assert not any(saturations)
    got, seen = [], []

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
                seen.append(ctx.get(dut.saturated))
            ctx.set(dut.inp.valid, 1)
            ctx.set(dut.inp.payload, {"act": act, "v": v, "z": z, "first": first, "skip": skip})
            await ctx.tick()
            seen.append(ctx.get(dut.saturated))
        ctx.set(dut.inp.valid, 0)
        for _ in range(dut.latency):
            assert not ctx.get(dut.idle)
            await ctx.tick()
            seen.append(ctx.get(dut.saturated))
        assert ctx.get(dut.idle)
        for r in range(32):
            ctx.set(dut.acc_rd.en, 1)
            ctx.set(dut.acc_rd.addr, r)
            await ctx.tick()
            got.append(ctx.get(dut.acc_rd.data))
        assert [ctx.get(dut.acc.data[r]) for r in range(32)] == model

    simulate(dut, bench)
    assert got == model
    assert sum(seen) == sum(saturations)


# Eleven 8x8-bit products into row 0 of a 16-bit accumulator: 127 * 127 five times, then
# -127 * 127 three times, then 127 * 127 three times (codebook entries 1 and 2)
ONE_ROW_ACTS = [127] * 5 + [-127] * 3 + [127] * 3
ONE_ROW_VS = [1] * 8 + [2] * 3


def run_one_row(acc_saturate: int):
    """The entries above, one per cycle, every one a column's first into row 0; returns
    (the unit, ``saturated`` read after every cycle, row 0 once the last sum is written)."""
    cfg = ArchConfig(act_bits=8, weight_bits=8, acc_bits=16, act_depth=2,
                     acc_saturate=acc_saturate)
    dut = ArithmeticUnit(cfg, codebook_init=[0, 127, -127] + [0] * 13)
    flags, final = [], []

    async def bench(ctx):
        for act, v in zip(ONE_ROW_ACTS, ONE_ROW_VS):
            ctx.set(dut.inp.valid, 1)
            ctx.set(dut.inp.payload, {"act": act, "v": v, "z": 0, "first": 1})
            await ctx.tick()
            flags.append(ctx.get(dut.saturated))
        ctx.set(dut.inp.valid, 0)
        for _ in range(dut.latency + 1):
            await ctx.tick()
            flags.append(ctx.get(dut.saturated))
        final.append(ctx.get(dut.acc.data[0]))

    simulate(dut, bench)
    return dut, flags, final[0]


def test_accumulator_saturates_and_flags_each_clamp():
    # 16129 each: the third addition clamps to 32767, the fourth and fifth stay there,
    # then -127 * 127 three times leaves 32767 - 48387 = -15620 (a wrapping adder would
    # give 5*16129 - 3*16129 = 32258). The last three go the other way: -15620 - 16129 =
    # -31749, then two clamp at -32768.
    dut, flags, final = run_one_row(acc_saturate=1)
    assert final == -(1 << 15)
    # entry e arrives in cycle e and is added in cycle e + latency - 1; flags[i] was
    # read in cycle i + 1
    lag = dut.latency - 2
    assert flags[lag:lag + len(ONE_ROW_ACTS)] == [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1]
    assert sum(flags) == 5


def test_a_wrapping_accumulator_wraps_and_never_flags():
    # acc_saturate = 0 (EIE; the iCEBreaker): the same additions wrap modulo 2**16 and no
    # clamp is ever flagged
    _, flags, final = run_one_row(acc_saturate=0)
    exact = sum(a * [0, 127, -127][v] for a, v in zip(ONE_ROW_ACTS, ONE_ROW_VS))
    # the saturating unit ends at -32768 (test above); wrapping gives the exact sum
    assert final == wrap(exact, 16) == exact == -16129
    assert not any(flags)
