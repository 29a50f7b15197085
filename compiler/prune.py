"""Magnitude pruning: the first stage of Deep Compression.

A weight is removed (set to zero, and kept at zero from then on) when its magnitude is
small. Three ways to say how much is removed:

* a **quality factor** ``q`` per layer: the threshold is ``q`` times the standard
  deviation of the layer's (dense) weights (Han et al., "Learning both weights and connections",
  the rule Deep Compression uses);
* a **target sparsity** per layer: exactly ``round(s * size)`` of the layer's
  smallest-magnitude weights go;
* a **global target sparsity**: one magnitude threshold over all layers, so layers with
  many small weights lose more.

Pruning is monotone: a weight that is already zero stays pruned, so iterating
prune -> retrain -> prune (with :func:`agp_schedule`) only ever removes more.
Ties in magnitude are broken by position (a stable sort), which keeps the masks
deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .network import Network

__all__ = ["PruneError", "threshold_mask", "sparsity_mask", "prune_masks", "apply_masks",
           "agp_schedule", "sparsity_of"]


class PruneError(ValueError):
    """A pruning request is malformed (bad sparsity, quality factor or layer count)."""


def threshold_mask(weight: np.ndarray, quality: float, std: float | None = None) -> np.ndarray:
    """Keep the weights with ``|w| > quality * std``.

    Parameters
    ----------
    weight : numpy.ndarray
        The layer's weights.
    quality : float
        Quality factor, >= 0 (0 removes only weights that are already zero).
    std : float, optional
        The standard deviation the threshold scales. Default: that of ``weight`` (all
        entries). Iterative pruning passes the dense layer's value, so that a step's
        threshold does not depend on what earlier steps removed.

    Returns
    -------
    numpy.ndarray
        Boolean mask, True where the weight survives.
    """
    if not np.isfinite(quality) or quality < 0:
        raise PruneError(f"a pruning quality factor must be a finite number >= 0, got {quality}")
    w = np.asarray(weight, dtype=np.float64)
    threshold = quality * (float(np.std(w)) if std is None else float(std))
    return (w != 0.0) & (np.abs(w) > threshold)


def _check_sparsity(s, what="sparsity") -> float:
    if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(s) < 1.0:
        raise PruneError(f"a target {what} must be a number in [0, 1), got {s!r}")
    return float(s)


def sparsity_mask(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep all but the ``round(sparsity * size)`` smallest-magnitude weights.

    Weights that are already zero count towards the target and stay pruned, so a target
    below the current sparsity removes nothing.
    """
    sparsity = _check_sparsity(sparsity)
    w = np.asarray(weight, dtype=np.float64)
    flat = np.abs(w).reshape(-1)
    n_remove = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=bool)
    # Zeros sort first, so the stable order removes existing zeros before any survivor.
    mask[np.argsort(flat, kind="stable")[:n_remove]] = False
    mask &= flat != 0.0
    return mask.reshape(w.shape)


def _per_layer(value, n: int, what: str) -> list:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise PruneError(f"{len(value)} {what} values given for a network of {n} layers")
        return list(value)
    return [value] * n


def prune_masks(net: Network, *, sparsity=None, quality=None,
                global_sparsity: float | None = None,
                reference: Network | None = None) -> list[np.ndarray]:
    """Pruning masks for every layer of ``net``.

    Exactly one of the three criteria must be given.

    Parameters
    ----------
    net : Network
        The network to prune (its current zeros count as pruned).
    sparsity : float or sequence of float, optional
        Target fraction of zero weights, one value for all layers or one per layer
        (``None`` in the sequence leaves that layer as it is).
    quality : float or sequence of float, optional
        Quality factor(s): threshold = quality x std of the layer's weights (of the
        ``reference`` network's layer when given).
    global_sparsity : float, optional
        Target fraction of zero weights over all layers together, with one threshold.
    reference : Network, optional
        With ``quality``: the network whose layers' standard deviations set the
        thresholds (usually the dense one); default ``net``.

    Returns
    -------
    list of numpy.ndarray
        One boolean mask per layer, True where the weight survives.
    """
    given = [x is not None for x in (sparsity, quality, global_sparsity)]
    if sum(given) != 1:
        raise PruneError("give exactly one of sparsity, quality or global_sparsity")
    n = len(net)
    if global_sparsity is not None:
        s = _check_sparsity(global_sparsity, "global sparsity")
        flat = np.concatenate([np.abs(layer.weight).reshape(-1) for layer in net])
        n_remove = int(round(s * flat.size))
        keep = np.ones(flat.size, dtype=bool)
        keep[np.argsort(flat, kind="stable")[:n_remove]] = False
        keep &= flat != 0.0
        sizes = np.cumsum([0] + [layer.weight.size for layer in net])
        return [keep[a:b].reshape(layer.weight.shape)
                for layer, a, b in zip(net, sizes[:-1], sizes[1:])]
    masks = []
    if sparsity is not None:
        for layer, s in zip(net, _per_layer(sparsity, n, "sparsity")):
            masks.append(layer.weight != 0.0 if s is None else sparsity_mask(layer.weight, s))
    else:
        ref = net if reference is None else reference
        if len(ref) != n:
            raise PruneError(f"the reference network has {len(ref)} layers, not {n}")
        for layer, r, q in zip(net, ref, _per_layer(quality, n, "quality")):
            masks.append(layer.weight != 0.0 if q is None
                         else threshold_mask(layer.weight, q, float(np.std(r.weight))))
    return masks


def apply_masks(net: Network, masks: Sequence[np.ndarray]) -> Network:
    """``net`` with every weight outside its layer's mask set to zero.

    Quantized layers lose their codebook (their weights change); quantize after pruning.
    """
    if len(masks) != len(net):
        raise PruneError(f"{len(masks)} masks given for a network of {len(net)} layers")
    layers = []
    for k, (layer, mask) in enumerate(zip(net, masks)):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != layer.weight.shape:
            raise PruneError(f"layer {k}: mask shape {mask.shape} differs from weight shape "
                             f"{layer.weight.shape}")
        layers.append(_replace_weight(layer, np.where(mask, layer.weight, 0.0)))
    return Network(tuple(layers))


def _replace_weight(layer, weight):
    return replace(layer, weight=weight, codebook=None, indices=None)


def sparsity_of(net: Network) -> float:
    """Fraction of zero weights over the whole network."""
    total = sum(layer.weight.size for layer in net)
    return 1.0 - sum(layer.nnz for layer in net) / total


def agp_schedule(final: float, steps: int, initial: float = 0.0) -> list[float]:
    """Sparsity targets of Automated Gradual Pruning (Zhu and Gupta, 2017).

    ``s_t = final + (initial - final) * (1 - t / steps) ** 3`` for ``t = 1 .. steps``:
    the cubic ramp prunes fast while there are many redundant weights and slowly near
    the end, with retraining in between.

    Parameters
    ----------
    final : float
        Target sparsity reached at the last step, in [0, 1).
    steps : int
        Number of prune (and retrain) steps, >= 1.
    initial : float
        Sparsity before the first step.

    Returns
    -------
    list of float
        ``steps`` non-decreasing targets ending exactly at ``final``.
    """
    final = _check_sparsity(final, "final sparsity")
    initial = _check_sparsity(initial, "initial sparsity")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise PruneError(f"the number of pruning steps must be an integer >= 1, got {steps!r}")
    if initial > final:
        raise PruneError(f"initial sparsity {initial} exceeds the final sparsity {final}")
    return [final + (initial - final) * (1.0 - t / steps) ** 3 for t in range(1, steps + 1)]
