"""run_verilator: one cached build per configuration, programs loaded through the host
protocol, outputs equal to the golden model, counters equal to the cycle model."""

import numpy as np
import pytest

from eiegen.sim.cycle_model import estimate_batch
from eiegen.sim.golden import run_golden, saturation_counters
from eiegen.sim.harness import build_accelerator, run_verilator
from eiegen.sim.regression import make_case


@pytest.mark.verilator
def test_run_verilator_two_programs_one_build():
    calls = []
    runs = []
    for seed in (1, 2):
        case = make_case("n2", seed)  # the regression's configuration: its build is reused
        run = run_verilator(case.program, case.inputs, progress=lambda d, t: calls.append((d, t)))
        runs.append(run)
        assert run.info["n_pe"] == 2
        outs, sats = run_golden(case.program, case.inputs, saturations=True)
        np.testing.assert_array_equal(run.outputs, outs[-1])
        for inf, est, sat in zip(run.inferences, estimate_batch(case.program, case.inputs),
                                 saturation_counters(sats)):
            assert list(inf.counters.saturated) == sat.tolist()
            assert inf.cycles == est.cycles == inf.counters.cycles
            assert list(inf.counters.busy) == est.busy
            assert list(inf.counters.starved) == est.starved
            assert list(inf.counters.stalled) == est.stalled
    assert runs[0].build.build_dir == runs[1].build.build_dir
    assert runs[1].build.build_seconds == 0.0  # from the cache
    assert calls[0] == (0, len(make_case("n2", 1).inputs)) and calls[-1][0] == calls[-1][1]


@pytest.mark.verilator
def test_single_vector():
    case = make_case("n1", 4)
    run = run_verilator(case.program, case.inputs[0])
    assert run.outputs.shape == (1, case.program.n_out)
    assert build_accelerator(case.program.cfg).build_dir == run.build.build_dir


@pytest.mark.verilator
def test_cached_build_is_found_without_generating_verilog(monkeypatch):
    """The build cache is keyed by config, view and generator version: a second request
    for the same design must not regenerate its Verilog."""
    import eiegen.hw.verilog as V
    from eiegen.arch import ArchConfig
    from eiegen.sim.harness import build_accelerator, generator_version

    cfg = ArchConfig(n_pe=2, act_depth=8, ptr_depth=64, spmat_depth=32, bias_depth=16,
                     max_layers=2)
    first = build_accelerator(cfg)

    def no_generation(*args, **kwargs):
        raise AssertionError("Verilog was regenerated for a cached design")

    monkeypatch.setattr(V, "generate_design", no_generation)
    again = build_accelerator(cfg)
    assert again.build_dir == first.build_dir and again.build_seconds == 0.0
    assert len(generator_version()) == 16
    with pytest.raises(AssertionError, match="regenerated"):
        build_accelerator(cfg.replace(queue_depth=cfg.queue_depth + 1))
