"""Amaranth-simulator helpers: stream put/get for async testbenches, and a host that
drives the whole accelerator through the command protocol.

Every hardware test uses :func:`stream_put` / :func:`stream_get` from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from . import protocol as P
from .top import EIE

__all__ = ["stream_put", "stream_get", "simulate", "Observed", "HostResult", "run_host"]


async def stream_put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` until it is taken (valid does not wait on ready)."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Take one payload from ``stream``."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def simulate(dut, *benches, background=(), vcd=None, clock=1e-6):
    """Run async testbenches against ``dut`` until the foreground ones finish
    (``clock=None`` for a purely combinational design)."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(clock)
    for bench in benches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


@dataclass
class Observed:
    """What the testbench itself saw, cycle by cycle (for checking the counters)."""
    run_cycles: list = field(default_factory=list)      # RUN accepted -> response header
    compute_cycles: list = field(default_factory=list)  # cycles in COMPUTE, per run
    busy: list = field(default_factory=list)            # per run, per PE
    starved: list = field(default_factory=list)
    stalled: list = field(default_factory=list)


@dataclass
class HostResult:
    outputs: list          # per input vector: the last layer's outputs (int64 array)
    cycles: list           # per input vector: RUN's cycle count
    counters: list         # per input vector: protocol.Counters
    info: dict
    observed: Observed


def run_host(program, inputs, *, preload: bool = False, monitor: bool = True, vcd=None,
             memories="amaranth"):
    """Simulate the accelerator for ``program.cfg`` on each input vector of ``inputs``:
    load the program through the host protocol (or at elaboration time with
    ``preload``), then per input write it, RUN every layer, READ the outputs and the
    counters. ``memories`` is the memory view or factory (one the simulator can run).
    Returns a :class:`HostResult`."""
    cfg = program.cfg
    n_layers, n_out = len(program.layers), program.n_out
    dut = EIE(cfg, program if preload else None, memories=memories)
    words, run_at = [], []
    expect = 1 + P.response_words(cfg, P.OP_INFO)
    words += P.info()
    if not preload:
        words += P.load_program(program)
    for x in inputs:
        words += P.write_input(cfg, x)
        run_at.append(len(words))
        words += P.run(n_layers) + P.read_output(cfg, n_out) + P.read_counters()
        expect += 3 + sum(P.response_words(cfg, op, n_out)
                          for op in (P.OP_RUN, P.OP_READ, P.OP_COUNTERS))
    received = []
    obs = Observed()

    async def sender(ctx):
        for w in words:
            await stream_put(ctx, dut.host_in, w)

    async def receiver(ctx):
        for _ in range(expect):
            received.append(await stream_get(ctx, dut.host_out))

    async def watcher(ctx):
        ctl, lnzd = dut.control, dut.lnzd
        pes = dut.pes
        sigs = [dut.host_in.valid, dut.host_in.ready, dut.host_out.valid, dut.host_out.ready,
                dut.host_out.payload, ctl.ctl.compute, lnzd.out.valid]
        for pe in pes:
            sigs += [pe.spmat.issue, pe.queue.level, pe.queue.w.ready]
        n_in_words = 0
        start = None
        run_header = P.response_header(P.OP_RUN, 1)
        cycle = 0
        async for _, _, *v in ctx.tick().sample(*sigs):
            cycle += 1
            in_fire, out_fire = v[0] and v[1], v[2] and v[3]
            if in_fire:
                if n_in_words in run_at:
                    start = cycle
                    obs.compute_cycles.append(0)
                    for lst in (obs.busy, obs.starved, obs.stalled):
                        lst.append([0] * cfg.n_pe)
                n_in_words += 1
            if out_fire and start is not None and v[4] == run_header:
                obs.run_cycles.append(cycle - start)
                start = None
            if v[5]:
                obs.compute_cycles[-1] += 1
                for k in range(cfg.n_pe):
                    issue, level, room = v[7 + 3 * k:10 + 3 * k]
                    obs.busy[-1][k] += issue
                    obs.starved[-1][k] += (not issue) and level == 0
                    obs.stalled[-1][k] += v[6] and not room

    simulate(dut, sender, receiver, background=[watcher] if monitor else (), vcd=vcd)
    resps = P.split_responses(received)
    info = P.parse_info(cfg, resps[0])
    outs, cycles, counters = [], [], []
    for i in range(len(inputs)):
        r_run, r_out, r_cnt = resps[1 + 3 * i:4 + 3 * i]
        cycles.append(P.parse_run(r_run))
        outs.append(P.parse_output(cfg, r_out, n_out))
        counters.append(P.parse_counters(cfg, r_cnt))
    return HostResult(outs, cycles, counters, info, obs)
