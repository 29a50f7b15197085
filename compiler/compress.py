"""The Deep Compression pipeline: prune -> retrain -> share weights -> train the codebooks
-> Huffman-code, with the metric measured after every stage.

Each stage is its own module (:mod:`prune`, :mod:`finetune`, :mod:`weight_sharing`,
:mod:`huffman`, :mod:`report`); this one only sequences them and validates the whole
request before any work starts.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from eiegen.safeio import atomic_write_bytes

from .network import Network
from .prune import PruneError, agp_schedule, apply_masks, prune_masks
from .report import CompressionReport
from .weight_sharing import METHODS, share_weights

__all__ = ["CompressionConfig", "CompressionResult", "compress", "quantize_network",
           "save_network"]


@dataclass(frozen=True)
class CompressionConfig:
    """Settings of one compression run.

    Parameters
    ----------
    sparsity : float or sequence of float, optional
        Target fraction of pruned weights, for all layers or per layer.
    quality : float or sequence of float, optional
        Deep Compression's quality factor(s): threshold = quality x std of the dense
        layer's weights.
    global_sparsity : float, optional
        One magnitude threshold over all layers reaching this fraction of zeros.
        Exactly one of ``sparsity``, ``quality`` and ``global_sparsity`` may be given;
        none means no pruning.
    prune_steps : int
        Prune-and-retrain iterations; the target is approached along AGP's cubic ramp.
    retrain_epochs : int
        Epochs of masked retraining after each pruning step (needs a trainer).
    bits : int or sequence of int
        Codebook index bits, for all layers or per layer (1..8).
    method : {"linear", "density", "random", "optimal"}
        How the shared weights are chosen.
    codebook_epochs : int
        Epochs of trained quantization (needs a trainer).
    n_pe, rel_bits : int or sequence of int
        The sparse format the storage is counted in (``rel_bits`` may be per layer).
    seed : int
        Seed of random initialisation.
    """

    sparsity: float | Sequence[float] | None = None
    quality: float | Sequence[float] | None = None
    global_sparsity: float | None = None
    prune_steps: int = 1
    retrain_epochs: int = 0
    bits: int | Sequence[int] = 4
    method: str = "linear"
    codebook_epochs: int = 0
    n_pe: int = 1
    rel_bits: int | Sequence[int] = 4
    seed: int = 0

    def per_layer(self, name: str, n: int) -> list:
        value = getattr(self, name)
        if isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) != n:
                raise PruneError(f"{name}: {len(value)} values given for a network of {n} "
                                 f"layers")
            return list(value)
        return [value] * n

    def validate(self, n_layers: int) -> None:
        """Raise ValueError naming the first bad setting (before any work is done)."""
        if sum(x is not None for x in (self.sparsity, self.quality, self.global_sparsity)) > 1:
            raise PruneError("give at most one of sparsity, quality and global_sparsity")
        for name in ("prune_steps", "retrain_epochs", "codebook_epochs", "n_pe", "seed"):
            v = getattr(self, name)
            lo = 1 if name in ("prune_steps", "n_pe") else 0
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        for b in self.per_layer("bits", n_layers):
            if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= 8:
                raise ValueError(f"index bits must be integers in 1..8, got {b!r}")
        for r in self.per_layer("rel_bits", n_layers):
            if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 1 <= r <= 8:
                raise ValueError(f"relative-index bits must be integers in 1..8, got {r!r}")
        if self.method not in METHODS:
            raise ValueError(f"weight-sharing method {self.method!r} is not supported; "
                             f"supported: {', '.join(METHODS)}")
        if self.sparsity is not None:
            for s in self.per_layer("sparsity", n_layers):
                if s is not None:
                    agp_schedule(s, 1)  # range check
        if self.global_sparsity is not None:
            agp_schedule(self.global_sparsity, 1)
        if self.quality is not None:
            for q in self.per_layer("quality", n_layers):
                if q is not None and not (np.isfinite(q) and q >= 0):
                    raise PruneError(f"a quality factor must be a finite number >= 0, got {q}")


@dataclass
class CompressionResult:
    """What :func:`compress` returns.

    Attributes
    ----------
    network : Network
        The compressed (pruned and quantized) network.
    report : CompressionReport
        Storage per layer and stage metrics.
    pruned : Network
        The network after pruning and retraining, before weight sharing.
    """

    network: Network
    report: CompressionReport
    pruned: Network = field(repr=False, default=None)


def _step_targets(cfg: CompressionConfig, n: int):
    """Pruning keyword arguments for every step of the gradual schedule."""
    steps = cfg.prune_steps
    if cfg.global_sparsity is not None:
        return [dict(global_sparsity=s) for s in agp_schedule(cfg.global_sparsity, steps)]
    if cfg.sparsity is not None:
        per = [None if s is None else agp_schedule(s, steps)
               for s in cfg.per_layer("sparsity", n)]
        return [dict(sparsity=[None if p is None else p[t] for p in per])
                for t in range(steps)]
    if cfg.quality is not None:
        # Ramp the quality factor along the same cubic curve as AGP's sparsity.
        ramp = [1.0 - (1.0 - t / steps) ** 3 for t in range(1, steps + 1)]
        return [dict(quality=[None if q is None else q * r
                              for q in cfg.per_layer("quality", n)]) for r in ramp]
    return []


def quantize_network(net: Network, bits=4, method: str = "linear", seed: int = 0) -> Network:
    """Weight-share every layer (``bits`` per layer or one value for all)."""
    per = list(bits) if isinstance(bits, Sequence) else [bits] * len(net)
    if len(per) != len(net):
        raise ValueError(f"{len(per)} index-bit values given for a network of {len(net)} layers")
    layers = []
    for layer, b in zip(net, per):
        codebook, indices = share_weights(layer.weight, b, method, seed=seed)
        layers.append(layer.quantize(codebook, indices))
    return Network(tuple(layers))


def compress(net: Network, config: CompressionConfig = CompressionConfig(), *,
             trainer=None, metric: Callable[[Network], float] | None = None,
             metric_name: str = "accuracy %", log: Callable[[str], None] | None = None,
             ) -> CompressionResult:
    """Run the Deep Compression pipeline on ``net``.

    Parameters
    ----------
    net : Network
        The trained dense network.
    config : CompressionConfig
        What to do; validated before anything runs.
    trainer : NumpyTrainer or TorchTrainer, optional
        Retrains between stages. Without one, pruning is one-shot and the codebooks are
        the clustering's centroids.
    metric : callable, optional
        ``metric(network) -> float`` measured after every stage (e.g. held-out accuracy).
    metric_name : str
        What the metric is, for the report.
    log : callable, optional
        Receives one line per stage as the run progresses.

    Returns
    -------
    CompressionResult
    """
    if not isinstance(net, Network):
        raise TypeError(f"compress needs a Network, got {type(net).__name__}")
    config.validate(len(net))
    if trainer is None and (config.retrain_epochs or config.codebook_epochs):
        raise ValueError("retrain_epochs and codebook_epochs need a trainer (training data)")
    say = log or (lambda s: None)
    stages: list[tuple[str, float]] = []

    def measure(name, network):
        if metric is not None:
            value = float(metric(network))
            stages.append((name, value))
            say(f"{name}: {metric_name} {value:.2f}")

    measure("dense", net)
    dense, current = net, net
    for t, targets in enumerate(_step_targets(config, len(net))):
        masks = prune_masks(current, reference=dense, **targets)
        current = apply_masks(current, masks)
        if trainer is not None and config.retrain_epochs:
            current = trainer.train_weights(current, masks, config.retrain_epochs)
        say(f"prune step {t + 1}/{config.prune_steps}: density "
            f"{sum(la.nnz for la in current) / sum(la.weight.size for la in current):.4f}")
    if config.sparsity is not None or config.quality is not None \
            or config.global_sparsity is not None:
        measure("pruned", current)
    pruned = current
    current = quantize_network(current, config.bits, config.method, config.seed)
    measure("quantized", current)
    if trainer is not None and config.codebook_epochs:
        current = trainer.train_codebooks(current, config.codebook_epochs)
        measure("trained quantization", current)
    report = CompressionReport.of(current, n_pe=config.n_pe, rel_bits=config.rel_bits,
                                  metric=metric_name)
    # layer_storage decoded every layer's Huffman streams and checked them, so the
    # Huffman-coded model is the quantized one bit for bit: its metric is the same.
    if stages:
        stages.append(("huffman", stages[-1][1]))
    report.stages = stages
    report.extra = {"bits": config.per_layer("bits", len(net)), "method": config.method,
                    "prune_steps": config.prune_steps, "retrain_epochs": config.retrain_epochs,
                    "codebook_epochs": config.codebook_epochs, "seed": config.seed}
    return CompressionResult(network=current, report=report, pruned=pruned)


def save_network(net: Network, path) -> None:
    """Save ``net`` in the .npz schema (docs/network-format.md), zip-compressed.

    Unlike :meth:`Network.save` it keeps files small: quantized weight matrices are mostly
    zeros, indices are stored as uint8, and float arrays that are exactly float32 values
    are stored as float32. Loading gives back the same network bit for bit.
    """
    def narrow(a):
        a32 = a.astype(np.float32)
        return a32 if np.array_equal(a32, a) else a

    arrays = {}
    for k, layer in enumerate(net):
        quantized = layer.quantized
        arrays[f"layer{k}.weight"] = narrow(layer.weight)
        if layer.bias is not None:
            arrays[f"layer{k}.bias"] = narrow(layer.bias)
        arrays[f"layer{k}.activation"] = np.array(layer.activation)
        if layer.name:
            arrays[f"layer{k}.name"] = np.array(layer.name)
        if quantized:
            arrays[f"layer{k}.codebook"] = layer.codebook
            arrays[f"layer{k}.indices"] = layer.indices.astype(np.uint8 if layer.indices.max()
                                                              < 256 else np.uint16)
        arrays.update({f"layer{k}.{key}": v for key, v in layer.extra_arrays().items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())  # never truncates the file it replaces
