"""Import a PyTorch ``nn.Module`` into the network IR (needs the optional ``torch``).

Supported: ``nn.Linear``, ``nn.ReLU``, ``nn.Flatten``, ``nn.Dropout``, ``nn.Identity``
arranged as an ``nn.Sequential`` (nested ones are flattened) or as any module whose
``forward`` torch.fx can trace into a straight chain of those modules and the matching
functions (``torch.relu``, ``F.relu``, ``torch.flatten``, ``F.dropout``, ``x.relu()``,
``x.flatten(1)``, ``x.view(x.size(0), -1)``). Dropout is the identity at inference.
"""

from __future__ import annotations

import operator

import numpy as np

from .model_import import ChainBuilder, UnsupportedModelError
from .network import Network

__all__ = ["import_torch", "SUPPORTED"]

SUPPORTED = ("Linear, ReLU, Flatten, Dropout and Identity modules (or torch.relu, "
             "torch.flatten, F.relu, F.dropout) in a straight chain")


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
    elif isinstance(mod, (nn.Dropout, nn.Identity)):
        pass
    elif isinstance(mod, nn.Sequential):
        for child_name, child in mod.named_children():
            _module(builder, f"{name}.{child_name}" if name else child_name, child)
    else:
        raise builder.refuse(name, type(mod).__name__)


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
