"""Lowering pass: convolutions and max pooling become sparse layers the EIE array runs.

The array only needs a sparse matrix and an activation vector, so a convolution over a
small feature map runs on it unchanged as its Toeplitz matrix: one row per (output
channel, output position), one column per input value, and as non-zeros the kernel's
weights repeated once per position (:func:`eiegen.compiler.conv.conv_map`). The weights
stay codebook indices: the lowered matrix's indices are the kernel's repeated and its
codebook is the kernel's, so repetition costs index memory, never precision.

Row order. Rows are channel-major, ``o * Ho * Wo + y * Wo + x``, which is also the order
the next layer (or a Flatten) reads, so no permutation is needed. Interleaving (row r ->
PE r mod N) then gives every PE every N-th position of every channel: each PE holds each
kernel about equally often, so the work is balanced whatever the kernels' densities
(position-major order would give a PE the same channels at every position, and a dense
kernel to one PE only). Down a column (one input value) a PE's entries are the output
positions that value reaches, consecutive local rows within a channel, so the relative
row gaps stay small except between channels (bench/cnn measures both orders).

Max pooling. ReLU outputs are non-negative, and for ``a, b >= 0``
``max(a, b) = a + relu(b - a)``: linear maps and ReLUs, which the array computes exactly
with weights -1, 0, +1 (exact in any fixed-point format with an integer part). A window
of ``n`` values is reduced as a tree: every step keeps each value as a sum ``p + q`` of
two non-negative outputs and, for each pair ``(u, v)``, writes ``p' = u`` and
``q' = relu(v - u)``; after ``ceil(log2 n)`` steps a last layer writes ``p + q``. A 2x2
pool is 3 layers (4, 2 and 1 outputs per window). The pool layers keep their input's
fixed-point format (:class:`PoolStepLayer`), so the result is the exact maximum of the
convolution's fixed-point outputs, and golden model and RTL agree bit for bit as for any
layer. docs/architecture.md compares this with a running maximum in the write-back stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .conv import conv_map
from .network import ConvLayer, Layer, Network

__all__ = ["lower_network", "lowered_shapes", "LoweredLayer", "Lowering", "PoolStepLayer",
           "pool_steps", "POOL_CODEBOOK"]

# Entry 0 is the pruned/padding weight; +1 and -1 are the only weights max pooling needs.
POOL_CODEBOOK = np.array([0.0, 1.0, -1.0])


@dataclass(frozen=True, eq=False)
class PoolStepLayer(Layer):
    """One step of an exact max pooling (see the module docstring). Its values are sums
    and differences of its inputs, so the compiler gives it its input's fixed-point format
    (compiler/formats.py), which represents them exactly."""

    keeps_input_format = True


@dataclass(frozen=True)
class LoweredLayer:
    """What one layer of the network became on the array."""

    name: str
    kind: str  # "fc", "conv" or "maxpool"
    source: int  # index of the network layer it comes from
    n_in: int
    n_out: int
    nnz: int  # non-zeros of the lowered matrix
    weights: int  # distinct stored weights: the kernel's non-zeros for a conv

    @property
    def repetition(self) -> float:
        """How many times each stored weight appears in the lowered matrix."""
        return self.nnz / self.weights if self.weights else 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source,
                "n_in": self.n_in, "n_out": self.n_out, "nnz": self.nnz,
                "weights": self.weights, "repetition": self.repetition}


@dataclass
class Lowering:
    """The lowered layers, in program order, and what lowering cost."""

    layers: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(la.kind != "fc" for la in self.layers)

    def to_dict(self) -> dict:
        return {"layers": [la.to_dict() for la in self.layers],
                "extra_layers": len(self.layers) - len({la.source for la in self.layers})}


def pool_steps(windows: np.ndarray):
    """The exact max-pooling tree for ``windows`` (n_out, k) of input indices (-1: not in
    the window): a list of sparse layers, each ``(n_out_step, rows, cols, signs)``.

    Every window's current value is a list of terms (input indices of the current step)
    whose sum is the value; the last step's outputs are in window order.
    """
    values = [[[int(i)] for i in w if i >= 0] for w in windows]
    steps = []
    while True:
        last = all(len(v) == 1 for v in values)
        rows, cols, signs, new_values = [], [], [], []
        n = 0

        def emit(plus, minus=()):
            nonlocal n
            for c in plus:
                rows.append(n), cols.append(c), signs.append(1)
            for c in minus:
                rows.append(n), cols.append(c), signs.append(-1)
            n += 1
            return n - 1

        for vals in values:
            if last:
                emit(vals[0])  # the final sum p + q (or a single value passed through)
                continue
            nxt = []
            for a in range(0, len(vals) - 1, 2):
                u, v = vals[a], vals[a + 1]
                nxt.append([emit(u), emit(v, u)])  # p' = u, q' = relu(v - u)
            if len(vals) % 2:
                nxt.append([emit(vals[-1])])
            new_values.append(nxt)
        steps.append((n, np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64),
                      np.array(signs, dtype=np.int64)))
        if last:
            return steps
        # each value is now the sum of one or two outputs of this step
        values = new_values


def _matrix(n_out, n_in, rows, cols, idx, codebook):
    indices = np.zeros((n_out, n_in), dtype=np.int64)
    indices[rows, cols] = idx
    return indices, (None if codebook is None else np.asarray(codebook)[indices])


def lowered_shapes(net: Network) -> list[tuple[str, str, int, int, int]]:
    """``(name, kind, n_in, n_out, source)`` of every layer the lowering will produce,
    without building any matrix: the compiler checks them against the memories first, so
    a convolution too large is refused before its Toeplitz matrix is allocated."""
    shapes = []
    for k, layer in enumerate(net):
        if isinstance(layer, ConvLayer):
            base = layer.name or f"conv{k}"
            shapes.append((base, "conv", layer.n_in, layer.n_conv_out, k))
            if layer.pool is not None:
                n_in = layer.n_conv_out
                for s, (n, *_rest) in enumerate(pool_steps(layer.pool_windows())):
                    shapes.append((f"{base}.pool{s + 1}", "maxpool", n_in, n, k))
                    n_in = n
        else:
            shapes.append((layer.name, "fc", layer.n_in, layer.n_out, k))
    return shapes


def _lower_conv(layer: ConvLayer, k: int):
    rows, cols, kidx = conv_map(layer.in_shape, layer.weight.shape[0], layer.kernel,
                                layer.stride, layer.padding, layer.dilation, layer.groups)
    positions = layer.conv_shape[1] * layer.conv_shape[2]
    out_ch = rows // positions
    n_out, n_in = layer.n_conv_out, layer.n_in
    bias = None if layer.bias is None else np.repeat(layer.bias, positions)
    relu = "relu" if layer.relu else "none"
    if layer.quantized:
        idx = layer.indices[out_ch, kidx]
        keep = idx != 0  # pruned kernel weights are not entries of the lowered matrix
        indices, weight = _matrix(n_out, n_in, rows[keep], cols[keep], idx[keep],
                                  layer.codebook)
        lowered = Layer(weight, bias, relu, layer.name or f"conv{k}", layer.codebook, indices)
    else:
        weight = np.zeros((n_out, n_in))
        weight[rows, cols] = layer.weight[out_ch, kidx]
        lowered = Layer(weight, bias, relu, layer.name or f"conv{k}")
    out = [lowered]
    base = layer.name or f"conv{k}"
    info = [LoweredLayer(base, "conv", k, n_in, n_out, lowered.nnz, layer.nnz)]
    if layer.pool is not None:
        n_in = n_out
        for s, (n, r, c, sign) in enumerate(pool_steps(layer.pool_windows())):
            name = f"{base}.pool{s + 1}"
            idx = np.where(sign > 0, 1, 2)  # POOL_CODEBOOK[1] = +1, [2] = -1
            indices, weight = _matrix(n, n_in, r, c, idx, POOL_CODEBOOK)
            out.append(PoolStepLayer(weight, None, "relu", name, POOL_CODEBOOK, indices))
            info.append(LoweredLayer(name, "maxpool", k, n_in, n, len(r), 0))
            n_in = n
    return out, info


def lower_network(net: Network) -> tuple[Network, Lowering]:
    """``net`` with every :class:`ConvLayer` replaced by its sparse layers.

    Fully connected layers pass through unchanged (the same objects), so a network
    without convolutions lowers to itself.

    Returns
    -------
    (Network, Lowering)
        The lowered network, which computes the same function (``forward`` agrees to
        rounding), and per lowered layer its size and the repetition of its weights.
    """
    layers, report = [], Lowering()
    for k, layer in enumerate(net):
        if isinstance(layer, ConvLayer):
            lowered, info = _lower_conv(layer, k)
            layers += lowered
            report.layers += info
        else:
            layers.append(layer)
            report.layers.append(LoweredLayer(layer.name, "fc", k, layer.n_in, layer.n_out,
                                              layer.nnz, layer.nnz))
    if not report.changed:
        return net, report
    return Network(tuple(layers), notes=net.notes), report
