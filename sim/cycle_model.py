"""The cycle model over whole programs: RUN's cycle count and performance counters for
input vectors, from the layer recurrence of :mod:`eiegen.timing` (which documents its
derivation) and the golden model's activations; exact against the RTL
(tests/test_sim_cycle_model.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eiegen.compiler.stats import column_issues
from eiegen.timing import (LayerTiming, config_timing, layer_compute_batch, layer_overhead,
                           layer_timing)

from .golden import run_golden

__all__ = ["layer_overhead", "config_timing", "LayerTiming", "CycleEstimate", "layer_timing",
           "estimate_cycles",
           "estimate_batch", "column_issues_cached", "BatchCycles", "layer_compute_batch",
           "batch_cycles"]

# LayerTiming, layer_timing and layer_compute_batch are re-exported from eiegen.timing


@dataclass
class CycleEstimate:
    """The model's prediction for one input vector (all layers of one RUN).

    ``cycles`` is RUN's answer (and the ``cycles`` counter); ``busy``, ``starved`` and
    ``stalled`` are per-PE lists equal to the COUNTERS response.
    """

    cycles: int
    layer_cycles: list
    compute_cycles: list
    busy: list
    starved: list
    stalled: list
    layers: list = field(default_factory=list, repr=False)  # LayerTiming per layer

    @property
    def work_bound(self) -> int:
        """Sum over layers of the busiest PE's issue cycles: no schedule can beat it."""
        return int(sum(t.work_bound for t in self.layers))

    @property
    def efficiency(self) -> float:
        """Compute efficiency of the compute phases: work bound / compute cycles (how
        close the schedule gets to the busiest PE's work; not the work balance, mean PE /
        busiest PE, which --balance raises while this can fall: sim/report.py)."""
        total = sum(self.compute_cycles)
        return self.work_bound / total if total else 1.0

    def counters_tuple(self):
        """(cycles, busy, starved, stalled), counters wrapped to 32 bits like the RTL's."""
        m = 0xFFFFFFFF
        return (self.cycles & m, [b & m for b in self.busy], [s & m for s in self.starved],
                [s & m for s in self.stalled])


def column_issues_cached(program, layer: int) -> np.ndarray:
    """Issue cycles of every column in every PE, (n_pe, n_in) int64, cached on the
    program."""
    cache = program.__dict__.setdefault("_cycle_model_issues", {})
    if layer not in cache:
        cache[layer] = np.ascontiguousarray(column_issues(program, layer), dtype=np.int64)
    return cache[layer]


def _layer_inputs(program, x_int):
    """Each layer's input activations (hardware order), from the golden model."""
    x = np.asarray(x_int, dtype=np.int64)
    return [x] + list(run_golden(program, x)[:-1])


def estimate_cycles(program, x_int, *, queue_depth: int | None = None,
                    activations=None) -> CycleEstimate:
    """Predict RUN's cycle count and counters for one integer input vector.

    Parameters
    ----------
    program : Program
    x_int : (n_in,) int array, network order (as the host writes it)
    queue_depth : int, optional
        Override the config's queue depth (the column issue counts do not depend on it, so a
        depth sweep needs no recompilation).
    activations : list of arrays, optional
        Each layer's inputs, if already known (skips the golden model).
    """
    cfg = program.cfg
    depth = cfg.queue_depth if queue_depth is None else int(queue_depth)
    if depth < 1:
        raise ValueError(f"queue_depth must be at least 1, got {depth}")
    acts = activations if activations is not None else _layer_inputs(program, x_int)
    n_layers = len(program.layers)
    layers = [config_timing(cfg, column_issues_cached(program, k), a, lp.n_out, depth,
                            last=k == n_layers - 1)
              for k, (lp, a) in enumerate(zip(program.layers, acts))]
    n = cfg.n_pe
    total = lambda attr: [int(v) for v in sum((getattr(t, attr) for t in layers),
                                               np.zeros(n, dtype=np.int64))]
    return CycleEstimate(
        cycles=int(sum(t.cycles for t in layers)),
        layer_cycles=[t.cycles for t in layers],
        compute_cycles=[t.compute for t in layers],
        busy=total("busy"), starved=total("starved"), stalled=total("stalled"),
        layers=layers)


def estimate_batch(program, inputs, *, queue_depth: int | None = None) -> list:
    """:func:`estimate_cycles` for each row of ``inputs`` (one golden run for the batch)."""
    x = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
    outs = run_golden(program, x)[:-1]
    return [estimate_cycles(program, x[i], queue_depth=queue_depth,
                            activations=[x[i]] + [o[i] for o in outs])
            for i in range(len(x))]


@dataclass
class BatchCycles:
    """Cycle counts of a batch of inputs at several queue depths (:func:`batch_cycles`).

    ``cycles[d, b]`` is RUN's answer for input ``b`` at ``queue_depths[d]``;
    ``compute[d, k, b]`` layer ``k``'s COMPUTE cycles; ``work_bound[k, b]`` layer ``k``'s
    busiest PE's issue cycles (no queue depth changes it)."""

    queue_depths: tuple
    cycles: np.ndarray  # (n_depths, batch)
    layer_cycles: np.ndarray  # (n_depths, n_layers, batch)
    compute: np.ndarray  # (n_depths, n_layers, batch)
    work_bound: np.ndarray  # (n_layers, batch)

    def efficiency(self, d: int = 0) -> float:
        """Load-balance efficiency of the batch's compute phases at depth index ``d``:
        summed work bound / summed compute cycles (as CycleEstimate.efficiency per input)."""
        total = int(self.compute[d].sum())
        return int(self.work_bound.sum()) / total if total else 1.0


def batch_cycles(program, x_int, queue_depths=None, *, activations=None) -> BatchCycles:
    """RUN's cycle count for every row of ``x_int`` at every queue depth of
    ``queue_depths`` (default: the config's), with one golden run for the batch and one
    vectorised recurrence per layer (:func:`layer_compute_batch`). Equal to
    :func:`estimate_batch`'s ``cycles`` input by input; for sweeps, where the per-input
    counters are not needed."""
    cfg = program.cfg
    depths = tuple(int(d) for d in (queue_depths if queue_depths is not None
                                    else (cfg.queue_depth,)))
    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    if activations is None:
            activations = [x] + list(run_golden(program, x)[:-1])
    computes, works, layer_cycles = [], [], []
    for k, (lp, act) in enumerate(zip(program.layers, activations)):
        issues = column_issues_cached(program, k)
        if cfg.wide_broadcast:  # one recurrence per input and depth: no batched form yet
            act = np.atleast_2d(np.asarray(act))
            c = np.array([[config_timing(cfg, issues, a, lp.n_out, d).compute for a in act]
                          for d in depths], dtype=np.int64)
            w = ((act != 0).astype(np.int64) @ issues.T).max(axis=1)
        else:
            c, w = layer_compute_batch(issues, act, cfg.n_pe, depths)
        computes.append(c)
        works.append(w)
        layer_cycles.append(layer_overhead(lp.n_out, cfg.n_pe, cfg.bias_reset,
                                           cfg.wb_overlap, k == len(program.layers) - 1) + c)
    compute = np.stack(computes, axis=1)
    lc = np.stack(layer_cycles, axis=1)
    return BatchCycles(depths, lc.sum(axis=1), lc, compute, np.stack(works))
