"""cocotb test module that bridges a running simulation to a host process.

It runs inside the simulator (started by :class:`eiegen.sim.link.SimLink` through the
cocotb runner) and serves line-delimited JSON requests from a Unix socket whose path is in
``EIEGEN_LINK``. While it waits for a request the simulation is paused; while the design
computes, cocotb waits on an edge of the output stream's ``valid`` or on a timer, so no
Python runs per clock cycle and the simulation runs at Verilator's speed.

Requests (one JSON object per line), each answered with one JSON line:
  {"op": "write", "words": [...]}            -> {"cycle": c} after the last word was taken
  {"op": "read", "n": k, "timeout": cycles}  -> {"words": [...], "cycle": c} or {"error": ...}
  {"op": "cycles"}                           -> {"cycle": c}
  {"op": "quit"}                             -> {"cycle": c}, then the test ends

If the top level is the simulation shell (:mod:`eiegen.sim.shell`, ports ``bulk_go``,
``bulk_count``, ``bulk_busy``), long writes go through its bulk word source: the words
are written to the ``$readmemh`` file named by ``EIEGEN_BULK_FILE`` (also passed to the
simulator as a plusarg) in chunks of ``BULK_DEPTH`` and streamed by the shell at one word
per cycle, with no Python per word.

If ``EIEGEN_XCHECK`` names a file (Icarus runs, :mod:`eiegen.sim.icarus`), every
control signal of the design (:data:`CONTROL_NAME`: valids, readies, enables, the FSM
states, ...) is checked for X or Z once the reset is over and at every change after,
and the violations are written there, one per line, when the session ends.
"""

from __future__ import annotations

import json
import os
import re
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from eiegen.sim.shell import BULK_DEPTH, write_bulk_file

PERIOD_NS = 10
BULK_MIN = 24  # shorter writes go word by word

# The signals that steer the design (last component of the name, Yosys's "$N" suffix
# removed): an X on one of them is a bug even where an event-driven simulator happens
# to take the X for 0. Data (payloads, addresses, memory read data) may be X while its
# valid is low, so it is not watched; a data word that reaches the host is checked by
# the receiver (int() of a word with an X raises).
CONTROL_NAME = re.compile(
    r"(valid|ready|(^|_)en|en_\w+|idle|done|room\w*|pending|compute|clear|run|sel|"
    r"drained|in_wb|to_counters|fsm_state|core_rst|bulk_active|bulk_go_q)$")


def _control_signals(dut) -> list:
    """(name, handle) of every control signal below ``dut`` (see CONTROL_NAME)."""
    from cocotb.handle import HierarchyObject, LogicArrayObject, LogicObject, PackedObject

    found = []

    def walk(handle, prefix):
        for child in handle:
            name = f"{prefix}.{child._name}"
            if isinstance(child, (LogicObject, LogicArrayObject, PackedObject)):
                if CONTROL_NAME.search(re.sub(r"\$\d+$", "", child._name)):
                    found.append((name, child))
            elif isinstance(child, HierarchyObject):
                walk(child, name)

    walk(dut, dut._name)
    return found


async def _watch_x(name, handle, violations):
    """Record ``name`` in ``violations`` whenever it settles on a value with an X or Z.
    Settles: Icarus passes a combinational net through X within a time step while its
    inputs update one by one (seen on pointer.out__valid), which hardware never sees."""
    while True:
        await handle.value_change
        await ReadOnly()
        if not handle.value.is_resolvable:
            violations.append(f"cycle {_cycle()}: {name} = {handle.value}")


def _port(dut, name):
    return getattr(dut, name)


class _Stream:
    def __init__(self, dut, prefix):
        self.payload = _port(dut, f"{prefix}__payload")
        self.valid = _port(dut, f"{prefix}__valid")
        self.ready = _port(dut, f"{prefix}__ready")


def _bulk_ports(dut):
    """(bulk_go, bulk_count, bulk_busy) if the top level is the shell, else None."""
    try:
        return dut.bulk_go, dut.bulk_count, dut.bulk_busy
    except AttributeError:
        return None


async def _bulk_write(clk, bulk, words, path):
    """Stream ``words`` through the shell's bulk source, chunk by chunk."""
    go, count, busy = bulk
    for start in range(0, len(words), BULK_DEPTH):
        chunk = words[start:start + BULK_DEPTH]
        write_bulk_file(path, chunk)
        count.value = len(chunk)
        go.value = 1
        await RisingEdge(clk)
        go.value = 0
        await ReadOnly()
        if busy.value:
            await FallingEdge(busy)
        else:
            await RisingEdge(clk)


def _cycle() -> int:
    return int(get_sim_time(unit="ns")) // PERIOD_NS


@cocotb.test()
async def serve(dut):
    clk = dut.clk
    src = _Stream(dut, os.environ.get("EIEGEN_IN", "i_stream"))
    sink = _Stream(dut, os.environ.get("EIEGEN_OUT", "o_stream"))
    Clock(clk, PERIOD_NS, unit="ns").start()
    src.valid.value = 0
    src.payload.value = 0
    sink.ready.value = 1
    # every input driven before the reset: a 4-state simulator would carry a floating
    # one (Z) into the shell's registers
    bulk = _bulk_ports(dut)
    if bulk is not None:
        bulk[0].value = 0
        bulk[1].value = 0
    dut.rst.value = 1
    await ClockCycles(clk, 2)
    dut.rst.value = 0
    await RisingEdge(clk)

    xcheck = os.environ.get("EIEGEN_XCHECK")
    violations: list[str] = []
    if xcheck:
        # the shell delays the core's reset by a cycle: from here on it is over
        await ReadOnly()
        watched = _control_signals(dut)
        violations += [f"after reset: {name} = {h.value}" for name, h in watched
                       if not h.value.is_resolvable]
        violations.append(f"# {len(watched)} control signals watched")
        for name, h in watched:
            cocotb.start_soon(_watch_x(name, h, violations))
        await RisingEdge(clk)
    received: list[int] = []
    # `arrived` is set once `want` words have been received: a read waits on one trigger,
    # not on one per word (a First and a Timer per word cost more than the word itself).
    want = [0]
    arrived = Event()

    async def receiver():
        while True:
            await ReadOnly()
            if sink.valid.value:
                received.append(int(sink.payload.value))
                if len(received) >= want[0]:
                    arrived.set()
                await RisingEdge(clk)
            else:
                # Sleep until the design produces something: no per-cycle Python.
                await RisingEdge(sink.valid)

    cocotb.start_soon(receiver())

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["EIEGEN_LINK"])
    rfile = sock.makefile("r")
    wfile = sock.makefile("w")

    def reply(obj):
        wfile.write(json.dumps(obj) + "\n")
        wfile.flush()

    try:
        while True:
            line = rfile.readline()
            if not line:
                break
            req = json.loads(line)
            op = req["op"]
            if op == "write" and bulk is not None and len(req["words"]) >= BULK_MIN:
                await _bulk_write(clk, bulk, req["words"], os.environ["EIEGEN_BULK_FILE"])
                reply({"cycle": _cycle()})
            elif op == "write":
                for w in req["words"]:
                    src.payload.value = w
                    src.valid.value = 1
                    while True:
                        await ReadOnly()
                        taken = bool(src.ready.value)
                        await RisingEdge(clk)
                        if taken:
                            break
                src.valid.value = 0
                reply({"cycle": _cycle()})
            elif op == "read":
                n, timeout = req["n"], req.get("timeout", 10_000_000)
                deadline = _cycle() + timeout
                want[0] = n
                while len(received) < n and _cycle() < deadline:
                    arrived.clear()
                    await First(arrived.wait(),
                                Timer((deadline - _cycle()) * PERIOD_NS, unit="ns"))
                # The event fires in the read-only phase; step to the next edge so that
                # the next request may drive inputs again.
                await RisingEdge(clk)
                if len(received) < n:
                    reply({"error": f"timed out after {timeout} cycles with {len(received)} of "
                                    f"{n} words", "words": received[:], "cycle": _cycle()})
                    del received[:]
                else:
                    reply({"words": received[:n], "cycle": _cycle()})
                    del received[:n]
            elif op == "cycles":
                reply({"cycle": _cycle()})
            elif op == "quit":
                reply({"cycle": _cycle()})
                break
            else:
                reply({"error": f"unknown op {op!r}"})
    finally:
        if xcheck:
            with open(xcheck, "w") as f:
                f.write("".join(v + "\n" for v in violations))
        rfile.close()
        wfile.close()
        sock.close()
