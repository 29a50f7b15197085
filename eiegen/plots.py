"""PNG plots of the demo report (matplotlib, headless: figures are
:class:`matplotlib.figure.Figure` objects, drawn without pyplot, so the process's
global backend is never switched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_demo", "figure"]


def figure(**kwargs) -> Figure:
    """A new figure outside pyplot (``kwargs`` as for :class:`~matplotlib.figure.Figure`);
    nothing to close, nothing global touched."""
    return Figure(**kwargs)


def _save(fig, path):
    """Draw ``fig`` to ``path`` (its suffix is the format) beside and renamed into place,
    like every other writer (eiegen.safeio); a file object gets the PNG as it is."""
    import io

    from eiegen.safeio import atomic_write_bytes

    fig.tight_layout()
    # no timestamp in the metadata: the same run gives the same bytes
    options = {"dpi": 100, "metadata": {"Software": None}}
    if not isinstance(path, (str, Path)):       # a file object: the caller places it
        fig.savefig(path, format="png", **options)
        return
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", **options)
    atomic_write_bytes(path, buf.getvalue())


def plot_demo(net, program, sim_rep: dict, out: Path) -> list[Path]:
    """weights.png, sparsity.png, per_pe.png, layers.png in ``out``."""
    from eiegen.sim.report import layer_label, plot_report

    out = Path(out)
    paths = []

    fig = figure(figsize=(4 * len(net), 3.2))
    axes = fig.subplots(1, len(net))
    for k, (ax, layer) in enumerate(zip(np.atleast_1d(axes), net.layers)):
        w = layer.weight[layer.weight != 0]
        ax.hist(w, bins=60, color="tab:blue", alpha=0.7)
        for c in layer.codebook[1:]:
            ax.axvline(c, color="tab:red", lw=0.8)
        ax.set_title(f"{layer_label(k, layer.name)}: {len(w)} weights, "
                     f"{len(layer.codebook) - 1} centroids")
        ax.set_xlabel("weight (red: codebook centroids)")
    _save(fig, out / "weights.png")
    paths.append(out / "weights.png")

    fig = figure(figsize=(5, 3.2))
    ax = fig.subplots()
    names = [layer_label(k, layer.name) for k, layer in enumerate(net.layers)]
    density = [layer.nnz / layer.weight.size for layer in net.layers]
    ax.bar(names, [100 * d for d in density])
    ax.set_ylabel("weights kept (%)")
    ax.set_title("density per layer after pruning")
    _save(fig, out / "sparsity.png")
    paths.append(out / "sparsity.png")

    plot_report(sim_rep, out / "per_pe.png")
    paths.append(out / "per_pe.png")

    fig = figure(figsize=(5, 3.2))
    ax = fig.subplots()
    layers = sim_rep["layers"]
    idx = np.arange(len(layers))
    if all("cycles" in layer for layer in layers):
        ax.bar(idx - 0.2, [layer["cycles"] for layer in layers], 0.4, label="cycles")
    ax.bar(idx + 0.2, [layer["work_bound"] for layer in layers], 0.4,
           label="work bound (busiest PE)")
    ax.set_xticks(idx, [layer_label(k, layer["name"]) for k, layer in enumerate(layers)])
    ax.set_ylabel("cycles (all inputs)")
    ax.set_title("cycles per layer")
    ax.legend(fontsize=8)
    _save(fig, out / "layers.png")
    paths.append(out / "layers.png")
    return paths
