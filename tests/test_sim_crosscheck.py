"""Two simulators of the same RTL: Amaranth's (hw/simulation.run_host) and Verilator
(through the host protocol) agree on every output word and every counter, on the small
regression configurations; both also equal the golden model and the cycle model."""

import pytest

from eiegen.sim.regression import run_amaranth_cases, run_verilator_cases

# Amaranth's simulator takes about a second per case at these sizes
CROSS = {"n1": range(4), "n2": range(4), "n4q1": range(3), "n7": range(3),
         "n4f": range(3), "n5fw2b": range(3), "n2o": range(3)}


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CROSS))
def test_amaranth_and_verilator_agree(name):
    seeds = CROSS[name]
    amaranth = run_amaranth_cases(name, seeds)
    verilator = run_verilator_cases(name, seeds)
    for a, v in zip(amaranth, verilator):
        assert a.ok, a.message()
        assert v.ok, v.message()
        assert a.counters == v.counters, f"seed {a.case.seed}: counters differ"
        for oa, ov in zip(a.outputs, v.outputs):
            assert (oa == ov).all(), f"seed {a.case.seed}: outputs differ"
