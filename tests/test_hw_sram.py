"""The SRAM wrapper view: instances, init files, and the same behaviour as the Amaranth
view in Verilator (outputs and every counter, word for word)."""

import numpy as np
import pytest
from amaranth.hdl import Fragment, Instance, signed, unsigned

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.examples import random_network
from eiegen.hw.memory import SramMemories, make_memory
from eiegen.hw.sram import SRAM_MODULE, SramMemory, behavioural_model, hex_image
from eiegen.hw.top import EIE
from test_hw_top import make_case


def test_hex_image():
    assert hex_image([1, -1, 0x1234], 12) == "001\nfff\n234\n"
    assert hex_image([5], 1) == "1\n"


def test_sram_memory_ports_and_instance():
    mem = make_memory(signed(8), 5, [3, -2], name="bias", memories=SramMemories("d"))
    assert isinstance(mem, SramMemory) and mem.name == "bias_000" and mem.depth == 5
    assert mem.init == [3, -2, 0, 0, 0] and mem.init_file == "d/bias_000.hex"
    assert mem.hex() == "03\nfe\n00\n00\n00\n"
    rp, wp = mem.read_port(), mem.write_port(granularity=4)
    assert len(rp.addr) == 3 and len(wp.en) == 2
    with pytest.raises(ValueError, match="only one read port"):
        mem.read_port()
    frag = Fragment.get(mem, None)
    inst = frag.subfragments[0][0]
    assert isinstance(inst, Instance) and inst.type == SRAM_MODULE
    assert inst.parameters["INIT_FILE"] == "d/bias_000.hex"
    assert inst.parameters["LANES"] == 2 and inst.parameters["ABITS"] == 3


def test_sram_memory_refuses_async_read():
    mem = make_memory(unsigned(4), 4, name="queue", memories="sram")
    with pytest.raises(ValueError, match="'queue_000'.*synchronous"):
        mem.read_port(domain="comb")
    with pytest.raises(ValueError, match="granularity 3 does not divide the width 4"):
        mem.write_port(granularity=3)
    Fragment.get(mem, None)


def test_eie_sram_view_builds_every_memory_but_the_queue():
    cfg = ArchConfig(n_pe=2)
    program = compile_network(random_network(3, [8, 6, 4], density=0.5), cfg)
    top = EIE(cfg, program, memories="sram")
    names = sorted(m.name for m in top.memories.memories)
    kinds = {n.rsplit("_", 1)[0] for n in names}
    assert kinds == {"layers", "ptr_even", "ptr_odd", "spmat", "codebook", "accumulators",
                     "bias", "act"}
    assert len(names) == 1 + 7 * cfg.n_pe
    files = top.memories.init_files()
    # program images: pointers, words, biases, codebooks, descriptors; no zero memories
    assert set(files) >= {"spmat_001.hex", "ptr_odd_000.hex", "codebook_000.hex",
                          "layers_000.hex", "bias_001.hex"}
    assert "accumulators_000.hex" not in files
    words = program.spmat_words(1)
    assert files["spmat_001.hex"].splitlines()[:len(words)] == [f"{w:016x}" for w in words]
    Fragment.get(top, None)


def test_behavioural_model_is_one_module():
    text = behavioural_model()
    assert text.count("module ") == text.count("endmodule") == 1
    assert f"module {SRAM_MODULE}" in text and "$readmemh(INIT_FILE, mem)" in text


def _words(run):
    """Everything a run answered, as plain integers."""
    return [(list(map(int, r.outputs)), r.cycles, r.counters.cycles, list(r.counters.busy),
             list(r.counters.starved), list(r.counters.stalled), list(r.counters.saturated))
            for r in run.inferences]


@pytest.mark.verilator
@pytest.mark.slow
def test_sram_view_matches_amaranth_view_in_verilator():
    """The same random programs on both views (one Verilator build per view, programs
    loaded through the host protocol), plus one program preloaded through $readmemh."""
    from eiegen.sim.golden import run_golden
    from eiegen.sim.harness import run_verilator

    cfg = ArchConfig(n_pe=3, queue_depth=2, entries_per_word=3, rel_bits=3)
    cases = [make_case(1, cfg, [14, 11, 5], 0.3), make_case(2, cfg, [20, 30, 9], 0.1),
             make_case(3, cfg, [9, 12, 7, 4], 1.0)]
    for program, inputs in cases:
        ref = run_verilator(program, inputs, memories="amaranth")
        sram = run_verilator(program, inputs, memories="sram")
        assert _words(sram) == _words(ref)
        for r, x in zip(ref.inferences, inputs):
            np.testing.assert_array_equal(r.outputs, run_golden(program, x)[-1])
    program, inputs = cases[0]
    pre = run_verilator(program, inputs, memories="sram", preload=True)
    assert _words(pre) == _words(run_verilator(program, inputs, memories="amaranth"))
