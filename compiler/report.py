"""Storage accounting and the compression report.

Every size counts all that a decoder needs to rebuild the layer, in bits, rounded up to
whole bytes per layer:

``dense``
    32-bit floats for every weight and bias.
``pruned``
    relative-indexed CSC over ``n_pe`` interleaved PEs (``n_pe = 1`` is plain CSC as in
    Deep Compression): per entry a 32-bit float and a ``rel_bits`` relative index,
    padding entries included; ``n_pe * (n_in + 1)`` pointers, each as wide as the
    largest pointer of the layer needs; 32-bit biases.
``quantized``
    as ``pruned`` but each entry stores an ``index_bits`` codebook index instead of the
    float, plus the codebook (``2**index_bits`` 32-bit floats).
``huffman``
    the ``v`` and ``z`` streams and the per-column entry counts Huffman-coded (payload and
    code-length tables, see :mod:`huffman`), plus the codebook and the biases.

The compression ratio is dense bytes over Huffman-coded bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from eiegen.safeio import json_text

from .encode import decode_layer, encode_layer
from .huffman import huffman_decode_layer, huffman_encode_layer

__all__ = ["LayerStorage", "CompressionReport", "layer_storage", "FLOAT_BITS"]

FLOAT_BITS = 32


def _bytes(bits: int) -> int:
    return -(-int(bits) // 8)


@dataclass(frozen=True)
class LayerStorage:
    """Sizes of one layer at each stage (bytes) and its sparsity statistics."""

    name: str
    shape: tuple[int, int]
    nnz: int
    density: float
    index_bits: int
    rel_bits: int
    entries: int
    padding: int
    bytes_dense: int
    bytes_pruned: int
    bytes_quantized: int
    bytes_huffman: int
    huffman_index_bytes: int
    huffman_position_bytes: int

    @property
    def ratio(self) -> float:
        return self.bytes_dense / self.bytes_huffman


def layer_storage(layer, n_pe: int = 1, rel_bits: int = 4, *, verify: bool = True,
                  ) -> LayerStorage:
    """Storage of one quantized :class:`~eiegen.compiler.network.Layer` at every stage.

    Parameters
    ----------
    layer : Layer
        A quantized layer (it has a codebook and indices).
    n_pe, rel_bits : int
        The sparse format's PE count and relative-index width.
    verify : bool
        Decode the Huffman streams and check they restore the encoding exactly.
    """
    if not layer.quantized:
        raise ValueError(f"layer {layer.name!r} is not quantized; storage needs its codebook")
    n_out, n_in = layer.weight.shape
    index_bits = max(1, (len(layer.codebook) - 1).bit_length())
    bias_bits = 0 if layer.bias is None else FLOAT_BITS * n_out
    codebook_bits = FLOAT_BITS * len(layer.codebook)
    enc = encode_layer(layer.indices, n_pe, rel_bits)
    entries = enc.n_entries
    ptr_width = max(1, max(s.n_entries for s in enc.pe).bit_length())
    ptr_bits = n_pe * (n_in + 1) * ptr_width
    huff = huffman_encode_layer(enc, index_bits)
    if verify:
        back = huffman_decode_layer(huff)
        if not np.array_equal(decode_layer(back, n_out, n_in), layer.indices):
            raise AssertionError(f"layer {layer.name!r}: Huffman decoding did not restore "
                                 f"the encoding")
    return LayerStorage(
        name=layer.name, shape=(n_out, n_in), nnz=layer.nnz,
        density=layer.nnz / layer.weight.size, index_bits=index_bits, rel_bits=rel_bits,
        entries=entries, padding=enc.n_padding,
        bytes_dense=_bytes(FLOAT_BITS * layer.weight.size + bias_bits),
        bytes_pruned=_bytes(entries * (FLOAT_BITS + rel_bits) + ptr_bits + bias_bits),
        bytes_quantized=_bytes(entries * (index_bits + rel_bits) + ptr_bits + codebook_bits
                               + bias_bits),
        bytes_huffman=_bytes(huff.bits + codebook_bits + bias_bits),
        huffman_index_bytes=_bytes(huff.index_bits),
        huffman_position_bytes=_bytes(huff.position_bits))


_SIZE_FIELDS = ("nnz", "entries", "padding", "bytes_dense", "bytes_pruned", "bytes_quantized",
                "bytes_huffman", "huffman_index_bytes", "huffman_position_bytes")


@dataclass
class CompressionReport:
    """Per-layer storage, totals and the metric after each stage.

    Attributes
    ----------
    layers : list of LayerStorage
    stages : list of (str, float)
        ``(stage name, metric value)`` in pipeline order.
    metric : str
        What the metric is (e.g. ``"accuracy %"``).
    n_pe : int
        PEs the sparse format was split over.
    extra : dict
        Anything else worth keeping (settings of the run).
    """

    layers: list[LayerStorage]
    stages: list[tuple[str, float]] = field(default_factory=list)
    metric: str = "accuracy %"
    n_pe: int = 1
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, net, n_pe: int = 1, rel_bits=4, **kwargs) -> "CompressionReport":
        """Storage report of a quantized network; ``rel_bits`` may be one value or one
        per layer."""
        rels = list(rel_bits) if isinstance(rel_bits, (list, tuple)) else [rel_bits] * len(net)
        return cls([layer_storage(layer, n_pe, r) for layer, r in zip(net, rels)],
                   n_pe=n_pe, **kwargs)

    def total(self) -> dict:
        t = {f: sum(getattr(s, f) for s in self.layers) for f in _SIZE_FIELDS}
        weights = sum(s.shape[0] * s.shape[1] for s in self.layers)
        t["weights"] = weights
        t["density"] = t["nnz"] / weights
        t["ratio"] = t["bytes_dense"] / t["bytes_huffman"]
        t["ratio_pruned"] = t["bytes_dense"] / t["bytes_pruned"]
        t["ratio_quantized"] = t["bytes_dense"] / t["bytes_quantized"]
        return t

    def stage(self, name: str) -> float:
        for n, v in self.stages:
            if n == name:
                return v
        raise KeyError(f"no stage {name!r}; stages: {', '.join(n for n, _ in self.stages)}")

    def to_dict(self) -> dict:
        layers = []
        for s in self.layers:
            d = asdict(s)
            d["shape"] = list(s.shape)
            d["ratio"] = s.ratio
            layers.append(d)
        return {"n_pe": self.n_pe, "metric": self.metric, "layers": layers,
                "total": self.total(),
                "stages": [{"stage": n, "metric": v} for n, v in self.stages],
                **({"extra": self.extra} if self.extra else {})}

    def to_json(self) -> str:
        return json_text(self.to_dict(), indent=2)

    def table(self) -> str:
        """The report as a plain-text table (one row per layer, a total, the stages)."""
        head = ("layer", "shape", "nnz", "density", "bits", "dense B", "pruned B", "quant B",
                "huffman B", "ratio")
        rows = []
        for s in self.layers:
            rows.append((s.name or "-", f"{s.shape[1]}x{s.shape[0]}", str(s.nnz),
                         f"{100 * s.density:.2f}%", str(s.index_bits), str(s.bytes_dense),
                         str(s.bytes_pruned), str(s.bytes_quantized), str(s.bytes_huffman),
                         f"{s.ratio:.1f}x"))
        t = self.total()
        rows.append(("total", "", str(t["nnz"]), f"{100 * t['density']:.2f}%", "",
                     str(t["bytes_dense"]), str(t["bytes_pruned"]), str(t["bytes_quantized"]),
                     str(t["bytes_huffman"]), f"{t['ratio']:.1f}x"))
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

        def line(r):
            return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths)))

        out = [line(head), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in rows[:-1]]
        out += ["  ".join("-" * w for w in widths), line(rows[-1])]
        out.append(f"(shape is inputs x outputs; sparse formats over {self.n_pe} PE"
                   f"{'s' if self.n_pe != 1 else ''}; ratio = dense / huffman; pruned "
                   f"{t['ratio_pruned']:.1f}x, quantized {t['ratio_quantized']:.1f}x)")
        if self.stages:
            out.append("")
            width = max(len(n) for n, _ in self.stages)
            out.append(f"{'stage'.ljust(width)}  {self.metric}")
            for n, v in self.stages:
                out.append(f"{n.ljust(width)}  {v:.2f}")
        return "\n".join(out)
