#!/usr/bin/env python3
"""What-if study: could another broadcast scheme reach 95% load-balance efficiency on NT-We?

NT-We (4096 x 600, 10% weights, every input non-zero) has 4096 broadcasts but its busiest
PE only ~3.9k issue cycles, so the queues couple the PEs more than the work does. This
script models three departures from the RTL's timing contract (docs/architecture.md) on
the benchmark layers, with the same issue counts and row orders as bench/eie_layers:

* ``filtered``: a column that is empty in a PE never enters that PE's queue, and the
  broadcast waits only for the PEs that have work in it;
* ``filtered, W-wide``: as filtered, and up to W non-zeros broadcast per cycle;
* ``pop-bypass``: a full queue takes a broadcast in the cycle it pops;
* ``prefix`` (``--prefix``): the RTL's filtered W-wide broadcast (docs/architecture.md,
  "Wide and filtered broadcast"), except that the longest prefix of the group that every
  PE has room for leaves, instead of the whole group or nothing (the handshake proposed
  at the end of "The broadcast options, measured").

These are models of hardware that does not exist (the RTL is the ``rtl`` column, computed
by eiegen.sim.cycle_model); they answer how far each idea could go. Prints a table and
writes bench/results/broadcast_variants.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eie_layers"))
from layers import (write_result, LAYERS, N_PE, QUEUE_DEPTH, REL_BITS,  # noqa: E402
                    balanced, column_lengths, layer_activations, layer_indices)

from eiegen.compiler.balance import layer_row_candidates  # noqa: E402
from eiegen.timing import DRAIN, END, FIRST_ROW, layer_timing  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
_NEVER = -(1 << 40)


def filtered_compute(issues, act, depth: int, width: int = 1) -> int:
    """Compute cycles when empty columns skip a PE's queue and up to ``width`` non-zeros
    are broadcast per cycle (the PE pipeline as in the RTL: pop, pointer read, pointers
    in registers, issue)."""
    n_pe = issues.shape[0]
    cols = np.flatnonzero(act != 0)
    work = issues[:, cols].T
    pops = np.full((depth, n_pe), _NEVER, dtype=np.int64)  # last `depth` pops per PE
    queued = np.zeros(n_pe, dtype=np.int64)
    read = np.full(n_pe, _NEVER, dtype=np.int64)   # column left stage h_
    leave = np.full(n_pe, _NEVER, dtype=np.int64)  # column left stage p_
    free = np.full(n_pe, _NEVER, dtype=np.int64)   # stage a_ free from
    lanes = np.arange(n_pe)
    b, used = FIRST_ROW - 1, width
    for w in work:
        has = w > 0
        slot = queued % depth
        room = int(np.where(has, pops[slot, lanes] + 1, _NEVER).max())
        nb = max(b if used < width else b + 1, room)
        used = used + 1 if nb == b else 1
        b = nb
        pop = np.maximum(read, b + 1)
        into_p = np.maximum(pop + 1, leave)
        go = np.maximum(into_p + 1, free)
        read = np.where(has, into_p, read)
        leave = np.where(has, go, leave)
        free = np.where(has, go + w, free)
        pops[slot[has], lanes[has]] = pop[has]
        queued += has
    return max(b + 1, int(free.max()) + DRAIN) + END


def bypass_compute(issues, act, depth: int) -> int:
    """Compute cycles when a full queue takes a broadcast in the cycle it pops."""
    n_pe = issues.shape[0]
    cols = np.flatnonzero(act != 0)
    rows = cols // n_pe
    work = issues[:, cols].T
    latest_pop = np.empty(len(cols), dtype=np.int64)
    read = np.full(n_pe, _NEVER, dtype=np.int64)
    leave = np.full(n_pe, _NEVER, dtype=np.int64)
    free = np.full(n_pe, _NEVER, dtype=np.int64)
    b = FIRST_ROW - 1  # row 0 current in cycle FIRST_ROW, as in the RTL
    for i, w in enumerate(work):
        gap = rows[0] if i == 0 else max(int(rows[i] - rows[i - 1]) - 1, 0)
        b = b + 1 + gap
        if i >= depth:
            b = max(b, int(latest_pop[i - depth]))  # room in the cycle of the pop
        pop = np.maximum(read, b + 1)
        latest_pop[i] = pop.max()
        has = w > 0
        read = np.maximum(pop + 1, leave)
        leave = np.where(has, np.maximum(read + 1, free), read + 1)
        free = np.where(has, leave + w, free)
    tail = -(-len(act) // n_pe) - 1 - int(rows[-1])
    return max(b + tail + 1, int(free.max()) + DRAIN) + END


def prefix_compute(issues, act, depth: int, width: int, col_filter: int = 1) -> int:
    """Compute cycles of the filtered W-wide broadcast with a *prefix* handshake: each
    cycle the longest prefix of the offered group that every PE taking part of it has
    room for leaves. Everything else is the RTL's contract as eiegen.timing models it
    (rows current one after another from FIRST_ROW, a row's groups its W lowest lanes
    left, the PE pipeline, DRAIN and END), so with ``width`` 1 this equals
    eiegen.timing's filtered broadcast cycle for cycle (checked in ``main``). As a
    per-lane recurrence: lane ``i`` of a row leaves in the first cycle ``b_i`` not before
    lane ``i - 1`` (``b_i >= b_{i-1}``, the same cycle allowed), after lane ``i - W`` of
    the same row has left (``b_i > b_{i-W}``: only then is ``i`` among the W lowest
    lanes), and in which every PE taking it has room for it after the lanes before it
    (PE ``k`` has popped its column ``n_k - depth``, ``n_k`` columns pushed to it so
    far); a row's first lane leaves at the earliest one cycle after the previous row's
    last (plus the all-zero rows between)."""
    n_pe, n_in = issues.shape
    rows_in = -(-n_in // n_pe)
    takes = issues > 0
    lanes = act != 0
    if col_filter:
        lanes &= takes.any(axis=0)
    cols = np.flatnonzero(lanes)
    if len(cols) == 0:
        return rows_in + FIRST_ROW + END
    h = np.full(n_pe, _NEVER, dtype=np.int64)
    x = np.full(n_pe, _NEVER, dtype=np.int64)
    a = np.full(n_pe, _NEVER, dtype=np.int64)
    ring = np.full((depth, n_pe), _NEVER, dtype=np.int64)  # pop cycles of the last items
    pushed = np.zeros(n_pe, dtype=np.int64)
    everyone = np.ones(n_pe, dtype=bool)
    pe = np.arange(n_pe)
    b, prev_row, row_leaves = FIRST_ROW - 1, -1, []
    for j in cols.tolist():
        r = j // n_pe
        if r != prev_row:
            o = b + 1 + (r - prev_row - 1)      # the row is current from o
            prev_row, row_leaves = r, []
        else:
            o = b if len(row_leaves) < width else max(b, row_leaves[-width] + 1)
        t = takes[:, j] if col_filter else everyone
        need = pushed - depth
        lim = np.where(t & (need >= 0), ring[np.maximum(need, 0) % depth, pe] + 1, _NEVER)
        b = max(o, int(lim.max()))
        row_leaves.append(b)
        q = np.maximum(h, b + 1)
        hn = np.maximum(q + 1, x)
        length = issues[:, j]
        nz = length > 0
        xn = np.where(nz, np.maximum(hn + 1, a), hn + 1)
        ring[pushed % depth, pe] = np.where(t, q, ring[pushed % depth, pe])
        h = np.where(t, hn, h)
        x = np.where(t, xn, x)
        a = np.where(t & nz, xn + length, a)
        pushed += t
    done = b + (rows_in - 1 - prev_row) + 1
    return max(done, int(np.maximum(x + 1, a + DRAIN).max())) + END


def prefix_rows(names, depth: int, progress=print) -> list:
    """Per layer: compute cycles of EIE's broadcast, the filter, and the filtered 2- and
    4-wide broadcast with the RTL's group handshake and with the prefix handshake; rows
    balanced for each option set's RTL timing (the prefix model uses the W-wide set's
    rows: the balancing pass knows no prefix timing)."""
    out = []
    for name, n_in, n_out, wd, ad, _, _ in LAYERS:
        if name not in names:
            continue
        idx = layer_indices(name, n_in, n_out, wd)
        x = layer_activations(name, n_in, ad)
        candidates = layer_row_candidates(idx, N_PE, REL_BITS)
        row = {"layer": name, "queue_depth": depth}
        for label, filt, width in (("eie", 0, 1), ("filter", 1, 1), ("filter+2w", 1, 2),
                                   ("filter+4w", 1, 4)):
            fields = {"col_filter": filt, "broadcast_width": width}
            issues, _, _, _ = column_lengths(balanced(idx, candidates=candidates, **fields))
            t = layer_timing(issues, x, N_PE, depth, n_out, width=width, col_filter=filt)
            row[label] = t.compute
            if filt:
                p = prefix_compute(issues, x, depth, width)
                if width == 1 and p != t.compute:
                    raise AssertionError(f"{name}: the prefix model at width 1 gives {p} "
                                         f"cycles, eiegen.timing {t.compute}")
                if width > 1:
                    row[label + " prefix"] = p
        row["work_bound"] = t.work_bound   # of the 4-wide rows (the last set balanced)
        out.append(row)
        progress(f"{name:<8}" + "".join(f"{row[k]:>13}" for k in PREFIX_COLUMNS)
                 + f"{row['work_bound']:>12}")
    return out


PREFIX_COLUMNS = ("eie", "filter", "filter+2w", "filter+2w prefix", "filter+4w",
                  "filter+4w prefix")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path,
                    default=ROOT / "bench" / "results" / "broadcast_variants.json")
    ap.add_argument("--layers", nargs="+",
                    help="default: NT-We VGG-6 NT-LSTM; with --prefix all nine")
    ap.add_argument("--depths", nargs="+", type=int, default=[QUEUE_DEPTH, 16, 32])
    ap.add_argument("--prefix", action="store_true",
                    help="instead: the prefix handshake against the RTL's group handshake "
                         "on --layers (default all nine), queue depth 8, compute cycles")
    args = ap.parse_args(argv)
    if args.prefix:
        names = args.layers or [r[0] for r in LAYERS]
        print(f"compute cycles, {N_PE} PEs, queue depth {QUEUE_DEPTH}, rows balanced for "
              f"each option set's RTL timing")
        print(f"{'layer':<8}" + "".join(f"{k.replace('filter', 'f'):>13}"
                                        for k in PREFIX_COLUMNS) + f"{'work bound':>12}")
        rows = prefix_rows(names, QUEUE_DEPTH)
        path = args.json.with_name("broadcast_prefix.json") if args.json.name == \
            "broadcast_variants.json" else args.json
        write_result(path, {"n_pe": N_PE, "queue_depth": QUEUE_DEPTH, "rows": rows})
        return 0
    rows = []
    print(f"load-balance efficiency (busiest PE's issue cycles / compute cycles), {N_PE} PEs, "
          f"balanced rows")
    print(f"{'layer':<8}{'depth':>6}{'rtl':>8}{'bypass':>8}{'filter':>8}{'f+2w':>8}{'f+4w':>8}")
    for name, n_in, n_out, wd, ad, _, _ in LAYERS:
        if name not in (args.layers or ["NT-We", "VGG-6", "NT-LSTM"]):
            continue
        issues, _, _, _ = column_lengths(balanced(layer_indices(name, n_in, n_out, wd)))
        x = layer_activations(name, n_in, ad)
        for depth in args.depths:
            t = layer_timing(issues, x, N_PE, depth, n_out)
            bound = t.work_bound
            eff = {"rtl": bound / t.compute,
                   "pop_bypass": bound / bypass_compute(issues, x, depth),
                   "filtered": bound / filtered_compute(issues, x, depth, 1),
                   "filtered_2wide": bound / filtered_compute(issues, x, depth, 2),
                   "filtered_4wide": bound / filtered_compute(issues, x, depth, 4)}
            rows.append({"layer": name, "queue_depth": depth, "work_bound": bound,
                         "broadcasts": t.broadcasts, "efficiency": eff})
            print(f"{name:<8}{depth:>6}" + "".join(f"{v:>8.1%}" for v in eff.values()))
    write_result(args.json, {"n_pe": N_PE, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
