"""The hardware regression in Verilator: every configuration of
eiegen.sim.regression.CONFIGS is built once and runs its seeded cases in one simulation
session; every output word must equal the golden model's and every counter the cycle
model's. A failure names the seed and a one-line replay command."""

import pytest

from eiegen.sim.regression import (CONFIGS, KINDS, make_case, plan, replay_command,
                                   run_verilator_cases)

# Issue 19: at least 1,000 programs per CI run, several inputs each (about 4,000 input
# vectors), every output word and counter checked; one build per configuration.
# `python -m eiegen.sim.regression --cases 100000` is the nightly size.
CI_CASES = 1000
SEEDS = {name: len(seeds) for name, seeds in plan(CI_CASES).items()}
SLOW = {"n16", "n64"}  # the largest builds


def test_every_config_has_seeds():
    assert set(SEEDS) == set(CONFIGS)
    assert sum(SEEDS.values()) == CI_CASES and min(SEEDS.values()) >= 40
    assert {c.n_pe for c in CONFIGS.values()} >= {1, 2, 4, 7, 16, 64}
    assert {c.queue_depth for c in CONFIGS.values()} >= {1, 2, 4, 8, 16}
    assert len({c.word_bits for c in CONFIGS.values()}) >= 5
    # the broadcast options of issue 21: every width, filter and bias reset on and off
    assert {c.broadcast_width for c in CONFIGS.values()} == {1, 2, 3, 4}
    assert {c.col_filter for c in CONFIGS.values()} == {0, 1}
    assert {c.bias_reset for c in CONFIGS.values()} == {0, 1}
    assert {c.wb_overlap for c in CONFIGS.values()} == {0, 1}


def test_cases_cover_the_stress_kinds():
    cases = [make_case(name, s) for name in ("n2", "n4q1", "n16") for s in range(12)]
    assert {c.kind for c in cases} == set(KINDS)
    programs = [c.program for c in cases]
    assert any(sum(sum(lp.padding) for lp in p.layers) for p in programs)  # padding
    assert any(lp.n_out % p.cfg.n_pe for p in programs for lp in p.layers)
    assert any(min(c.densities) == 0.0 for c in cases) and any(
        max(c.densities) == 1.0 for c in cases)
    assert any(not c.inputs[0].any() for c in cases)  # an all-zero input vector
    assert {len(c.sizes) - 1 for c in cases} == {2, 3, 4}
    # empty columns in some layer of some case
    from eiegen.compiler.stats import column_lengths
    assert any((column_lengths(p, 0).sum(axis=0) == 0).any() for p in programs)
    # merged padding in some case of a merging config, none where merging is off
    from eiegen.compiler.stats import column_issues

    def merges(p):
        return sum(int((column_lengths(p, k) - column_issues(p, k)).sum())
                   for k in range(len(p.layers)))
    assert any(merges(c.program) for c in cases if c.program.cfg.merge_padding)
    assert not any(merges(c.program) for c in cases if not c.program.cfg.merge_padding)
    assert {c.program.cfg.merge_padding for c in cases} == {0, 1}


def test_saturating_case_saturates():
    from eiegen.sim.golden import run_golden, saturation_counters
    cases = [make_case("n4", s) for s in range(40) if KINDS[s % len(KINDS)] == "saturate"]
    hi = (1 << (cases[0].program.cfg.act_bits - 1)) - 1
    outs = run_golden(cases[0].program, cases[0].inputs)
    assert any((o == hi).any() for o in outs)
    # calibrated on tiny inputs, the accumulators saturate on full-scale ones: the
    # regression compares the PEs' saturated counters with these counts
    sats = [saturation_counters(run_golden(c.program, c.inputs, saturations=True)[1])
            for c in cases]
    assert sum(int(s.sum()) > 0 for s in sats) >= 3


def test_cases_are_deterministic():
    a, b = make_case("n7", 5), make_case("n7", 5)
    assert a.sizes == b.sizes and (a.inputs == b.inputs).all()
    assert "--seed 5" in replay_command("n7", 5)


@pytest.mark.verilator
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in SEEDS])
def test_regression(name):
    results = run_verilator_cases(name, range(SEEDS[name]))
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(r.message() for r in failed)
    assert len(results) == SEEDS[name]


def test_a_failure_names_the_seed_and_the_replay_command():
    from types import SimpleNamespace

    from eiegen.sim.cycle_model import estimate_batch
    from eiegen.sim.golden import run_golden
    from eiegen.sim.regression import check_case
    case = make_case("n2", 3)
    golden = run_golden(case.program, case.inputs)[-1]
    counters = [SimpleNamespace(cycles=e.cycles + 1, busy=e.busy, starved=e.starved,
                                stalled=e.stalled, saturated=[1] * case.program.cfg.n_pe)
                for e in estimate_batch(case.program, case.inputs)]
    result = check_case(case, [g + 1 for g in golden], counters, "verilator")
    assert not result.ok
    msg = result.message()
    assert "seed 3" in msg and replay_command("n2", 3) in msg
    assert "golden" in msg and "counter cycles" in msg and "counter saturated" in msg


def test_replay_cli_model(capsys):
    from eiegen.sim.regression import main
    assert main(["--config", "n4", "--seed", "1", "2", "--sim", "model", "-v"]) == 0
    out = capsys.readouterr().out
    assert "seed 1" in out and "seed 2" in out and "ok (model" in out


def test_plan_splits_the_cases():
    # every config gets its share, seeds consecutive from first_seed, the total exact
    for cases in (len(CONFIGS), 100, 1000, 100_000):
        p = plan(cases, first_seed=5)
        assert set(p) == set(CONFIGS) and sum(len(r) for r in p.values()) == cases
        assert all(r.start == 5 and r.step == 1 for r in p.values())
    assert len(plan(1000)["n1"]) > len(plan(1000)["n64"])  # the cheap builds take more


def test_cases_have_several_inputs():
    cases = [make_case(name, s) for name in ("n1", "n7") for s in range(12)]
    assert min(len(c.inputs) for c in cases) >= 3
    assert sum(len(c.inputs) for c in cases) >= 4 * len(cases)


def test_many_cases_cli_model(capsys):
    # the nightly entry point, on the cycle model alone (no build): a table and a total
    from eiegen.sim.regression import main
    assert main(["--cases", "14", "--first-seed", "100", "--sim", "model"]) == 0
    out = capsys.readouterr().out
    assert "14 cases" in out and "0 failed" in out and "n64" in out
