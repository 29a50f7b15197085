"""The pointer read unit: both ends of a column in one read from two banks, into
registers."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, WriteBus, broadcast_layout, column_layout
from .memory import make_memory

__all__ = ["PointerReadUnit"]


class PointerReadUnit(wiring.Component):
    """Stages ``h_`` and ``p_`` of a PE: looks up column ``j``'s entry range
    ``[p[A], p[A+1])`` with ``A = ptr_base + j``.

    Pointer address ``a`` lives in bank ``a % 2`` at bank address ``a // 2``, so the even
    bank is read at ``(A + 1) // 2`` and the odd bank at ``A // 2`` and both ends come out
    together. A column taken from ``col`` is read at once and held in ``h_`` while its
    pointers are on the read ports; it moves to ``p_`` (the banks' outputs into registers,
    as they are) in a cycle in which ``p_`` is free, so its pointers are
    in ``p_`` two cycles (``latency``) after the column was taken at the earliest.

    ``p_`` drops an empty column in its first cycle there, without offering it on
    ``out``; so ``p_`` is free in every cycle in which it is empty, holds an empty column
    or hands its column on, ``h_`` in every cycle in which it is empty or ``p_`` is free,
    and a column is taken in every cycle in which ``h_`` is free. Every one of these
    decisions uses registers only: the pointer memories' outputs (late in the cycle on
    FPGA block RAM) go nowhere but into ``p_``'s registers.

    Attributes
    ----------
    col : In(stream.Signature(broadcast_layout))
        From the activation queue; ``ready`` depends only on registered state here and
        on ``out.ready``.
    ptr_base : In
        The layer's pointer base (constant during a layer).
    out : Out(stream.Signature(column_layout))
        Non-empty columns to the sparse-matrix read unit.
    wr : In(WriteBus)
        Host writes, in pointer address space (the bank is the address's low bit).
    idle : Out(1)
        No column held.
    """

    latency = 2

    def __init__(self, cfg, init=None, *, memories=None):
        self.cfg = cfg
        bank_depth = cfg.ptr_depth // 2
        super().__init__({
            "col": In(stream.Signature(broadcast_layout(cfg))),
            "ptr_base": In(index_shape(cfg.ptr_depth)),
            "out": Out(stream.Signature(column_layout(cfg))),
            "wr": In(WriteBus(index_shape(cfg.ptr_depth), unsigned(cfg.ptr_bits))),
            "idle": Out(1),
        })
        init = [] if init is None else list(init)
        self.banks = [make_memory(unsigned(cfg.ptr_bits), bank_depth, init[k::2],
                                  name=f"ptr_{'even' if k == 0 else 'odd'}",
                                  memories=memories)
                      for k in range(2)]

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.even, m.submodules.odd = self.banks
        rd = [bank.read_port() for bank in self.banks]
        wp = [bank.write_port() for bank in self.banks]

        h_valid = Signal()
        h_act = Signal.like(self.col.payload.act, name="h_act")
        h_swap = Signal()  # A was odd: p[A] comes from the odd bank
        p_valid = Signal()
        p_act = Signal.like(self.col.payload.act, name="p_act")
        p_swap = Signal()
        # the banks' outputs as they are: no logic between the memories and registers
        p_even = Signal(unsigned(cfg.ptr_bits), name="p_even")
        p_odd = Signal(unsigned(cfg.ptr_bits), name="p_odd")

        addr = Signal(range(cfg.ptr_depth + cfg.max_inputs + 1))
        m.d.comb += addr.eq(self.ptr_base + self.col.payload.col)
        p_empty = p_even == p_odd
        p_free = ~p_valid | p_empty | self.out.ready
        h_free = ~h_valid | p_free
        take = self.col.valid & h_free
        m.d.comb += [
            self.col.ready.eq(h_free),
            rd[0].addr.eq((addr + 1) >> 1), rd[0].en.eq(take),
            rd[1].addr.eq(addr >> 1), rd[1].en.eq(take),
            self.out.valid.eq(p_valid & ~p_empty),
            self.out.payload.act.eq(p_act),
            self.out.payload.start.eq(Mux(p_swap, p_odd, p_even)),
            self.out.payload.end.eq(Mux(p_swap, p_even, p_odd)),
            self.idle.eq(~h_valid & ~p_valid),
        ]
        with m.If(h_free):
            m.d.sync += [h_valid.eq(take), h_act.eq(self.col.payload.act), h_swap.eq(addr[0])]
        with m.If(p_free):
            m.d.sync += [p_valid.eq(h_valid), p_act.eq(h_act), p_swap.eq(h_swap),
                         p_even.eq(rd[0].data), p_odd.eq(rd[1].data)]
        for k in range(2):
            m.d.comb += [wp[k].en.eq(self.wr.en & (self.wr.addr[0] == k)),
                         wp[k].addr.eq(self.wr.addr >> 1), wp[k].data.eq(self.wr.data)]
        return m
