"""The hardware regression: seeded random cases, run in Verilator (and Amaranth's
simulator), checked bit for bit against the golden model and cycle for cycle against the
cycle model.

A *case* is fully determined by a configuration name (:data:`CONFIGS`) and a seed: a
random network of 2-4 layers (sizes not multiples of N, weight densities 0-100%, and per
seed one of the stress kinds below), compiled for the configuration, and a few input
vectors (activation densities 0-100%, all-zero and full-scale ones included). Every
configuration is one Verilator build; all of its cases run in one simulation session,
each loaded through the host protocol.

Stress kinds: ``random``; ``empty_columns`` (a third of every layer's columns empty);
``long_gaps`` (columns whose few entries lie far apart, so the encoder inserts padding
entries); ``saturate`` (calibrated on tiny inputs, run on full-scale ones, so outputs
saturate at both ends and the accumulators saturate: the PEs' ``saturated`` counters are
checked against the golden model's count); ``dense`` (100% weights and activations); ``sparse`` (1-5%
weights, mostly zero activations).

Replay one case (prints what it is and whether it passes)::

    python -m eiegen.sim.regression --config n4 --seed 17 [--sim verilator|icarus|amaranth|model]
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from eiegen.arch import ArchConfig

__all__ = ["CONFIGS", "KINDS", "WEIGHTS", "Case", "CaseResult", "make_case", "check_case",
           "plan",
           "run_verilator_cases", "run_amaranth_cases", "replay_command", "main"]

# One Verilator build each. Together they cover N in {1, 2, 4, 7, 16, 64}, queue depths
# 1, 2, 3, 4, 8, 16, sparse-matrix words of 1..16 entries (4..128 bits), 1..4-bit
# relative indices and 2..4-bit codebook indices, narrow and wide activations, and both
# issue rules: padding merged (the default) and EIE's one entry per cycle (n4q1).
CONFIGS: dict[str, ArchConfig] = {
    "n1": ArchConfig(n_pe=1, queue_depth=1, entries_per_word=1, index_bits=2, rel_bits=2,
                     act_bits=8, weight_bits=8, acc_bits=20, act_depth=40, ptr_depth=128,
                     spmat_depth=4096, bias_depth=128, max_layers=4),
    "n2": ArchConfig(n_pe=2, queue_depth=3, entries_per_word=3, index_bits=3, rel_bits=3,
                     act_depth=32, ptr_depth=256, spmat_depth=1024, bias_depth=128,
                     max_layers=4),
    "n4": ArchConfig(n_pe=4, queue_depth=8, act_depth=24, ptr_depth=384, spmat_depth=256,
                     bias_depth=96, max_layers=4),
    "n4q1": ArchConfig(n_pe=4, queue_depth=1, entries_per_word=4, rel_bits=2, act_bits=12,
                       weight_bits=10, acc_bits=26, act_depth=24, ptr_depth=384,
                       spmat_depth=512, bias_depth=96, max_layers=4, merge_padding=0),
    "n7": ArchConfig(n_pe=7, queue_depth=2, entries_per_word=5, index_bits=3, rel_bits=3,
                     act_depth=12, ptr_depth=384, spmat_depth=128, bias_depth=48,
                     max_layers=4),
    "n16": ArchConfig(n_pe=16, queue_depth=16, entries_per_word=16, rel_bits=1,
                      act_depth=8, ptr_depth=512, spmat_depth=32, bias_depth=32,
                      max_layers=4),
    # the broadcast of issue 21: column filter, 2..4-wide broadcast, bias as the
    # accumulators' reset value, alone and together
    "n4f": ArchConfig(n_pe=4, queue_depth=2, act_depth=24, ptr_depth=384, spmat_depth=256,
                      bias_depth=96, max_layers=4, col_filter=1),
    "n3w3": ArchConfig(n_pe=3, queue_depth=3, entries_per_word=3, index_bits=3, rel_bits=3,
                       act_depth=32, ptr_depth=256, spmat_depth=1024, bias_depth=128,
                       max_layers=4, broadcast_width=3),
    "n5fw2b": ArchConfig(n_pe=5, queue_depth=4, entries_per_word=4, rel_bits=2, act_bits=12,
                         weight_bits=10, acc_bits=26, act_depth=20, ptr_depth=384,
                         spmat_depth=512, bias_depth=96, max_layers=4, col_filter=1,
                         broadcast_width=2, bias_reset=1),
    "n8fw4o": ArchConfig(n_pe=8, queue_depth=4, entries_per_word=8, act_depth=16,
                         ptr_depth=512, spmat_depth=128, bias_depth=64, max_layers=4,
                         col_filter=1, broadcast_width=4, bias_reset=1, wb_overlap=1,
                         merge_padding=0),
    "n2o": ArchConfig(n_pe=2, queue_depth=2, entries_per_word=3, index_bits=3, rel_bits=3,
                      act_depth=32, ptr_depth=256, spmat_depth=1024, bias_depth=128,
                      max_layers=4, bias_reset=1, wb_overlap=1),
    "n64": ArchConfig(n_pe=64, queue_depth=4, entries_per_word=2, rel_bits=2, act_depth=6,
                      ptr_depth=1024, spmat_depth=128, bias_depth=24, max_layers=4),
}

KINDS = ("random", "empty_columns", "long_gaps", "saturate", "dense", "sparse")

# Share of the cases per configuration: the small arrays run several times faster per
# case than n16/n64 (whose builds also take longest), so they take most of the cases.
# The broadcast options' configs (issue 21) take a fifth; every config gets at least 40
# of a CI run's 1,000 cases.
WEIGHTS = {"n1": 14, "n2": 14, "n4": 14, "n4q1": 11, "n7": 10, "n16": 8, "n64": 4,
           "n4f": 5, "n3w3": 5, "n5fw2b": 5, "n8fw4o": 5, "n2o": 5}


def plan(cases: int, first_seed: int = 0) -> dict:
    """Seeds per configuration for ``cases`` cases in all (at least one per config),
    split by :data:`WEIGHTS`: ``{config: range of seeds}``; ``first_seed`` shifts every
    range, so a nightly run of other seeds covers new cases."""
    total = sum(WEIGHTS.values())
    counts = {name: max(1, cases * w // total) for name, w in WEIGHTS.items()}
    for name in list(WEIGHTS)[:max(0, cases - sum(counts.values()))]:  # the remainder
        counts[name] += 1
    return {name: range(first_seed, first_seed + n) for name, n in counts.items()}


def config_by_name(name: str) -> ArchConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown regression config {name!r}; known: "
                         f"{', '.join(CONFIGS)}") from None


def replay_command(config: str, seed: int, sim: str = "verilator") -> str:
    return f"python -m eiegen.sim.regression --config {config} --seed {seed} --sim {sim}"


@dataclass
class Case:
    config: str
    seed: int
    kind: str
    sizes: list
    densities: list
    act_densities: list
    program: object = field(repr=False)
    inputs: np.ndarray = field(repr=False)

    def describe(self) -> str:
        p = self.program
        padding = sum(sum(lp.padding) for lp in p.layers)
        return (f"config {self.config} (N={p.cfg.n_pe}, queue {p.cfg.queue_depth}, "
                f"{p.cfg.entries_per_word} entries/word), seed {self.seed}: {self.kind}, "
                f"sizes {self.sizes}, weight densities "
                f"{[round(d, 3) for d in self.densities]}, activation densities "
                f"{[round(d, 2) for d in self.act_densities]}, {len(self.inputs)} inputs, "
                f"{padding} padding entries")


def _fits(cfg: ArchConfig, sizes) -> bool:
    n = cfg.n_pe
    ptrs = sum(s + 1 for s in sizes[:-1])
    biases = sum(-(-s // n) for s in sizes[1:])
    return ptrs <= cfg.ptr_depth and biases <= cfg.bias_depth


def _sizes(rng, cfg: ArchConfig, n_layers: int, scale: float = 1.0) -> list:
    n = cfg.n_pe
    cap = max(2, int(cfg.act_depth * n * scale))
    for _ in range(100):
        sizes = []
        for _ in range(n_layers + 1):
            s = int(rng.integers(1, cap + 1))
            if n > 1 and s % n == 0 and rng.random() < 0.8:
                s = max(1, s - int(rng.integers(1, n)))  # rows not divisible by N
            sizes.append(s)
        if _fits(cfg, sizes):
            return sizes
        cap = max(2, int(cap * 0.8))
    raise RuntimeError(f"no network fits config {cfg}")


def _network(rng, kind: str, cfg: ArchConfig, sizes, densities):
    from eiegen.compiler.examples import random_layer
    from eiegen.compiler.network import Network

    n_layers = len(sizes) - 1
    relu_last = bool(rng.random() < 0.3)
    layers = []
    for k in range(n_layers):
        n_in, n_out = sizes[k], sizes[k + 1]
        layer = random_layer(rng, n_in, n_out, densities[k], cfg.index_bits,
                             relu=(k < n_layers - 1) or relu_last,
                             bias=bool(rng.random() < 0.8), name=f"fc{k}")
        idx = layer.indices.copy()
        if kind == "empty_columns":
            idx[:, rng.random(n_in) < 0.35] = 0
        elif kind == "long_gaps":
            # a few entries per column, in rows far apart: gaps beyond max_gap need padding
            idx[:] = 0
            for j in range(n_in):
                if rng.random() < 0.7:
                    rows = rng.choice(n_out, size=min(n_out, int(rng.integers(1, 3))),
                                      replace=False)
                    idx[rows, j] = rng.integers(1, cfg.codebook_size, size=len(rows))
            last = n_out - 1  # the farthest row from the start of every column
            idx[last, rng.random(n_in) < 0.5] = 1
        layers.append(layer.quantize(layer.codebook, idx))
    return Network(tuple(layers))


def _inputs(rng, kind: str, program, act_densities) -> np.ndarray:
    cfg = program.cfg
    n_in = program.n_in
    lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
    rows = []
    for d in act_densities:
        if kind == "saturate":
            x = rng.integers(lo, hi + 1, size=n_in)
        else:
            x = program.quantize_input(rng.uniform(-1.0, 1.0, size=n_in))
            x[x == 0] = 1
        x[rng.random(n_in) >= d] = 0
        rows.append(x)
    if kind == "saturate":
        rows.append(np.full(n_in, hi))
        rows.append(np.full(n_in, lo))
    return np.asarray(rows, dtype=np.int64)


def make_case(config: str, seed: int) -> Case:
    """The case ``seed`` of configuration ``config`` (deterministic)."""
    from eiegen.compiler.compile import compile_network
    from eiegen.compiler.program import ProgramError

    cfg = config_by_name(config)
    rng = np.random.default_rng([seed, zlib.crc32(config.encode())])
    kind = KINDS[seed % len(KINDS)]
    n_layers = int(rng.integers(2, min(4, cfg.max_layers) + 1))
    for attempt in range(20):
        sizes = _sizes(rng, cfg, n_layers, 0.75 ** attempt)
        if kind == "dense":
            densities = [1.0] * n_layers
        elif kind == "sparse":
            densities = [float(rng.uniform(0.01, 0.05)) for _ in range(n_layers)]
        else:
            densities = [float(rng.choice([0.0, 0.03, 0.1, 0.3, 0.6, 1.0]))
                         if rng.random() < 0.5 else float(rng.uniform(0.0, 1.0))
                         for _ in range(n_layers)]
        net = _network(rng, kind, cfg, sizes, densities)
        calibration = None
        if kind == "saturate":
            calibration = rng.uniform(-0.01, 0.01, size=(16, sizes[0]))
            calibration[np.arange(16), rng.integers(0, sizes[0], 16)] = 1.0
        try:
            program = compile_network(net, cfg, calibration=calibration,
                                      balance=bool(rng.random() < 0.3))
        except ProgramError:
            continue  # did not fit the sparse-matrix memory: draw again
        break
    else:
        raise RuntimeError(f"case {config}/{seed}: no network fits the configuration")
    if kind == "dense":
        act_densities = [1.0, 1.0, 1.0]
    elif kind == "sparse":
        act_densities = [0.05, 0.2, 0.0]
    else:
        # several inputs per program: each costs one inference, the program's load once
        act_densities = [float(rng.choice([0.0, 0.1, 0.35, 0.7, 1.0])), float(rng.uniform()),
                         float(rng.uniform()), float(rng.choice([0.05, 0.5, 1.0]))]
    inputs = _inputs(rng, kind, program, act_densities)
    return Case(config, seed, kind, sizes, densities, act_densities, program, inputs)


@dataclass
class CaseResult:
    case: Case
    sim: str
    outputs: list  # per input: the simulated last-layer outputs
    counters: list  # per input: (cycles, busy, starved, stalled, saturated)
    errors: list  # human-readable differences; empty if the case passed
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def message(self) -> str:
        c = self.case
        head = (f"FAILED {c.config} seed {c.seed} ({self.sim}): {c.describe()}\n"
                f"  replay: {replay_command(c.config, c.seed, self.sim)}")
        return "\n".join([head] + [f"  {e}" for e in self.errors[:8]])


def _counters_tuple(cnt):
    return (int(cnt.cycles), [int(v) for v in cnt.busy], [int(v) for v in cnt.starved],
            [int(v) for v in cnt.stalled], [int(v) for v in cnt.saturated])


def check_case(case: Case, outputs, counters, sim: str, seconds: float = 0.0) -> CaseResult:
    """Compare simulated outputs and ``saturated`` counters with the golden model and the
    other counters with the cycle model; ``counters`` are protocol.Counters-like."""
    from .cycle_model import estimate_batch
    from .golden import run_golden, saturation_counters

    golden, sats = run_golden(case.program, case.inputs, saturations=True)
    golden, sats = golden[-1], saturation_counters(sats)
    model = estimate_batch(case.program, case.inputs)
    errors = []
    got_counters = []
    names = ("cycles", "busy", "starved", "stalled", "saturated")
    for i in range(len(case.inputs)):
        out = np.asarray(outputs[i], dtype=np.int64)
        bad = np.flatnonzero(out != golden[i])
        if len(bad):
            j = int(bad[0])
            errors.append(f"input {i}: {len(bad)} output words differ from the golden model, "
                          f"first at {j}: {sim} {int(out[j])}, golden {int(golden[i][j])}")
        got = _counters_tuple(counters[i])
        got_counters.append(got)
        want = model[i].counters_tuple() + (sats[i].tolist(),)
        for name, g, w in zip(names, got, want):
            if g != w:
                source = "golden model" if name == "saturated" else "cycle model"
                errors.append(f"input {i}: counter {name}: {sim} {g}, {source} {w}")
    return CaseResult(case, sim, [np.asarray(o) for o in outputs], got_counters, errors,
                      seconds)


def run_verilator_cases(config: str, seeds, *, progress=None,
                        simulator: str = "verilator") -> list:
    """Run every case of ``config`` in one Verilator session (one build per config);
    ``simulator="icarus"``: in Icarus Verilog, with every control signal watched for X
    (raises if one was seen)."""
    from .driver import HostDriver
    from .harness import build_accelerator, check_x
    from .link import SimLink

    cfg = config_by_name(config)
    cases = (make_case(config, s) for s in seeds)  # made as they run: memory stays flat
    build = build_accelerator(cfg, simulator=simulator)
    results = []
    link = SimLink(build, in_port="host_in", out_port="host_out",
                   xcheck=simulator == "icarus")
    with link:
        driver = HostDriver(link, cfg)
        driver.info()
        for case in cases:
            start = time.monotonic()
            model = estimate_batch_cycles(case)
            driver.timeout_cycles = 4 * max(model) + 100_000
            driver.load(case.program)
            runs = [driver.infer(case.program, x) for x in case.inputs]
            results.append(check_case(case, [r.outputs for r in runs],
                                      [r.counters for r in runs], simulator,
                                      time.monotonic() - start))
            if progress:
                progress(results[-1])
    check_x(link)
    return results


def estimate_batch_cycles(case: Case) -> list:
    from .cycle_model import estimate_batch

    return [e.cycles for e in estimate_batch(case.program, case.inputs)]


def run_amaranth_cases(config: str, seeds, *, progress=None) -> list:
    """Run cases on Amaranth's simulator (hw/simulation.run_host): slow, small configs."""
    from eiegen.hw.simulation import run_host

    results = []
    for seed in seeds:
        case = make_case(config, seed)
        start = time.monotonic()
        res = run_host(case.program, list(case.inputs), monitor=False)
        results.append(check_case(case, res.outputs, res.counters, "amaranth",
                                  time.monotonic() - start))
        if progress:
            progress(results[-1])
    return results


def _model_result(case: Case) -> CaseResult:
    """The cycle model's own view (outputs from the golden model): for --sim model."""
    from .cycle_model import estimate_batch
    from .golden import run_golden, saturation_counters

    golden, sats = run_golden(case.program, case.inputs, saturations=True)
    est = estimate_batch(case.program, case.inputs)
    counters = [type("C", (), dict(zip(("cycles", "busy", "starved", "stalled", "saturated"),
                                       e.counters_tuple() + (s.tolist(),))))()
                for e, s in zip(est, saturation_counters(sats))]
    return check_case(case, list(golden[-1]), counters, "model")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m eiegen.sim.regression",
        description="Replay hardware regression cases: outputs and accumulator "
                    "saturations against the golden model, the other counters against the "
                    "cycle model.")
    ap.add_argument("--config", choices=sorted(CONFIGS))
    ap.add_argument("--seed", type=int, nargs="+")
    ap.add_argument("--cases", type=int,
                    help="instead of --config/--seed: this many cases over every config "
                         "(split as the CI run is), e.g. 100000 for a nightly run; prints a "
                         "summary and a replay command per failing case")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="with --cases: start every config's seeds here (CI runs from 0)")
    ap.add_argument("--sim", choices=("verilator", "icarus", "amaranth", "model"),
                    default="verilator")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every counter")
    args = ap.parse_args(argv)
    if args.cases is not None:
        if args.config or args.seed or args.cases < 1:
            ap.error("--cases N (N >= 1) replaces --config and --seed")
        return run_many(args.cases, args.first_seed, args.sim)
    if not (args.config and args.seed):
        ap.error("give --config and --seed, or --cases")
    if args.sim in ("verilator", "icarus"):
        results = run_verilator_cases(args.config, args.seed, simulator=args.sim)
    elif args.sim == "amaranth":
        results = run_amaranth_cases(args.config, args.seed)
    else:
        results = [_model_result(make_case(args.config, s)) for s in args.seed]
    failed = 0
    for r in results:
        print(r.case.describe())
        if args.verbose:
            for i, c in enumerate(r.counters):
                print(f"  input {i}: cycles {c[0]}, busy {c[1]}, starved {c[2]}, "
                      f"stalled {c[3]}, saturated {c[4]}")
        if r.ok:
            print(f"  ok ({r.sim}, {r.seconds:.2f} s): outputs equal the golden model, "
                  f"counters equal the cycle model")
        else:
            failed += 1
            print(r.message())
    return 1 if failed else 0


def run_many(cases: int, first_seed: int = 0, sim: str = "verilator") -> int:
    """Run ``cases`` cases (:func:`plan`) in ``sim``, one build and one session per
    config; print a line per config and each failure with its replay command."""
    failed = checked = inputs = 0
    start = time.monotonic()
    print(f"{'config':<6} {'cases':>6} {'inputs':>7} {'failed':>6} {'seconds':>8}")
    for name, seeds in plan(cases, first_seed).items():
        t0 = time.monotonic()
        n_cases = n_inputs = n_bad = 0
        for at in range(0, len(seeds), 500):  # sessions of 500: only failures are kept
            chunk = seeds[at:at + 500]
            if sim in ("verilator", "icarus"):
                results = run_verilator_cases(name, chunk, simulator=sim)
            elif sim == "amaranth":
                results = run_amaranth_cases(name, chunk)
            else:
                results = [_model_result(make_case(name, s)) for s in chunk]
            for r in results:
                if not r.ok:
                    print(r.message(), flush=True)
            n_bad += sum(not r.ok for r in results)
            n_cases += len(results)
            n_inputs += sum(len(r.case.inputs) for r in results)
        failed += n_bad
        checked += n_cases
        inputs += n_inputs
        print(f"{name:<6} {n_cases:>6} {n_inputs:>7} {n_bad:>6} "
              f"{time.monotonic() - t0:>8.1f}", flush=True)
    print(f"{checked} cases, {inputs} input vectors in {sim}: {failed} failed "
          f"({time.monotonic() - start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
