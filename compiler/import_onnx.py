"""Import an ONNX model into the network IR.

The file is parsed with the ``onnx`` package (``pip install 'eiegen[onnx]'``; it needs no
torch). Rather than a private protobuf reader, the official parser also handles every
way ONNX stores a tensor (raw data, typed fields, external data).

Supported, as one straight chain from the single graph input to the single output:
``Gemm`` (``transA = 0``, constant B and C), ``Conv`` (1-D or 2-D, constant weight and
bias, symmetric ``pads``, strides, dilations, group), ``MaxPool`` after a ``Conv`` (and
its ``Relu``), ``AveragePool`` (folded into the next ``Conv`` or ``Gemm``: it is linear),
``MatMul`` by a constant followed by an
``Add`` of a constant bias, ``Relu``, ``Flatten`` (``axis = 1``), ``Reshape`` to a
batch-flat ``(batch, features)`` shape, ``Dropout`` and ``Identity`` (inference: the
identity), and ``Constant`` nodes that feed them. A ``BatchNormalization`` (inference
form) straight after a ``Gemm`` / ``MatMul`` (+ ``Add``) is folded into it; a final
``Softmax``, ``LogSoftmax`` or ``Sigmoid`` is dropped with a note in ``Network.notes``
(the argmax of the logits is the same).

Every operator is checked against that list before its place in the chain, so an
unsupported one is named as itself. An ``Identity`` of a constant is a constant: torch's
TorchScript exporter emits one per initializer that repeats another (an untrained
BatchNorm's ``running_var`` equals its ``weight``, all ones), ahead of the chain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .model_import import ChainBuilder, UnsupportedModelError
from .network import Network, NetworkError

__all__ = ["import_onnx", "SUPPORTED"]

SUPPORTED = ("Gemm, MatMul + Add, Conv (1-D/2-D, symmetric pads), Relu, MaxPool (after a "
             "Conv), AveragePool (before a Conv or Gemm), Flatten (axis 1), Reshape to "
             "(batch, features), Dropout, Identity, Constant, in a straight chain; "
             "BatchNormalization straight after Gemm, MatMul (+ Add) or Conv; a final "
             "Softmax, LogSoftmax or Sigmoid")

_OPS = {"Constant", "Gemm", "MatMul", "Add", "Relu", "Flatten", "Reshape", "Dropout",
        "Identity", "BatchNormalization", "Softmax", "LogSoftmax", "Sigmoid", "Conv",
        "MaxPool", "AveragePool"}


def _symmetric_pads(builder, label, op, attrs, n):
    """ONNX pads (begin..., end...) as one value per axis; auto_pad is refused."""
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise builder.refuse(label, op, f"uses auto_pad={attrs['auto_pad']!r}; give "
                                        f"explicit pads")
    pads = list(attrs.get("pads", [0] * 2 * n))
    if pads[:n] != pads[n:]:
        raise builder.refuse(label, op, f"pads {pads} unevenly; only symmetric padding is")
    return pads[:n]


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("importing an ONNX model needs the onnx package: "
                          "pip install 'eiegen[onnx]'") from None
    return onnx


# The attributes the importer reads, with the type each must have: a corrupt or hand-made
# file can give any of them another type (found by fuzzing: a string alpha, a missing one).
_NUMBER_ATTRS = ("alpha", "beta", "epsilon")
_INT_ATTRS = ("transA", "transB", "axis", "group", "ceil_mode", "count_include_pad")
_INTS_ATTRS = ("strides", "pads", "dilations", "kernel_shape")


def _check_attribute_types(builder, label, op, attrs) -> None:
    def bad(name, want):
        return builder.refuse(label, op, f"has attribute {name!r} = {attrs[name]!r}; "
                                         f"{want} is expected")
    for name in _NUMBER_ATTRS:
        v = attrs.get(name)
        if name in attrs and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not np.isfinite(v)):
            raise bad(name, "a finite number")
    for name in _INT_ATTRS:
        if name in attrs and (isinstance(attrs[name], bool)
                              or not isinstance(attrs[name], int)):
            raise bad(name, "an integer")
    for name in _INTS_ATTRS:
        v = attrs.get(name)
        if name in attrs and not (isinstance(v, (list, tuple))
                                  and all(isinstance(i, int) for i in v)):
            raise bad(name, "a list of integers")


def import_onnx(model) -> Network:
    """Convert an ONNX model to a :class:`Network`.

    Parameters
    ----------
    model : str, Path or onnx.ModelProto
        The ``.onnx`` file or a loaded model.

    Raises
    ------
    NetworkError
        If the file cannot be read; :class:`UnsupportedModelError` (a NetworkError)
        naming the first unsupported node, its operator type and what is supported.
    """
    onnx = _onnx()
    from onnx import numpy_helper

    if isinstance(model, (str, Path)):
        source = str(model)
        if not Path(model).exists():
            raise NetworkError(f"model file {source} does not exist")
        try:
            model = onnx.load(str(model))
        except Exception as e:  # protobuf raises its own DecodeError family
            raise NetworkError(f"{source} is not a readable ONNX file: {e}") from None
    else:
        source = "ONNX model"
    graph = model.graph
    builder = ChainBuilder(source, SUPPORTED)

    def to_array(t):
        try:
            return numpy_helper.to_array(t)
        except Exception as e:  # a corrupt tensor: undefined type, wrong data size
            raise NetworkError(f"{source}: tensor {t.name!r} cannot be read: {e}") from None

    consts = {t.name: to_array(t) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"{source}: the graph has {len(inputs)} inputs "
                                    f"({', '.join(i.name for i in inputs)}); one is supported")
    if len(graph.output) != 1:
        raise UnsupportedModelError(f"{source}: the graph has {len(graph.output)} outputs; "
                                    f"one is supported")
    dims = inputs[0].type.tensor_type.shape.dim
    builder.input([d.dim_value if d.HasField("dim_value") else None for d in dims])
    current = inputs[0].name

    def const(node, name, what):
        if name not in consts:
            raise builder.refuse(node.name or node.output[0], node.op_type,
                                 f"takes its {what} {name!r} from a computed tensor; "
                                 f"only constant {what}s are")
        return consts[name]

    for node in graph.node:
        if not node.output:  # only a corrupt file has such a node
            raise UnsupportedModelError(f"{source}: node {node.name!r} ({node.op_type}) has "
                                        f"no output")
        label = node.name or node.output[0]
        op = node.op_type
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        _check_attribute_types(builder, label, op, attrs)
        if node.domain not in ("", "ai.onnx"):
            raise builder.refuse(label, f"{node.domain}.{op}")
        if op == "Constant":
            if "value" not in attrs:
                raise builder.refuse(label, op, "holds no tensor 'value'")
            consts[node.output[0]] = to_array(attrs["value"])
            continue
        if op == "Identity" and node.input and node.input[0] in consts:
            consts[node.output[0]] = consts[node.input[0]]
            continue
        if op not in _OPS:
            raise builder.refuse(label, op)
        if not node.input or node.input[0] != current:
            raise builder.refuse(label, op, "does not continue a straight chain from the "
                                            "graph input")
        if op == "Gemm":
            if attrs.get("transA", 0):
                raise builder.refuse(label, op, "has transA=1; only transA=0 is")
            b = const(node, node.input[1], "weight")
            w = b if attrs.get("transB", 0) else b.T
            w = attrs.get("alpha", 1.0) * np.asarray(w, dtype=np.float64)
            bias = None
            if len(node.input) > 2 and node.input[2] and w.ndim == 2:  # (fc refuses others)
                c = np.asarray(const(node, node.input[2], "bias"), dtype=np.float64)
                if c.size not in (1, w.shape[0]):  # 1: broadcast to every output
                    raise builder.refuse(label, op, f"has a bias of {c.size} values for "
                                                    f"{w.shape[0]} outputs")
                bias = attrs.get("beta", 1.0) * np.broadcast_to(c.reshape(-1) if c.size > 1
                                                                else c, (w.shape[0],))
            builder.fc(label, op, w, bias)
        elif op == "MatMul":
            builder.fc(label, op, np.asarray(const(node, node.input[1], "weight")).T)
        elif op == "Add":
            builder.bias(label, op, const(node, node.input[1], "addend"))
        elif op == "Relu":
            builder.relu(label, op)
        elif op == "Flatten":
            if attrs.get("axis", 1) != 1:
                raise builder.refuse(label, op, f"has axis={attrs['axis']}; only axis=1 is")
            builder.flatten(label, op)
        elif op == "Reshape":
            if len(node.input) < 2 or not node.input[1]:
                raise builder.refuse(label, op, "has no shape input; a Reshape to a "
                                                "constant (batch, features) shape is")
            shape = [int(s) for s in np.asarray(const(node, node.input[1], "shape")).reshape(-1)]
            if len(shape) != 2 or shape[1] == 0 or shape == [-1, -1]:
                raise builder.refuse(label, op, f"reshapes to {shape}; only a batch-flat "
                                                f"(batch, features) shape is")
            builder.flatten(label, op, shape[1] if shape[1] > 0 else None)
        elif op == "Conv":
            if len(node.input) < 2 or not node.input[1]:  # found by fuzzing: an IndexError
                raise builder.refuse(label, op, "has no weight input; a Conv with its "
                                                "kernel as a constant initializer is")
            w = np.asarray(const(node, node.input[1], "weight"), dtype=np.float64)
            n = w.ndim - 2
            bias = (const(node, node.input[2], "bias")
                    if len(node.input) > 2 and node.input[2] else None)
            builder.conv(label, op, w, bias, attrs.get("strides", [1] * n),
                         _symmetric_pads(builder, label, op, attrs, n),
                         attrs.get("dilations", [1] * n), attrs.get("group", 1))
        elif op in ("MaxPool", "AveragePool"):
            if len(node.output) > 1 and node.output[1]:
                raise builder.refuse(label, op, "uses the indices output")
            k = list(attrs.get("kernel_shape", []))
            builder.pool(label, op, "max" if op == "MaxPool" else "avg", k,
                         attrs.get("strides", [1] * len(k)),
                         _symmetric_pads(builder, label, op, attrs, len(k)),
                         attrs.get("dilations", [1] * len(k)), attrs.get("ceil_mode", 0))
        elif op == "BatchNormalization":
            if attrs.get("training_mode", 0) or any(node.output[1:]):
                raise builder.refuse(label, op, "is in training mode (batch statistics); only "
                                                "the inference form folds")
            scale, b, mean, var = (const(node, name, what) for name, what in
                                   zip(node.input[1:5], ("scale", "bias", "mean", "variance")))
            builder.batchnorm(label, op, mean, var, attrs.get("epsilon", 1e-5), scale, b)
        elif op in ("Softmax", "LogSoftmax"):
            # 2-D input: axis 1 is -1, the features, in every opset's default
            if attrs.get("axis", -1) not in (1, -1):
                raise builder.refuse(label, op, f"has axis={attrs['axis']}; only the feature "
                                                f"axis (1 or -1) keeps argmax")
            builder.final(label, op)
        elif op == "Sigmoid":
            builder.final(label, op)
        elif op in ("Dropout", "Identity"):
            if len(node.output) > 1 and node.output[1]:
                raise builder.refuse(label, op, "uses the dropout mask output")
        else:
            raise builder.refuse(label, op)
        current = node.output[0]
    if graph.output[0].name != current:
        raise UnsupportedModelError(f"{source}: the graph output {graph.output[0].name!r} is "
                                    f"not the end of the chain ({current!r})")
    return builder.network()
