"""cocotb test module: a UART model on the simulated board top's pins, served over TCP.

Started by :class:`eiegen.boards.sim.SimBoard` (cocotb runner, Verilator). It listens on
127.0.0.1 (the port is written to the file named by ``EIEGEN_UART_PORTFILE``) and
accepts one connection: the host opens it with pyserial's ``socket://`` URL, so the host
code is exactly the code that talks to a real board's serial port. Every byte from the
host is driven onto ``uart_rx`` as an 8N1 frame of ``EIEGEN_UART_DIVISOR`` clock cycles
per bit; every frame on ``uart_tx`` is sampled in the middle of its bits and sent back.
Frames on ``uart_tx`` are checked (start and stop bits); a bad frame ends the test with
an error, as does a stop bit the host model would not accept.

While neither side has anything to say, the simulation keeps running in short slices
(the accelerator may be computing) and, once the design has been quiet for a while, sleeps
briefly in real time between slices so an idle host costs little CPU.
"""

from __future__ import annotations

import os
import select
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

PERIOD_NS = 10
SLICE = 64  # cycles simulated per idle poll
QUIET = 20_000  # cycles without traffic before idle polls sleep in real time


@cocotb.test()
async def serve(dut):
    div = int(os.environ.get("EIEGEN_UART_DIVISOR", "8"))
    clk = dut.clk
    Clock(clk, PERIOD_NS, unit="ns").start()
    dut.uart_rx.value = 1
    dut.rst.value = 1
    await ClockCycles(clk, 4)
    dut.rst.value = 0
    await RisingEdge(clk)

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    portfile = os.environ["EIEGEN_UART_PORTFILE"]
    stopfile = portfile + ".stop"
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.getsockname()[1]))
    os.replace(portfile + ".tmp", portfile)

    state = {"cycle": 0, "last": 0, "bad": None, "conn": None}

    async def monitor():
        while True:
            await FallingEdge(dut.uart_tx)
            await ClockCycles(clk, div // 2)
            await ReadOnly()
            if int(dut.uart_tx.value) != 0:
                continue  # a glitch, not a start bit
            value = 0
            for k in range(8):
                await ClockCycles(clk, div)
                await ReadOnly()
                value |= int(dut.uart_tx.value) << k
            await ClockCycles(clk, div)
            await ReadOnly()
            if int(dut.uart_tx.value) != 1:
                state["bad"] = "a frame on uart_tx has no stop bit"
            if state["conn"] is not None:
                try:
                    _send(state["conn"], bytes([value]))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the host closed the port: like a cable, bytes nobody reads are lost
            state["last"] = state["cycle"]

    cocotb.start_soon(monitor())

    # Like a serial device, the port can be opened again after it is closed; the
    # simulation ends when SimBoard.close() leaves the stop file (or nobody ever connects).
    first_wait = float(os.environ.get("EIEGEN_UART_ACCEPT_TIMEOUT", "120"))
    server.settimeout(0.1)
    waited = 0.0
    try:
        while state["bad"] is None and not os.path.exists(stopfile):
            try:
                conn, _ = server.accept()
            except socket.timeout:
                waited += 0.1
                if state["conn"] is None and waited > first_wait and not state["last"]:
                    break
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setblocking(False)
            state["conn"] = conn
            try:
                await _serve(dut, clk, div, conn, state)
            finally:
                state["conn"] = None
                conn.close()
    finally:
        server.close()
    assert state["bad"] is None, state["bad"]


def _send(conn, data: bytes) -> None:
    """All of ``data`` on the non-blocking connection: when the host is slow to read,
    wait for room in the socket buffer rather than drop a byte (a plain ``sendall`` on a
    non-blocking socket raises BlockingIOError, which used to be swallowed)."""
    view = memoryview(data)
    while view:
        try:
            view = view[conn.send(view):]
        except BlockingIOError:
            select.select([], [conn], [], 1.0)


async def _serve(dut, clk, div, conn, state):
    """Bytes from the host onto uart_rx until the host closes the connection."""
    while state["bad"] is None:
        try:
            data = conn.recv(4096)
            if not data:
                return  # the host closed the port
        except BlockingIOError:
            data = b""
        if data:
            for byte in data:
                for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                    dut.uart_rx.value = bit
                    await ClockCycles(clk, div)
                    state["cycle"] += div
            state["last"] = state["cycle"]
            continue
        if state["cycle"] - state["last"] > QUIET:
            select.select([conn], [], [], 0.002)
        await ClockCycles(clk, SLICE)
        state["cycle"] += SLICE
