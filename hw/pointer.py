"""The pointer read unit: both ends of a column in one cycle from two banks."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, WriteBus, broadcast_layout, column_layout
from .memory import make_memory

__all__ = ["PointerReadUnit"]


class PointerReadUnit(wiring.Component):
    """Stage ``p_`` of a PE: looks up column ``j``'s entry range ``[p[A], p[A+1])`` with
    ``A = ptr_base + j``.

    Pointer address ``a`` lives in bank ``a % 2`` at bank address ``a // 2``, so the even
    bank is read at ``(A + 1) // 2`` and the odd bank at ``A // 2`` and both ends come out
    together, one cycle (``latency``) after the column was taken from ``col``.

    The stage holds one column. A column whose range is empty is dropped in the cycle its
    pointers arrive, without being offered on ``out``; so the stage can take a new column
    in every cycle in which it is empty, holds an empty column, or hands its column on.

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

    latency = 1

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

        p_valid = Signal()
        p_act = Signal.like(self.col.payload.act, name="p_act")
        p_swap = Signal()  # A was odd: p[A] comes from the odd bank

        addr = Signal(range(cfg.ptr_depth + cfg.max_inputs + 1))
        m.d.comb += addr.eq(self.ptr_base + self.col.payload.col)
        start = Mux(p_swap, rd[1].data, rd[0].data)
        end = Mux(p_swap, rd[0].data, rd[1].data)
        empty = start == end
        p_free = ~p_valid | empty | self.out.ready
        take = self.col.valid & p_free
        m.d.comb += [
            self.col.ready.eq(p_free),
            rd[0].addr.eq((addr + 1) >> 1), rd[0].en.eq(take),
            rd[1].addr.eq(addr >> 1), rd[1].en.eq(take),
            self.out.valid.eq(p_valid & ~empty),
            self.out.payload.act.eq(p_act),
            self.out.payload.start.eq(start),
            self.out.payload.end.eq(end),
            self.idle.eq(~p_valid),
        ]
        with m.If(p_free):
            m.d.sync += [p_valid.eq(take), p_act.eq(self.col.payload.act), p_swap.eq(addr[0])]
        for k in range(2):
            m.d.comb += [wp[k].en.eq(self.wr.en & (self.wr.addr[0] == k)),
                         wp[k].addr.eq(self.wr.addr >> 1), wp[k].data.eq(self.wr.data)]
        return m
