"""Activation read/write: the source and destination register files, bias preload and
the write-back path (round, saturate, ReLU)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, ReadBus, WriteBus
from .memory import make_memory

__all__ = ["ActivationReadWrite", "requantize"]

SHIFT_BITS = 8  # the descriptor's shift field


def requantize(acc, shift, relu, act_bits: int):
    """Combinational write-back of a signed accumulator value, exactly
    :func:`eiegen.fixedpoint.requantize`: shift right rounding half up, saturate to
    ``act_bits``, then ReLU.

    ``(acc + 2**(s-1)) >> s`` is computed as ``((acc >> (s-1)) + 1) >> 1``, which is the
    same for every ``s >= 1`` and needs no wide constant.
    """
    width = len(acc) + 1
    halved = Signal(signed(width))
    rounded = Signal(signed(width))
    m_lo, m_hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    stmts = [
        halved.eq(acc.as_signed() >> (shift - 1)[:len(shift)]),
        rounded.eq(Mux(shift == 0, acc.as_signed(), (halved + 1) >> 1)),
    ]
    lo = Const(m_lo, signed(act_bits))
    hi = Const(m_hi, signed(act_bits))
    sat = Mux(rounded < m_lo, lo, Mux(rounded > m_hi, hi, rounded[:act_bits].as_signed()))
    value = Mux(relu & (sat < 0), 0, sat)
    return stmts, value


class ActivationReadWrite(wiring.Component):
    """The two activation register files of a PE (``act_depth`` x ``act_bits`` each),
    its bias memory, and the preload and write-back paths.

    Register file ``sel`` is the source (read through ``src``; written by the host),
    the other one the destination (written by write-back). The control unit flips
    ``sel`` after every layer, so a layer's outputs become the next one's inputs.

    * Preload: ``pre_en`` with ``row`` reads ``bias[bias_base + row]``; the value is
      written to accumulator ``row`` through ``acc_wr`` ``preload_latency`` cycle later.
    * Write-back: ``wb_en`` with ``row`` reads accumulator ``row`` through ``acc_rd``; in
      the next cycle (``writeback_latency``) the value is requantized and written to the
      destination register file chosen at issue.
    * ``src``: synchronous read of the source register file (LNZD scan, host read).
    """

    preload_latency = 1
    writeback_latency = 1

    def __init__(self, cfg, bias_init=None, *, memories=None):
        self.cfg = cfg
        act = signed(cfg.act_bits)
        acc = signed(cfg.acc_bits)
        rows = index_shape(cfg.act_depth)
        super().__init__({
            "sel": In(1),
            "src": In(ReadBus(rows, act)),
            "act_wr": In(WriteBus(rows, act)),
            "bias_wr": In(WriteBus(index_shape(cfg.bias_depth), acc)),
            "row": In(rows),
            "pre_en": In(1),
            "bias_base": In(unsigned(16)),
            "wb_en": In(1),
            "shift": In(unsigned(SHIFT_BITS)),
            "relu": In(1),
            "acc_wr": Out(WriteBus(rows, acc)),
            "acc_rd": Out(ReadBus(rows, acc)),
        })
        self.bias = make_memory(acc, cfg.bias_depth, bias_init, name="bias",
                                memories=memories)
        self.regfiles = [make_memory(act, cfg.act_depth, name=f"act{k}", memories=memories) for k in range(2)]

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.bias = self.bias
        m.submodules.act0, m.submodules.act1 = self.regfiles
        bias_rp, bias_wp = self.bias.read_port(), self.bias.write_port()
        rf_rp = [rf.read_port() for rf in self.regfiles]
        rf_wp = [rf.write_port() for rf in self.regfiles]

        # preload
        p_valid = Signal()
        p_row = Signal.like(self.row, name="p_row")
        m.d.comb += [bias_rp.addr.eq(self.bias_base + self.row), bias_rp.en.eq(self.pre_en),
                     bias_wp.en.eq(self.bias_wr.en), bias_wp.addr.eq(self.bias_wr.addr),
                     bias_wp.data.eq(self.bias_wr.data)]
        m.d.sync += [p_valid.eq(self.pre_en), p_row.eq(self.row)]
        m.d.comb += [self.acc_wr.en.eq(p_valid), self.acc_wr.addr.eq(p_row),
                     self.acc_wr.data.eq(bias_rp.data)]

        # write-back
        w_valid = Signal()
        w_row = Signal.like(self.row, name="w_row")
        w_rf = Signal()
        m.d.comb += [self.acc_rd.en.eq(self.wb_en), self.acc_rd.addr.eq(self.row)]
        m.d.sync += [w_valid.eq(self.wb_en), w_row.eq(self.row), w_rf.eq(~self.sel)]
        stmts, w_value = requantize(self.acc_rd.data, self.shift, self.relu, cfg.act_bits)
        m.d.comb += stmts

        for k in range(2):
            wb = w_valid & (w_rf == k)
            m.d.comb += [
                rf_rp[k].addr.eq(self.src.addr), rf_rp[k].en.eq(self.src.en),
                rf_wp[k].en.eq(wb | (self.act_wr.en & (self.sel == k))),
                rf_wp[k].addr.eq(Mux(wb, w_row, self.act_wr.addr)),
                rf_wp[k].data.eq(Mux(wb, w_value, self.act_wr.data)),
            ]
        m.d.comb += self.src.data.eq(Mux(self.sel, rf_rp[1].data, rf_rp[0].data))
        return m
