"""The boards eiegen knows: platform, device resources, default configuration, flow.

A board entry says which amaranth-boards platform to build on, what the FPGA offers (for
the fit check before synthesis and for the report), the architecture config used when
none is given, how memories map (a memory backend for ``EIE(memories=...)``), which
LEDs show activity and errors, and whether its tools are available here (the open flow:
yowasp Yosys + nextpnr) or only the project is generated (vendor tools).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from eiegen.arch import ArchConfig

__all__ = ["Board", "BOARDS", "get_board", "board_names"]


@dataclass(frozen=True)
class Board:
    """A board.

    Attributes
    ----------
    name : str
        What ``eiegen build --board`` takes.
    platform : str
        ``module:Class`` of the amaranth-boards platform.
    family : str
        ``ice40``, ``ecp5`` or ``xilinx7``.
    device : str
        The FPGA part.
    resources : dict
        What the FPGA has: ``lut``, ``ff``, ``bram`` (block RAM blocks: ``SB_RAM40_4K``
        4 Kbit, ``DP16KD`` 18 Kbit, ``RAMB18E1`` 18 Kbit), ``dsp``, ``spram``.
    clock_in : float
        The board oscillator (Hz).
    clock : float
        The default requested design clock (Hz); a PLL makes it when it differs.
    config : dict
        The default architecture config (``ArchConfig`` fields).
    spram_spmat : bool
        Sparse-matrix memories in SPRAM (iCE40 UP5K) instead of block RAM.
    distributed : tuple of str
        Memories (:class:`eiegen.hw.memory.MemoryFactory` names) in distributed (LUT)
        RAM instead of block RAM, for their fast output.
    open_flow : bool
        yowasp Yosys + nextpnr build it here; otherwise only the project is generated.
    led_activity, led_error : int
        ``led`` resource numbers.
    baud : int
        The default UART baud rate.
    nextpnr_opts : str
        Extra nextpnr options for this board's builds (placement settings).
    """

    name: str
    platform: str
    family: str
    device: str
    resources: dict
    clock_in: float
    clock: float
    config: dict = field(default_factory=dict)
    spram_spmat: bool = False
    distributed: tuple = ()
    open_flow: bool = True
    led_activity: int = 0
    led_error: int = 1
    baud: int = 115200
    nextpnr_opts: str = ""
    notes: str = ""

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)

    def default_config(self) -> ArchConfig:
        return ArchConfig(**self.config)


BOARDS = {
    "icebreaker": Board(
        name="icebreaker", platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        family="ice40", device="iCE40UP5K-SG48",
        resources={"lut": 5280, "ff": 5280, "bram": 30, "dsp": 8, "spram": 4},
        # 30 MHz (the goal; PLL DIVR 0, DIVF 79, DIVQ 5): nextpnr reaches 30.71 MHz at
        # seed 1 (5252/5280 LC, 25/30 EBR; docs/boards.md). Little margin in time and
        # logic cells, so a design change can push it below (eiegen build --clock 28e6
        # then) or off the device.
        clock_in=12e6, clock=30e6,
        # Fits the digits MLP (64-300-100-10) on 4 PEs: 2 entries (16 bits) per
        # sparse-matrix word so that one PE's matrix is one 16384 x 16 SPRAM block
        # (2048 words addressed, 13-bit pointers: logic cells are the tight resource).
        config=dict(n_pe=4, entries_per_word=2, spmat_depth=2048, ptr_depth=512,
                    act_depth=80, bias_depth=128, max_layers=3, queue_depth=2, act_bits=8,
                    weight_bits=8, acc_bits=16, acc_saturate=0),
        spram_spmat=True, led_activity=1, led_error=0,
        notes="sparse matrix in SPRAM (one 16K x 16 block per PE), other memories in EBR"),
    "ulx3s": Board(
        name="ulx3s", platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        family="ecp5", device="LFE5U-85F-6BG381C",
        resources={"lut": 83640, "ff": 83640, "bram": 208, "dsp": 156, "spram": 0},
        # 75 MHz, the goal (PLL CLKI_DIV 1, CLKFB_DIV 3, CLKOP_DIV 6): with the FPGA
        # pipeline registers nextpnr reaches 80.2 MHz at seed 1 (76.5-78.2 MHz at seeds
        # 1 and 2 on the netlists before; docs/boards.md). Little margin: a design change
        # or another seed can push it below (eiegen build --clock 62.5e6 then, a PLL
        # setting that exists).
        clock_in=25e6, clock=75e6,
        # timing-driven placement weighted 4x the default: on the 16-PE design the
        # default placement left router1 congested (two runs still routing after 10-19
        # minutes), this one routes in 10-14 minutes (docs/boards.md)
        nextpnr_opts="--placer-heap-timingweight 40",
        config=dict(n_pe=16, spmat_depth=1024, ptr_depth=1024, act_depth=64,
                    bias_depth=256, max_layers=8),
        distributed=("codebook", "accumulators", "act"),
        notes="codebooks, accumulators and activation register files in distributed RAM, "
              "the other memories in DP16KD block RAM"),
    "arty_a7": Board(
        name="arty_a7", platform="amaranth_boards.arty_a7:ArtyA7_35Platform",
        family="xilinx7", device="xc7a35ti-csg324-1L",
        resources={"lut": 20800, "ff": 41600, "bram": 100, "dsp": 90, "spram": 0},
        clock_in=100e6, clock=100e6,
        config=dict(n_pe=8, spmat_depth=1024, ptr_depth=1024, act_depth=64,
                    bias_depth=256, max_layers=8),
        open_flow=False, led_activity=0, led_error=1,
        notes="Vivado is not available here: the project is generated, not built"),
}


def board_names() -> list[str]:
    return sorted(BOARDS)


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known boards: {', '.join(board_names())}") \
            from None
