"""Activation read/write: the source and destination register files (two halves of one
memory), bias preload and the write-back path (round, saturate, ReLU)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from eiegen.words import LAYER_DESCRIPTOR

from .layouts import index_shape, ReadBus, WriteBus
from .memory import make_memory

__all__ = ["ActivationReadWrite", "requantize", "requantize_shift", "requantize_finish",
           "clamp_shift"]

SHIFT_BITS = LAYER_DESCRIPTOR["shift"].width  # the descriptor's shift field


def shift_amount_shape(acc_bits: int):
    """The clamped shift amount of :func:`requantize_shift`: ``0 .. acc_bits + 1``."""
    return range(acc_bits + 2)


def clamp_shift(shift, acc_bits: int):
    """The descriptor's ``shift`` clamped to ``acc_bits + 1``: shifting a doubled
    ``acc_bits``-bit value right by that much already leaves only its sign."""
    return Mux(shift > acc_bits + 1, acc_bits + 1, shift)


def requantize_shift(acc, amount, relu):
    """First half of the write-back: ``(2 * acc) >> amount`` (arithmetic), i.e.
    ``acc >> (s - 1)`` for ``s >= 1`` and ``2 * acc`` for ``s == 0``, with ``amount`` the
    shift clamped by :func:`clamp_shift`; 0 instead when ``relu`` and ``acc < 0`` (a
    negative accumulator rounds to a value <= 0, which ReLU makes 0, and 0 rounds to 0).
    Returns ``(stmts, value)``, a ``len(acc) + 2``-bit value."""
    doubled = Signal(signed(len(acc) + 2))
    return [doubled.eq(acc.as_signed() << 1)], Mux(relu & acc[-1], 0, doubled >> amount)


def requantize_finish(halved, act_bits: int):
    """Second half: round (``(halved + 1) >> 1``, which is ``(acc + 2**(s-1)) >> s`` for
    ``s >= 1`` and ``acc`` for ``s == 0``), then saturate to ``act_bits``. The value fits
    ``act_bits`` iff its bits from ``act_bits - 1`` up are all equal (no comparators).
    Returns ``(stmts, value)``."""
    rounded = Signal(signed(len(halved)))
    top = rounded[act_bits - 1:]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    lo = Const(-(1 << (act_bits - 1)), signed(act_bits))
    hi = Const((1 << (act_bits - 1)) - 1, signed(act_bits))
    value = Mux(fits, rounded[:act_bits].as_signed(), Mux(rounded[-1], lo, hi))
    return [rounded.eq((halved + 1) >> 1)], value


def requantize(acc, shift, relu, act_bits: int):
    """Combinational write-back of a signed accumulator value, exactly
    :func:`eiegen.fixedpoint.requantize`: shift right rounding half up, saturate to
    ``act_bits``, then ReLU (:func:`requantize_shift` then :func:`requantize_finish`;
    the write-back path puts a register between the two).

    ``(acc + 2**(s-1)) >> s`` is computed as ``(((2 * acc) >> s) + 1) >> 1``, which is the
    same for every ``s >= 1``, gives ``acc`` for ``s == 0`` and needs no wide constant.
    """
    stmts, halved = requantize_shift(acc, clamp_shift(shift, len(acc)), relu)
    more, value = requantize_finish(halved, act_bits)
    return stmts + more, value


class ActivationReadWrite(wiring.Component):
    """The two activation register files of a PE (``act_depth`` x ``act_bits`` each),
    its bias memory, and the preload and write-back paths.

    Register file ``sel`` is the source (read through ``src``; written by the host),
    the other one the destination (written by write-back). The control unit flips
    ``sel`` after every layer, so a layer's outputs become the next one's inputs.
    Both files are one memory ``act`` of ``2 * act_depth`` words (file ``k`` at
    ``k * act_depth + row``), so the source data come straight from its read port (no
    multiplexer between the files in the LNZD's path) and a board spends one block RAM
    on them. Its one write port is shared: write-back writes the destination only while
    a run computes, the host writes the source only in I/O mode.

    * Preload: ``pre_en`` with ``row`` reads ``bias[bias_base + row]``; the value is
      written to accumulator ``row`` through ``acc_wr`` ``preload_latency`` cycle later.
    * Write-back: ``wb_en`` with ``row`` reads accumulator ``row`` through ``acc_rd``; in
      the next cycle the value is shifted and ReLU'd (:func:`requantize_shift`) into a
      register; in the one after (``writeback_latency = 2``) it is rounded and saturated
      (:func:`requantize_finish`) and written to the destination register file chosen
      at issue. ``shift`` (clamped) and ``relu`` are sampled with the read.
    * ``src``: synchronous read of the source register file (LNZD scan, host read).
    """

    preload_latency = 1
    writeback_latency = 2

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
            **({"bias_rd": In(ReadBus(rows, acc))} if cfg.bias_reset else {}),
            # wb_overlap: the written-back layer's destination file and bias base (the
            # next layer's are on sel and bias_base), and whether acc_rd's row was touched
            **({"wb_file": In(1), "wb_bias_base": In(unsigned(16)), "acc_rd_touched": In(1)}
               if cfg.wb_overlap else {}),
        })
        self.bias = make_memory(acc, cfg.bias_depth, bias_init, name="bias",
                                memories=memories)
        # wb_overlap: the write-back reads the biases of untouched rows while the next
        # layer's entries read theirs, so it has a copy of its own (written with it)
        self.bias_wb = (make_memory(acc, cfg.bias_depth, bias_init, name="bias_wb",
                                    memories=memories) if cfg.wb_overlap else None)
        self.regfile = make_memory(act, 2 * cfg.act_depth, name="act", memories=memories)

    def regfile_address(self, file, row):
        """Address of ``row`` of register file ``file`` (0 or 1) in ``self.regfile``."""
        return row + Mux(file, self.cfg.act_depth, 0)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.bias = self.bias
        m.submodules.act = self.regfile
        bias_rp, bias_wp = self.bias.read_port(), self.bias.write_port()
        rf_rp, rf_wp = self.regfile.read_port(), self.regfile.write_port()

        # preload
        p_valid = Signal()
        p_row = Signal.like(self.row, name="p_row")
        m.d.comb += [bias_wp.en.eq(self.bias_wr.en), bias_wp.addr.eq(self.bias_wr.addr),
                     bias_wp.data.eq(self.bias_wr.data)]
        wb_value = self.acc_rd.data
        if cfg.wb_overlap:
            m.submodules.bias_wb = self.bias_wb
            wb_rp, wb_wp = self.bias_wb.read_port(), self.bias_wb.write_port()
            m.d.comb += [
                wb_wp.en.eq(self.bias_wr.en), wb_wp.addr.eq(self.bias_wr.addr),
                wb_wp.data.eq(self.bias_wr.data),
                wb_rp.addr.eq(self.wb_bias_base + self.row), wb_rp.en.eq(self.wb_en),
                bias_rp.addr.eq(self.bias_base + self.bias_rd.addr),
                bias_rp.en.eq(self.bias_rd.en),
                self.bias_rd.data.eq(bias_rp.data),
            ]
            wb_value = Mux(self.acc_rd_touched, self.acc_rd.data, wb_rp.data)
        elif cfg.bias_reset:
            # no preload: the arithmetic unit reads a row's bias with its accumulator,
            # while entries flow (bias_rd) and at write-back (wb_en, row)
            m.d.comb += [
                bias_rp.addr.eq(self.bias_base + Mux(self.wb_en, self.row, self.bias_rd.addr)),
                bias_rp.en.eq(self.wb_en | self.bias_rd.en),
                self.bias_rd.data.eq(bias_rp.data),
            ]
        else:
            m.d.comb += [bias_rp.addr.eq(self.bias_base + self.row),
                         bias_rp.en.eq(self.pre_en)]
            m.d.sync += [p_valid.eq(self.pre_en), p_row.eq(self.row)]
        m.d.comb += [self.acc_wr.en.eq(p_valid), self.acc_wr.addr.eq(p_row),
                     self.acc_wr.data.eq(bias_rp.data)]

        # write-back: acc_rd (cycle 0) -> shift and ReLU into w_halved (1) -> round,
        # saturate and write (2)
        amount = Signal(shift_amount_shape(cfg.acc_bits))
        s_valid = Signal()
        s_relu = Signal()
        s_row = Signal.like(self.row, name="s_row")
        s_rf = Signal()
        m.d.comb += [self.acc_rd.en.eq(self.wb_en), self.acc_rd.addr.eq(self.row)]
        m.d.sync += [s_valid.eq(self.wb_en), s_row.eq(self.row),
                     s_rf.eq(self.wb_file if cfg.wb_overlap else ~self.sel),
                     amount.eq(clamp_shift(self.shift, cfg.acc_bits)), s_relu.eq(self.relu)]
        stmts, halved = requantize_shift(wb_value, amount, s_relu)
        m.d.comb += stmts
        w_halved = Signal(signed(cfg.acc_bits + 2))
        w_valid = Signal()
        w_row = Signal.like(self.row, name="w_row")
        w_rf = Signal()
        m.d.sync += [w_halved.eq(halved), w_valid.eq(s_valid), w_row.eq(s_row),
                     w_rf.eq(s_rf)]
        stmts, w_value = requantize_finish(w_halved, cfg.act_bits)
        m.d.comb += stmts

        m.d.comb += [
            rf_rp.addr.eq(self.regfile_address(self.sel, self.src.addr)),
            rf_rp.en.eq(self.src.en), self.src.data.eq(rf_rp.data),
            rf_wp.en.eq(w_valid | self.act_wr.en),
            rf_wp.addr.eq(Mux(w_valid, self.regfile_address(w_rf, w_row),
                              self.regfile_address(self.sel, self.act_wr.addr))),
            rf_wp.data.eq(Mux(w_valid, w_value, self.act_wr.data)),
        ]
        return m
