"""Formal: no PE accumulates into the wrong row, bounded from reset. The whole PE
(hw/pe.py: queue, hw/pointer.py, hw/spmat.py, hw/arith.py, hw/actrw.py) runs with every
memory starting at arbitrary contents (``prove(free_memories=True)``) and no host write:
the pointers and sparse-matrix words are symbolic constants, the codebook, bias and
accumulator contents arbitrary. ``ptr_base`` is a free constant, and columns arrive
freely on ``bcast`` (with back-pressure), ``ptr_base + col + 1`` inside the pointer
memory and the column's pointers as the compiler writes them (``p[A] <= p[A + 1] <=``
the number of entries).

A reference beside it looks up each column the PE takes, ``[p[A], p[A + 1])`` with
``A = ptr_base + col``, queues the non-empty ones and walks their entries in order. It
checks, in every cycle:

* the pointer unit offers the oldest non-empty column not yet taken, with its range;
* the sparse-matrix unit sends that column's entries in order, ``first`` on the first;
  with ``merge_padding`` an entry may carry ``skip`` only when the entry before it is a
  padding entry ``(0, max_gap)`` of the same column and not its first (that padding
  entry is then passed over: it adds zero);
* ``latency`` cycles after each entry, and only then, the accumulators are written, at
  the entry's reference row: its ``z`` for a column's first entry, else the previous
  entry's row plus ``z + 1`` (the running relative-index sum, padding entries counted),
  modulo the accumulator address width;
* once the PE is ``idle`` every entry of every column taken has been written.

So no entry's product lands in another row, and none is dropped or added.
"""

import pytest
from amaranth.hdl import Assert, Assume, Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory

from eiegen.arch import ArchConfig
from eiegen.hw.memory import amaranth_memory
from eiegen.hw.pe import ProcessingElement

from formal_bmc import formal_missing, prove

pytestmark = pytest.mark.skipif(bool(formal_missing()), reason=formal_missing() or "-")


class WatchedMemory(Memory):
    """An :class:`amaranth.lib.memory.Memory` whose write port exists from construction,
    so that the spec can watch it before the unit that owns the memory elaborates."""

    def __init__(self, shape, depth, init):
        super().__init__(shape=shape, depth=depth, init=init)
        self.watched = super().write_port()

    def write_port(self, *, domain="sync", granularity=None):
        return self.watched


def fifo(m, name, cap, push, values, pop):
    """A reference FIFO (a shift register, element 0 the oldest) of tuples shaped like
    ``values``, pushed (``values``) and popped at most once a cycle each; returns
    (count, element 0's fields). Asserts that it never overflows."""
    elems = [[Signal.like(v, name=f"{name}{i}_{k}") for k, v in enumerate(values)]
             for i in range(cap)]
    count = Signal(range(cap + 1), name=f"{name}_count")
    after = count - pop
    m.d.comb += Assert(~push | (after < cap))
    for i in range(cap):
        nxt = elems[min(i + 1, cap - 1)]
        with m.If(push & (after == i)):
            m.d.sync += [f.eq(v) for f, v in zip(elems[i], values)]
        with m.Elif(pop):
            m.d.sync += [f.eq(v) for f, v in zip(elems[i], nxt)]
    m.d.sync += count.eq(after + push)
    return count, elems[0]


class PeRowSpec(Elaboratable):
    def __init__(self, cfg):
        if cfg.wide_broadcast or cfg.wb_overlap:
            raise ValueError("modelled: the one-column broadcast and one accumulator bank")
        if cfg.entries_per_word & (cfg.entries_per_word - 1):
            raise ValueError(f"entries_per_word must be a power of two here, got "
                             f"{cfg.entries_per_word}")
        self.cfg = cfg
        self.acc = None

        def factory(shape, depth, init, *, name):
            if name != "accumulators":
                return amaranth_memory(shape, depth, init, name=name)
            self.acc = WatchedMemory(shape, depth, init)
            return self.acc

        self.pe = ProcessingElement(cfg, memories=factory)
        self.ptr_base = Signal.like(self.pe.ctl.ptr_base, name="ptr_base")

    def ports(self):
        b = self.pe.bcast
        return [b.valid, b.payload.as_value(), self.ptr_base]

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = self.pe
        cfg = self.cfg
        # the memories start with any contents (prove(free_memories=True)) and the host
        # writes nothing (wr.en stays 0): pointers and sparse-matrix words are symbolic
        # constants, read here through ports of the spec's own
        banks = pe.pointer.banks

        def pointer(a):
            ports = [bank.read_port(domain="comb") for bank in banks]
            m.d.comb += [port.addr.eq(a >> 1) for port in ports]
            return Mux(a[0], ports[1].data, ports[0].data)

        ptr_base = self.ptr_base  # a free input, constant
        last_base = Signal.like(ptr_base)
        started = Signal()
        m.d.sync += [started.eq(1), last_base.eq(ptr_base)]
        with m.If(started):
            m.d.comb += Assume(ptr_base == last_base)
        m.d.comb += pe.ctl.ptr_base.eq(ptr_base)

        # columns: looked up as the PE takes them from the broadcast; the non-empty ones
        # wait in `cols` until the sparse-matrix unit takes them (the queue, the pointer
        # unit's h_ and p_ hold them meanwhile), and every one offered to it must be the
        # oldest
        bcast = pe.bcast
        addr = ptr_base + bcast.payload.col
        with m.If(bcast.valid):
            m.d.comb += Assume(addr + 1 < cfg.ptr_depth)
        start, end = pointer(addr), pointer(addr + 1)
        with m.If(bcast.valid):
            # pointers as the compiler writes them (not assumed for the whole memory:
            # that made the proof much slower)
            m.d.comb += Assume((start <= end) & (end <= cfg.spmat_entries))
        col_out = pe.pointer.out
        n_cols, (c_start, c_end) = fifo(
            m, "cols", cfg.queue_depth + 3, bcast.valid & bcast.ready & (start != end),
            [start, end], col_out.valid & col_out.ready)
        with m.If(col_out.valid):
            m.d.comb += [Assert(n_cols != 0), Assert(col_out.payload.start == c_start),
                         Assert(col_out.payload.end == c_end)]

        # entries: a column taken by the sparse-matrix unit waits in `issuing` until its
        # last entry has left it; `off` counts the oldest one's entries gone
        ent = pe.spmat.out
        off = Signal(cfg.ptr_bits)
        last = Signal()
        n_issuing, (i_start, i_end) = fifo(
            m, "issuing", 3, col_out.valid & col_out.ready,
            [col_out.payload.start, col_out.payload.end], ent.valid & last)

        per_word = cfg.entries_per_word
        shift = per_word.bit_length() - 1

        def entry(e):
            port = pe.spmat.mem.read_port(domain="comb")
            m.d.comb += port.addr.eq(e >> shift)
            bits = port.data.word_select(e[:shift] if shift else 0, cfg.entry_bits)
            return bits[:cfg.index_bits], bits[cfg.index_bits:]

        e = i_start + off
        v1, z1 = entry(e)
        v2, z2 = entry(e + 1)
        # a padding entry (0, max_gap) goes with the next entry of its column: that
        # entry is on `out` with `skip` (never a column's first one)
        can_skip = (cfg.merge_padding & (off != 0) & (v1 == 0) & (z1 == cfg.max_gap)
                    & (e + 1 < i_end))
        used = 1 + ent.payload.skip
        m.d.comb += last.eq(e + used >= i_end)
        # the reference row: the running relative-index sum, padding counted
        row = Signal.like(self.acc.watched.addr, name="ref_row")
        new_row = Signal.like(row)
        m.d.comb += new_row.eq(Mux(off == 0, z1, Mux(ent.payload.skip, row + z1 + 1 + z2 + 1,
                                                     row + z1 + 1)))
        with m.If(ent.valid):
            m.d.comb += [
                Assert(n_issuing != 0), Assert(ent.payload.first == (off == 0)),
                Assert(~ent.payload.skip | can_skip),
                Assert(ent.payload.v == Mux(ent.payload.skip, v2, v1)),
                Assert(ent.payload.z == Mux(ent.payload.skip, z2, z1)),
            ]
            m.d.sync += [row.eq(new_row), off.eq(Mux(last, 0, off + used))]

        # accumulations: each entry's sum is written to its row `latency` cycles later
        wr = self.acc.watched
        valid, row_at = ent.valid, new_row
        for k in range(pe.arith.latency):
            valid_k, row_k = Signal(name=f"ref_valid{k}"), Signal.like(row, name=f"ref_row{k}")
            m.d.sync += [valid_k.eq(valid), row_k.eq(row_at)]
            valid, row_at = valid_k, row_k
        m.d.comb += Assert(wr.en == valid)
        with m.If(wr.en):
            m.d.comb += Assert(wr.addr == row_at)

        # and nothing is left behind once the PE is idle
        with m.If(pe.idle):
            m.d.comb += [Assert(n_cols == 0), Assert(n_issuing == 0), Assert(~valid)]
        return m


def pe_config(**changes):
    return ArchConfig(n_pe=1, queue_depth=1, index_bits=2, rel_bits=2, act_bits=4,
                      weight_bits=4, acc_bits=8, entries_per_word=4, ptr_depth=8,
                      spmat_depth=2, act_depth=8, bias_depth=2, max_layers=1, **changes)


@pytest.mark.parametrize("changes,depth", [({"merge_padding": 0}, 14),
                                           ({"merge_padding": 1}, 14)])
def test_pe_accumulates_into_the_row_of_each_entry(tmp_path, changes, depth):
    spec = PeRowSpec(pe_config(**changes))
    prove(spec, spec.ports(), tmp_path, depth=depth, free_memories=True)
