"""Event counts of an inference, derived exactly from the program and its inputs.

Every count follows the RTL's rules (docs/architecture.md, hw/*.py), so it equals what
the hardware does in a RUN (host I/O excluded), PE by PE and layer by layer. Per layer,
with ``N`` PEs, ``W = cfg.broadcast_width``, ``R_in = ceil(n_in / N)`` and
``R = ceil(n_out / N)``:

* the LNZD reads ``R_in`` rows, each one read of every PE's source register file and,
  with ``cfg.col_filter``, of every PE's column-mask memory (``colmask``: same enable as
  the row read, hw/lnzd.py ``mask_en``);
* the *broadcast columns* are the non-zero inputs, with ``col_filter`` only those some PE
  has entries in (padding included; the others are never offered); the LNZD offers a
  row's broadcast columns ``W`` at a time, so a row with ``m`` of them is ``ceil(m / W)``
  broadcasts (handshakes), each driving the whole offer bus (``broadcast_bits``);
* a PE *takes* every broadcast column, with ``col_filter`` only those it has entries in:
  one queue push, one pop and one read of both pointer banks per taken column;
* a PE issues the entries (padding included) of its columns of non-zero inputs, a
  merged padding entry together with the entry after it (``cfg.merge_padding``): one
  codebook read, one multiply-accumulate, one accumulator read and one write per issue;
  with ``cfg.bias_reset`` also one bias read per row the layer's issues touch (the
  ``m_`` stage reads a row's bias for its first issue of the layer only, hw/arith.py
  ``bias_rd``; padding that is issued touches its row too, merged padding does not);
* the sparse-matrix memory is read when the issued entry's word differs from the word
  its read port holds (hw/spmat.py); the held word carries over columns, layers and
  inferences, and is forgotten when the host writes the sparse-matrix memory;
* per layer: one descriptor read; without ``bias_reset`` a preload pass of ``R`` bias
  reads and accumulator writes; a write-back pass of ``R`` accumulator reads and
  destination register-file writes, with ``bias_reset`` also ``R`` bias reads (an
  untouched row's value is its bias), from the write-back's own bias copy ``bias_wb``
  with ``cfg.wb_overlap``;
* ``cfg.wb_overlap``: two accumulator banks, layer ``k`` of a RUN in bank ``k % 2``
  (``accumulators``, ``accumulators1``): its issues and its write-back use that bank.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LayerEvents", "layer_inputs", "inference_events", "batch_events", "MEMORIES",
           "memory_geometry", "broadcast_bits", "spmat_fetches"]

# per-PE memories (name -> unit they belong to) and the central one; ``colmask`` only with
# ``col_filter`` (read with the LNZD's rows, so counted with the LNZD), ``accumulators1``
# and ``bias_wb`` only with ``wb_overlap``
MEMORIES = {"ptr_even": "pointer", "ptr_odd": "pointer", "spmat": "spmat",
            "codebook": "arith", "accumulators": "arith", "accumulators1": "arith",
            "bias": "actrw", "bias_wb": "actrw", "act": "actrw", "queue": "queue",
            "colmask": "lnzd", "layers": "control"}


def memory_geometry(cfg) -> dict:
    """Memory name -> (width, depth) for ``cfg``, the memories ``cfg`` has (``act``: both
    activation register files, one memory of ``2 * act_depth`` words as in hw/actrw.py;
    ``queue``: the activation FIFO, flip-flops, one (activation, column) pair per entry
    also for the wide broadcast, hw/queue.py; ``colmask``: ``n_pe`` bits per LNZD row;
    ``accumulators1``, ``bias_wb``: the second accumulator bank and bias copy of
    ``wb_overlap``)."""
    from eiegen.hw.layouts import broadcast_layout
    from amaranth.hdl import Shape
    geo = {
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
    if cfg.col_filter:
        geo["colmask"] = (cfg.n_pe, cfg.mask_depth)
    if cfg.wb_overlap:
        geo["accumulators1"] = geo["accumulators"]
        geo["bias_wb"] = geo["bias"]
    return geo


def broadcast_bits(cfg) -> int:
    """Wires of the broadcast bus from the LNZD to the PEs, all driven by each broadcast:
    (activation, column), or with the wide broadcast (``cfg.wide_broadcast``)
    ``broadcast_width`` slots of (valid, activation, column, and with ``col_filter`` one
    take bit per PE) (hw/layouts.py ``offer_layout``)."""
    from eiegen.hw.layouts import broadcast_layout, offer_layout
    from amaranth.hdl import Shape
    layout = offer_layout(cfg) if cfg.wide_broadcast else broadcast_layout(cfg)
    return Shape.cast(layout).width


@dataclass
class LayerEvents:
    """One layer's events. Per-PE arrays have shape ``(n_pe,)``.

    ``reads`` / ``writes``: memory name (the memories of :func:`memory_geometry`) ->
    per-PE counts (``layers``: a scalar, the central descriptor memory). ``macs``:
    entries issued per PE (padding included). ``broadcasts``: the LNZD's broadcasts
    (handshakes, each up to ``broadcast_width`` columns); ``columns``: the columns they
    carry (``None`` where not known). A PE's taken columns are its queue pushes.
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
    columns: int | None = None

    def to_dict(self) -> dict:
        def plain(v):
            return [int(x) for x in v] if isinstance(v, np.ndarray) else int(v)
        return {"layer": self.layer, "n_in": self.n_in, "n_out": self.n_out,
                "broadcasts": self.broadcasts, "columns": self.columns,
                "lnzd_rows": self.lnzd_rows,
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
        rows_in = -(-lp.n_in // n)
        rows_out = -(-lp.n_out // n)
        macs = issues[:, nz].sum(axis=1)
        ptr = _pointers_cached(program, k)
        spmat, held = _spmat_fetches_all(ptr[:, nz], ptr[:, nz + 1], cfg.entries_per_word,
                                         held)
        cols, taken, broadcasts = _broadcast(cfg, ptr, nz)
        first = _rows_touched(program, k, a != 0) if cfg.bias_reset else None
        reads, writes = _memory_events(cfg, k, macs, spmat, taken, rows_in, rows_out,
                                       first)
        out.append(LayerEvents(k, lp.n_in, lp.n_out, broadcasts, rows_in, macs, spmat,
                               reads, writes, None if timing is None else int(timing[k]),
                               columns=len(cols)))
    return out, held


def _issued_rows(program, layer: int) -> list:
    """Per PE ``(column, local row)`` of every issued entry of ``layer`` (merged padding
    left out: it issues with the entry after it and writes no row), cached on the
    program (rows as hw/arith.py ``d_row``: :func:`~eiegen.compiler.encode.entry_rows`)."""
    from eiegen.compiler.encode import entry_rows
    from eiegen.compiler.stats import merged_entries
    cache = program.__dict__.setdefault("_events_rows", {})
    if layer not in cache:
        cfg = program.cfg
        out = []
        for k in range(cfg.n_pe):
            ptr = program.layer_pointers(layer, k)
            v, z = program.pe_entries(k)
            lo = int(ptr[0])
            col, row = entry_rows(ptr, z[lo:])
            issued = ~merged_entries(cfg, ptr, v[lo:], z[lo:])
            out.append((col[issued], row[issued]))
        cache[layer] = out
    return cache[layer]


def _rows_touched(program, layer: int, nonzero) -> np.ndarray:
    """Per PE, the rows the issues of the columns ``nonzero`` (bool, n_in) touch."""
    return np.array([len(np.unique(rows[nonzero[col]]))
                     for col, rows in _issued_rows(program, layer)], dtype=np.int64)


def _broadcast(cfg, ptr, nz):
    """``(broadcast columns, columns taken per PE, broadcasts)`` of a layer whose non-zero
    inputs are ``nz`` (``ptr``: every PE's pointers of the layer)."""
    n = cfg.n_pe
    cols = nz
    if cfg.col_filter:
        has = ptr[:, nz + 1] != ptr[:, nz]     # a PE's entries in the column, padding too
        cols = nz[has.any(axis=0)]
        taken = has.sum(axis=1).astype(np.int64)
    else:
        taken = np.full(n, len(nz), dtype=np.int64)
    per_row = np.bincount(cols // n) if len(cols) else np.zeros(0, dtype=np.int64)
    broadcasts = int((-(-per_row // cfg.broadcast_width)).sum())
    return cols, taken, broadcasts


def _memory_events(cfg, layer: int, macs, spmat, taken, rows_in: int, rows_out: int,
                   first=None):
    """Per-PE ``(reads, writes)`` of every memory of :func:`memory_geometry` in a layer
    (``first``: with ``bias_reset``, the rows the layer's issues touch, per PE)."""
    n = cfg.n_pe

    def per_pe(v):
        return np.full(n, v, dtype=np.int64)

    # issues read (and write) the accumulators; write-back reads them; the preload writes
    acc_reads, acc_writes = macs + rows_out, macs + (0 if cfg.bias_reset else rows_out)
    # bias: the preload pass, or (bias_reset) each touched row's first issue and every
    # written-back row
    bias = first + rows_out if cfg.bias_reset else per_pe(rows_out)
    reads = {"ptr_even": taken.copy(), "ptr_odd": taken.copy(), "spmat": spmat,
             "codebook": macs.copy(), "accumulators": acc_reads, "bias": bias,
             "act": per_pe(rows_in), "queue": taken.copy(), "layers": 1}
    writes = {"ptr_even": per_pe(0), "ptr_odd": per_pe(0), "spmat": per_pe(0),
              "codebook": per_pe(0), "accumulators": acc_writes, "bias": per_pe(0),
              "act": per_pe(rows_out), "queue": taken.copy(), "layers": 0}
    if cfg.col_filter:
        reads["colmask"], writes["colmask"] = per_pe(rows_in), per_pe(0)
    if cfg.wb_overlap:
        # layer k accumulates (and is written back) in bank k % 2; the write-back reads
        # its bias from its own copy
        banks = [("accumulators", "accumulators1")[b] for b in (layer % 2, 1 - layer % 2)]
        reads[banks[1]], writes[banks[1]] = per_pe(0), per_pe(0)
        reads[banks[0]], writes[banks[0]] = acc_reads, acc_writes
        reads["bias"], reads["bias_wb"] = first.copy(), per_pe(rows_out)
        writes["bias_wb"] = per_pe(0)
    return reads, writes


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
