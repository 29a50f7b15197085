"""Import a PyTorch ``nn.Module`` into the network IR (needs the optional ``torch``).

Supported: ``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d`` (stride, zero padding, dilation,
groups, bias; needs ``input_shape``), ``nn.MaxPool1d``/``2d`` after a conv (and its
ReLU), ``nn.AvgPool1d``/``2d`` folded into the conv or Linear after it (it is linear),
``nn.ReLU``, ``nn.Flatten``, ``nn.Dropout``, ``nn.Identity``
arranged as an ``nn.Sequential`` (nested ones are flattened) or as any module whose
``forward`` torch.fx can trace into a straight chain of those modules and the matching
functions (``torch.relu``, ``F.relu``, ``torch.flatten``, ``F.dropout``, ``x.relu()``,
``x.flatten(1)``, ``x.view(x.size(0), -1)``). Dropout is the identity at inference.
An ``nn.BatchNorm1d``/``2d`` straight after a Linear or conv is folded into it with its running
statistics (eval mode, whatever mode the module is in); a final ``Softmax``,
``LogSoftmax`` or ``Sigmoid`` (module, function or method) is dropped with a note in
``Network.notes``: the argmax of the logits is the same.

:func:`import_state_dict` reads a ``state_dict`` (e.g. ``torch.load("model.pt")``) of an
MLP without its class: Linear weights in order, ReLU between them.
"""

from __future__ import annotations

import operator

import numpy as np

from .model_import import ChainBuilder, UnsupportedModelError
from .network import Network

__all__ = ["import_torch", "import_state_dict", "SUPPORTED"]

SUPPORTED = ("Linear, ReLU, Conv1d, Conv2d, MaxPool1d/2d (after a conv), AvgPool1d/2d "
             "(before a conv or Linear), Flatten, Dropout and Identity modules (or "
             "torch.relu, torch.flatten, F.relu, F.dropout) in a straight chain, "
             "BatchNorm1d/2d straight after a Linear or conv, and a final Softmax, "
             "LogSoftmax or Sigmoid")

# order-preserving ops dropped at the end of a model: name -> the dim argument's position
_FINAL = {"softmax": 1, "log_softmax": 1, "sigmoid": None}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("importing a PyTorch model needs torch: pip install 'eiegen[train]'") \
            from None
    return torch


def _module(builder: ChainBuilder, name: str, mod) -> None:
    torch = _torch()
    nn = torch.nn
    if isinstance(mod, nn.Linear):
        w = mod.weight.detach().cpu().double().numpy()
        b = None if mod.bias is None else mod.bias.detach().cpu().double().numpy()
        builder.fc(name, "Linear", w, b)
    elif isinstance(mod, nn.ReLU):
        builder.relu(name, "ReLU")
    elif isinstance(mod, nn.Flatten):
        if mod.start_dim != 1 or mod.end_dim != -1:
            raise builder.refuse(name, "Flatten", f"flattens dims {mod.start_dim}..{mod.end_dim}"
                                                  f"; only start_dim=1, end_dim=-1 is")
        builder.flatten(name, "Flatten")
    elif isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        op = type(mod).__name__
        if mod.padding_mode != "zeros":
            raise builder.refuse(name, op, f"pads with {mod.padding_mode!r}; only zeros is")
        padding = mod.padding
        if isinstance(padding, str):  # 'valid' or 'same' (stride 1)
            total = [d * (k - 1) for d, k in zip(mod.dilation, mod.kernel_size)]
            if padding == "same" and any(t % 2 for t in total):
                raise builder.refuse(name, op, "pads 'same' unevenly (even kernel); only "
                                               "symmetric padding is")
            padding = tuple(t // 2 for t in total) if padding == "same" else 0
        w = mod.weight.detach().cpu().double().numpy()
        b = None if mod.bias is None else mod.bias.detach().cpu().double().numpy()
        builder.conv(name, op, w, b, mod.stride, padding, mod.dilation, mod.groups)
    elif isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        op = type(mod).__name__
        if getattr(mod, "return_indices", False) or getattr(mod, "divisor_override", None):
            raise builder.refuse(name, op, "returns indices or overrides the divisor")
        builder.pool(name, op, "max" if "Max" in op else "avg", mod.kernel_size, mod.stride,
                     mod.padding, getattr(mod, "dilation", 1), mod.ceil_mode)
    elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if mod.running_mean is None or mod.running_var is None:
            raise builder.refuse(name, "BatchNorm1d", "keeps no running statistics "
                                 "(track_running_stats=False), so it normalises with each "
                                 "batch's own; only a BatchNorm with running statistics folds")
        params = [None if t is None else t.detach().cpu().double().numpy()
                  for t in (mod.running_mean, mod.running_var, mod.weight, mod.bias)]
        builder.batchnorm(name, type(mod).__name__, *params[:2], mod.eps, *params[2:])
    elif isinstance(mod, (nn.Softmax, nn.LogSoftmax)):
        _final(builder, name, type(mod).__name__, mod.dim)
    elif isinstance(mod, nn.Sigmoid):
        _final(builder, name, "Sigmoid", None)
    elif isinstance(mod, (nn.Dropout, nn.Identity)):
        pass
    elif isinstance(mod, nn.Sequential):
        for child_name, child in mod.named_children():
            _module(builder, f"{name}.{child_name}" if name else child_name, child)
    else:
        raise builder.refuse(name, type(mod).__name__)


def _final(builder: ChainBuilder, name: str, op: str, dim) -> None:
    # over the features of a (batch, features) tensor; None is the legacy implicit dim,
    # which is 1 for a 2-D tensor
    if dim not in (None, 1, -1):
        raise builder.refuse(name, op, f"normalises over dim {dim}; only the feature "
                                       f"dimension (1 or -1) keeps argmax")
    builder.final(name, op)


def _is_batch_flat_view(args) -> bool:
    """``x.view(x.size(0), -1)`` / ``x.reshape(-1, n)`` style arguments."""
    shape = args[1:]
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return len(shape) == 2 and (shape[1] == -1 or shape[0] == -1 or
                                getattr(shape[0], "op", None) is not None)


def import_torch(module, input_shape=None) -> Network:
    """Convert ``module`` to a :class:`Network`.

    Parameters
    ----------
    module : torch.nn.Module
        The trained model.
    input_shape : tuple, optional
        Input shape including the batch dimension, e.g. ``(1, 1, 8, 8)``: lets the
        importer check the first layer's width and accept a leading Flatten.

    Raises
    ------
    UnsupportedModelError
        Naming the first unsupported node, its type and what is supported.
    """
    torch = _torch()
    source = f"PyTorch model {type(module).__name__}"
    builder = ChainBuilder(source, SUPPORTED)
    if input_shape is not None:
        builder.input(input_shape)
    if isinstance(module, torch.nn.Sequential):
        _module(builder, "", module)
        return builder.network()
    if isinstance(module, (torch.nn.Linear, torch.nn.ReLU)):
        _module(builder, type(module).__name__.lower(), module)
        return builder.network()
    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as e:  # fx raises many types for untraceable code
        raise UnsupportedModelError(f"{source}: torch.fx cannot trace forward() ({e}); "
                                    f"use an nn.Sequential of {SUPPORTED}") from None
    modules = dict(module.named_modules())
    current = None
    F = torch.nn.functional
    for node in graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise builder.refuse(node.name, "input", "is a second model input; one is")
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise builder.refuse(node.name, "output", "does not return the chain's end")
            break
        if node.op == "get_attr":
            raise builder.refuse(node.name, f"parameter {node.target}",
                                 "is used outside a Linear module")
        tensors = [a for a in node.args if isinstance(a, torch.fx.Node)]
        # x.size(0) feeding a view is bookkeeping, not a data-flow node
        if node.op == "call_method" and node.target == "size":
            continue
        if not tensors or tensors[0] is not current or any(
                t is not current and not (t.op == "call_method" and t.target == "size")
                for t in tensors[1:]):
            raise builder.refuse(node.name, str(node.target),
                                 "does not continue a straight chain")
        if node.op == "call_module":
            _module(builder, node.target, modules[node.target])
        elif node.op == "call_function" and node.target in (torch.relu, F.relu):
            builder.relu(node.name, "relu")
        elif node.op == "call_function" and node.target in (F.dropout, operator.pos):
            pass
        elif node.op == "call_function" and node.target is torch.flatten:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start != 1:
                raise builder.refuse(node.name, "flatten", "flattens the batch dimension; "
                                                           "only start_dim=1 is")
            builder.flatten(node.name, "flatten")
        elif node.op == "call_method" and node.target == "relu":
            builder.relu(node.name, "relu")
        elif (node.op == "call_function" and getattr(node.target, "__name__", None) in _FINAL
              and node.target in (getattr(torch, node.target.__name__, None),
                                  getattr(F, node.target.__name__, None))) \
                or (node.op == "call_method" and node.target in _FINAL):
            op = node.target if node.op == "call_method" else node.target.__name__
            pos = _FINAL[op]
            dim = node.kwargs.get("dim", node.args[pos] if pos and len(node.args) > pos
                                  else None)
            _final(builder, node.name, op, dim)
        elif node.op == "call_method" and node.target == "flatten" \
                and (node.args[1:] or (node.kwargs.get("start_dim"),))[0] == 1:
            builder.flatten(node.name, "flatten")
        elif node.op == "call_method" and node.target in ("view", "reshape") \
                and _is_batch_flat_view(node.args):
            builder.flatten(node.name, node.target)
        else:
            raise builder.refuse(node.name, str(getattr(node.target, "__name__", node.target)))
        current = node
    return builder.network()


def export_torch(net: Network):
    """The IR network as an ``nn.Sequential`` of Linear and ReLU modules (float32)."""
    torch = _torch()
    mods = []
    for layer in net:
        lin = torch.nn.Linear(layer.n_in, layer.n_out, bias=layer.bias is not None)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(layer.weight), dtype=torch.float32))
            if layer.bias is not None:
                lin.bias.copy_(torch.tensor(layer.bias, dtype=torch.float32))
        mods.append(lin)
        if layer.relu:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _array(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; numpy arrays need no torch
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def import_state_dict(state_dict, *, relu: bool = True, eps: float = 1e-5,
                      source: str = "state_dict") -> Network:
    """Convert an MLP's ``state_dict`` to a :class:`Network` without its module class.

    The parameters are read in the dict's order (a ``state_dict`` keeps the modules'
    registration order): each module prefix with a 2-D ``weight`` is a Linear (with its
    ``bias`` if present); one with ``running_mean`` and ``running_var`` straight after a
    Linear is a BatchNorm1d, folded into it. A state_dict holds no activations, so
    ``relu`` says whether a ReLU follows every Linear (and its BatchNorm) but the last.

    Parameters
    ----------
    state_dict : mapping of str to tensor or array
        E.g. ``torch.load("model.pt")`` of a saved ``model.state_dict()``.
    relu : bool
        ReLU between the layers (default), or none at all.
    eps : float
        The BatchNorm epsilon, which a state_dict does not store (torch's default 1e-5).

    Raises
    ------
    UnsupportedModelError
        Naming the first key that is not a Linear or BatchNorm1d parameter.
    """
    groups: dict[str, dict] = {}
    for key, value in state_dict.items():
        prefix, _, field = str(key).rpartition(".")
        if not hasattr(value, "shape"):
            raise UnsupportedModelError(
                f"{source}: {key!r} holds a {type(value).__name__}, not a tensor; give the "
                f"model's state_dict itself (e.g. checkpoint['model'])")
        groups.setdefault(prefix, {})[field] = value
    builder = ChainBuilder(source, "Linear weights (2-D) and biases, BatchNorm1d running "
                                   "statistics after a Linear")
    for prefix, p in groups.items():
        name = prefix or "weight"
        if "running_mean" in p and "running_var" in p:
            builder.batchnorm(name, "BatchNorm1d", _array(p["running_mean"]),
                              _array(p["running_var"]), eps,
                              *(_array(p[k]) if k in p else None for k in ("weight", "bias")))
            extra = set(p) - {"running_mean", "running_var", "weight", "bias",
                              "num_batches_tracked"}
        elif "weight" in p and len(p["weight"].shape) == 2:
            if relu and builder.layers:
                builder.relu(name, "ReLU")
            builder.fc(name, "Linear", _array(p["weight"]),
                       _array(p["bias"]) if "bias" in p else None)
            extra = set(p) - {"weight", "bias"}
        else:
            extra = set(p)
        if extra:
            key = f"{prefix}.{sorted(extra)[0]}" if prefix else sorted(extra)[0]
            raise builder.refuse(key, "parameter", "is neither a Linear weight or bias nor "
                                                   "BatchNorm1d statistics; rebuild the "
                                                   "model, load_state_dict() it and "
                                                   "import_model() the module")
    return builder.network()
