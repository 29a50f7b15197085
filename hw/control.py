"""The central control unit: host command decoding (I/O mode), layer sequencing
(compute mode) and the cycle counter."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from eiegen.words import DESCRIPTOR_WORDS, LAYER_DESCRIPTOR

from . import protocol as P
from .layouts import (ACT_ADDRESS_LAYOUT, COMMAND_LAYOUT, DESCRIPTOR_LAYOUT, RESPONSE_LAYOUT,
                      HostWriteBus, LayerControlBus, Opcode, index_shape, col_bits,
                      host_data_words)
from .memory import make_memory
from .pe import COUNTER_BITS, READ_ACT, READ_KINDS, READ_SATURATED, ProcessingElement

__all__ = ["Control"]


def descriptor_rows(words) -> list[int]:
    """Layer descriptor words (``DESCRIPTOR_WORDS`` per layer) -> descriptor memory rows."""
    words = [int(w) for w in words]
    return [LAYER_DESCRIPTOR.from_words(words[i:i + DESCRIPTOR_WORDS])
            for i in range(0, len(words), DESCRIPTOR_WORDS)]


class Control(wiring.Component):
    """Decodes host commands (docs/protocol.md) and sequences the layers of a run.

    A RUN of ``L`` layers goes, for each layer, through the states

    * ``DESC`` (1 cycle): read the layer descriptor;
    * ``PRELOAD`` (``R = ceil(n_out / N)`` cycles): bias preload of local rows 0..R-1;
    * ``COMPUTE``: the LNZD scans and broadcasts; the state ends ``end_latency - 1``
      cycles after the first cycle in which the LNZD is done and every PE is idle (the
      cycles up to the end count);
    * ``WB`` (``R`` cycles): write-back of local rows 0..R-1; the roles of the register
      files swap at the end.

    ``cycles`` counts the cycles spent in these states during the last run.

    With ``cfg.bias_reset`` ``PRELOAD`` is one setup cycle (``pre_en`` clears the
    accumulators' valid bits); with ``cfg.wb_overlap`` the write-back is a sequencer of
    its own that starts when the layer's sums are final and runs during the next layer's
    ``DESC``, setup and ``COMPUTE``; after the last layer ``WB_TAIL`` waits for it
    (docs/architecture.md, "A run").
    """

    # COMPUTE lasts c_end + end_latency cycles, c_end the first of its cycles (from 0) in
    # which the LNZD is done and every PE is idle (the condition goes through a register)
    end_latency = 2
    # cycles from rd_pe / rd_kind (or the source read's data) to rd_data: the PE's
    # register and the top level's register after the multiplexer across the array, so
    # that the read-back path (long wires to every PE and back) is cut twice. READ and
    # COUNTERS wait for it; nothing in compute mode does.
    readback_latency = ProcessingElement.read_latency + 1

    def __init__(self, cfg, layers_init=None, *, memories=None):
        self.cfg = cfg
        super().__init__({
            "host_in": In(stream.Signature(32)),
            "host_out": Out(stream.Signature(32)),
            "wr": Out(HostWriteBus(cfg)),
            "io_rd_en": Out(1),
            "io_rd_addr": Out(index_shape(cfg.act_depth)),
            "rd_pe": Out(unsigned(8)),
            "rd_kind": Out(range(READ_KINDS)),
            "rd_data": In(COUNTER_BITS),
            "ctl": Out(LayerControlBus(cfg)),
            "n_in": Out(unsigned(col_bits(cfg))),
            "lnzd_done": In(1),
            "all_idle": In(1),
        })
        self.descriptors = make_memory(unsigned(DESCRIPTOR_LAYOUT.size), cfg.max_layers,
                                       descriptor_rows(layers_init or []), name="layers",
                                       memories=memories)
        self.cycles = Signal(COUNTER_BITS)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        n = cfg.n_pe
        m.submodules.descriptors = self.descriptors
        desc_rp = self.descriptors.read_port()
        desc_wp = self.descriptors.write_port(granularity=32)
        ctl, wr = self.ctl, self.wr
        # "the LNZD is done and every PE is idle" as seen in the previous COMPUTE cycle: the
        # AND over all PEs reaches a register, not the state machine, so COMPUTE ends one
        # cycle after the first cycle in which it holds (``end_latency``). It stays true
        # once true (nothing is left to broadcast or issue), so this only delays the end.
        drained = Signal()
        m.d.sync += drained.eq(ctl.compute & self.lnzd_done & self.all_idle)
        # The phase outputs go to every PE and the LNZD, across the whole array: each is a
        # flip-flop of its own, set and cleared by the transitions into and out of its
        # state (PRELOAD, COMPUTE and WB are each entered and left at one place), not a
        # decode of the state register (on the ECP5 16-PE build, state -> wb_en ->
        # accumulator read address was the critical path).
        in_pre, in_compute, in_wb = Signal(), Signal(), Signal()
        m.d.comb += [ctl.pre_en.eq(in_pre), ctl.compute.eq(in_compute)]

        kmax = len(wr.data) // 32
        # the registers both modes use (named as before: the Verilog keeps its names)
        r = SimpleNamespace(
            drained=drained, in_pre=in_pre, in_compute=in_compute, in_wb=in_wb, desc_rp=desc_rp,
            op=Signal(Opcode, name="op"),
            mem=Signal(8, name="mem"),
            arg=Signal(16, name="arg"),
            addr=Signal(32, name="addr"),
            count=Signal(32, name="count"),
            word_idx=Signal(range(max(kmax, 4) + 1), name="word_idx"),
            data_reg=Signal(32 * kmax, name="data_reg"),
            cur_pe=Signal(8, name="cur_pe"),  # ACT: PE of the current element; COUNTERS: PE
            cur_row=Signal(index_shape(cfg.act_depth), name="cur_row"),
            kind=Signal(range(READ_KINDS), name="kind"),
            n_layers=Signal(16, name="n_layers"),
            n_out=Signal(unsigned(col_bits(cfg)), name="n_out"),
            row_base=Signal(col_bits(cfg) + n.bit_length(), name="row_base"),
        )
        mem, data_reg = r.mem, r.data_reg
        cur_pe, cur_row, kind, n_out = r.cur_pe, r.cur_row, r.kind, r.n_out

        desc = DESCRIPTOR_LAYOUT(desc_rp.data)
        lane_bits = (DESCRIPTOR_WORDS - 1).bit_length()
        kinds = 7 if cfg.col_filter else 6  # Mem.COLMASK only with the column filter
        wbits = max(3, kmax.bit_length())
        r.words = Array([Const(host_data_words(P.item_bits(cfg, k)), wbits)
                         for k in range(kinds)] + [Const(1, wbits)] * (8 - kinds))[mem[:3]]
        r.resp_len = Signal(24, name="resp_len")
        # RD_WAIT: the cycles until rd_data shows what was selected, then RD_OUT or
        # COUNTERS (``to_counters``)
        r.wait = Signal(range(self.readback_latency), name="wait")
        r.to_counters = Signal(name="to_counters")
        m.d.comb += [
            wr.data.eq(data_reg),
            self.n_in.eq(desc.n_in), n_out.eq(desc.n_out), ctl.ptr_base.eq(desc.ptr_base),
            ctl.bias_base.eq(desc.bias_base),
            desc_rp.addr.eq(ctl.layer),
            # the host writes a descriptor one 32-bit word (lane) at a time
            desc_wp.en.eq(Mux(wr.en & (wr.mem == P.MEM_LAYERS),
                              Const(1, DESCRIPTOR_WORDS) << wr.addr[:lane_bits], 0)),
            desc_wp.addr.eq(wr.addr >> lane_bits),
            desc_wp.data.eq(Cat(*[wr.data[:32]] * DESCRIPTOR_WORDS)),
            self.rd_pe.eq(cur_pe),
            self.rd_kind.eq(kind),
            self.io_rd_addr.eq(cur_row),
        ]
        m.d.sync += wr.en.eq(0)
        if cfg.wb_overlap:
            self._wb_sequencer(m, r, desc)
        else:
            m.d.comb += [ctl.row.eq(cur_row), ctl.wb_en.eq(in_wb),
                         ctl.shift.eq(desc.shift), ctl.relu.eq(desc.relu)]

        with m.FSM():
            self._io_mode(m, r)
            self._compute_mode(m, r)
        return m

    # The FSM's states come in two groups, _io_mode and _compute_mode; ``r`` holds the
    # registers they share (elaborate). The four helpers first.

    def _advance_act(self, m, r):
        """To the next activation: the next PE, or PE 0 of the next local row."""
        with m.If(r.cur_pe == self.cfg.n_pe - 1):
            m.d.sync += [r.cur_pe.eq(0), r.cur_row.eq(r.cur_row + 1)]
        with m.Else():
            m.d.sync += r.cur_pe.eq(r.cur_pe + 1)

    def _await_readback(self, m, r, counters: bool):
        """Spend the next readback_latency cycles in RD_WAIT, then go to COUNTERS or
        RD_OUT: rd_data then shows what rd_pe / rd_kind select from the next cycle on
        (or the source read port's data of the next cycle)."""
        m.d.sync += [r.wait.eq(self.readback_latency - 1), r.to_counters.eq(counters)]
        m.next = "RD_WAIT"

    def _start_rows(self, m, r):
        m.d.sync += [r.cur_row.eq(0), r.row_base.eq(0)]

    def _next_row(self, m, r):
        """Advance to the next local row; true in the cycle of the last one."""
        m.d.sync += [r.cur_row.eq(r.cur_row + 1), r.row_base.eq(r.row_base + self.cfg.n_pe)]
        return r.row_base + self.cfg.n_pe >= r.n_out

    def _io_mode(self, m, r):
        """The I/O-mode states: command decoding, host writes and reads, responses
        (docs/protocol.md). A RUN leaves to DESC; compute mode comes back to RESP."""
        inp, out, ctl, wr = self.host_in, self.host_out, self.ctl, self.wr
        cfg, n = self.cfg, self.cfg.n_pe
        op, mem, arg, addr, count = r.op, r.mem, r.arg, r.addr, r.count
        word_idx, data_reg, words, resp_len = r.word_idx, r.data_reg, r.words, r.resp_len
        cur_pe, cur_row, kind, n_layers = r.cur_pe, r.cur_row, r.kind, r.n_layers
        wait, to_counters = r.wait, r.to_counters
        with m.State("CMD"):
            m.d.comb += inp.ready.eq(1)
            with m.If(inp.valid):
                h = COMMAND_LAYOUT(inp.payload)
                m.d.sync += [op.eq(h.op), mem.eq(h.mem), arg.eq(h.arg),
                             word_idx.eq(0)]
                with m.Switch(h.op):
                    with m.Case(Opcode.WRITE, Opcode.READ):
                        m.next = "ADDR"
                    with m.Case(Opcode.RUN):
                        m.d.comb += ctl.clear.eq(1)
                        m.d.sync += [self.cycles.eq(0), n_layers.eq(h.arg),
                                     ctl.layer.eq(0), resp_len.eq(1)]
                        with m.If(h.arg == 0):
                            m.next = "RESP"
                        with m.Else():
                            m.next = "DESC"
                    with m.Case(Opcode.COUNTERS):
                        m.d.sync += [resp_len.eq(1 + P.COUNTERS_PER_PE * n),
                                     cur_pe.eq(0), kind.eq(0)]
                        m.next = "RESP"
                    with m.Case(Opcode.INFO):
                        m.d.sync += resp_len.eq(4)
                        m.next = "RESP"
        with m.State("ADDR"):
            m.d.comb += inp.ready.eq(1)
            with m.If(inp.valid):
                a = ACT_ADDRESS_LAYOUT(inp.payload)
                m.d.sync += [addr.eq(inp.payload), cur_pe.eq(a.pe), cur_row.eq(a.row),
                             kind.eq(READ_ACT)]
                m.next = "COUNT"
        with m.State("COUNT"):
            m.d.comb += inp.ready.eq(1)
            with m.If(inp.valid):
                m.d.sync += [count.eq(inp.payload), resp_len.eq(inp.payload)]
                with m.If(op == Opcode.READ):
                    m.next = "RESP"
                with m.Elif(inp.payload == 0):
                    m.next = "CMD"
                with m.Else():
                    m.next = "WDATA"
        with m.State("WDATA"):
            # no word is taken in the cycle after a write (wr_en high): the PEs
            # register their write enables (ProcessingElement.write_latency), so
            # wr_addr / wr_data must hold one cycle longer
            m.d.comb += inp.ready.eq(~wr.en)
            with m.If(inp.valid & ~wr.en):
                m.d.sync += data_reg.word_select(word_idx, 32).eq(inp.payload)
                with m.If(word_idx == words - 1):
                    is_act = mem == P.MEM_ACT
                    m.d.sync += [
                        word_idx.eq(0), wr.en.eq(1), wr.mem.eq(mem),
                        wr.pe.eq(Mux(is_act, cur_pe, arg)),
                        wr.addr.eq(Mux(is_act, cur_row, addr)),
                        addr.eq(addr + 1), count.eq(count - 1),
                    ]
                    self._advance_act(m, r)
                    with m.If(count == 1):
                        m.next = "CMD"
                with m.Else():
                    m.d.sync += word_idx.eq(word_idx + 1)
        with m.State("RESP"):
            resp = RESPONSE_LAYOUT(out.payload)
            m.d.comb += [out.valid.eq(1), resp.n_words.eq(resp_len), resp.op.eq(op),
                         resp.response.eq(1)]
            with m.If(out.ready):
                with m.Switch(op):
                    with m.Case(Opcode.READ):
                        with m.If(count == 0):
                            m.next = "CMD"
                        with m.Else():
                            m.next = "RD_ISSUE"
                    with m.Case(Opcode.RUN):
                        m.next = "CYCLES"
                    with m.Case(Opcode.COUNTERS):
                        m.next = "CYCLES"
                    with m.Default():
                        m.next = "INFO"
        with m.State("RD_ISSUE"):
            # the read port's data come a cycle later, then the read-back registers
            m.d.comb += self.io_rd_en.eq(1)
            self._await_readback(m, r, False)
        with m.State("RD_WAIT"):
            m.d.sync += wait.eq(wait - 1)
            with m.If(wait == 0):
                with m.If(to_counters):
                    m.next = "COUNTERS"
                with m.Else():
                    m.next = "RD_OUT"
        with m.State("RD_OUT"):
            m.d.comb += [out.valid.eq(1), out.payload.eq(self.rd_data)]
            with m.If(out.ready):
                self._advance_act(m, r)
                m.d.sync += count.eq(count - 1)
                with m.If(count == 1):
                    m.next = "CMD"
                with m.Else():
                    m.next = "RD_ISSUE"
        with m.State("CYCLES"):
            m.d.comb += [out.valid.eq(1), out.payload.eq(self.cycles)]
            with m.If(out.ready):
                with m.If(op == Opcode.COUNTERS):
                    m.d.sync += kind.eq(1)
                    self._await_readback(m, r, True)
                with m.Else():
                    m.next = "CMD"
        with m.State("COUNTERS"):
            m.d.comb += [out.valid.eq(1), out.payload.eq(self.rd_data)]
            with m.If(out.ready):
                with m.If(kind == READ_SATURATED):  # the PE's last counter
                    m.d.sync += [kind.eq(1), cur_pe.eq(cur_pe + 1)]
                    with m.If(cur_pe == n - 1):
                        m.next = "CMD"
                    with m.Else():
                        self._await_readback(m, r, True)
                with m.Else():
                    m.d.sync += kind.eq(kind + 1)
                    self._await_readback(m, r, True)
        with m.State("INFO"):
            info = Array(Const(w, 32) for w in P.info_words(cfg))
            m.d.comb += [out.valid.eq(1), out.payload.eq(info[word_idx[:2]])]
            with m.If(out.ready):
                m.d.sync += word_idx.eq(word_idx + 1)
                with m.If(word_idx == 3):
                    m.next = "CMD"

    def _wb_sequencer(self, m, r, desc):
        """``wb_overlap``: the write-back runs beside the state machine. It starts in the
        first cycle in which the LNZD is done and every PE idle (c_end: the sums are
        final), so its first row is read in COMPUTE's last cycle, with the layer's
        descriptor fields latched; the next layer's DESC and setup follow, and its LNZD
        reads row r (from its COMPUTE cycle r) only after row r is written (2 cycles
        after its read). A layer computes for at least ceil(n_in / N) + 6 cycles, its
        input rows plus six, so one write-back ends before the next begins."""
        ctl, n = self.ctl, self.cfg.n_pe
        r.wb_active = wb_active = Signal(name="wb_active")
        wb_row = Signal.like(r.cur_row, name="wb_row")
        wb_base = Signal.like(r.row_base, name="wb_base")
        wb_n_out = Signal.like(r.n_out, name="wb_n_out")
        wb_shift = Signal.like(ctl.shift, name="wb_shift")
        wb_relu = Signal(name="wb_relu")
        r.wb_last = wb_last = wb_base + n >= wb_n_out
        start = ctl.compute & self.lnzd_done & self.all_idle & ~r.drained
        m.d.comb += [ctl.row.eq(wb_row), ctl.wb_en.eq(wb_active), ctl.shift.eq(wb_shift),
                     ctl.relu.eq(wb_relu)]
        with m.If(start):
            m.d.sync += [wb_active.eq(1), wb_row.eq(0), wb_base.eq(0), wb_n_out.eq(r.n_out),
                         wb_shift.eq(desc.shift), wb_relu.eq(desc.relu),
                         ctl.wb_bias_base.eq(desc.bias_base), ctl.wb_file.eq(~ctl.sel),
                         ctl.wb_bank.eq(ctl.layer[0])]
        with m.Elif(wb_active):
            m.d.sync += [wb_row.eq(wb_row + 1), wb_base.eq(wb_base + n)]
            with m.If(wb_last):
                m.d.sync += wb_active.eq(0)

    def _compute_mode(self, m, r):
        """The compute-mode states of a RUN, per layer: DESC, PRELOAD, COMPUTE, WB."""
        ctl = self.ctl
        in_pre, in_compute, in_wb, desc_rp = r.in_pre, r.in_compute, r.in_wb, r.desc_rp
        drained, n_layers = r.drained, r.n_layers
        with m.State("DESC"):
            m.d.comb += desc_rp.en.eq(1)
            m.d.sync += self.cycles.eq(self.cycles + 1)
            self._start_rows(m, r)
            m.d.sync += in_pre.eq(1)
            m.next = "PRELOAD"
        with m.State("PRELOAD"):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            # bias_reset: one setup cycle (pre_en clears the accumulators' valid bits;
            # the LNZD needs n_in from the descriptor a cycle before it runs)
            with m.If(Const(self.cfg.bias_reset) | self._next_row(m, r)):
                self._start_rows(m, r)
                m.d.sync += [in_pre.eq(0), in_compute.eq(1)]
                m.next = "COMPUTE"
        with m.State("COMPUTE"):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(drained):
                m.d.sync += in_compute.eq(0)
                if self.cfg.wb_overlap:  # the write-back has started: the next layer
                    m.d.sync += [ctl.sel.eq(~ctl.sel), ctl.layer.eq(ctl.layer + 1)]
                    with m.If(ctl.layer + 1 == n_layers):
                        m.next = "WB_TAIL"
                    with m.Else():
                        m.next = "DESC"
                else:
                    m.d.sync += in_wb.eq(1)
                    m.next = "WB"
        if self.cfg.wb_overlap:
            with m.State("WB_TAIL"):
                # the last layer's write-back: until its last row is read
                m.d.sync += self.cycles.eq(self.cycles + 1)
                with m.If(~r.wb_active | r.wb_last):
                    m.next = "RESP"
        with m.State("WB"):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(self._next_row(m, r)):
                m.d.sync += [ctl.sel.eq(~ctl.sel), ctl.layer.eq(ctl.layer + 1),
                             in_wb.eq(0)]
                with m.If(ctl.layer + 1 == n_layers):
                    m.next = "RESP"
                with m.Else():
                    m.next = "DESC"
