"""Technology parameters for the energy and area model: a named node with per-event
energies, SRAM energy and area as functions of the array size, and generic-cell areas.

The 45 nm defaults (docs/asic.md has the derivations):

* Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
  (45 nm, 0.9 V): 64-bit SRAM read 10 pJ (8 KB), 20 pJ (32 KB), 100 pJ (1 MB); 32-bit
  DRAM read 640 pJ (Han et al. 2015 quote the same table); 8-bit integer multiply 0.2 pJ,
  32-bit 3.1 pJ; integer add 0.03 pJ (8-bit), 0.1 pJ (32-bit).
* Han et al., "EIE", ISCA 2016, Table II (one PE, 45 nm, 800 MHz): register + clock
  network 2.900 mW over 9,465 um^2 of registers, combinational logic 0.841 mW over
  8,946 um^2; these give the logic energy per um^2 per cycle.
* NanGate FreePDK45 open cell library, X1 drive cell areas, for the generic cells Yosys
  maps to; the 45 nm 6T SRAM bit cell of 0.346 um^2 (Intel, IEDM 2007) with 70 % array
  efficiency for SRAM area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Technology", "NODES", "technology", "CELL_AREA_45NM"]

# Yosys generic cells -> NanGate45 X1 areas in um^2 (INV 0.532, NAND2/NOR2 0.798,
# AND2/OR2/AOI21/OAI21 1.064, AOI22/OAI22 1.330, XOR2/XNOR2 1.596, MUX2 1.862,
# DFF 4.522). Flip-flops with an enable add a MUX2, with a synchronous reset an AND2.
CELL_AREA_45NM = {
    "$_BUF_": 0.798, "$_NOT_": 0.532,
    "$_AND_": 1.064, "$_OR_": 1.064, "$_NAND_": 0.798, "$_NOR_": 0.798,
    "$_ANDNOT_": 1.064, "$_ORNOT_": 1.064,
    "$_XOR_": 1.596, "$_XNOR_": 1.596,
    "$_MUX_": 1.862, "$_NMUX_": 1.862,
    "$_AOI3_": 1.064, "$_OAI3_": 1.064, "$_AOI4_": 1.330, "$_OAI4_": 1.330,
    "DFF": 4.522, "ENABLE": 1.862, "SRST": 1.064, "ARST": 0.798,
}


@dataclass(frozen=True)
class Technology:
    """Per-event energies (pJ), area parameters (um^2) and the clock of one node.

    SRAM access energy for a ``width``-bit access to an array of ``capacity`` bytes:
    ``sram_pj_64 * (capacity / sram_ref_bytes) ** sram_exp * width / 64``, at least
    ``regfile_pj_per_bit * width`` (small arrays are register files). Writes cost
    ``sram_write_factor`` times a read.
    """

    name: str
    clock_mhz: float
    sram_pj_64: float            # 64-bit read of an sram_ref_bytes array
    sram_ref_bytes: float
    sram_exp: float              # energy ~ capacity ** exp (fit to the 8 KB..1 MB points)
    sram_write_factor: float
    regfile_pj_per_bit: float    # floor per bit for tiny arrays
    mult_pj_8: float             # 8-bit integer multiply; scales with width**2
    add_pj_32: float             # 32-bit integer add; scales with width
    dram_pj_32: float            # 32-bit DRAM read
    wire_pj_per_bit_mm: float    # on-chip wire, per bit per mm
    reg_fj_per_um2: float        # register + clock energy per um^2 of flip-flops per cycle
    comb_fj_per_um2: float       # combinational logic energy per um^2 per cycle
    sram_bitcell_um2: float
    sram_efficiency: float       # bit-cell area / macro area
    sram_macro_um2: float        # periphery per macro (decoders, sense amps, I/O)
    cell_area: dict = field(default_factory=lambda: dict(CELL_AREA_45NM))
    sources: tuple = ()

    # ---- energies, pJ ----
    def sram_read_pj(self, width: int, depth: int) -> float:
        capacity = width * depth / 8
        scaled = self.sram_pj_64 * (capacity / self.sram_ref_bytes) ** self.sram_exp * width / 64
        return max(scaled, self.regfile_pj_per_bit * width)

    def sram_write_pj(self, width: int, depth: int) -> float:
        return self.sram_write_factor * self.sram_read_pj(width, depth)

    def mult_pj(self, a_bits: int, b_bits: int) -> float:
        return self.mult_pj_8 * (a_bits * b_bits) / 64

    def add_pj(self, bits: int) -> float:
        return self.add_pj_32 * bits / 32

    def mac_pj(self, a_bits: int, b_bits: int, acc_bits: int) -> float:
        return self.mult_pj(a_bits, b_bits) + self.add_pj(acc_bits)

    def dram_pj(self, bits: int) -> float:
        return self.dram_pj_32 * bits / 32

    # ---- areas, um^2 ----
    def sram_area_um2(self, width: int, depth: int) -> float:
        return width * depth * self.sram_bitcell_um2 / self.sram_efficiency + self.sram_macro_um2

    def cell_area_um2(self, cell_type: str) -> float:
        """Area of a Yosys generic cell; flip-flop variants are a DFF plus what their
        enable and resets need."""
        if cell_type in self.cell_area:
            return self.cell_area[cell_type]
        kind, _, pol = cell_type.strip("$_").partition("_")   # e.g. SDFFE, PP0P
        if self.is_flop(kind):
            area = self.cell_area["DFF"]
            if kind.endswith("E"):                      # DFFE, SDFFE, SDFFCE, ...
                area += self.cell_area["ENABLE"]
            if kind.startswith("S"):                    # synchronous reset
                area += self.cell_area["SRST"]
            elif kind.startswith(("DFF", "ADFF")) and len(pol) >= 3:   # asynchronous reset
                area += self.cell_area["ARST"]
            return area
        raise KeyError(f"no area for cell type {cell_type!r} in technology {self.name!r}")

    @staticmethod
    def is_flop(cell_type: str) -> bool:
        return "DFF" in cell_type or "DLATCH" in cell_type


def _sram_exp() -> float:
    # Horowitz: 10 pJ at 8 KB, 100 pJ at 1 MB -> a single power law through both ends
    return math.log(100 / 10) / math.log(1024 / 8)


NODES = {
    "45nm": Technology(
        name="45nm", clock_mhz=800.0,
        sram_pj_64=10.0, sram_ref_bytes=8 * 1024, sram_exp=_sram_exp(), sram_write_factor=1.0,
        regfile_pj_per_bit=0.01,
        mult_pj_8=0.2, add_pj_32=0.1, dram_pj_32=640.0, wire_pj_per_bit_mm=0.1,
        reg_fj_per_um2=(1.026 + 1.874) * 1e-3 / 800e6 / 9465 * 1e15,
        comb_fj_per_um2=0.841e-3 / 800e6 / 8946 * 1e15,
        sram_bitcell_um2=0.346, sram_efficiency=0.7, sram_macro_um2=2000.0,
        sources=(
            "M. Horowitz, Computing's energy problem (and what we can do about it), "
            "ISSCC 2014: SRAM, DRAM, add and multiply energies at 45 nm",
            "S. Han et al., EIE: Efficient Inference Engine on Compressed Deep Neural "
            "Network, ISCA 2016, Table II: register/clock/combinational power per area",
            "NanGate FreePDK45 Open Cell Library: X1 cell areas",
            "Intel 45 nm 6T SRAM bit cell 0.346 um^2 (Bai et al., IEDM 2007)",
        )),
}


def technology(name_or_tech="45nm") -> Technology:
    """A :class:`Technology` by name (``"45nm"``), or the argument if it is one."""
    if isinstance(name_or_tech, Technology):
        return name_or_tech
    try:
        return NODES[name_or_tech]
    except KeyError:
        raise ValueError(f"unknown technology node {name_or_tech!r}; known: "
                         f"{', '.join(NODES)}") from None
