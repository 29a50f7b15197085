#!/usr/bin/env python3
"""What-if study: could another broadcast scheme reach 95% load-balance efficiency on NT-We?

NT-We (4096 x 600, 10% weights, every input non-zero) has 4096 broadcasts but its busiest
PE only ~3.9k issue cycles, so the queues couple the PEs more than the work does. This
script models three departures from the RTL's timing contract (docs/architecture.md) on
the benchmark layers, with the same issue counts and row orders as bench/eie_layers:

* ``filtered``: a column that is empty in a PE never enters that PE's queue, and the
  broadcast waits only for the PEs that have work in it;
* ``filtered, W-wide``: as filtered, and up to W non-zeros broadcast per cycle;
* ``pop-bypass``: a full queue takes a broadcast in the cycle it pops.

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
from layers import (write_result, LAYERS, N_PE, QUEUE_DEPTH, balanced,  # noqa: E402
                    column_lengths, layer_activations, layer_indices)

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path,
                    default=ROOT / "bench" / "results" / "broadcast_variants.json")
    ap.add_argument("--layers", nargs="+", default=["NT-We", "VGG-6", "NT-LSTM"])
    ap.add_argument("--depths", nargs="+", type=int, default=[QUEUE_DEPTH, 16, 32])
    args = ap.parse_args(argv)
    rows = []
    print(f"load-balance efficiency (busiest PE's issue cycles / compute cycles), {N_PE} PEs, "
          f"balanced rows")
    print(f"{'layer':<8}{'depth':>6}{'rtl':>8}{'bypass':>8}{'filter':>8}{'f+2w':>8}{'f+4w':>8}")
    for name, n_in, n_out, wd, ad, _, _ in LAYERS:
        if name not in args.layers:
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
