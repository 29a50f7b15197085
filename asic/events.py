"""Event counts of an inference, derived exactly from the program and its inputs.

Every count follows the RTL's rules (docs/architecture.md, hw/*.py), so it equals what
the hardware does in a RUN (host I/O excluded), PE by PE and layer by layer:

* the LNZD reads ``ceil(n_in / N)`` rows, each one read of every PE's source register
  file, and broadcasts each non-zero input once; every PE's queue takes every broadcast
  (one push, one pop) and its pointer unit reads both banks once per broadcast column;
* a PE issues the entries (padding included) of its columns of non-zero inputs, a
  merged padding entry together with the entry after it (``cfg.merge_padding``): one
  codebook read, one multiply-accumulate, one accumulator read and one write per issue;
* the sparse-matrix memory is read when the issued entry's word differs from the word
  its read port holds (hw/spmat.py); the held word carries over columns, layers and
  inferences, and is forgotten when the host writes the sparse-matrix memory;
* per layer: one descriptor read; ``R = ceil(n_out / N)`` bias reads and accumulator
  writes (preload), ``R`` accumulator reads and destination register-file writes
  (write-back) in every PE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LayerEvents", "layer_inputs", "inference_events", "batch_events", "MEMORIES",
           "memory_geometry", "spmat_fetches"]

# per-PE memories (name -> unit they belong to) and the central one
MEMORIES = {"ptr_even": "pointer", "ptr_odd": "pointer", "spmat": "spmat",
            "codebook": "arith", "accumulators": "arith", "bias": "actrw",
            "act": "actrw", "queue": "queue", "layers": "control"}


def memory_geometry(cfg) -> dict:
    """Memory name -> (width, depth) for ``cfg`` (``act``: both activation register files,
    one memory of ``2 * act_depth`` words as in hw/actrw.py; ``queue``: the activation
    FIFO, flip-flops)."""
    from eiegen.hw.layouts import broadcast_layout
    from amaranth.hdl import Shape
    return {
        "ptr_even": (cfg.ptr_bits, cfg.ptr_depth // 2),
        "ptr_odd": (cfg.ptr_bits, cfg.ptr_depth // 2),
        "spmat": (cfg.word_bits, cfg.spmat_depth),
        "codebook": (cfg.weight_bits, cfg.max_layers * cfg.codebook_size),
        "accumulators": (cfg.acc_bits, cfg.act_depth),
        "bias": (cfg.acc_bits, cfg.bias_depth),
        "act": (cfg.act_bits, 2 * cfg.act_depth),
        "queue": (Shape.cast(broadcast_layout(cfg)).width, cfg.queue_depth),
        "layers": (128, cfg.max_layers),
    }


@dataclass
class LayerEvents:
    """One layer's events. Per-PE arrays have shape ``(n_pe,)``.

    ``reads`` / ``writes``: memory name (:data:`MEMORIES`) -> per-PE counts (``layers``:
    a scalar, the central descriptor memory). ``macs``: entries issued per PE (padding
    included). ``broadcasts``: non-zero inputs broadcast to all PEs.
    """

    layer: int
    n_in: int
    n_out: int
    broadcasts: int
    lnzd_rows: int
    macs: np.ndarray
    spmat_reads: np.ndarray
    reads: dict = field(default_factory=dict)
    writes: dict = field(default_factory=dict)
    cycles: int | None = None  # the layer's cycles T_k (from the cycle model), if known

    def to_dict(self) -> dict:
        def plain(v):
            return [int(x) for x in v] if isinstance(v, np.ndarray) else int(v)
        return {"layer": self.layer, "n_in": self.n_in, "n_out": self.n_out,
                "broadcasts": self.broadcasts, "lnzd_rows": self.lnzd_rows,
                "macs": plain(self.macs), "spmat_reads": plain(self.spmat_reads),
                "reads": {k: plain(v) for k, v in self.reads.items()},
                "writes": {k: plain(v) for k, v in self.writes.items()},
                "cycles": self.cycles}


def layer_inputs(program, x_int) -> list:
    """Each layer's input activations (the order its columns use) for one input."""
    from eiegen.sim.golden import run_golden
    x = np.asarray(x_int, dtype=np.int64)
    return [x] + list(run_golden(program, x)[:-1])


def spmat_fetches(starts, ends, per_word: int, held=None):
    """Sparse-matrix word reads to issue the entry ranges ``[starts[i], ends[i])`` in
    order (empty ranges issue nothing), with the read port holding word ``held``
    (``None``: nothing) at the start. Returns ``(reads, held after)``."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return 0, held
    first, last = starts // per_word, (ends - 1) // per_word
    reads = int((last - first + 1).sum())
    prev = np.concatenate([[-1 if held is None else held], last[:-1]])
    reads -= int((prev == first).sum())
    return reads, int(last[-1])


def _pointers_cached(program, layer: int) -> np.ndarray:
    """Every PE's pointers of ``layer``, (n_pe, n_in + 1), cached on the program."""
    cache = program.__dict__.setdefault("_events_pointers", {})
    if layer not in cache:
        cache[layer] = np.stack([program.layer_pointers(layer, k)
                                 for k in range(program.cfg.n_pe)])
    return cache[layer]


def _spmat_fetches_all(starts, ends, per_word: int, held):
    """:func:`spmat_fetches` for every PE at once: ``starts``, ``ends`` are (n_pe, b) and
    ``held`` a list (``None``: nothing held). A range re-reads no word when its first word
    is the last word of the PE's previous non-empty range, found by carrying the index of
    the last non-empty range forward along each row."""
    n_pe, b = starts.shape
    keep = ends > starts
    first, last = starts // per_word, (ends - 1) // per_word
    reads = np.where(keep, last - first + 1, 0).sum(axis=1)
    held_w = np.array([-1 if h is None else h for h in held], dtype=np.int64)
    if b == 0:
        return reads.astype(np.int64), list(held)
    idx = np.maximum.accumulate(np.where(keep, np.arange(b), -1), axis=1)
    prev_idx = np.concatenate([np.full((n_pe, 1), -1), idx[:, :-1]], axis=1)
    rows = np.arange(n_pe)[:, None]
    prev = np.where(prev_idx >= 0, last[rows, np.maximum(prev_idx, 0)], held_w[:, None])
    reads -= ((prev == first) & keep).sum(axis=1)
    end = idx[:, -1]
    new_held = [int(last[k, end[k]]) if end[k] >= 0 else held[k] for k in range(n_pe)]
    return reads.astype(np.int64), new_held


def inference_events(program, x_int, *, held=None, cycles: bool = True, activations=None):
    """Events of one inference (all layers of a RUN) on integer input ``x_int``.

    ``held`` is each PE's sparse-matrix word held from before (``None``: none, as after
    loading the program). Returns ``(list of LayerEvents, held after)``. With ``cycles``
    the layers' cycle counts come from :mod:`eiegen.sim.cycle_model` when it is there.
    ``activations``: each layer's inputs, if already known (skips the golden model).
    """
    cfg = program.cfg
    n = cfg.n_pe
    held = [None] * n if held is None else list(held)
    acts = activations if activations is not None else layer_inputs(program, x_int)
    timing = None
    if cycles:
        try:
            from eiegen.sim.cycle_model import estimate_cycles
            timing = estimate_cycles(program, x_int, activations=acts).layer_cycles
        except ImportError:
            timing = None
    from eiegen.sim.cycle_model import column_issues_cached  # cached on the program

    out = []
    for k, lp in enumerate(program.layers):
        issues = column_issues_cached(program, k)
        a = np.asarray(acts[k])[:lp.n_in]
        nz = np.flatnonzero(a != 0)
        b = len(nz)
        rows_in = -(-lp.n_in // n)
        rows_out = -(-lp.n_out // n)
        macs = issues[:, nz].sum(axis=1)
        ptr = _pointers_cached(program, k)
        spmat, held = _spmat_fetches_all(ptr[:, nz], ptr[:, nz + 1], cfg.entries_per_word,
                                         held)
        full = np.full(n, b, dtype=np.int64)
        per_pe = lambda v: np.full(n, v, dtype=np.int64)  # noqa: E731
        reads = {"ptr_even": full, "ptr_odd": full.copy(), "spmat": spmat,
                 "codebook": macs.copy(), "accumulators": macs + rows_out,
                 "bias": per_pe(rows_out), "act": per_pe(rows_in),
                 "queue": full.copy(), "layers": 1}
        writes = {"ptr_even": per_pe(0), "ptr_odd": per_pe(0), "spmat": per_pe(0),
                  "codebook": per_pe(0), "accumulators": macs + rows_out,
                  "bias": per_pe(0), "act": per_pe(rows_out),
                  "queue": full.copy(), "layers": 0}
        out.append(LayerEvents(k, lp.n_in, lp.n_out, b, rows_in, macs, spmat, reads, writes,
                               None if timing is None else int(timing[k])))
    return out, held


def batch_events(program, inputs, *, cycles: bool = True, activations=None) -> list:
    """:func:`inference_events` for each input in order, the held sparse-matrix word
    carried from one inference to the next (as on the hardware after one load). One
    golden run serves the whole batch; ``activations`` (each layer's inputs for the
    batch, (batch, n_in) arrays) skips it."""
    from eiegen.sim.golden import run_golden

    x = np.atleast_2d(np.asarray(inputs, dtype=np.int64))
    if activations is not None:
        outs = activations[1:]
    else:
        outs = run_golden(program, x)[:-1] if len(x) else []
    held, result = None, []
    for i in range(len(x)):
        events, held = inference_events(program, x[i], held=held, cycles=cycles,
                                        activations=[x[i]] + [o[i] for o in outs])
        result.append(events)
    return result
