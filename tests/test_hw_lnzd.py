"""Leading non-zero detection: the priority tree, and the scanner/broadcast with no
non-zero, one, all non-zero and random activations, with and without back-pressure."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eiegen.arch import ArchConfig
from eiegen.hw.lnzd import LeadingNonZeroDetector, priority_select
from eiegen.hw.simulation import simulate


class Tree(wiring.Component):
    def __init__(self, n):
        self.n = n
        super().__init__({"valids": In(n), "any": Out(1), "index": Out(8), "value": Out(8)})

    def elaborate(self, platform):
        m = Module()
        any_, index, value = priority_select([self.valids[k] for k in range(self.n)],
                                             [k * 3 + 1 for k in range(self.n)])
        m.d.comb += [self.any.eq(any_), self.index.eq(index), self.value.eq(value)]
        return m


@pytest.mark.parametrize("n", [1, 3, 4, 5, 16, 17, 64])
def test_priority_select(n):
    dut = Tree(n)
    rng = np.random.default_rng(n)
    masks = [0, (1 << n) - 1] + [1 << k for k in range(n)]
    masks += [int(rng.integers(0, 2, n) @ (1 << np.arange(n, dtype=object))) for _ in range(30)]

    async def bench(ctx):
        for mask in masks:
            ctx.set(dut.valids, mask)
            assert ctx.get(dut.any) == (mask != 0)
            if mask:
                first = (mask & -mask).bit_length() - 1
                assert ctx.get(dut.index) == first
                assert ctx.get(dut.value) == first * 3 + 1

    simulate(dut, bench, clock=None)


def run_scan(n_pe, acts, stall_prob, seed=0):
    """Returns (broadcast list, cycle of the first `done`, stall cycles)."""
    cfg = ArchConfig(n_pe=n_pe, act_depth=16)
    dut = LeadingNonZeroDetector(cfg)
    rng = np.random.default_rng(seed)
    n_in = len(acts)
    rows = -(-n_in // n_pe)
    padded = list(acts) + [int(rng.integers(1, 9))] * (rows * n_pe - n_in)  # junk past n_in
    sent, result = [], {}

    async def bench(ctx):
        ctx.set(dut.n_in, n_in)
        await ctx.tick()                # n_in is settled a cycle before run rises
        ctx.set(dut.run, 1)
        stalls = 0
        for cycle in range(10 * n_in + 20):
            if ctx.get(dut.done):
                result["done"], result["stalls"] = cycle, stalls
                break
            ready = rng.random() >= stall_prob
            ctx.set(dut.out.ready, ready)
            valid = ctx.get(dut.out.valid)
            if valid and ready:
                p = ctx.get(dut.out.payload)
                sent.append((p.col, p.act))
            stalls += valid and not ready
            en, addr = ctx.get(dut.src_en), ctx.get(dut.src_addr)
            await ctx.tick()
            if en:
                for k in range(n_pe):
                    ctx.set(dut.src_data[k], padded[addr * n_pe + k])
        ctx.set(dut.run, 0)
        await ctx.tick()
        assert not ctx.get(dut.done)

    simulate(dut, bench)
    return sent, result["done"], result["stalls"]


def scan_cycles(n_pe, acts):
    """The documented timing: first_row + sum over rows of max(non-zeros, 1)."""
    rows = [acts[r:r + n_pe] for r in range(0, len(acts), n_pe)]
    return LeadingNonZeroDetector.first_row + sum(max(sum(a != 0 for a in row), 1) for row in rows)


@pytest.mark.parametrize("n_pe", [1, 3, 4, 8])
@pytest.mark.parametrize("kind", ["none", "one", "all", "random"])
@pytest.mark.parametrize("stall_prob", [0.0, 0.4])
def test_scan(n_pe, kind, stall_prob):
    rng = np.random.default_rng(n_pe)
    n_in = 4 * n_pe + 3
    acts = {"none": np.zeros(n_in, int),
            "one": np.eye(1, n_in, n_in // 2, dtype=int)[0] * -5,
            "all": rng.integers(1, 100, n_in) * rng.choice([-1, 1], n_in),
            "random": rng.integers(-3, 4, n_in) * (rng.random(n_in) < 0.3)}[kind]
    acts = [int(a) for a in acts]
    sent, done, stalls = run_scan(n_pe, acts, stall_prob, seed=n_pe)
    assert sent == [(j, a) for j, a in enumerate(acts) if a != 0]
    assert done == scan_cycles(n_pe, acts) + stalls
