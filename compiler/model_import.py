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

from .network import Layer, Network, NetworkError

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
        if len(shape) == 2:
            self.features = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
            self.flat = True
        elif len(shape) > 2:
            dims = shape[1:]
            known = all(isinstance(d, int) and d > 0 for d in dims)
            self.features = int(np.prod(dims)) if known else None
            self.flat = False

    def flatten(self, node: str, op: str, features: int | None = None) -> None:
        self._continue(node, op)
        if features is not None and self.features is not None and features != self.features:
            raise self.refuse(node, op, f"reshapes {self.features} features into {features}; "
                                        f"only a batch-flat (batch, features) reshape is")
        if features is not None:
            self.features = features
        self.flat = True

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
        self.layers.append(dict(weight=weight, bias=None if bias is None else
                                np.asarray(bias, dtype=np.float64).reshape(-1),
                                activation="none", name=node))
        self.features = weight.shape[0]

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
        if where:
            raise self.refuse(node, op, f"{where}; a BatchNorm is only supported straight "
                                        f"after a fully connected layer, which it is folded "
                                        f"into (fold it into the data or the next layer by "
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
            return Network(tuple(Layer(**d) for d in self.layers), notes=notes)
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
