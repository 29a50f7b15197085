"""The accelerator: N PEs, the LNZD/broadcast and the central control, behind a 32-bit
ready/valid host stream."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .control import Control
from .memory import memory_factory
from .lnzd import LeadingNonZeroDetector, priority_select
from .pe import ProcessingElement

__all__ = ["EIE", "program_init"]


def program_init(program, cfg):
    """Per-PE and control memory images of a compiled program, for elaboration-time
    initialisation (FPGA bitstreams): ``(pe_inits, layer_words)``."""
    if program is None:
        return [{} for _ in range(cfg.n_pe)], None
    if program.cfg != cfg:
        raise ValueError("the program was compiled for a different architecture config "
                         f"({program.cfg.digest()} != {cfg.digest()})")
    images = program.images
    codebook = [int(v) for v in images["codebook"]]
    pes = [{"ptr": [int(v) for v in images[f"pe{k}.ptr"]],
            "spmat": [int(v) for v in program.spmat_words(k)],
            "bias": [int(v) for v in images[f"pe{k}.bias"]],
            "codebook": codebook} for k in range(cfg.n_pe)]
    if cfg.col_filter:
        for k, pe in enumerate(pes):
            pe["colmask"] = program.colmask(k)
    return pes, [int(v) for v in images["layers"]]


class EIE(wiring.Component):
    """The whole accelerator.

    Parameters
    ----------
    cfg : ArchConfig
    program : Program, optional
        A compiled program whose memory images initialise the memories at elaboration
        time (the host then only writes inputs, runs and reads outputs).
    memories : str or callable
        The memory view (:mod:`eiegen.hw.memory`): ``"amaranth"`` (default; Amaranth
        simulation, FPGA inference), ``"sram"`` (every memory an ``eiegen_sram_1r1w``
        instance; ASIC netlists, Verilog only) or a memory factory. The factory that was
        used is ``self.memories`` (for ``"sram"``, a :class:`~eiegen.hw.memory.SramMemories`
        holding the init files).

    Attributes
    ----------
    host_in : In(stream.Signature(32))
        Command words (docs/protocol.md).
    host_out : Out(stream.Signature(32))
        Response words.
    """

    def __init__(self, cfg, program=None, *, memories="amaranth"):
        self.cfg = cfg
        super().__init__({
            "host_in": In(stream.Signature(32)),
            "host_out": Out(stream.Signature(32)),
        })
        pe_inits, layer_words = program_init(program, cfg)
        self.memories = memory_factory(memories)
        self.control = Control(cfg, layer_words, memories=self.memories)
        self.lnzd = LeadingNonZeroDetector(cfg)
        self.pes = [ProcessingElement(cfg, init, index=k, memories=self.memories)
                    for k, init in enumerate(pe_inits)]

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.control = ctl = self.control
        m.submodules.lnzd = lnzd = self.lnzd
        wiring.connect(m, wiring.flipped(self.host_in), ctl.host_in)
        wiring.connect(m, ctl.host_out, wiring.flipped(self.host_out))
        # the layer-control and host-write buses go to every PE alike
        wiring.connect(m, ctl.ctl, *[pe.ctl for pe in self.pes])
        wiring.connect(m, ctl.wr, *[pe.wr for pe in self.pes])

        if cfg.wide_broadcast:
            # The broadcast leaves when every PE has room for the slots it takes: an AND
            # over the array of each PE's comparison of its queue level (a register)
            # with its count of taken slots (from the offer's registers). Unlike EIE's
            # broadcast below it is not registered: which PEs must have room depends on
            # the offer, and the offer changes with the handshake.
            room = Cat(*[pe.ok for pe in self.pes]).all()
        else:
            # every queue has room: a register, loaded with the AND of the queues'
            # next-cycle room, so the broadcast handshake does not start with an AND over
            # all PEs. Each queue offers its next room for both outcomes of this cycle's
            # broadcast, and the broadcast decision (from this register) picks one AND
            # here: it does not travel to every PE and back within the cycle.
            room = Signal(init=1)
            m.d.sync += room.eq(Mux(lnzd.out.valid & room,
                                    Cat(*[pe.room_if_push for pe in self.pes]).all(),
                                    Cat(*[pe.room_if_hold for pe in self.pes]).all()))
        src_en = lnzd.src_en | ctl.io_rd_en
        src_addr = Mux(ctl.io_rd_en, ctl.io_rd_addr, lnzd.src_addr)
        m.d.comb += [
            lnzd.run.eq(ctl.ctl.compute), lnzd.n_in.eq(ctl.n_in), lnzd.out.ready.eq(room),
            ctl.lnzd_done.eq(lnzd.done),
            ctl.all_idle.eq(Cat(*[pe.idle for pe in self.pes]).all()),
        ]
        if cfg.col_filter:
            m.d.comb += lnzd.clear.eq(ctl.ctl.clear)
        for k, pe in enumerate(self.pes):
            m.submodules[f"pe{k}"] = pe
            if cfg.wide_broadcast:
                for s in range(cfg.broadcast_width):
                    slot = lnzd.out.payload[s]
                    take = slot.valid & (slot.take[k] if cfg.col_filter else 1)
                    m.d.comb += [pe.offer[s].valid.eq(take), pe.offer[s].act.eq(slot.act),
                                 pe.offer[s].col.eq(slot.col)]
                m.d.comb += pe.fire.eq(lnzd.out.valid & room)
            else:
                m.d.comb += [pe.bcast.valid.eq(lnzd.out.valid & room),
                             pe.bcast.payload.eq(lnzd.out.payload)]
            if cfg.col_filter:
                m.d.comb += [pe.mask_en.eq(lnzd.mask_en), pe.mask_addr.eq(lnzd.mask_addr),
                             lnzd.mask_data[k].eq(pe.mask_data)]
            m.d.comb += [
                pe.bcast_pending.eq(lnzd.out.valid),
                pe.src_en.eq(src_en), pe.src_addr.eq(src_addr),
                pe.rd_kind.eq(ctl.rd_kind),
                lnzd.src_data[k].eq(pe.src_data),
            ]
        # the read-back multiplexer across the array, into a register (the PEs' rd_data
        # are registers too): Control.readback_latency counts both
        _, _, value = priority_select([ctl.rd_pe == k for k in range(cfg.n_pe)],
                                      [pe.rd_data for pe in self.pes])
        m.d.sync += ctl.rd_data.eq(value)
        return m
