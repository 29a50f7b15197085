"""cocotb module for bench/sim_speed: the design running free (clock only), timed."""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer


@cocotb.test()
async def free_run(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    cycles = int(os.environ.get("EIEGEN_FREE_CYCLES", "100000"))
    start = time.perf_counter()
    await Timer(cycles * 10, unit="ns")  # no Python per cycle
    seconds = time.perf_counter() - start
    with open(os.environ["EIEGEN_FREE_OUT"], "w") as f:
        json.dump({"cycles": cycles, "seconds": seconds}, f)
