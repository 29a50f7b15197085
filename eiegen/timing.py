"""The accelerator's timing model: its latencies and a fast, cycle-exact recurrence
for one layer (docs/architecture.md).

Plain Python and numpy, below the compiler (load balancing predicts cycles with it) and
the simulator (:mod:`eiegen.sim.cycle_model` runs it over whole programs); the latencies
are the HDL units' own (``tests/test_timing.py`` checks that they agree).

The RTL's timing is a function of three things only: the layer shapes, each PE's column
issue counts (entries per column, padding included, less the padding entries that issue
together with the next entry when ``cfg.merge_padding`` is set; from the program's
pointers and entries, :func:`eiegen.compiler.stats.column_issues`) and which input
activations are non-zero. This module turns the per-cycle rules of the timing
contract into a recurrence over *broadcasts* instead of cycles, so its cost grows with the
number of non-zero activations (a few thousand per EIE layer), not with the cycle count,
and every step is vectorised over the PEs.

Derivation (0-based broadcasts ``i`` of the non-zero columns ``j_0 < j_1 < ...``; every
time is a COMPUTE cycle number ``c``):

* LNZD. Row 0 is current from cycle ``F = LeadingNonZeroDetector.first_row`` (4: the
  rows are read ahead into registers), row ``r + 1`` (columns ``(r+1)*N ..``) one cycle
  after row ``r`` finishes; a row without non-zeros finishes in its first cycle. So the
  LNZD first *offers* non-zero ``i`` in cycle ``o_i = b_{i-1} + 1 + g_i`` where ``b`` is
  the broadcast cycle and ``g_i`` the number of all-zero rows between the rows of
  ``i-1`` and ``i`` (``o_0 = F + g_0``, the zero rows before the first non-zero).
* Queues. Column ``i`` may be broadcast once every PE has room, i.e. once every PE has
  popped column ``i - depth``: ``b_i = max(o_i, max_k q_k[i - depth] + 1)``.
* One PE (``L`` = the column's issue count in that PE, ``H`` = the cycle the column
  leaves stage ``h_``, ``X`` = the cycle it leaves stage ``p_``, ``A`` = the cycle stage
  ``a_`` becomes free, i.e. the last issue of the previous non-empty column): pop
  ``q_i = max(b_i + 1, H_{i-1})``; into ``p_`` at ``H_i = max(q_i + 1, X_{i-1})``;
  pointers in ``P_i = H_i + 1``; ``X_i = P_i`` for an empty column, else
  ``max(P_i, A)``, after which it issues in ``X_i + 1 .. X_i + L_i`` and
  ``A = X_i + L_i``.
* End. ``done`` rises one cycle after the last row finishes (``b_last + 1 + g_tail``);
  a PE is idle from ``max(X_last + 1, last issue + 5)``; ``C`` is ``c_end + 2``
  (``Control.end_latency``), ``c_end`` the first cycle in which both hold.
* Counters. ``busy`` = entries issued; ``stalled`` (PE ``k``, non-zero ``i``) = the
  cycles ``o_i .. b_i - 1`` in which ``k``'s queue is still full, ``max(0, q_k[i-depth]
  + 1 - o_i)``; ``starved`` = the cycles in which the queue is empty at the start
  (outside every ``[b_i + 1, q_i]``) and nothing issues (outside every
  ``[X_i + 1, X_i + L_i]``).

A layer takes ``T_k = 1 + 2 * ceil(n_out / N) + C_k`` cycles (descriptor, preload,
compute, write-back); RUN answers ``T = sum T_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FIRST_ROW", "DRAIN", "END", "LayerTiming", "layer_overhead", "layer_timing",
           "config_timing", "layer_compute_batch"]

_NEVER = -(1 << 40)  # "no such event yet": below every cycle number
# COMPUTE cycle in which the LNZD's row 0 is current (LeadingNonZeroDetector.first_row)
FIRST_ROW = 4
# last issue -> the PE is idle (ProcessingElement.drain_latency)
DRAIN = 5
# COMPUTE lasts c_end + END cycles (Control.end_latency)
END = 2


@dataclass
class LayerTiming:
    """One layer's timing: compute cycles, the whole layer's cycles and the counters."""

    compute: int  # C: cycles in COMPUTE
    cycles: int  # T_k = 1 + 2R + C
    busy: np.ndarray  # (n_pe,)
    starved: np.ndarray
    stalled: np.ndarray
    broadcasts: int  # non-zero activations broadcast
    work_bound: int  # the busiest PE's issue cycles (= busy.max())

    @property
    def overhead(self) -> int:
        """Cycles outside COMPUTE: descriptor, preload and write-back."""
        return self.cycles - self.compute


def _interval_cover(starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """(n_pe, length) bool: cycle c lies in some [starts[i, k], ends[i, k]] of PE k.
    Empty intervals (end < start) contribute nothing."""
    n_pe = starts.shape[1]
    ok = ends >= starts
    pe = np.broadcast_to(np.arange(n_pe), starts.shape)[ok]
    s, e = starts[ok], ends[ok] + 1
    width = length + 1
    diff = (np.bincount(pe * width + s, minlength=n_pe * width)
            - np.bincount(pe * width + e, minlength=n_pe * width))
    return np.cumsum(diff.reshape(n_pe, width), axis=1)[:, :length] > 0


def layer_overhead(n_out: int, n_pe: int, bias_reset: int = 0, wb_overlap: int = 0,
                   last: bool = True) -> int:
    """Cycles of a layer outside COMPUTE: ``DESC`` (1), ``PRELOAD`` (``R = ceil(n_out /
    N)`` rows, or one setup cycle with ``bias_reset``) and ``WB`` (``R``). With
    ``wb_overlap`` the write-back runs during the next layer: only the ``last`` layer's
    shows, as ``WB_TAIL``, ``max(1, R - 1)`` cycles (its first row is read in the last
    ``COMPUTE`` cycle)."""
    rows_out = -(-n_out // n_pe)
    if wb_overlap:
        return 2 + (max(1, rows_out - 1) if last else 0)
    return 1 + (1 if bias_reset else rows_out) + rows_out


def layer_timing(issues, act, n_pe: int, queue_depth: int, n_out: int, *,
                 width: int = 1, col_filter: int = 0, bias_reset: int = 0,
                 wb_overlap: int = 0, last: bool = True) -> LayerTiming:
    """Timing of one layer.

    Parameters
    ----------
    issues : (n_pe, n_in) int array
        Issue cycles of column ``j`` in PE ``k``: its entries (padding included), less
        merged padding (:func:`eiegen.compiler.stats.column_issues`).
    act : (n_in,) array
        The layer's input activations (only which are non-zero matters).
    n_pe, queue_depth : int
        From the architecture config.
    n_out : int
        The layer's outputs (sets preload and write-back cycles).
    width, col_filter, bias_reset, wb_overlap : int
        ``ArchConfig.broadcast_width``, ``col_filter``, ``bias_reset`` and
        ``wb_overlap``; EIE's broadcast (width 1, no filter) takes the vectorised
        recurrence below, the others :func:`_wide_timing`.
    last : bool
        The run's last layer (with ``wb_overlap`` only its write-back adds cycles).
    """
    overhead = layer_overhead(n_out, n_pe, bias_reset, wb_overlap, last)
    if width > 1 or col_filter:
        return _wide_timing(issues, act, n_pe, queue_depth, n_out, width, col_filter,
                            overhead)
    issues = np.asarray(issues, dtype=np.int64)
    act = np.asarray(act)
    n_in = act.shape[0]
    if issues.shape != (n_pe, n_in):
        raise ValueError(f"issues must have shape ({n_pe}, {n_in}), got {issues.shape}")
    rows_in = -(-n_in // n_pe)
    cols = np.flatnonzero(act != 0)
    m = len(cols)
    zero = np.zeros(n_pe, dtype=np.int64)
    if m == 0:
        compute = rows_in + FIRST_ROW + END
        return LayerTiming(compute, overhead + compute, zero, zero + compute,
                           zero.copy(), 0, 0)
    # zero rows before each non-zero's row, and after the last one
    row = cols // n_pe
    gaps = np.empty(m, dtype=np.int64)
    gaps[0] = row[0]
    gaps[1:] = np.maximum(row[1:] - row[:-1] - 1, 0)
    g_tail = rows_in - 1 - int(row[-1])
    lsel = np.ascontiguousarray(issues[:, cols].T)  # (m, n_pe)
    nonempty = lsel > 0

    depth = queue_depth
    q_all = np.empty((m, n_pe), dtype=np.int64)
    x_all = np.empty((m, n_pe), dtype=np.int64)
    b_all = np.empty(m, dtype=np.int64)
    o_all = np.empty(m, dtype=np.int64)
    qmax = np.empty(m, dtype=np.int64)
    h = np.full(n_pe, _NEVER, dtype=np.int64)  # H of the previous column
    x = np.full(n_pe, _NEVER, dtype=np.int64)  # X of the previous column
    a = np.full(n_pe, _NEVER, dtype=np.int64)  # a_ is free from this cycle
    b = FIRST_ROW - 1  # so that o_0 = FIRST_ROW + g_0
    gl = gaps.tolist()
    maximum, where = np.maximum, np.where
    for i in range(m):
        o = b + 1 + gl[i]
        b = o
        if i >= depth:
            lim = int(qmax[i - depth]) + 1
            if lim > b:
                b = lim
        o_all[i] = o
        b_all[i] = b
        q = maximum(h, b + 1)
        q_all[i] = q
        qmax[i] = q.max()
        h = maximum(q + 1, x)
        p = h + 1
        nz = nonempty[i]
        x = where(nz, maximum(p, a), p)
        a = where(nz, x + lsel[i], a)
        x_all[i] = x

    done = b + g_tail + 1
    last_issue = where(a > _NEVER, a, _NEVER)
    idle_from = maximum(x + 1, last_issue + DRAIN)
    c_end = max(done, int(idle_from.max()))
    compute = c_end + END

    busy = lsel.sum(axis=0)
    if m > depth:
        stalled = maximum(q_all[:m - depth] + 1 - o_all[depth:, None], 0).sum(axis=0)
    else:
        stalled = zero.copy()
    queued = _interval_cover(np.broadcast_to(b_all[:, None] + 1, q_all.shape), q_all, compute)
    issuing = _interval_cover(x_all + 1, x_all + lsel, compute)
    starved = compute - (queued | issuing).sum(axis=1)
    return LayerTiming(compute, overhead + compute, busy, starved.astype(np.int64),
                       stalled, m, int(busy.max()))


def _wide_timing(issues, act, n_pe: int, queue_depth: int, n_out: int, width: int,
                 col_filter: int, overhead: int) -> LayerTiming:
    """:func:`layer_timing` for the broadcast of issue 21 (docs/architecture.md, "Wide
    and filtered broadcast"), as a recurrence over *groups*: the up to ``width`` lowest
    lanes of the current row that the LNZD offers together.

    * The lanes: non-zero activations, and with ``col_filter`` only columns some PE has
      entries in (the others are never offered). Group ``g`` is first offered in
      ``o_g = b_{g-1} + 1 + (all-zero rows between)``; it is broadcast in the first cycle
      ``b_g >= o_g`` in which every PE that takes ``cnt_k`` of its columns has room for
      them: queue level at the start of the cycle + ``cnt_k <= depth``. With ``n_k``
      columns already pushed to PE ``k``, that is once PE ``k`` has popped its column
      ``n_k + cnt_k - depth - 1``: ``b_g = max(o_g, max_k q_k[...] + 1)``.
    * Each PE sees its own sequence of taken columns (with ``col_filter`` only those it
      has entries in, else all, empty ones included), in column order; its pipeline is
      the recurrence of EIE's broadcast (module docstring) item by item: pop ``q =
      max(b + 1, H_prev)``, into ``p_`` at ``H = max(q + 1, X_prev)``, ``X`` and ``A``.
    * ``stalled`` (PE ``k``, group ``g``): the cycles ``o_g ..`` in which ``k`` lacks
      room, ``max(0, q_k[...] + 1 - o_g)``; ``starved`` and ``done`` as for EIE's.
    """
    issues = np.asarray(issues, dtype=np.int64)
    act = np.asarray(act)
    n_in = act.shape[0]
    if issues.shape != (n_pe, n_in):
        raise ValueError(f"issues must have shape ({n_pe}, {n_in}), got {issues.shape}")
    if not 1 <= width <= queue_depth:
        # a PE taking a whole group of more than queue_depth columns would never have room
        raise ValueError(f"broadcast width {width} must be in 1..queue_depth "
                         f"({queue_depth})")
    rows_in = -(-n_in // n_pe)
    takes = issues > 0
    lanes = act != 0
    if col_filter:
        lanes &= takes.any(axis=0)
    cols = np.flatnonzero(lanes)
    zero = np.zeros(n_pe, dtype=np.int64)
    if len(cols) == 0:
        compute = rows_in + FIRST_ROW + END
        return LayerTiming(compute, overhead + compute, zero, zero + compute,
                           zero.copy(), 0, 0)
    depth = queue_depth
    everyone = np.ones(n_pe, dtype=bool)
    h = np.full(n_pe, _NEVER, dtype=np.int64)
    x = np.full(n_pe, _NEVER, dtype=np.int64)
    a = np.full(n_pe, _NEVER, dtype=np.int64)
    ring = np.full((depth, n_pe), _NEVER, dtype=np.int64)  # pop cycles of the last items
    pushed = np.zeros(n_pe, dtype=np.int64)
    stalled = np.zeros(n_pe, dtype=np.int64)
    pe = np.arange(n_pe)
    q_starts, q_ends, i_starts, i_ends = [], [], [], []
    maximum, where = np.maximum, np.where
    b = FIRST_ROW - 1
    prev_row = -1
    rows = (cols // n_pe).tolist()
    i, m = 0, len(cols)
    while i < m:
        r = rows[i]
        k = i + 1
        while k < m and k - i < width and rows[k] == r:
            k += 1
        group = cols[i:k]
        gap = r - prev_row - 1 if prev_row < r else 0
        prev_row = r
        o = b + 1 + gap
        tk = takes[:, group] if col_filter else np.ones((n_pe, len(group)), dtype=bool)
        cnt = tk.sum(axis=1)
        need = pushed + cnt - depth - 1
        gate = (cnt > 0) & (need >= 0)
        lim = where(gate, ring[np.maximum(need, 0) % depth, pe] + 1, _NEVER)
        b = max(o, int(lim.max()))
        stalled += maximum(lim - o, 0)
        for s, j in enumerate(group.tolist()):
            t = tk[:, s] if col_filter else everyone
            q = maximum(h, b + 1)
            hn = maximum(q + 1, x)
            length = issues[:, j]
            nz = length > 0
            xn = where(nz, maximum(hn + 1, a), hn + 1)
            ring[pushed % depth, pe] = where(t, q, ring[pushed % depth, pe])
            q_starts.append(where(t, b + 1, 0))
            q_ends.append(where(t, q, -1))
            i_starts.append(where(t & nz, xn + 1, 0))
            i_ends.append(where(t & nz, xn + length, -1))
            h = where(t, hn, h)
            x = where(t, xn, x)
            a = where(t & nz, xn + length, a)
            pushed += t
        i = k
    done = b + (rows_in - 1 - prev_row) + 1
    idle_from = maximum(x + 1, a + DRAIN)
    compute = max(done, int(idle_from.max())) + END
    busy = issues[:, cols].sum(axis=1)
    queued = _interval_cover(np.array(q_starts), np.array(q_ends), compute)
    issuing = _interval_cover(np.array(i_starts), np.array(i_ends), compute)
    starved = compute - (queued | issuing).sum(axis=1)
    return LayerTiming(compute, overhead + compute, busy, starved.astype(np.int64),
                       stalled, len(cols), int(busy.max()))


def config_timing(cfg, issues, act, n_out: int, queue_depth: int | None = None,
                  last: bool = True):
    """:func:`layer_timing` with every timing parameter from the config ``cfg``."""
    return layer_timing(issues, act, cfg.n_pe,
                        cfg.queue_depth if queue_depth is None else queue_depth, n_out,
                        width=cfg.broadcast_width, col_filter=cfg.col_filter,
                        bias_reset=cfg.bias_reset, wb_overlap=cfg.wb_overlap, last=last)


def layer_compute_batch(issues, acts, n_pe: int, queue_depths):
    """:func:`layer_timing`'s compute cycles for many inputs and queue depths at once.

    The recurrence over broadcasts is sequential, but independent across inputs and
    depths, so each step runs on every (input, depth) *lane* at once. Lanes are sorted
    by their number of non-zero inputs, longest first, so the lanes still running at step
    ``i`` are always a prefix and a step works on a slice, without masks. Exact: the same
    recurrence, term by term (tests/test_sim_cycle_model.py checks it against
    :func:`layer_timing`).

    Returns ``(compute (n_depths, batch), work_bound (batch,))``.
    """
    issues = np.asarray(issues, dtype=np.int64)
    acts = np.atleast_2d(np.asarray(acts))
    batch, n_in = acts.shape
    if issues.shape != (n_pe, n_in):
        raise ValueError(f"issues must have shape ({n_pe}, {n_in}), got {issues.shape}")
    depths = np.asarray(queue_depths, dtype=np.int64).reshape(-1)
    if len(depths) == 0 or depths.min() < 1:
        raise ValueError(f"queue depths must be at least 1, got {list(depths)}")
    nd = len(depths)
    rows_in = -(-n_in // n_pe)
    nonzero = acts != 0
    m = nonzero.sum(axis=1)
    work = (nonzero.astype(np.int64) @ issues.T).max(axis=1) if batch else np.zeros(0, np.int64)
    compute = np.full((nd, batch), rows_in + FIRST_ROW + END, dtype=np.int64)  # m == 0
    big = int(m.max(initial=0))
    if big == 0:
        return compute, work
    rank = np.argsort(-m, kind="stable")  # inputs, most non-zeros first
    ms = m[rank]
    # each input's non-zero columns in increasing order, left-aligned (stable argsort of
    # "is zero" puts the non-zeros first, in column order)
    cols = np.argsort(~nonzero[rank], axis=1, kind="stable")[:, :big]
    valid = np.arange(big)[None, :] < ms[:, None]
    cols = np.where(valid, cols, 0)
    row = cols // n_pe
    gaps = np.empty((batch, big), dtype=np.int64)
    gaps[:, 0] = row[:, 0]
    gaps[:, 1:] = np.maximum(row[:, 1:] - row[:, :-1] - 1, 0)
    last_row = row[np.arange(batch), np.maximum(ms - 1, 0)]
    # step-major (big, batch, n_pe): step i's slice is contiguous
    lsel = np.ascontiguousarray(np.where(valid[:, :, None], issues.T[cols], 0).swapaxes(0, 1))
    gaps_t = np.ascontiguousarray(gaps.T)
    # lanes input-major: lane = rank * nd + depth index
    n_lanes = batch * nd
    lane_depth = np.tile(depths, batch)
    # lanes still running at step i: the inputs with more than i non-zeros, a prefix
    inputs_running = (ms[None, :] > np.arange(big)[:, None]).sum(axis=1)
    h = np.full((n_lanes, n_pe), _NEVER, dtype=np.int64)
    x = np.full((n_lanes, n_pe), _NEVER, dtype=np.int64)
    a = np.full((n_lanes, n_pe), _NEVER, dtype=np.int64)
    b = np.full(n_lanes, FIRST_ROW - 1, dtype=np.int64)
    qmax = np.zeros((big, n_lanes), dtype=np.int64)
    lanes = np.arange(n_lanes)
    maximum, where = np.maximum, np.where
    for i in range(big):
        n = int(inputs_running[i])
        k = n * nd
        o = b[:k] + 1 + (np.repeat(gaps_t[i, :n], nd) if nd > 1 else gaps_t[i, :n])
        back = i - lane_depth[:k]
        full = back >= 0  # the queue may hold `depth` columns: wait for column i - depth
        lim = where(full, qmax[np.maximum(back, 0), lanes[:k]] + 1, _NEVER)
        bk = maximum(o, lim)
        b[:k] = bk
        q = maximum(h[:k], bk[:, None] + 1)
        qmax[i, :k] = q.max(axis=1)
        hk = maximum(q + 1, x[:k])
        h[:k] = hk
        p = hk + 1
        li = np.repeat(lsel[i, :n], nd, axis=0) if nd > 1 else lsel[i, :n]
        nz = li > 0
        xk = where(nz, maximum(p, a[:k]), p)
        x[:k] = xk
        a[:k] = where(nz, xk + li, a[:k])
    g_tail = np.repeat(rows_in - 1 - last_row, nd)
    done = b + g_tail + 1
    idle_from = maximum(x + 1, a + DRAIN).max(axis=1)
    lane_compute = maximum(done, idle_from) + END
    lane_compute = where(np.repeat(ms, nd) == 0, rows_in + FIRST_ROW + END, lane_compute)
    compute[:, rank] = lane_compute.reshape(batch, nd).T
    return compute, work
