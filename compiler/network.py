"""The network IR: a chain of fully connected layers.

Each :class:`Layer` is ``y = act(W @ x + b)`` with ``W`` of shape ``(n_out, n_in)`` and
``act`` either ReLU or the identity. A layer may already be quantized by weight sharing:
then it carries a codebook (``codebook[0] == 0.0`` exactly, used by pruned weights and
padding entries) and an index matrix with ``W == codebook[indices]``.

The ``.npz`` schema (see docs/network-format.md) stores layer ``k`` under the keys
``layer{k}.weight``, ``layer{k}.bias`` (optional), ``layer{k}.activation`` (``"relu"`` or
``"none"``), ``layer{k}.name`` (optional), and for quantized layers ``layer{k}.codebook``
and ``layer{k}.indices``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from eiegen.safeio import atomic_write_bytes
from eiegen.safeload import load_arrays

__all__ = ["Layer", "Network", "NetworkError", "ACTIVATIONS"]

ACTIVATIONS = ("relu", "none")


class NetworkError(ValueError):
    """A network (or a file holding one) is malformed or unsupported."""


# The largest weight or bias magnitude accepted. The hardware's formats are at most 32
# bits wide, so one value near 1e300 either saturates silently or, by setting the
# layer's format, rounds every other weight to zero (issue 19); 2**31 is beyond any
# trained network and beyond what a 32-bit format holds with a fraction bit.
MAX_MAGNITUDE = float(2 ** 31)


def _floats(x, what: str, where: str) -> np.ndarray:
    """``x`` as finite float64 of sane magnitude; complex, boolean, text or object data is
    refused rather than converted (a complex weight would lose its imaginary part)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        kind = {"c": "complex values (the imaginary part would be lost)",
                "b": "booleans"}.get(a.dtype.kind, str(a.dtype))
        raise NetworkError(f"{where}: {what} must be numeric (real), got {kind}")
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise NetworkError(f"{where}: {what} must be numeric, got {a.dtype}") from None
    if not np.all(np.isfinite(a)):
        raise NetworkError(f"{where}: {what} contains NaN or infinity")
    if a.size and np.abs(a).max() > MAX_MAGNITUDE:
        raise NetworkError(f"{where}: {what} holds {np.abs(a).max():g}, beyond the "
                           f"{MAX_MAGNITUDE:g} eiegen accepts (fixed-point formats are at most "
                           f"32 bits); check the model's units")
    return a


@dataclass(frozen=True, eq=False)
class Layer:
    """One fully connected layer ``y = act(weight @ x + bias)``."""

    weight: np.ndarray
    bias: np.ndarray | None = None
    activation: str = "relu"
    name: str = ""
    codebook: np.ndarray | None = None
    indices: np.ndarray | None = None

    def __post_init__(self):
        where = f"layer {self.name!r}" if self.name else "layer"
        w = _floats(self.weight, "weight", where)
        if w.ndim != 2 or 0 in w.shape:
            raise NetworkError(f"{where}: weight must be a non-empty 2-D (n_out, n_in) matrix, "
                               f"got shape {w.shape}")
        if not np.all(np.isfinite(w)):
            raise NetworkError(f"{where}: weight contains NaN or infinity")
        object.__setattr__(self, "weight", w)
        if self.bias is not None:
            b = _floats(self.bias, "bias", where).reshape(-1)
            if b.shape != (w.shape[0],):
                raise NetworkError(f"{where}: bias has {b.size} values but the layer has "
                                   f"{w.shape[0]} outputs")
            if not np.all(np.isfinite(b)):
                raise NetworkError(f"{where}: bias contains NaN or infinity")
            object.__setattr__(self, "bias", b)
        if self.activation not in ACTIVATIONS:
            raise NetworkError(f"{where}: activation {self.activation!r} is not supported; "
                               f"supported: {', '.join(ACTIVATIONS)}")
        if (self.codebook is None) != (self.indices is None):
            raise NetworkError(f"{where}: a quantized layer needs both codebook and indices")
        if self.codebook is not None:
            cb = _floats(self.codebook, "codebook", where).reshape(-1)
            idx = np.asarray(self.indices)
            if idx.shape != w.shape:
                raise NetworkError(f"{where}: indices shape {idx.shape} differs from weight "
                                   f"shape {w.shape}")
            if not np.issubdtype(idx.dtype, np.integer):
                raise NetworkError(f"{where}: indices must be integers, got {idx.dtype}")
            if cb.size == 0 or cb[0] != 0.0:
                raise NetworkError(f"{where}: codebook entry 0 must be exactly 0.0 (it encodes "
                                   f"pruned weights and padding)")
            if idx.min() < 0 or idx.max() >= cb.size:
                raise NetworkError(f"{where}: indices must lie in 0..{cb.size - 1}")
            if not np.array_equal(cb[idx], w):
                raise NetworkError(f"{where}: weight differs from codebook[indices]")
            object.__setattr__(self, "codebook", cb)
            object.__setattr__(self, "indices", idx.astype(np.int64))

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def quantized(self) -> bool:
        return self.codebook is not None

    @property
    def relu(self) -> bool:
        return self.activation == "relu"

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.weight))

    def bias_or_zeros(self) -> np.ndarray:
        return self.bias if self.bias is not None else np.zeros(self.n_out)

    def quantize(self, codebook, indices) -> "Layer":
        """This layer with its weights replaced by ``codebook[indices]``."""
        cb = np.asarray(codebook, dtype=np.float64)
        return replace(self, weight=cb[np.asarray(indices)], codebook=cb, indices=indices)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float reference for a batch ``x`` of shape (batch, n_in)."""
        y = x @ self.weight.T + self.bias_or_zeros()
        return np.maximum(y, 0.0) if self.relu else y


@dataclass(frozen=True, eq=False)
class Network:
    """A chain of fully connected layers, each consuming the previous one's outputs.

    ``notes`` records what an importer changed without changing the result a user asks
    for (e.g. a final Softmax dropped: argmax unchanged); the CLI prints them. They are
    not saved in the ``.npz``.
    """

    layers: tuple[Layer, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        layers = tuple(self.layers)
        if not layers:
            raise NetworkError("a network needs at least one layer")
        for k, (a, b) in enumerate(zip(layers, layers[1:])):
            if a.n_out != b.n_in:
                raise NetworkError(
                    f"layer {k} ({a.name or 'unnamed'}) has {a.n_out} outputs but layer {k + 1} "
                    f"({b.name or 'unnamed'}) expects {b.n_in} inputs")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, k):
        return self.layers[k]

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def quantized(self) -> bool:
        return all(layer.quantized for layer in self.layers)

    def forward(self, x: np.ndarray, *, all_layers: bool = False):
        """Float reference. ``x``: (batch, n_in) or (n_in,)."""
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        h = x[None, :] if single else x
        if h.shape[1] != self.n_in:
            raise NetworkError(f"input has {h.shape[1]} features, the network expects {self.n_in}")
        outs = []
        for layer in self.layers:
            h = layer.forward(h)
            outs.append(h[0] if single else h)
        return outs if all_layers else outs[-1]

    # ---- .npz persistence ----
    def save(self, path) -> None:
        arrays = {}
        for k, layer in enumerate(self.layers):
            arrays[f"layer{k}.weight"] = layer.weight
            if layer.bias is not None:
                arrays[f"layer{k}.bias"] = layer.bias
            arrays[f"layer{k}.activation"] = np.array(layer.activation)
            if layer.name:
                arrays[f"layer{k}.name"] = np.array(layer.name)
            if layer.quantized:
                arrays[f"layer{k}.codebook"] = layer.codebook
                arrays[f"layer{k}.indices"] = layer.indices
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())  # never truncates the file it replaces

    @classmethod
    def load(cls, path) -> "Network":
        path = Path(path)
        if not path.exists():
            raise NetworkError(f"model file {path} does not exist")
        # headers checked against the bytes, zip CRCs, no pickles (eiegen.safeload)
        arrays = load_arrays(path, what="model file", error=NetworkError)
        if not isinstance(arrays, dict):
            raise NetworkError(f"{path} holds one array, not a network: a network .npz has "
                               f"layer0.weight, ... (docs/network-format.md)")
        return cls.from_arrays(arrays, source=str(path))

    @classmethod
    def from_arrays(cls, arrays: dict, source: str = "arrays") -> "Network":
        # no leading zeros: layer01 and layer1 would be the same layer, one silently lost
        key_re = re.compile(
            r"^layer(0|[1-9]\d*)\.(weight|bias|activation|name|codebook|indices)$")
        per_layer: dict[int, dict] = {}
        for key, value in arrays.items():
            m = key_re.match(key)
            if not m:
                raise NetworkError(
                    f"{source}: unexpected key {key!r}; expected layer<k>.weight, .bias, "
                    f".activation, .name, .codebook or .indices (see docs/network-format.md)")
            per_layer.setdefault(int(m.group(1)), {})[m.group(2)] = value
        if not per_layer:
            raise NetworkError(f"{source}: no layers found (expected keys like layer0.weight)")
        ks = sorted(per_layer)
        if ks != list(range(len(ks))):
            raise NetworkError(f"{source}: layer numbers must run 0..{len(ks) - 1} without gaps, "
                               f"found {ks}")
        layers = []
        for k in ks:
            d = per_layer[k]
            if "weight" not in d:
                raise NetworkError(f"{source}: layer{k}.weight is missing")
            try:
                layers.append(Layer(
                    weight=d["weight"], bias=d.get("bias"),
                    activation=str(d.get("activation", "relu")),
                    name=str(d.get("name", f"fc{k}")),
                    codebook=d.get("codebook"), indices=d.get("indices")))
            except NetworkError as e:
                raise NetworkError(f"{source}: layer{k}: {e}") from None
        try:
            return cls(tuple(layers))
        except NetworkError as e:
            raise NetworkError(f"{source}: {e}") from None
