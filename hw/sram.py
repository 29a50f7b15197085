"""The SRAM wrapper: a technology-neutral memory module for ASIC netlists.

In the ``sram`` memory view (:mod:`eiegen.hw.memory`) every memory of the accelerator
except the activation queues is an instance of one Verilog module, ``eiegen_sram_1r1w``,
instead of an inferred array. A user swaps in a compiled SRAM macro by providing a module
of that name (a thin wrapper around the macro) instead of the behavioural model below;
the generated logic does not change.

``eiegen_sram_1r1w`` (parameters ``WIDTH``, ``DEPTH``, ``ABITS``, ``LANES``,
``INIT_FILE``):

* one synchronous read port: when ``re`` is high at a rising edge of ``clk``,
  ``rdata`` becomes ``mem[raddr]`` as it was before that edge (a read of the address
  being written returns the old word). When ``re`` is low, ``rdata`` **holds** its
  value; the RTL relies on this (docs/architecture.md, "Memories").
* one write port: ``we`` has ``LANES`` bits, lane ``k`` writing bits
  ``k*WIDTH/LANES ..`` of ``wdata`` to ``mem[waddr]`` (``LANES = 1`` for a plain write
  enable; only the 128-bit layer descriptors use 4 lanes of 32 bits).
* contents at time 0: zero, then ``$readmemh(INIT_FILE)`` when ``INIT_FILE`` is not
  empty (one hexadecimal word per line, ``ceil(WIDTH/4)`` digits, two's complement, no
  address markers). A real SRAM powers up undefined; the accelerator loads every memory
  it reads through the host protocol, or, with a preloaded program, from these files
  (an ASIC would load them at boot).

The read port's output register is not reset, like Amaranth's own memories.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Value

from .memport import PortedMemory

__all__ = ["SRAM_MODULE", "behavioural_model", "SramMemory", "hex_image"]

SRAM_MODULE = "eiegen_sram_1r1w"

_MODEL = """\
// eiegen_sram_1r1w: behavioural model of the SRAM wrapper every memory of an eiegen
// accelerator instantiates in the `sram` memory view (eiegen/hw/sram.py). Replace this
// file with a wrapper around a compiled SRAM macro of the same ports and behaviour:
//   read:  re at posedge clk -> rdata <= mem[raddr] (old data on a same-address write);
//          rdata holds its value while re is low (the design relies on it)
//   write: we[k] at posedge clk -> lane k (WIDTH/LANES bits) of mem[waddr] <= wdata
//   init:  zero, then $readmemh(INIT_FILE) unless INIT_FILE is empty
module eiegen_sram_1r1w #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 2,
    parameter integer ABITS = 1,
    parameter integer LANES = 1,
    parameter INIT_FILE = ""
) (
    input  wire             clk,
    input  wire             re,
    input  wire [ABITS-1:0] raddr,
    output reg  [WIDTH-1:0] rdata,
    input  wire [LANES-1:0] we,
    input  wire [ABITS-1:0] waddr,
    input  wire [WIDTH-1:0] wdata
);
    localparam integer LANE = WIDTH / LANES;
    reg [WIDTH-1:0] mem [0:DEPTH-1];

    integer i;
    initial begin
        for (i = 0; i < DEPTH; i = i + 1) mem[i] = {WIDTH{1'b0}};
        if (INIT_FILE != "") $readmemh(INIT_FILE, mem);
    end

    always @(posedge clk) begin
        if (re) rdata <= mem[raddr];
    end

    integer k;
    always @(posedge clk) begin
        for (k = 0; k < LANES; k = k + 1)
            if (we[k]) mem[waddr][k*LANE +: LANE] <= wdata[k*LANE +: LANE];
    end
endmodule
"""


def behavioural_model() -> str:
    """Verilog of the behavioural ``eiegen_sram_1r1w`` model (emit it once per design)."""
    return _MODEL


def hex_image(values, width: int) -> str:
    """``$readmemh`` text of ``values`` as ``width``-bit two's complement words."""
    digits = max(1, -(-width // 4))
    mask = (1 << width) - 1
    return "".join(f"{int(v) & mask:0{digits}x}\n" for v in values)


class SramMemory(PortedMemory):
    """A memory of the ``sram`` view: one ``eiegen_sram_1r1w`` instance, with the
    interface of :class:`~eiegen.hw.memport.PortedMemory`.

    Parameters
    ----------
    shape, depth, init
        As for :class:`~amaranth.lib.memory.Memory` (``init``: a list of integers).
    name : str
        Instance name in the netlist.
    init_file : str
        Path written into the instance's ``INIT_FILE`` parameter ("" for all zero).
    """

    kind = "SRAM memory"

    def __init__(self, shape, depth: int, init, *, name: str, init_file: str = ""):
        super().__init__(shape, depth, init, name=name)
        self.init_file = init_file

    def hex(self) -> str:
        """The ``$readmemh`` image of the initial contents."""
        return hex_image(self.init, self.width)

    def elaborate(self, platform):
        m = Module()
        rd = self._read or self.read_port()
        wr = self._write or self.write_port()
        # an empty string parameter would print as `.INIT_FILE()`: leave it at its default
        init = {"p_INIT_FILE": self.init_file} if self.init_file else {}
        m.submodules[self.name] = Instance(
            SRAM_MODULE,
            p_WIDTH=self.width, p_DEPTH=self.depth, p_ABITS=len(rd.addr),
            p_LANES=len(wr.en), **init,
            i_clk=ClockSignal("sync"),
            i_re=rd.en, i_raddr=rd.addr, o_rdata=Value.cast(rd.data),
            i_we=wr.en, i_waddr=wr.addr, i_wdata=Value.cast(wr.data))
        return m
