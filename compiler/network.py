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

__all__ = ["Layer", "ConvLayer", "Network", "NetworkError", "ACTIVATIONS"]

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

    kind = "fc"  # a ConvLayer says "conv"

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
        return self.bias if self.bias is not None else np.zeros(self.weight.shape[0])

    def extra_arrays(self) -> dict:
        """The ``.npz`` entries beyond weight/bias/activation/name/codebook/indices (a
        ConvLayer's geometry); none for a fully connected layer."""
        return {}

    def quantize(self, codebook, indices) -> "Layer":
        """This layer with its weights replaced by ``codebook[indices]``."""
        cb = np.asarray(codebook, dtype=np.float64)
        return replace(self, weight=cb[np.asarray(indices)], codebook=cb, indices=indices)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float reference for a batch ``x`` of shape (batch, n_in)."""
        y = x @ self.weight.T + self.bias_or_zeros()
        return np.maximum(y, 0.0) if self.relu else y


def _ints(value, n: int, what: str, where: str, lo: int) -> tuple:
    """``value`` as a tuple of ``n`` Python ints >= ``lo`` (a single int is repeated)."""
    a = np.asarray(value).reshape(-1)
    if a.size == 1 and n > 1:
        a = np.repeat(a, n)
    if a.size != n or a.dtype.kind not in "iu" and not (
            a.dtype.kind == "f" and np.all(a == np.round(a))):
        raise NetworkError(f"{where}: {what} must be {n} integers, got {value!r}")
    t = tuple(int(v) for v in a)
    if min(t) < lo:
        raise NetworkError(f"{where}: {what} must be >= {lo}, got {t}")
    return t


@dataclass(frozen=True, eq=False)
class ConvLayer(Layer):
    """A convolution ``y = maxpool(act(conv(x) + bias))`` over a channel-major feature map.

    ``weight`` is the kernel as a matrix ``(C_out, C_in / groups * kh * kw)`` (each row
    one output channel's kernel, flattened in torch's ``(c, i, j)`` order), so pruning,
    weight sharing, Huffman coding and the compression report see every kernel weight
    once; ``bias`` has one value per output channel. ``n_in`` and ``n_out`` are the
    flattened feature-map sizes, so layers chain as FC layers do. A 1-D convolution is
    the case ``H = 1`` with ``dims = 1``. The optional max pooling (``pool`` window,
    ``pool_stride``, ``pool_padding``) follows the activation, which must be ReLU: the
    array computes it exactly only on non-negative values (compiler/lower.py).
    The compiler lowers the layer to a sparse matrix (compiler/lower.py).
    """

    in_shape: tuple = (1, 1, 1)
    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    pool: tuple | None = None
    pool_stride: tuple | None = None
    pool_padding: tuple = (0, 0)
    dims: int = 2

    kind = "conv"

    def __post_init__(self):
        super().__post_init__()
        where = f"layer {self.name!r}" if self.name else "layer"
        s = object.__setattr__
        s(self, "in_shape", _ints(self.in_shape, 3, "in_shape (C, H, W)", where, 1))
        for f in ("kernel", "stride", "dilation"):
            s(self, f, _ints(getattr(self, f), 2, f, where, 1))
        s(self, "padding", _ints(self.padding, 2, "padding", where, 0))
        s(self, "groups", _ints(self.groups, 1, "groups", where, 1)[0])
        if self.dims not in (1, 2):
            raise NetworkError(f"{where}: dims must be 1 or 2, got {self.dims!r}")
        c_in, h, w = self.in_shape
        c_out, per = self.weight.shape
        g = self.groups
        if c_in % g or c_out % g:
            raise NetworkError(f"{where}: groups={g} must divide both the {c_in} input and "
                               f"the {c_out} output channels")
        need = c_in // g * self.kernel[0] * self.kernel[1]
        if per != need:
            raise NetworkError(f"{where}: weight has {per} columns but a {self.kernel[0]}x"
                               f"{self.kernel[1]} kernel over {c_in // g} channels per group "
                               f"needs {need}")
        if min(self.conv_shape[1:]) < 1:
            raise NetworkError(f"{where}: a {self.kernel} kernel (dilation {self.dilation}, "
                               f"padding {self.padding}) does not fit the {h}x{w} input")
        if self.pool is not None:
            s(self, "pool", _ints(self.pool, 2, "pool", where, 1))
            s(self, "pool_stride", _ints(self.pool if self.pool_stride is None
                                         else self.pool_stride, 2, "pool_stride", where, 1))
            s(self, "pool_padding", _ints(self.pool_padding, 2, "pool_padding", where, 0))
            if any(2 * p > k for p, k in zip(self.pool_padding, self.pool)):
                raise NetworkError(f"{where}: pool padding {self.pool_padding} exceeds half "
                                   f"the {self.pool} window (as torch refuses)")
            if not self.relu:
                raise NetworkError(
                    f"{where}: max pooling needs a ReLU before it (conv -> ReLU -> MaxPool); "
                    f"the array takes a maximum exactly only of non-negative values")
            if min(self.out_shape[1:]) < 1:
                raise NetworkError(f"{where}: the {self.pool} pooling window does not fit "
                                   f"the {self.conv_shape[1]}x{self.conv_shape[2]} map")

    @property
    def conv_shape(self) -> tuple:
        """(C_out, Ho, Wo) of the convolution, before pooling."""
        from .conv import conv_out_size
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (self.kernel, self.stride, self.padding,
                                                  self.dilation)
        return (self.weight.shape[0], conv_out_size(self.in_shape[1], kh, sh, ph, dh),
                conv_out_size(self.in_shape[2], kw, sw, pw, dw))

    @property
    def out_shape(self) -> tuple:
        """(C_out, Ho, Wo) of the layer's output (after pooling, if any)."""
        from .conv import conv_out_size
        c, h, w = self.conv_shape
        if self.pool is None:
            return (c, h, w)
        (kh, kw), (sh, sw), (ph, pw) = self.pool, self.pool_stride, self.pool_padding
        return (c, conv_out_size(h, kh, sh, ph, 1), conv_out_size(w, kw, sw, pw, 1))

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_conv_out(self) -> int:
        """Outputs of the convolution before pooling (rows of its lowered matrix)."""
        return int(np.prod(self.conv_shape))

    def conv_matrix(self, weight=None):
        """The convolution's Toeplitz matrix (scipy CSR), cached per weight matrix."""
        from .conv import conv_matrix
        weight = self.weight if weight is None else weight
        cache = self.__dict__.setdefault("_matrix_cache", {})
        key = id(weight)
        if key not in cache or cache[key][0] is not weight:
            cache.clear()
            cache[key] = (weight, conv_matrix(weight, self.in_shape, self.kernel, self.stride,
                                              self.padding, self.dilation, self.groups))
        return cache[key][1]

    def pool_windows(self) -> np.ndarray:
        from .conv import pool_windows
        return pool_windows(self.conv_shape, self.pool, self.pool_stride, self.pool_padding)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float reference for a batch ``x`` of shape (batch, n_in)."""
        y = np.asarray(self.conv_matrix() @ np.asarray(x).T).T
        y = y + np.repeat(self.bias_or_zeros(), self.conv_shape[1] * self.conv_shape[2])
        if self.relu:
            y = np.maximum(y, 0.0)
        if self.pool is not None:
            win = self.pool_windows()
            # padded window positions never win: -inf, as torch pads
            y = np.where(win >= 0, y[:, np.maximum(win, 0)], -np.inf).max(axis=2)
        return y

    def describe(self) -> str:
        """E.g. ``conv 1->6 3x3 s1 p1 on 8x8 -> 6x8x8, maxpool 2x2 -> 6x4x4``."""
        c, h, w = self.in_shape
        k = "x".join(map(str, self.kernel[2 - self.dims:]))
        text = (f"conv{self.dims}d {c}->{self.weight.shape[0]} {k}"
                + (f" stride {self.stride[2 - self.dims:]}" if max(self.stride) > 1 else "")
                + (f" pad {self.padding[2 - self.dims:]}" if max(self.padding) else "")
                + (f" dilation {self.dilation[2 - self.dims:]}" if max(self.dilation) > 1 else "")
                + (f" groups {self.groups}" if self.groups > 1 else "")
                + f" on {'x'.join(map(str, self.in_shape))} -> "
                + "x".join(map(str, self.conv_shape)))
        if self.pool is not None:
            text += f", maxpool {'x'.join(map(str, self.pool))} -> " + "x".join(
                map(str, self.out_shape))
        return text

    def extra_arrays(self) -> dict:
        d = {"kind": np.array(f"conv{self.dims}d"), "in_shape": np.array(self.in_shape),
             "conv": np.array(self.kernel + self.stride + self.padding + self.dilation
                              + (self.groups,))}
        if self.pool is not None:
            d["maxpool"] = np.array(self.pool + self.pool_stride + self.pool_padding)
        return d

    @classmethod
    def from_arrays(cls, d: dict, **common) -> "ConvLayer":
        kind = str(d.get("kind", ""))
        if kind not in ("conv1d", "conv2d"):
            raise NetworkError(f"kind {kind!r} is not supported; supported: conv1d, conv2d "
                               f"(absent for a fully connected layer)")
        for key in ("in_shape", "conv"):
            if key not in d:
                raise NetworkError(f"a {kind} layer needs its .{key}")
        g = _ints(d["conv"], 9, "conv (kh, kw, sh, sw, ph, pw, dh, dw, groups)", "conv", 0)
        pool = {}
        if "maxpool" in d:
            p = _ints(d["maxpool"], 6, "maxpool (kh, kw, sh, sw, ph, pw)", "maxpool", 0)
            pool = dict(pool=p[0:2], pool_stride=p[2:4], pool_padding=p[4:6])
        return cls(in_shape=d["in_shape"], kernel=g[0:2], stride=g[2:4], padding=g[4:6],
                   dilation=g[6:8], groups=g[8], dims=int(kind[4]), **pool, **common)


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
            arrays.update({f"layer{k}.{key}": v for key, v in layer.extra_arrays().items()})
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
            r"^layer(0|[1-9]\d*)\.(weight|bias|activation|name|codebook|indices|kind|in_shape"
            r"|conv|maxpool)$")
        per_layer: dict[int, dict] = {}
        for key, value in arrays.items():
            m = key_re.match(key)
            if not m:
                raise NetworkError(
                    f"{source}: unexpected key {key!r}; expected layer<k>.weight, .bias, "
                    f".activation, .name, .codebook, .indices, .kind, .in_shape, .conv or "
                    f".maxpool (see docs/network-format.md)")
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
                common = dict(weight=d["weight"], bias=d.get("bias"),
                              activation=str(d.get("activation", "relu")),
                              codebook=d.get("codebook"), indices=d.get("indices"))
                if "kind" in d or {"in_shape", "conv", "maxpool"} & set(d):
                    layers.append(ConvLayer.from_arrays(d, name=str(d.get("name", f"conv{k}")),
                                                        **common))
                else:
                    layers.append(Layer(name=str(d.get("name", f"fc{k}")), **common))
            except NetworkError as e:
                raise NetworkError(f"{source}: layer{k}: {e}") from None
        try:
            return cls(tuple(layers))
        except NetworkError as e:
            raise NetworkError(f"{source}: {e}") from None
