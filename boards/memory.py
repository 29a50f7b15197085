"""Board memory backends: the iCE40 UP5K's single-port SPRAM for the sparse matrix,
and small memories in distributed (LUT) RAM.

A backend is a memory factory for ``EIE(cfg, program, memories=...)``
(:mod:`eiegen.hw.memory`). :class:`ICE40SPRAMMemories` gives each PE's sparse-matrix
memory to ``SB_SPRAM256KA`` blocks (16384 x 16 bits each, 4 in a UP5K) and every other
memory to the default Amaranth memory, which Yosys maps to block RAM (``SB_RAM40_4K``).

The SPRAM has one port, so :class:`SPRAMMemory` shares it: a write takes the port (the
accelerator writes its sparse-matrix memory only in I/O mode, reads it only while
computing, so the two never meet). The port's output is followed by a hold register,
so the read port keeps its data while not enabled whatever the SPRAM does, exactly like
the other memory views. SPRAM contents cannot be set by the bitstream: a preloaded
program's sparse matrix must be written through the host protocol (``eiegen run`` loads
every memory of the program anyway).
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Signal

from amaranth.lib.memory import Memory

from eiegen.hw.memory import amaranth_memory
from eiegen.hw.memport import MemoryPort, PortedMemory

__all__ = ["SPRAM_DEPTH", "SPRAM_WIDTH", "SPRAMMemory", "RegisterMemory", "ICE40SPRAMMemories",
           "DistributedMemories", "SPRAM_SIM_MODEL", "spram_blocks"]

SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16


def spram_blocks(width: int, depth: int) -> int:
    """SB_SPRAM256KA blocks a ``depth`` x ``width`` memory needs (side by side for the
    width, stacked for the depth)."""
    return -(-width // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH)


class SPRAMMemory(PortedMemory):
    """A memory built from ``SB_SPRAM256KA`` blocks, with the memory-view interface
    (``read_port()``, ``write_port()``, each with ``addr``, ``en``, ``data``).

    A read and a write in the same cycle is not supported (the write wins and the read
    port keeps its old data); the accelerator never does this to its sparse matrix.
    """

    kind = "SPRAM memory"
    allow_lanes = False

    def __init__(self, shape, depth: int, init=(), *, name: str = "spram"):
        super().__init__(shape, depth, init, name=name)
        self.cols = -(-self.width // SPRAM_WIDTH)
        self.rows = -(-depth // SPRAM_DEPTH)
        self.blocks = self.cols * self.rows
        self.lost_init = any(self.init)  # the bitstream cannot preload SPRAM

    def elaborate(self, platform):
        m = Module()
        r = self._read or MemoryPort(addr=Const(0), en=Const(0), data=Signal(self.shape))
        w = self._write or MemoryPort(addr=Const(0), en=Const(0), data=Const(0, self.width))
        addr = Signal(range(max(self.depth, 2)), name=f"{self.name}_addr")
        m.d.comb += addr.eq(Mux(w.en, w.addr, r.addr))
        low = addr[:14] if len(addr) > 14 else addr
        bank = addr[14:] if len(addr) > 14 else Const(0, 1)
        # The SPRAM's DATAOUT changes only on a read (CHIPSELECT & ~WREN) and holds
        # otherwise, like Yosys's SB_SPRAM256KA model: only the bank select of a stacked
        # memory needs a register that follows reads.
        r_bank = Signal(max(1, (self.rows - 1).bit_length()), name=f"{self.name}_rbank")
        with m.If(r.en & ~w.en):
            m.d.sync += r_bank.eq(bank)
        wdata = Signal(self.cols * SPRAM_WIDTH)
        m.d.comb += wdata.eq(w.data)
        banks = []
        for row in range(self.rows):
            out = Signal(self.cols * SPRAM_WIDTH, name=f"{self.name}_dout{row}")
            sel = (bank == row) if self.rows > 1 else Const(1)
            for col in range(self.cols):
                m.submodules[f"spram_{row}_{col}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=low, i_DATAIN=wdata[col * 16:(col + 1) * 16],
                    i_MASKWREN=Const(0b1111, 4), i_WREN=w.en,
                    i_CHIPSELECT=(r.en | w.en) & sel, i_CLOCK=ClockSignal("sync"),
                    i_STANDBY=Const(0), i_SLEEP=Const(0), i_POWEROFF=Const(1),
                    o_DATAOUT=out[col * 16:(col + 1) * 16])
            banks.append(out)
        if self.rows == 1:
            m.d.comb += r.data.eq(banks[0][:self.width])
        else:
            with m.Switch(r_bank):
                for row, out in enumerate(banks):
                    with m.Case(row):
                        m.d.comb += r.data.eq(out[:self.width])
        return m


class RegisterMemory(PortedMemory):
    """A small memory as plain registers and a read multiplexer, with the memory-view
    interface. Unlike an inferred memory, Yosys removes every bit nobody reads, so the
    layer descriptors (128 bits per layer, of which the control unit uses about half)
    cost only what is used."""

    kind = "register memory"
    allow_lanes = True

    def __init__(self, shape, depth: int, init=(), *, name: str = "regs"):
        super().__init__(shape, depth, init, name=name)

    def elaborate(self, platform):
        m = Module()
        words = [Signal(self.width, init=v & ((1 << self.width) - 1),
                        name=f"{self.name}_{k}") for k, v in enumerate(self.init)]
        g = self.granularity
        if self._write is not None:
            w = self._write
            for k, word in enumerate(words):
                for lane in range(self.width // g):
                    with m.If(w.en[lane] & (w.addr == k)):
                        m.d.sync += word[lane * g:(lane + 1) * g].eq(
                            w.data[lane * g:(lane + 1) * g])
        if self._read is not None:
            r = self._read
            with m.If(r.en):
                with m.Switch(r.addr):
                    for k, word in enumerate(words):
                        with m.Case(k):
                            m.d.sync += r.data.eq(word)
        return m


class ICE40SPRAMMemories:
    """Memory factory: ``spmat`` in SPRAM, the layer descriptors in registers, everything
    else an Amaranth memory.

    ``spram`` lists the SPRAM-backed memories built (one per PE), for the build report.
    """

    def __init__(self):
        self.spram: list[SPRAMMemory] = []

    def __call__(self, shape, depth, init, *, name):
        if name == "spmat":
            mem = SPRAMMemory(shape, depth, init, name=f"spmat{len(self.spram)}")
            self.spram.append(mem)
            return mem
        if name == "layers":
            return RegisterMemory(shape, depth, init, name="layers")
        return amaranth_memory(shape, depth, init, name=name)

    @property
    def blocks(self) -> int:
        return sum(mem.blocks for mem in self.spram)


class DistributedMemories:
    """Memory factory: the memories named in ``names`` in distributed (LUT) RAM, every
    other one an Amaranth memory (block RAM where Yosys chooses it).

    Why: an ECP5 block RAM's output is valid 5.8 ns after the clock (speed grade 6), a
    distributed RAM's registered output after well under 1 ns. The ULX3S puts the small
    memories whose outputs feed logic in the same cycle here: the codebook (multiplier),
    the accumulators (adder, write-back shift) and the activation register files (LNZD).
    """

    def __init__(self, names):
        self.names = frozenset(names)

    def __call__(self, shape, depth, init, *, name):
        if name in self.names:
            return Memory(shape=shape, depth=depth, init=init,
                          attrs={"ram_style": "distributed"})
        return amaranth_memory(shape, depth, init, name=name)


# A behavioural model of the iCE40 UP5K SPRAM for Verilator (the board top in simulation).
# Only what SPRAMMemory uses: read (CHIPSELECT & !WREN), write with the 4 nibble masks.
SPRAM_SIM_MODEL = """\
module SB_SPRAM256KA (
    input  wire [13:0] ADDRESS,
    input  wire [15:0] DATAIN,
    input  wire [3:0]  MASKWREN,
    input  wire        WREN,
    input  wire        CHIPSELECT,
    input  wire        CLOCK,
    input  wire        STANDBY,
    input  wire        SLEEP,
    input  wire        POWEROFF,
    output reg  [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];
    integer i;
    initial for (i = 0; i < 16384; i = i + 1) mem[i] = 16'h0;
    always @(posedge CLOCK) begin
        if (CHIPSELECT && !WREN) DATAOUT <= mem[ADDRESS];
        if (CHIPSELECT && WREN) begin
            if (MASKWREN[0]) mem[ADDRESS][3:0]   <= DATAIN[3:0];
            if (MASKWREN[1]) mem[ADDRESS][7:4]   <= DATAIN[7:4];
            if (MASKWREN[2]) mem[ADDRESS][11:8]  <= DATAIN[11:8];
            if (MASKWREN[3]) mem[ADDRESS][15:12] <= DATAIN[15:12];
        end
    end
endmodule
"""
