"""The arithmetic unit: codebook lookup, row-address accumulation, multiply-accumulate."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, ReadBus, WriteBus, entry_layout
from .memory import make_memory

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(wiring.Component):
    """Stages ``d_`` (the input cycle), ``m_`` and ``x_`` of a PE; owns the codebook
    memory and the accumulators (the destination registers).

    * ``d_`` (entry on ``inp``): codebook read at ``layer * 2**index_bits + v`` in
      parallel with the row-address accumulation ``row = z`` for a column's first entry,
      else ``row = previous row + z + 1`` (plus ``2**rel_bits`` when a padding entry was
      merged into this one, ``skip``).
    * ``m_``: 16x16 (``weight_bits x act_bits``) multiply; accumulator read at ``row``.
    * ``x_``: ``acc[row] += product`` (wrapping at ``acc_bits``), written in the same
      cycle. The accumulator read of an entry in ``m_`` does not see the write of the
      entry in ``x_``, so when two consecutive cycles' ``x_`` entries hit the same row the
      adder takes its own previous result instead of the memory (the bypass). An entry is
      written ``latency`` cycles after it arrives; there are no stalls.

    ``acc_wr`` (bias preload) and ``acc_rd`` (write-back) reach the accumulators
    between layers; they are never used while entries flow.
    """

    latency = 2

    def __init__(self, cfg, codebook_init=None, *, memories=None):
        self.cfg = cfg
        acc = signed(cfg.acc_bits)
        rows = index_shape(cfg.act_depth)
        super().__init__({
            "inp": In(stream.Signature(entry_layout(cfg), always_ready=True)),
            "layer": In(index_shape(cfg.max_layers)),
            "cb_wr": In(WriteBus(index_shape(cfg.max_layers * cfg.codebook_size),
                                 signed(cfg.weight_bits))),
            "acc_wr": In(WriteBus(rows, acc)),
            "acc_rd": In(ReadBus(rows, acc)),
            "idle": Out(1),
        })
        self.codebook = make_memory(signed(cfg.weight_bits), cfg.max_layers * cfg.codebook_size,
                                    codebook_init, name="codebook", memories=memories)
        self.acc = make_memory(acc, cfg.act_depth, name="accumulators", memories=memories)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.codebook = self.codebook
        m.submodules.acc = self.acc
        cb_rp, cb_wp = self.codebook.read_port(), self.codebook.write_port()
        acc_rp, acc_wp = self.acc.read_port(), self.acc.write_port()
        inp = self.inp.payload

        d_cursor = Signal(index_shape(cfg.act_depth))
        d_row = Signal(index_shape(cfg.act_depth))
        m_valid = Signal()
        m_row = Signal.like(d_row, name="m_row")
        m_act = Signal.like(inp.act, name="m_act")
        x_valid = Signal()
        x_row = Signal.like(d_row, name="x_row")
        x_prod = Signal(signed(cfg.act_bits + cfg.weight_bits))
        x_sum = Signal(signed(cfg.acc_bits))
        w_valid = Signal()  # the x_ stage wrote in the previous cycle
        w_row = Signal.like(d_row, name="w_row")
        w_sum = Signal.like(x_sum, name="w_sum")

        # d_: codebook lookup in parallel with the row-address accumulation
        m.d.comb += [
            # a merged padding entry (skip) is never a column's first entry
            d_row.eq(Mux(inp.first, inp.z, d_cursor + inp.z + 1 + (inp.skip << cfg.rel_bits))),
            cb_rp.addr.eq(Cat(inp.v, self.layer)), cb_rp.en.eq(self.inp.valid),
        ]
        with m.If(self.inp.valid):
            m.d.sync += d_cursor.eq(d_row)
        m.d.sync += [m_valid.eq(self.inp.valid), m_row.eq(d_row), m_act.eq(inp.act)]

        # m_: multiply, accumulator read
        m.d.sync += [x_valid.eq(m_valid), x_row.eq(m_row), x_prod.eq(cb_rp.data * m_act)]

        # x_: add and write, bypassing the previous cycle's write to the same row
        bypass = w_valid & (w_row == x_row)
        m.d.comb += x_sum.eq(Mux(bypass, w_sum, acc_rp.data) + x_prod)
        m.d.sync += [w_valid.eq(x_valid), w_row.eq(x_row), w_sum.eq(x_sum)]

        m.d.comb += [
            acc_rp.en.eq(m_valid | self.acc_rd.en),
            acc_rp.addr.eq(Mux(self.acc_rd.en, self.acc_rd.addr, m_row)),
            self.acc_rd.data.eq(acc_rp.data),
            acc_wp.en.eq(x_valid | self.acc_wr.en),
            acc_wp.addr.eq(Mux(x_valid, x_row, self.acc_wr.addr)),
            acc_wp.data.eq(Mux(x_valid, x_sum, self.acc_wr.data)),
            cb_wp.en.eq(self.cb_wr.en), cb_wp.addr.eq(self.cb_wr.addr),
            cb_wp.data.eq(self.cb_wr.data),
            self.idle.eq(~m_valid & ~x_valid),
        ]
        return m
