"""The memory helper."""

import pytest
from amaranth.hdl import Fragment, signed

from eiegen.hw.memory import make_memory


def built(mem):
    Fragment.get(mem, None)         # elaborate it, as a design would
    return mem


def test_make_memory():
    mem = built(make_memory(signed(8), 4, [1, -2], name="m"))
    assert mem.depth == 4 and list(mem.init) == [1, -2, 0, 0]
    assert built(make_memory(signed(8), 1)).depth == 2       # no zero-width address
    with pytest.raises(ValueError, match="'m' holds 2 elements but its initial image has 3"):
        make_memory(signed(8), 2, [1, 2, 3], name="m")
    with pytest.raises(ValueError, match="depth of at least 1"):
        make_memory(signed(8), 0, name="m")


def test_views_and_factories():
    from amaranth.lib.memory import Memory
    from eiegen.hw.memory import SramMemories, memory_factory
    from eiegen.hw.sram import SramMemory
    assert isinstance(built(make_memory(signed(8), 4, memories="amaranth")), Memory)
    assert isinstance(built(make_memory(signed(8), 4, memories="sram")), SramMemory)
    calls = []

    def factory(shape, depth, init, *, name):        # e.g. a board backend
        calls.append((name, depth, init))
        return Memory(shape=shape, depth=depth, init=init)

    built(make_memory(signed(8), 1, [7], name="spmat", memories=factory))
    assert calls == [("spmat", 2, [7])]
    sram = SramMemories("init")
    a = built(make_memory(signed(8), 4, [0, 0], name="x", memories=sram))
    b = built(make_memory(signed(8), 4, [1], name="x", memories=sram))
    assert (a.name, a.init_file, b.name, b.init_file) == ("x_000", "", "x_001", "init/x_001.hex")
    assert sram.init_files() == {"x_001.hex": "01\n00\n00\n00\n"}
    with pytest.raises(ValueError, match="memories must be one of amaranth, sram"):
        memory_factory("flops")


def test_eie_threads_the_factory_to_every_memory_but_the_queue():
    from eiegen.arch import ArchConfig
    from eiegen.hw.memory import amaranth_memory
    from eiegen.hw.top import EIE
    names = []

    def factory(shape, depth, init, *, name):
        names.append(name)
        return amaranth_memory(shape, depth, init, name=name)

    Fragment.get(EIE(ArchConfig(n_pe=2), memories=factory), None)
    assert sorted(set(names)) == ["accumulators", "act", "bias", "codebook",
                                  "layers", "ptr_even", "ptr_odd", "spmat"]
    assert len(names) == 1 + 2 * 7
