"""The sparse-matrix read unit: one (codebook index, relative index) entry per cycle."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import index_shape, WriteBus, column_layout, entry_layout
from .memory import make_memory

__all__ = ["SparseMatrixReadUnit"]


class SparseMatrixReadUnit(wiring.Component):
    """Stages ``a_`` (issue) and ``d_`` (decode) of a PE.

    Stage ``a_`` holds the column being processed as (word, slot, entries left) and
    issues one entry per cycle while entries are left. It takes the next column from
    ``col`` in the cycle it issues the current column's last entry (or whenever it holds
    nothing), so back-to-back columns of ``L1, L2, ...`` entries issue in exactly
    ``L1 + L2 + ...`` consecutive cycles.

    With ``cfg.merge_padding`` a padding entry ``(0, max_gap)`` whose word is already on
    the read port issues in the same cycle as the entry after it (same word, and at least
    one more entry of the column after that); ``out`` then carries that entry with
    ``skip`` set. A column then takes its *issue count* of cycles
    (:func:`eiegen.compiler.stats.column_issues`) instead of its length.

    A word is fetched (``fetch``) only when an entry's word differs from the word the
    read port last fetched (the port holds its data), i.e. about once per
    ``entries_per_word`` entries, and one cycle before that entry issues (in the cycle
    its column is taken, or in which the column's previous entry issues); the word is
    registered as it leaves the port. (The port's enable is also high in cycles in which
    a column could be taken and none is, and at a word's second-to-last slot whether or
    not the column leaves the word there: those extra reads keep the enable off the
    pointer unit's logic and off the padding merge; ``word`` ignores an early one.) The
    entry leaves on ``out`` one cycle after issue (``latency``), decoded into ``v`` and
    ``z``; ``out`` has no back-pressure.

    Attributes
    ----------
    col : In(stream.Signature(column_layout))
    out : Out(stream.Signature(entry_layout, always_ready=True))
    wr : In(WriteBus)
        Host writes of whole words.
    issue : Out(1)
        An entry is issued this cycle (the PE's "busy" cycles).
    fetch : Out(1)
        The sparse-matrix memory is read this cycle (for the entry of the next cycle).
    idle : Out(1)
        Neither stage holds anything.
    """

    latency = 1

    def __init__(self, cfg, init=None, *, memories=None):
        self.cfg = cfg
        super().__init__({
            "col": In(stream.Signature(column_layout(cfg))),
            "out": Out(stream.Signature(entry_layout(cfg), always_ready=True)),
            "wr": In(WriteBus(index_shape(cfg.spmat_depth), unsigned(cfg.word_bits))),
            "issue": Out(1),
            "fetch": Out(1),
            "idle": Out(1),
        })
        self.mem = make_memory(unsigned(cfg.word_bits), cfg.spmat_depth, init, name="spmat",
                               memories=memories)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        per_word = cfg.entries_per_word
        m.submodules.mem = self.mem
        rp = self.mem.read_port()
        wp = self.mem.write_port()

        a_left = Signal(cfg.ptr_bits)
        # a_left != 0, >= 2 and >= 3 as registers, loaded from a_left's next value: they
        # decide issue (and so every PE's `idle`, ANDed over the array), col.ready and the
        # fetch enable, which then start at a flip-flop instead of a comparator's carry
        # chain (on the ECP5 16-PE build a_left != 0 -> idle was the critical path)
        a_nz = Signal()
        a_ge2 = Signal()
        a_ge3 = Signal()
        a_word = Signal(index_shape(cfg.spmat_depth))
        a_slot = Signal(index_shape(per_word))
        a_act = Signal.like(self.col.payload.act, name="a_act")
        a_first = Signal()
        held_word = Signal(index_shape(cfg.spmat_depth))
        held_valid = Signal()
        d_valid = Signal()
        d_slot = Signal(index_shape(per_word))
        d_act = Signal.like(a_act, name="d_act")
        d_first = Signal()
        d_skip = Signal()

        # The read port is one cycle ahead of stage a_: the word of the entry that issues
        # in cycle t + 1 is read in cycle t, is on the port in t + 1 and in the register
        # `word` from t + 2, when stage d_ decodes that entry. So nothing downstream of
        # the memory's output is more than a flip-flop away from it (FPGA block RAM
        # outputs come late in the cycle), and every decision of a_ and d_ uses registers.
        word = Signal(cfg.word_bits)
        hold = Signal()     # the port was read ahead for nothing: `word` keeps its word
        with m.If(~hold):
            m.d.sync += word.eq(rp.data)    # no logic between the memory and the register
        # which of word's entries are padding (for the merge decision, which stays local:
        # the read enable below does not wait for it)
        pad = Cat(*[(e[:cfg.index_bits] == 0) & (e[cfg.index_bits:] == cfg.max_gap)
                    for e in (word.word_select(k, cfg.entry_bits) for k in range(per_word))])

        issue = a_nz
        # Padding merge: when the entry about to issue is padding and its word has been
        # in use for this column already (not the column's first entry, not slot 0: so
        # `word` holds it), it goes with the next entry of the same word in one cycle. The
        # three-entry rule (a_left >= 3) keeps the pair off a column's end, so col.ready
        # stays a function of a_left alone.
        merge = Signal()
        if cfg.merge_padding and per_word >= 3:  # with 2, no slot is neither first nor last
            m.d.comb += merge.eq(issue & ~a_first & (a_slot != 0) & (a_slot != per_word - 1)
                                 & a_ge3 & pad.bit_select(a_slot, 1))
        take = self.col.valid & self.col.ready
        start = self.col.payload.start
        if per_word & (per_word - 1) == 0:
            shift = per_word.bit_length() - 1
            start_word, start_slot = start >> shift, start[:shift]
        else:
            start_word, start_slot = start // per_word, start % per_word
        m.d.comb += [
            self.issue.eq(issue),
            self.col.ready.eq(~a_ge2),
            self.idle.eq(~issue & ~d_valid),
        ]
        # merge only below slot per_word - 1, so a_slot + 2 never overshoots the word
        wraps = Mux(merge, a_slot == per_word - 2, a_slot == per_word - 1)
        left_next = Signal.like(a_left)
        m.d.comb += left_next.eq(Mux(take, self.col.payload.end - start,
                                     Mux(issue, Mux(merge, a_left - 2, a_left - 1), a_left)))
        m.d.sync += [a_left.eq(left_next), a_nz.eq(left_next != 0), a_ge2.eq(left_next >= 2),
                     a_ge3.eq(left_next >= 3)]
        with m.If(take):
            m.d.sync += [a_word.eq(start_word), a_slot.eq(start_slot),
                         a_act.eq(self.col.payload.act), a_first.eq(1)]
        with m.Elif(issue):
            m.d.sync += a_first.eq(0)
            with m.If(wraps):
                m.d.sync += [a_slot.eq(0), a_word.eq(a_word + 1)]
            with m.Else():
                m.d.sync += a_slot.eq(Mux(merge, a_slot + 2, a_slot + 1))

        # The next cycle's entry starts a new word when a column is taken (its start word,
        # unless the port holds it) or this column goes on past the end of its word (a
        # merge needs a_left >= 3, so the column goes on iff a_left >= 2).
        new_column = take & ~(held_valid & (held_word == start_word))
        next_word = issue & wraps & a_ge2
        # The port is read on every take, also when it holds the start word already: a
        # re-read returns the same word (the memory is written only in I/O mode, which
        # drops `held_valid`), and the port's enable then does not wait for the start
        # word's comparison with the held word, a carry chain behind the pointer unit's
        # registers that was the ECP5 16-PE critical path. `fetch` still counts only the
        # reads of a word the port does not hold (what the energy model charges: a
        # design that gates the port makes just these).
        read = take | next_word
        # a new column can be taken only when a_left <= 1, and then this one does not go
        # on: select on col.ready (a_left alone), not on take (which waits for col.valid)
        fetch_addr = Mux(self.col.ready, start_word, a_word + 1)
        # The port itself is enabled whenever a column could be taken (col.ready), taken
        # or not: with no take, no entry issues in the next cycle (the column's last one
        # issues now, from the word the port holds now), so the word read is never used.
        # The enable is then a function of stage a_'s registers alone, and not of
        # col.valid (the pointer unit's empty-column comparison): the enable and address
        # nets reach every block RAM of this memory, which placement may put far from
        # the PE (on the ECP5 16-PE build, comparison -> take -> enable was the critical
        # path, 6.7 ns of it one net). `held_*` track the reads of `read` (the reads a
        # design that gates the port exactly makes), for `fetch` only.
        #
        # Nor does the enable wait for the merge decision (the sparse-matrix word's
        # padding detect, then a selection by a_slot): at the word's second-to-last slot
        # the next word is read in any case. Without a merge that read was early (the
        # last slot issues next, from the word the port held), so `hold` keeps `word`
        # for one cycle while the port shows the next word, and the last slot reads it
        # again. (Registering the padding flags beside `word` instead put the detect
        # behind the block RAM's late output: on the ECP5 16-PE build that was the
        # critical path at some placement seeds.)
        if cfg.merge_padding and per_word >= 3:
            ahead = a_slot >= per_word - 2
            m.d.sync += hold.eq(a_ge2 & (a_slot == per_word - 2) & ~merge)
        else:
            ahead = a_slot == per_word - 1
        m.d.comb += [rp.addr.eq(fetch_addr), rp.en.eq(self.col.ready | (issue & ahead)),
                     self.fetch.eq(new_column | next_word)]
        with m.If(self.wr.en):
            m.d.sync += held_valid.eq(0)
        with m.Elif(read):
            m.d.sync += [held_valid.eq(1), held_word.eq(fetch_addr)]
        m.d.comb += [wp.en.eq(self.wr.en), wp.addr.eq(self.wr.addr), wp.data.eq(self.wr.data)]

        m.d.sync += [d_valid.eq(issue), d_slot.eq(Mux(merge, a_slot + 1, a_slot)), d_act.eq(a_act),
                     d_first.eq(a_first), d_skip.eq(merge)]
        entry = word.word_select(d_slot, cfg.entry_bits)
        m.d.comb += [
            self.out.valid.eq(d_valid),
            self.out.payload.act.eq(d_act),
            self.out.payload.v.eq(entry[:cfg.index_bits]),
            self.out.payload.z.eq(entry[cfg.index_bits:]),
            self.out.payload.first.eq(d_first),
            self.out.payload.skip.eq(d_skip),
        ]
        return m
