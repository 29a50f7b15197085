"""Bring a trained model into the network IR, whatever it was saved as.

:func:`import_model` accepts an IR ``.npz`` file (see docs/network-format.md), an ONNX
file (:mod:`import_onnx`, needs the ``onnx`` package) or a PyTorch ``nn.Module``
(:mod:`import_torch`, needs ``torch``). The importers share :class:`ChainBuilder`, which
turns a chain of fully connected layers and element-wise ReLUs into layers and refuses
anything else by naming the node, its type and what is supported.
"""

from __future__ import annotations

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

    def refuse(self, node: str, op: str, why: str = "") -> UnsupportedModelError:
        reason = f": {why}" if why else " is not supported"
        return UnsupportedModelError(
            f"{self.source}: node {node!r} of type {op}{reason}; supported: {self.supported}")

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
        if features is not None and self.features is not None and features != self.features:
            raise self.refuse(node, op, f"reshapes {self.features} features into {features}; "
                                        f"only a batch-flat (batch, features) reshape is")
        if features is not None:
            self.features = features
        self.flat = True

    def fc(self, node: str, op: str, weight, bias=None) -> None:
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
        b = np.asarray(bias, dtype=np.float64)
        last = self.layers[-1] if self.layers else None
        if last is None or last["bias"] is not None or last["activation"] != "none":
            raise self.refuse(node, op, "adds a constant that is not the bias of the "
                                        "preceding MatMul")
        if b.size != last["weight"].shape[0] or (b.ndim > 1 and b.shape[-1] != b.size):
            raise self.refuse(node, op, f"adds a constant of shape {b.shape}; a bias of "
                                        f"{last['weight'].shape[0]} values is needed")
        last["bias"] = b.reshape(-1)

    def relu(self, node: str, op: str) -> None:
        if not self.layers:
            raise self.refuse(node, op, "applies ReLU to the network input; ReLU is only "
                                        "supported after a fully connected layer")
        self.layers[-1]["activation"] = "relu"  # ReLU after ReLU changes nothing

    def network(self) -> Network:
        if not self.layers:
            raise UnsupportedModelError(f"{self.source}: the model has no fully connected "
                                        f"layer")
        try:
            return Network(tuple(Layer(**d) for d in self.layers))
        except NetworkError as e:
            raise UnsupportedModelError(f"{self.source}: {e}") from None


def import_model(source) -> Network:
    """Read a model into the IR.

    Parameters
    ----------
    source : str, Path or torch.nn.Module
        A ``.npz`` file in the IR schema, an ``.onnx`` file, or a PyTorch module.

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
        raise NetworkError(f"{path}: unknown model format {suffix or '(no suffix)'!r}; "
                           f"supported: .npz (eiegen network), .onnx")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(source, torch.nn.Module):
        from .import_torch import import_torch
        return import_torch(source)
    raise NetworkError(f"cannot import a {type(source).__name__}; give a .npz or .onnx path "
                       f"or a torch.nn.Module")
