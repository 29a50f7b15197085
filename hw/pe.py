"""A processing element: queue, pointer read, sparse-matrix read, arithmetic and
activation read/write units, plus its performance counters."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .actrw import ActivationReadWrite
from .arith import ArithmeticUnit
from .layouts import HostWriteBus, LayerControlBus, index_shape, broadcast_layout
from .lnzd import priority_select
from .pointer import PointerReadUnit
from .memory import make_memory
from .protocol import MEM_ACT, MEM_BIAS, MEM_CODEBOOK, MEM_COLMASK, MEM_PTR, MEM_SPMAT
from .queue import ActivationQueue, WideActivationQueue
from .spmat import SparseMatrixReadUnit

__all__ = ["ProcessingElement", "COUNTER_BITS", "READ_ACT", "READ_BUSY", "READ_STARVED",
           "READ_STALLED", "READ_SATURATED", "READ_KINDS"]

COUNTER_BITS = 32
# What a PE puts on rd_data, selected by rd_kind.
READ_ACT, READ_BUSY, READ_STARVED, READ_STALLED, READ_SATURATED = range(5)
READ_KINDS = 5


class ProcessingElement(wiring.Component):
    """One PE. Pipeline (stage prefixes as in the units): queue -> ``p_`` (pointers)
    -> ``a_`` (issue) -> ``d_`` (decode, codebook, row) -> ``m_`` (multiply) -> ``x_``
    (accumulate). See docs/architecture.md for the cycle-exact rules.

    Performance counters (cleared by ``ctl.clear``, counting while ``ctl.compute``):

    * ``busy``: cycles in which the PE issues an entry to its arithmetic unit;
    * ``starved``: cycles without an issue while its activation queue is empty;
    * ``stalled``: cycles in which the broadcast offers a non-zero (``bcast_pending``)
      but this PE's queue is full, i.e. this PE holds the broadcast back;
    * ``saturated``: accumulations whose sum the arithmetic unit clamped to the
      accumulator range; it saturates at its own width instead of wrapping, so a host
      never reads a small count after very many saturations.

    ``memories`` is the memory factory (view) of :mod:`eiegen.hw.memory`; the
    activation queue is always built from flip-flops.

    ``ctl`` is the control unit's :class:`~eiegen.hw.layouts.LayerControlBus`, ``wr``
    its :class:`~eiegen.hw.layouts.HostWriteBus`, both shared by every PE; this PE takes
    the writes to PE ``index`` and to the codebook, each reaching its memory
    ``write_latency`` cycle after ``wr.en``.
    ``rd_kind`` selects what ``rd_data`` shows ``read_latency`` cycle later (the source
    activation on the read port, or a counter): ``rd_data`` is a register, so the host
    read-back multiplexer across the array starts at flip-flops.
    """

    # cycles from a broadcast entering an empty PE's queue to its first issue (queue,
    # then pointer read, then issue)
    issue_latency = ActivationQueue.latency + PointerReadUnit.latency + 1
    # cycles from the last issue to the first cycle in which ``idle`` is high
    drain_latency = SparseMatrixReadUnit.latency + ArithmeticUnit.latency + 1
    # cycles from rd_kind (or the source read port's data) to rd_data
    read_latency = 1
    # cycles from wr.en to the memory write: each memory's write enable is a register
    # here, so the decode of the host write bus across the array ends at a flip-flop;
    # wr.addr and wr.data must hold until the write (the control unit keeps them)
    write_latency = 1

    def __init__(self, cfg, init=None, *, index=0, memories=None):
        self.cfg = cfg
        if not 0 <= index < cfg.n_pe:
            raise ValueError(f"PE index must lie in 0..{cfg.n_pe - 1}, got {index}")
        self.index = index
        init = init or {}
        ports = {
            "bcast_pending": In(1),
            "ctl": In(LayerControlBus(cfg)),
            "src_en": In(1),
            "src_addr": In(index_shape(cfg.act_depth)),
            "src_data": Out(signed(cfg.act_bits)),
            "wr": In(HostWriteBus(cfg)),
            "rd_kind": In(range(READ_KINDS)),
            "rd_data": Out(COUNTER_BITS),
            "idle": Out(1),
        }
        if cfg.wide_broadcast:
            # the offer's slots (valid iff this PE takes the column), whether it left
            # (every PE ok) and whether this PE has room for the ones it takes
            self.queue = WideActivationQueue(cfg)
            ports.update({"offer": In(self.queue.w.shape()), "fire": In(1), "ok": Out(1)})
        else:
            self.queue = ActivationQueue(cfg)
            ports.update({"bcast": In(stream.Signature(broadcast_layout(cfg))),
                          "room_if_push": Out(1), "room_if_hold": Out(1)})
        if cfg.col_filter:
            # one bit per lane of an LNZD row: this PE has entries in that column
            ports.update({"mask_en": In(1), "mask_addr": In(index_shape(cfg.mask_depth)),
                          "mask_data": Out(cfg.n_pe)})
            self.colmask = make_memory(unsigned(cfg.n_pe), cfg.mask_depth,
                                       init.get("colmask"), name="colmask",
                                       memories=memories)
        super().__init__(ports)
        self.pointer = PointerReadUnit(cfg, init.get("ptr"), memories=memories)
        self.spmat = SparseMatrixReadUnit(cfg, init.get("spmat"), memories=memories)
        self.arith = ArithmeticUnit(cfg, init.get("codebook"), memories=memories)
        self.actrw = ActivationReadWrite(cfg, init.get("bias"), memories=memories)
        self.busy = Signal(COUNTER_BITS)
        self.starved = Signal(COUNTER_BITS)
        self.stalled = Signal(COUNTER_BITS)
        self.saturated = Signal(COUNTER_BITS)

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = self.queue
        m.submodules.pointer = pointer = self.pointer
        m.submodules.spmat = spmat = self.spmat
        m.submodules.arith = arith = self.arith
        m.submodules.actrw = actrw = self.actrw

        cfg = self.cfg
        if cfg.wide_broadcast:
            m.d.comb += [queue.w.eq(self.offer), queue.w_fire.eq(self.fire),
                         self.ok.eq(queue.ok)]
            room = queue.ok
        else:
            wiring.connect(m, wiring.flipped(self.bcast), queue.w)
            m.d.comb += [self.room_if_push.eq(queue.room_if_push),
                         self.room_if_hold.eq(queue.room_if_hold)]
            room = queue.w.ready
        writes = [(MEM_PTR, "ptr", pointer.wr), (MEM_SPMAT, "spmat", spmat.wr),
                  (MEM_BIAS, "bias", actrw.bias_wr), (MEM_CODEBOOK, "codebook", arith.cb_wr),
                  (MEM_ACT, "act", actrw.act_wr)]
        if cfg.col_filter:
            m.submodules.colmask = self.colmask
            mask_rp, mask_wp = self.colmask.read_port(), self.colmask.write_port()
            m.d.comb += [mask_rp.en.eq(self.mask_en), mask_rp.addr.eq(self.mask_addr),
                         self.mask_data.eq(mask_rp.data)]
            writes.append((MEM_COLMASK, "colmask", mask_wp))
        wiring.connect(m, queue.r, pointer.col)
        wiring.connect(m, pointer.out, spmat.col)
        wiring.connect(m, spmat.out, arith.inp)
        wiring.connect(m, actrw.acc_wr, arith.acc_wr)
        wiring.connect(m, actrw.acc_rd, arith.acc_rd)
        ctl, wr = self.ctl, self.wr
        if cfg.bias_reset:
            # pre_en marks the layer's one setup cycle: the accumulators' valid bits clear
            wiring.connect(m, arith.bias_rd, actrw.bias_rd)
            m.d.comb += arith.clear.eq(ctl.pre_en)
        if cfg.wb_overlap:
            m.d.comb += [arith.wb_bank.eq(ctl.wb_bank),
                         actrw.acc_rd_touched.eq(arith.acc_rd_touched),
                         actrw.wb_file.eq(ctl.wb_file), actrw.wb_bias_base.eq(ctl.wb_bias_base)]
        m.d.comb += [
            pointer.ptr_base.eq(ctl.ptr_base),
            arith.layer.eq(ctl.layer),
            actrw.sel.eq(ctl.sel), actrw.row.eq(ctl.row), actrw.pre_en.eq(ctl.pre_en),
            actrw.wb_en.eq(ctl.wb_en), actrw.bias_base.eq(ctl.bias_base),
            actrw.shift.eq(ctl.shift), actrw.relu.eq(ctl.relu),
            actrw.src.en.eq(self.src_en), actrw.src.addr.eq(self.src_addr),
            self.src_data.eq(actrw.src.data),
            self.idle.eq((queue.level == 0) & pointer.idle & spmat.idle & arith.idle),
        ]
        wr_here = wr.en & ((wr.pe == self.index) | (wr.mem == MEM_CODEBOOK))
        for mem, name, bus in writes:
            en = Signal(name=f"wr_en_{name}")
            m.d.sync += en.eq(wr_here & (wr.mem == mem))
            m.d.comb += [bus.en.eq(en), bus.addr.eq(wr.addr), bus.data.eq(wr.data)]

        events = ((self.busy, spmat.issue),
                  (self.starved, ~spmat.issue & (queue.level == 0)),
                  (self.stalled, self.bcast_pending & ~room))
        for counter, event in events:
            with m.If(ctl.clear):
                m.d.sync += counter.eq(0)
            with m.Elif(ctl.compute & event):
                m.d.sync += counter.eq(counter + 1)

        if self.cfg.acc_saturate:  # a wrapping accumulator has nothing to count: reads 0
            with m.If(ctl.clear):
                m.d.sync += self.saturated.eq(0)
            with m.Elif(ctl.compute & arith.saturated & ~self.saturated.all()):
                m.d.sync += self.saturated.eq(self.saturated + 1)

        values = (self.src_data.as_signed(), self.busy, self.starved, self.stalled,
                  self.saturated)
        _, _, value = priority_select([self.rd_kind == k for k in range(READ_KINDS)],
                                      list(values))
        m.d.sync += self.rd_data.eq(value)
        return m
