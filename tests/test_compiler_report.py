import json

import numpy as np
import pytest

from eiegen.compiler.network import Layer, Network
from eiegen.compiler.report import CompressionReport, layer_storage


def quantized_layer(n_out=8, n_in=6, bias=True):
    idx = np.zeros((n_out, n_in), dtype=np.int64)
    idx[0, 0], idx[n_out - 3, 0], idx[n_out - 1, 3] = 1, 2, 1  # 3 non-zeros
    cb = np.array([0.0, 0.5, -1.0, 0.0])
    return Layer(cb[idx], np.ones(n_out) if bias else None, "relu", "fc", cb, idx)


def test_storage_counts_every_part():
    s = layer_storage(quantized_layer(), n_pe=1, rel_bits=2)
    # column 0: rows 0 and 5 -> z = 0, then gap 4 > 3 needs a padding entry: 3 entries
    # column 3: row 7 -> gap 7 -> padding (3) + entry z=3: 2 entries
    assert s.nnz == 3 and s.entries == 5 and s.padding == 2
    assert s.bytes_dense == (8 * 6 + 8) * 4
    ptr_bits = 7 * 3  # 7 pointers up to 5 -> 3 bits each
    bias_bits = 8 * 32
    assert s.bytes_pruned == -(-(5 * (32 + 2) + ptr_bits + bias_bits) // 8)
    assert s.bytes_quantized == -(-(5 * (2 + 2) + ptr_bits + 4 * 32 + bias_bits) // 8)
    assert s.index_bits == 2 and s.density == 3 / 48
    assert s.bytes_quantized < s.bytes_pruned < s.bytes_dense  # (tables outweigh Huffman here)
    assert s.ratio == s.bytes_dense / s.bytes_huffman


def test_no_bias_counts_nothing_for_it():
    a = layer_storage(quantized_layer(bias=True))
    b = layer_storage(quantized_layer(bias=False))
    assert a.bytes_dense - b.bytes_dense == 32 and a.bytes_huffman - b.bytes_huffman == 32


def test_unquantized_layer_rejected():
    with pytest.raises(ValueError, match="not quantized"):
        layer_storage(Layer(np.ones((2, 2))))


def test_report_totals_table_and_json():
    net = Network((quantized_layer(), quantized_layer(4, 8)))
    r = CompressionReport.of(net, n_pe=2, rel_bits=[2, 3],
                             stages=[("dense", 99.0), ("quantized", 98.5)])
    t = r.total()
    assert t["bytes_huffman"] == sum(s.bytes_huffman for s in r.layers)
    assert t["ratio"] == t["bytes_dense"] / t["bytes_huffman"]
    assert r.stage("quantized") == 98.5
    with pytest.raises(KeyError, match="stages: dense, quantized"):
        r.stage("pruned")
    text = r.table()
    assert "total" in text and "98.50" in text and "2 PEs" in text
    d = json.loads(r.to_json())
    assert d["n_pe"] == 2 and d["layers"][1]["rel_bits"] == 3
    assert d["stages"] == [{"stage": "dense", "metric": 99.0},
                           {"stage": "quantized", "metric": 98.5}]
    assert d["layers"][0]["shape"] == [8, 6]
