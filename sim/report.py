"""The simulation report: cycles, PE utilisation, load balance and the golden check.

Two figures describe load balance, and they answer different questions:

* **work balance** = the mean PE's work / the busiest PE's work (entries processed, per
  layer and input, summed). How evenly the rows spread the work over the PEs; 100% when
  every PE has as much to do as the busiest. ``--balance`` raises it.
* **compute efficiency** = the work bound (the busiest PE's work, which no schedule can
  beat) / the cycles taken. How close the schedule gets to that bound; the rest is the
  broadcast (one activation per cycle to all PEs, full queues, starved PEs) and each
  layer's fixed cost (descriptor, bias preload, write-back). ``--balance`` lowers the
  bound more than the cycles, so this figure can drop while the cycles do too.
"""

from __future__ import annotations

import numpy as np

from eiegen.compiler.stats import work_per_pe

from .golden import run_golden

__all__ = ["work_per_layer", "simulation_report", "format_report", "plot_report",
           "layer_label"]


def work_per_layer(program, x_int) -> np.ndarray:
    """Entries each PE processes in each layer: shape (batch, n_layers, n_pe). A layer's
    input is the previous layer's golden output, so this is exact for the given inputs."""
    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    acts = [x] + run_golden(program, x)[:-1]
    return np.stack([work_per_pe(program, k, a) for k, a in enumerate(acts)], axis=1)


def simulation_report(program, x_int, outputs, counters, *, model=None,
                      build_seconds: float = 0.0, sim_seconds: float = 0.0) -> dict:
    """Combine the RTL's outputs and counters with the golden model and the work bound.

    Parameters
    ----------
    outputs : (batch, n_out) int array, the RTL's last-layer outputs (hardware order)
    counters : list of protocol.Counters, one per input
    model : list of CycleEstimate from the cycle model, optional
    """
    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    golden = run_golden(program, x)[-1]
    outputs = np.asarray(outputs, dtype=np.int64)
    mismatches = np.argwhere(outputs != golden)
    work = work_per_layer(program, x)  # (batch, layers, pe)
    bound = work.max(axis=2).sum(axis=1)  # per input: sum over layers of the busiest PE
    cycles = np.array([c.cycles for c in counters], dtype=np.int64)
    busy = np.array([c.busy for c in counters], dtype=np.int64)
    starved = np.array([c.starved for c in counters], dtype=np.int64)
    stalled = np.array([c.stalled for c in counters], dtype=np.int64)
    total_cycles = int(cycles.sum())
    rep = {
        "n_inputs": int(len(x)),
        "config": program.cfg.to_dict(),
        "outputs_match_golden": bool(len(mismatches) == 0),
        "mismatches": [{"input": int(i), "output": int(j), "rtl": int(outputs[i, j]),
                        "golden": int(golden[i, j])} for i, j in mismatches[:20]],
        "cycles": {"total": total_cycles, "mean": float(cycles.mean()),
                   "min": int(cycles.min()), "max": int(cycles.max()),
                   "per_input": cycles.tolist()},
        "work_bound": {"total": int(bound.sum()), "per_input": bound.tolist()},
        "work_balance": _work_balance(work),
        "compute_efficiency": float(bound.sum() / total_cycles) if total_cycles else 1.0,
        "per_pe": {
            "busy": busy.sum(axis=0).tolist(), "starved": starved.sum(axis=0).tolist(),
            "stalled": stalled.sum(axis=0).tolist(),
            "utilisation": (busy.sum(axis=0) / max(1, total_cycles)).tolist(),
        },
        "layers": [{"name": lp.name, "work_per_pe": work[:, k].sum(axis=0).tolist(),
                    "work_bound": int(work[:, k].max(axis=1).sum()),
                    "work_balance": _work_balance(work[:, k:k + 1])}
                   for k, lp in enumerate(program.layers)],
        "build_seconds": build_seconds, "sim_seconds": sim_seconds,
        "simulated_cycles_per_second": total_cycles / sim_seconds if sim_seconds else None,
    }
    if model is not None:
        model_total = int(sum(e.cycles for e in model))
        rep["cycle_model"] = {"total": model_total, "matches_rtl": model_total == total_cycles,
                              "error": (model_total - total_cycles) / max(1, total_cycles)}
        for k, layer in enumerate(rep["layers"]):
            layer["cycles"] = int(sum(e.layer_cycles[k] for e in model))
            layer["compute_cycles"] = int(sum(e.compute_cycles[k] for e in model))
            layer["compute_efficiency"] = (layer["work_bound"] / layer["compute_cycles"]
                                           if layer["compute_cycles"] else 1.0)
    rep["totals"] = {"busy": int(busy.sum()), "starved": int(starved.sum()),
                     "stalled": int(stalled.sum()),
                     "mean_utilisation": float(busy.sum() / max(1, total_cycles * busy.shape[1]))}
    return rep


def _work_balance(work: np.ndarray) -> float:
    """Mean PE's work / busiest PE's work over (batch, layers, pe) work counts."""
    busiest = work.max(axis=2).sum()
    return float(work.mean(axis=2).sum() / busiest) if busiest else 1.0


def format_report(rep: dict) -> str:
    cfg = rep["config"]
    c = rep["cycles"]
    lines = [
        f"simulated {rep['n_inputs']} input(s) on {cfg['n_pe']} PEs (queue depth "
        f"{cfg['queue_depth']}) in Verilator",
        f"outputs match golden model: {'yes' if rep['outputs_match_golden'] else 'NO'}",
        f"cycles per inference: mean {c['mean']:.1f}, min {c['min']}, max {c['max']}",
        f"work balance (mean PE / busiest PE): {rep['work_balance']:.1%}",
        f"work bound (busiest PE, summed over layers): {rep['work_bound']['total']} of "
        f"{c['total']} cycles; compute efficiency (work bound / cycles) "
        f"{rep['compute_efficiency']:.1%}",
    ]
    if "cycle_model" in rep:
        m = rep["cycle_model"]
        agreement = "exact" if m["matches_rtl"] else f"{m['error']:+.2%} off"
        lines.append(f"cycle model: {m['total']} cycles ({agreement})")
    if "totals" in rep:
        t = rep["totals"]
        lines.append(f"PE utilisation {t['mean_utilisation']:.1%} (mean); starved "
                     f"{t['starved']}, stalled {t['stalled']} PE-cycles")
    lines.append("")
    lines.append(f"{'layer':<10}{'cycles':>10}{'compute':>10}{'work bound':>12}"
                 f"{'balance':>9}{'effic.':>8}   (cycles: cycle model; balance: mean PE / "
                 f"busiest; effic.: work bound / compute cycles)")
    for layer in rep["layers"]:
        eff = layer.get("compute_efficiency")
        lines.append(f"{layer['name'][:10]:<10}{layer.get('cycles', '-'):>10}"
                     f"{layer.get('compute_cycles', '-'):>10}{layer['work_bound']:>12}"
                     f"{layer['work_balance']:>9.1%}"
                     + (f"{eff:>8.1%}" if eff is not None else f"{'-':>8}"))
    lines.append("")
    lines.append(f"{'PE':>4}{'busy':>10}{'starved':>10}{'stalled':>10}{'util':>8}")
    pe = rep["per_pe"]
    for k in range(len(pe["busy"])):
        lines.append(f"{k:>4}{pe['busy'][k]:>10}{pe['starved'][k]:>10}{pe['stalled'][k]:>10}"
                     f"{pe['utilisation'][k]:>8.1%}")
    if not rep["outputs_match_golden"]:
        lines.append("")
        lines.append("first mismatches (input, output, rtl, golden): " + ", ".join(
            f"({m['input']}, {m['output']}, {m['rtl']}, {m['golden']})"
            for m in rep["mismatches"][:5]))
    return "\n".join(lines)


def layer_label(k: int, name: str) -> str:
    """A layer as plots name it: its index in the network, and its name when that says
    more (``fc1``, ``encoder.0``). A bare number is an ``nn.Sequential`` index, which
    counts the ReLUs too (``0/2/4``), so it is left out."""
    if not name or name.isdigit() or name == f"fc{k}":
        return f"layer {k}"
    return f"layer {k} ({name})"


def _legend_outside(ax) -> None:
    # below the axes, where no bar is: at 16+ PEs a legend inside covers some
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2,
              frameon=False)


def plot_report(rep: dict, path) -> None:
    """PNG: per-PE busy / starved / stalled cycles, and per-layer work per PE."""
    from eiegen.plots import figure

    pe = rep["per_pe"]
    n = len(pe["busy"])
    idx = np.arange(n)
    per_layer = all("compute_cycles" in layer for layer in rep["layers"])
    fig = figure(figsize=(18 if per_layer else 12, 4))
    axes = fig.subplots(1, 3 if per_layer else 2)
    ax = axes[0]
    ax.bar(idx, pe["busy"], label="busy")
    ax.bar(idx, pe["starved"], bottom=pe["busy"], label="starved (queue empty)")
    ax.bar(idx, pe["stalled"], bottom=np.add(pe["busy"], pe["starved"]),
           label="stalled broadcast (queue full)")
    ax.set_xlabel("PE")
    ax.set_ylabel("cycles (all inputs)")
    ax.set_title("per-PE cycles")
    _legend_outside(ax)
    ax = axes[1]
    width = 0.8 / max(1, len(rep["layers"]))
    for k, layer in enumerate(rep["layers"]):
        ax.bar(idx + k * width, layer["work_per_pe"], width,
               label=layer_label(k, layer["name"]))
    ax.set_xlabel("PE")
    ax.set_ylabel("entries processed (all inputs)")
    ax.set_title("per-PE work per layer")
    _legend_outside(ax)
    if per_layer:
        ax = axes[2]
        names = [layer_label(k, layer["name"]) for k, layer in enumerate(rep["layers"])]
        li = np.arange(len(names))
        ax.bar(li - 0.2, [layer["compute_cycles"] for layer in rep["layers"]], 0.4,
               label="compute cycles (cycle model)")
        ax.bar(li + 0.2, [layer["work_bound"] for layer in rep["layers"]], 0.4,
               label="work bound (busiest PE)")
        ax.set_xticks(li, names)
        ax.set_ylabel("cycles (all inputs)")
        ax.set_title("per-layer cycles")
        _legend_outside(ax)
    fig.tight_layout()
    # "tight": the legends below the axes are part of the picture
    fig.savefig(path, dpi=100, metadata={"Software": None}, bbox_inches="tight")
