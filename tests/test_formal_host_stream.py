"""Formal: the host stream front end (hw/control.py) never loses a response word:
bounded from reset, with every host input and status input free, once host_out is
valid it stays valid with the same payload until it is taken (the stream rule that
lets the host read at its own pace)."""

import pytest
from amaranth.hdl import Assert, Assume, Elaboratable, Module, Signal

from eiegen.arch import ArchConfig
from eiegen.hw.control import Control

from formal_bmc import formal_missing, prove

pytestmark = pytest.mark.skipif(bool(formal_missing()), reason=formal_missing() or "-")


class HostStreamSpec(Elaboratable):
    def __init__(self, cfg):
        self.ctl = Control(cfg)

    def ports(self):
        c = self.ctl
        return [c.host_in.valid, c.host_in.payload, c.host_out.ready, c.rd_data,
                c.lnzd_done, c.all_idle]

    def elaborate(self, platform):
        m = Module()
        m.submodules.ctl = c = self.ctl
        out = c.host_out
        started = Signal()
        held = Signal()               # last cycle: valid and not taken
        held_payload = Signal(32)
        last_rd = Signal.like(c.rd_data)
        m.d.sync += [started.eq(1), held.eq(out.valid & ~out.ready),
                     held_payload.eq(out.payload), last_rd.eq(c.rd_data)]
        # the read-back data is the array's register: it changes only when the control
        # selects something else (rd_pe, rd_kind, a source read), which a waiting word
        # does not; here: an arbitrary value, the same in every cycle
        with m.If(started):
            m.d.comb += Assume(c.rd_data == last_rd)
        with m.If(started & held):
            m.d.comb += [Assert(out.valid), Assert(out.payload == held_payload)]
        return m


def test_host_out_holds_every_word_until_taken(tmp_path):
    cfg = ArchConfig(n_pe=2, queue_depth=2, act_bits=4, act_depth=4, ptr_depth=16,
                     spmat_depth=16, bias_depth=8, max_layers=2)
    spec = HostStreamSpec(cfg)
    prove(spec, spec.ports(), tmp_path, depth=14)
