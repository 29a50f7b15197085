"""Bring a trained model into the network IR, whatever it was saved as.

:func:`import_model` accepts an IR ``.npz`` file (see docs/network-format.md), an ONNX
file (:mod:`import_onnx`, needs the ``onnx`` package), a PyTorch ``nn.Module`` or a
saved ``state_dict`` (``.pt`` / ``.pth``; :mod:`import_torch`, needs ``torch``). The
importers share :class:`ChainBuilder`, which turns a chain of fully connected layers
and element-wise ReLUs into layers, folds an
eval-mode BatchNorm into the layer before it, drops a final Softmax / Sigmoid /
LogSoftmax (with a note: the hardware returns the logits, whose argmax is the same), and
refuses anything else by naming the node, its type and what is supported.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .conv import conv_out_size
from .network import ConvLayer, Layer, Network, NetworkError

__all__ = ["ChainBuilder", "import_model", "UnsupportedModelError"]


class UnsupportedModelError(NetworkError):
    """A model uses an operator or shape the IR (a chain of FC layers) cannot express."""


class ChainBuilder:
    """Collects a chain ``FC -> [ReLU] -> FC -> ...`` into IR layers.

    Parameters
    ----------
    source : str
        Where the model came from, for error messages.
    supported : str
        The supported operators, quoted in every refusal.
    """

    def __init__(self, source: str, supported: str):
        self.source = source
        self.supported = supported
        self.layers: list[dict] = []
        self.features: int | None = None  # width of the current (batch, features) tensor
        self.flat = True  # False until a Flatten makes a >2-D input batch-flat
        # (node, op) of the order-preserving ops ending the model, dropped on import
        self.dropped: list[tuple[str, str]] = []
        self.map_shape: tuple | None = None  # (C, H, W) of a feature map (1-D: H = 1)
        self.dims = 2
        # an average pool waiting to be folded into the next conv or FC: (node, op,
        # kernel, stride, the (C, H, W) it pools)
        self.avg: tuple | None = None

    def refuse(self, node: str, op: str, why: str = "") -> UnsupportedModelError:
        reason = f": {why}" if why else " is not supported"
        return UnsupportedModelError(
            f"{self.source}: node {node!r} of type {op}{reason}; supported: {self.supported}")

    def _continue(self, node: str, op: str) -> None:
        """Refuse ``node`` if a Softmax-like op came before it: only a final one is dropped."""
        if self.dropped:
            first, first_op = self.dropped[0]
            raise self.refuse(first, first_op, f"is followed by node {node!r} ({op}); a "
                                               f"{first_op} is only supported as the model's "
                                               f"last operation, where it is dropped (argmax "
                                               f"unchanged): apply it on the host instead")

    def input(self, shape) -> None:
        """Declare the model input's shape (batch first; unknown sizes as None)."""
        shape = list(shape)
        # a rank-1 input is one vector of features, not a batch: a Flatten or Reshape of
        # it would turn it into a batch of single features, which the array cannot follow
        self.rank1 = len(shape) == 1
        if len(shape) == 2:
            self.features = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
            self.flat = True
        elif len(shape) > 2:
            dims = shape[1:]
            known = all(isinstance(d, int) and d > 0 for d in dims)
            self.features = int(np.prod(dims)) if known else None
            self.flat = False
            if known and len(dims) in (2, 3):  # (C, L) or (C, H, W): a conv's input
                self.dims = len(dims) - 1
                self.map_shape = (dims[0], 1, dims[1]) if len(dims) == 2 else tuple(dims)

    def flatten(self, node: str, op: str, features: int | None = None) -> None:
        self._continue(node, op)
        if getattr(self, "rank1", False):  # found by fuzzing: accepted, then wrong
            raise self.refuse(node, op, "flattens the rank-1 input (one vector) into a batch "
                                        "of single features; a (batch, features) input is")
        if features is not None and self.features is not None and features != self.features:
            raise self.refuse(node, op, f"reshapes {self.features} features into {features}; "
                                        f"only a batch-flat (batch, features) reshape is")
        if features is not None:
            self.features = features
        self.flat = True
        self.map_shape = None

    def fc(self, node: str, op: str, weight, bias=None) -> None:
        self._continue(node, op)
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim != 2:
            raise self.refuse(node, op, f"has a {weight.ndim}-D weight; a 2-D one is needed")
        if not self.flat:
            raise self.refuse(node, op, "receives a tensor of rank > 2; add a Flatten first")
        if self.features is not None and weight.shape[1] != self.features:
            raise self.refuse(node, op, f"expects {weight.shape[1]} inputs but receives "
                                        f"{self.features}")
        if self.avg is not None:  # linear after linear: W A, A the pooling matrix
            weight = weight @ self._avg_matrix()
            self.avg = None
        self.layers.append(dict(weight=weight, bias=None if bias is None else
                                np.asarray(bias, dtype=np.float64).reshape(-1),
                                activation="none", name=node))
        self.features = weight.shape[0]

    def _avg_matrix(self) -> np.ndarray:
        """The pending average pool as a matrix (pooled outputs, pooled-over inputs)."""
        from .conv import pool_windows
        _, _, kernel, stride, shape = self.avg
        win = pool_windows(shape, kernel, stride, (0, 0))
        a = np.zeros((len(win), int(np.prod(shape))))
        np.put_along_axis(a, win, 1.0 / win.shape[1], axis=1)
        return a

    def _spatial(self, t, fill):
        """A 1-D op's (k,) geometry as (fill, k) on the (C, 1, L) map."""
        t = tuple(int(v) for v in np.atleast_1d(t))
        return (fill,) + t if len(t) == 1 and self.dims == 1 else (t * 2 if len(t) == 1 else t)

    def conv(self, node: str, op: str, weight, bias, stride, padding, dilation,
             groups: int) -> None:
        """A convolution (torch Conv1d/Conv2d, ONNX Conv): weight (C_out, C_in / groups,
        [kh,] kw); stride, padding, dilation one value per spatial axis."""
        self._continue(node, op)
        w = np.asarray(weight, dtype=np.float64)
        if self.map_shape is None:
            raise self.refuse(node, op, "receives a tensor whose (C, H, W) shape is unknown; "
                                        "give the input shape (e.g. input_shape=(1, 1, 8, 8))"
                              if self.flat is False else "receives a flattened tensor")
        if w.ndim != self.dims + 2:
            raise self.refuse(node, op, f"has a {w.ndim}-D weight for a {self.dims}-D input")
        fill = (lambda t, f: self._spatial(t, f))
        kernel = (1,) + w.shape[2:] if self.dims == 1 else w.shape[2:]
        stride, padding, dilation = fill(stride, 1), fill(padding, 0), fill(dilation, 1)
        if self.avg is not None:
            w, kernel, stride, padding, dilation = self._fold_avg_into_conv(
                node, op, w.reshape(w.shape[0], w.shape[1], *kernel), stride, padding,
                dilation, groups)
        c = self.map_shape[0]
        if c != w.shape[1] * groups:
            raise self.refuse(node, op, f"expects {w.shape[1] * groups} input channels but "
                                        f"receives {c}")
        layer = dict(weight=w.reshape(w.shape[0], -1), bias=None if bias is None else
                     np.asarray(bias, dtype=np.float64).reshape(-1), activation="none",
                     name=node, in_shape=self.map_shape, kernel=tuple(kernel), stride=stride,
                     padding=padding, dilation=dilation, groups=int(groups), dims=self.dims)
        try:
            conv = ConvLayer(**layer)
        except NetworkError as e:
            raise self.refuse(node, op, str(e).split(": ", 1)[-1]) from None
        self.layers.append(layer)
        self.map_shape = conv.out_shape
        self.features = conv.n_out

    def _fold_avg_into_conv(self, node, op, w, stride, padding, dilation, groups):
        """avgpool(k, s) then conv(W, stride t, padding p, dilation d) is the single conv
        with kernel ``W (dilated by d s) * box(k) / |k|``, stride ``s t`` and padding
        ``p s``; exact when the pooled map's zero padding is the original's (no padding,
        or windows that tile the map)."""
        pnode, pop, kp, sp, shape = self.avg
        for a in range(2):
            tiles = kp[a] == sp[a] and shape[a + 1] % sp[a] == 0
            if padding[a] and not tiles:
                raise self.refuse(pnode, pop, f"cannot be folded into the padded {op} "
                                              f"{node!r} (its windows do not tile the map); "
                                              f"only a pool whose windows tile the map is")
        o, cg, kh, kw = w.shape
        size = [(k - 1) * d * s + q for k, d, s, q in zip((kh, kw), dilation, sp, kp)]
        big = np.zeros((o, cg, *size))
        for i in range(kh):
            for j in range(kw):
                y, x = i * dilation[0] * sp[0], j * dilation[1] * sp[1]
                big[:, :, y:y + kp[0], x:x + kp[1]] += w[:, :, i:i + 1, j:j + 1] / (kp[0] * kp[1])
        self.map_shape, self.avg = shape, None
        return (big, tuple(size), (stride[0] * sp[0], stride[1] * sp[1]),
                (padding[0] * sp[0], padding[1] * sp[1]), (1, 1))

    def pool(self, node: str, op: str, kind: str, kernel, stride=None, padding=0,
             dilation=1, ceil_mode=False) -> None:
        """A max pool (on the conv before it, after its ReLU) or an average pool (folded
        into the next conv or FC: it is linear)."""
        self._continue(node, op)
        if self.map_shape is None:
            raise self.refuse(node, op, "pools a tensor whose (C, H, W) shape is unknown "
                                        "or flattened")
        kernel = self._spatial(kernel, 1)
        stride = kernel if stride is None or np.size(stride) == 0 else self._spatial(stride, 1)
        padding = self._spatial(padding, 0)
        if ceil_mode or max(self._spatial(dilation, 1)) > 1:
            raise self.refuse(node, op, "uses ceil_mode or dilation; only floor-mode, "
                                        "undilated pooling is supported")
        c, h, w = self.map_shape
        out = (c, conv_out_size(h, kernel[0], stride[0], padding[0], 1),
               conv_out_size(w, kernel[1], stride[1], padding[1], 1))
        if kind == "avg":
            if max(padding) or self.avg is not None:
                raise self.refuse(node, op, "pads or follows another average pool; only an "
                                            "unpadded one folds into the next layer")
            self.avg = (node, op, kernel, stride, self.map_shape)
        else:
            last = self.layers[-1] if self.layers else None
            if last is None or "kernel" not in last or last.get("pool") is not None \
                    or self.avg is not None:
                raise self.refuse(node, op, "does not follow a convolution (+ ReLU); max "
                                            "pooling is supported once, on a conv's outputs")
            last.update(pool=kernel, pool_stride=stride, pool_padding=padding)
        self.map_shape = out
        self.features = int(np.prod(out))

    def bias(self, node: str, op: str, bias) -> None:
        """An Add of a constant straight after a bias-free FC: that FC's bias."""
        self._continue(node, op)
        b = np.asarray(bias, dtype=np.float64)
        last = self.layers[-1] if self.layers else None
        if last is None or last["bias"] is not None or last["activation"] != "none":
            raise self.refuse(node, op, "adds a constant that is not the bias of the "
                                        "preceding MatMul")
        if b.size != last["weight"].shape[0] or (b.ndim > 1 and b.shape[-1] != b.size):
            raise self.refuse(node, op, f"adds a constant of shape {b.shape}; a bias of "
                                        f"{last['weight'].shape[0]} values is needed")
        last["bias"] = b.reshape(-1)

    def batchnorm(self, node: str, op: str, mean, var, eps: float, gamma=None,
                  beta=None) -> None:
        """An inference (running-statistics) BatchNorm ``gamma * (x - mean) / sqrt(var +
        eps) + beta`` straight after an FC, folded into it: ``W' = s W``, ``b' = s (b -
        mean) + beta`` with ``s = gamma / sqrt(var + eps)``. Anywhere else (the network
        input, after a ReLU) no single layer computes it, so it is refused."""
        self._continue(node, op)
        last = self.layers[-1] if self.layers else None
        where = ("normalises the network input" if last is None else
                 "follows a ReLU" if last["activation"] != "none" else "")
        if not where and last.get("pool") is not None:
            where = "follows a max pool"
        if where:
            raise self.refuse(node, op, f"{where}; a BatchNorm is only supported straight "
                                        f"after a fully connected layer or a conv, which it is folded"
                                        f" into (fold it into the data or the next layer by "
                                        f"hand)")
        n = last["weight"].shape[0]
        mean, var = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (mean, var))
        gamma = np.ones(n) if gamma is None else np.asarray(gamma, np.float64).reshape(-1)
        beta = np.zeros(n) if beta is None else np.asarray(beta, np.float64).reshape(-1)
        sizes = {v.size for v in (mean, var, gamma, beta)}
        if sizes != {n}:
            raise self.refuse(node, op, f"normalises {sorted(sizes)} features but the layer "
                                        f"before it has {n} outputs")
        if np.any(var + eps <= 0):
            raise self.refuse(node, op, "has a running variance + eps <= 0")
        scale = gamma / np.sqrt(var + eps)
        bias = last["bias"] if last["bias"] is not None else np.zeros(n)
        last["weight"] = scale[:, None] * last["weight"]
        last["bias"] = scale * (bias - mean) + beta

    def final(self, node: str, op: str) -> None:
        """A Softmax, Sigmoid or LogSoftmax over the features: it keeps each output
        vector's order, so the predicted class (argmax) is that of the logits it is
        given. Dropped if nothing but more of them follows (:meth:`_continue`)."""
        if not self.layers:
            raise self.refuse(node, op, "applies to the network input; it is only "
                                        "supported as the model's last operation")
        self.dropped.append((node, op))

    def relu(self, node: str, op: str) -> None:
        self._continue(node, op)
        if not self.layers:
            raise self.refuse(node, op, "applies ReLU to the network input; ReLU is only "
                                        "supported after a fully connected layer")
        self.layers[-1]["activation"] = "relu"  # ReLU after ReLU changes nothing

    def network(self) -> Network:
        if not self.layers:
            raise UnsupportedModelError(f"{self.source}: the model has no fully connected "
                                        f"layer")
        try:
            notes = tuple(f"dropped the final {op} (node {node!r}): the accelerator returns "
                          f"the logits before it, whose argmax (the predicted class) is the "
                          f"same; apply {op} on the host for its values"
                          for node, op in self.dropped)
            if self.avg is not None:
                raise self.refuse(self.avg[0], self.avg[1], "ends the model; an average pool "
                                  "is folded into the conv or fully connected layer after it")
            return Network(tuple(ConvLayer(**d) if "kernel" in d else Layer(**d)
                                 for d in self.layers), notes=notes)
        except NetworkError as e:
            raise UnsupportedModelError(f"{self.source}: {e}") from None


def _import_torch_file(path: Path) -> Network:
    from .import_torch import _torch, import_state_dict

    torch = _torch()
    try:
        # weights_only: a state_dict needs no code, and unpickling code runs it
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle and torch raise many types for a file they refuse
        # torch's message is pages long and bold-faced: its first sentence, plain
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()
        first = text.splitlines()[0].split(". ")[0] if text else type(e).__name__
        raise NetworkError(
            f"{path}: torch.load(weights_only=True) cannot read it ({first}); if it holds a "
            f"whole pickled model, save model.state_dict() instead, or call "
            f"import_model(model) in the script that defines the model's class") from None
    if not isinstance(data, dict):
        raise NetworkError(f"{path} holds a {type(data).__name__}, not a state_dict; save "
                           f"model.state_dict()")
    return import_state_dict(data, source=str(path))


def import_model(source) -> Network:
    """Read a model into the IR.

    Parameters
    ----------
    source : str, Path or torch.nn.Module
        A ``.npz`` file in the IR schema, an ``.onnx`` file, a ``.pt`` / ``.pth`` file
        holding an MLP's ``state_dict`` (see :func:`import_torch.import_state_dict`:
        Linear layers, ReLU between them), or a PyTorch module.

    Raises
    ------
    NetworkError
        If the file is missing or malformed, or the model uses anything unsupported.
    """
    if isinstance(source, Network):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise NetworkError(f"model file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return Network.load(path)
        if suffix == ".onnx":
            from .import_onnx import import_onnx
            return import_onnx(path)
        if suffix in (".pt", ".pth"):
            return _import_torch_file(path)
        raise NetworkError(f"{path}: unknown model format {suffix or '(no suffix)'!r}; "
                           f"supported: .npz (eiegen network), .onnx, .pt/.pth (state_dict)")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(source, torch.nn.Module):
        from .import_torch import import_torch
        return import_torch(source)
    raise NetworkError(f"cannot import a {type(source).__name__}; give a .npz or .onnx path "
                       f"or a torch.nn.Module")
