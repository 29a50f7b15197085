import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import check_fits, compile_network, default_calibration
from eiegen.compiler.encode import encode_layer
from eiegen.compiler.examples import random_network
from eiegen.compiler.network import Layer, Network
from eiegen.compiler.program import ProgramError

from reference_models import reference_program_bias

NET = random_network(3, [20, 13, 7], density=0.3)  # 2 layers; 35 pointers, 4 + 2 biases per PE


def refused(net, cfg, *fragments):
    with pytest.raises(ProgramError) as e:
        compile_network(net, cfg)
    msg = str(e.value)
    assert msg.startswith("the network does not fit the configuration")
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)
    return msg


NET_30_OUT = random_network(0, [4, 30], density=0.5)
NET_CB32 = random_network(1, [8, 6], density=0.5, index_bits=5)


# (network, n_pe, the field, the largest value refused, the smallest accepted, fragments
# the message must hold: the memory and the numbers)
MEMORIES = [
    (NET, 4, "act_depth", 4, 5, ["layer 0 (fc0) has 20 inputs, 5 per PE",
                                 "act_depth=4 per PE: raise act_depth to 5 or n_pe to 5"]),
    (NET_30_OUT, 4, "act_depth", 7, 8, ["layer 0 (fc0) has 30 outputs, 8 per PE", "act_depth=7",
                                        "raise act_depth to 8"]),
    (NET, 4, "ptr_depth", 34, 36, ["pointer memory: the layers need 35 pointers per PE but "
                                   "ptr_depth=34", "raise ptr_depth to 36"]),
    (NET, 4, "bias_depth", 5, 6, ["bias memory: the layers need 6 biases per PE but bias_depth=5"]),
    (NET, 4, "max_layers", 1, 2, ["the network has 2 layers but the control unit holds "
                                  "max_layers=1"]),
    (NET_CB32, 2, "index_bits", 4, 5, ["layer 0 (fc0) has a 32-entry codebook but index_bits=4 "
                                       "allows 16", "raise index_bits to 5"]),
]


@pytest.mark.parametrize("net, n_pe, field, bad, good, fragments", MEMORIES,
                         ids=[f"{m[2]}={m[3]}" for m in MEMORIES])
def test_memory_limits(net, n_pe, field, bad, good, fragments):
    refused(net, ArchConfig(n_pe=n_pe, **{field: bad}), *fragments)
    compile_network(net, ArchConfig(n_pe=n_pe, **{field: good}))  # the boundary fits


@pytest.mark.parametrize("epw", [1, 3, 8])
def test_spmat_depth(epw):
    cfg = ArchConfig(n_pe=4, entries_per_word=epw, rel_bits=2)
    per_pe = [sum(encode_layer(layer.indices, 4, 2).pe[k].n_entries for layer in NET)
              for k in range(4)]
    worst = max(per_pe)
    words = -(-worst // epw)
    prog = compile_network(NET, cfg.replace(spmat_depth=words))
    assert prog.images["pe0.spmat"].shape[0] <= words
    refused(NET, cfg.replace(spmat_depth=words - 1),
            f"sparse-matrix memory: PE {per_pe.index(worst)} needs {worst} entries "
            f"({words} words of {epw})",
            f"spmat_depth={words - 1} words hold {(words - 1) * epw}",
            f"raise spmat_depth to {words}")


def test_all_problems_reported_at_once():
    msg = refused(NET, ArchConfig(n_pe=4, act_depth=2, ptr_depth=20, bias_depth=1, max_layers=1),
                  "max_layers=1", "act_depth=2", "ptr_depth=20", "bias_depth=1")
    assert msg.count("\n  - ") >= 4


def test_check_fits_accepts_what_fits():
    check_fits(NET, ArchConfig(n_pe=4))  # returns quietly


def test_calibration_shape():
    with pytest.raises(ProgramError, match=r"calibration inputs must have shape \(batch, 20\), got \(3, 19\)"):
        compile_network(NET, ArchConfig(n_pe=4), calibration=np.zeros((3, 19)))
    with pytest.raises(ProgramError, match=r"got \(20,\)"):
        compile_network(NET, ArchConfig(n_pe=4), calibration=np.zeros(20))


def test_default_calibration():
    a = default_calibration(7)
    assert a.shape == (256, 7) and a.min() >= -1 and a.max() <= 1
    assert np.array_equal(a, default_calibration(7)) and not np.array_equal(a, default_calibration(7, seed=1))
    prog = compile_network(NET, ArchConfig(n_pe=4))
    assert prog.layers[0].fmt.calib_max_in == float(np.abs(default_calibration(20)).max())


def test_unquantized_network_is_weight_shared_first():
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(6, 10)) * (rng.random((6, 10)) < 0.4)
    w2 = rng.normal(size=(3, 6))
    net = Network((Layer(w1, bias=rng.normal(size=6)), Layer(w2, activation="none")))
    cfg = ArchConfig(n_pe=2, index_bits=3)
    prog = compile_network(net, cfg)
    for lp, w in zip(prog.layers, (w1, w2)):
        assert len(lp.codebook) == 8 and lp.codebook[0] == 0.0
        assert sum(lp.nnz) == np.count_nonzero(w)  # pruned weights stay pruned
    net2 = Network((net[0], NET[1].quantize(NET[1].codebook, NET[1].indices[:, :6])))
    prog2 = compile_network(net2, cfg.replace(index_bits=4))  # a mix of both kinds
    assert prog2.layers[1].codebook == list(NET[1].codebook)


def test_memory_layout():
    net = random_network(5, [9, 10, 6, 3], density=0.4)
    cfg = ArchConfig(n_pe=4)
    prog = compile_network(net, cfg)
    ptr_base = bias_base = 0
    entry_base = [0] * 4
    for layer, lp in zip(net.layers, prog.layers):
        assert (lp.ptr_base, lp.bias_base, lp.entry_base) == (ptr_base, bias_base, entry_base)
        bias_q = reference_program_bias(layer, lp, cfg.acc_bits)
        rows = -(-layer.n_out // 4)
        for k in range(4):
            mine = bias_q[k::4]
            assert prog.images[f"pe{k}.bias"][bias_base:bias_base + rows].tolist() == \
                mine + [0] * (rows - len(mine))  # rows a PE does not own get bias 0
        ptr_base += layer.n_in + 1
        bias_base += rows
        entry_base = [b + e for b, e in zip(entry_base, lp.entries)]
    for k in range(4):
        assert len(prog.images[f"pe{k}.ptr"]) == ptr_base
        assert len(prog.images[f"pe{k}.bias"]) == bias_base
        assert prog.images[f"pe{k}.spmat"].shape[0] == -(-entry_base[k] // cfg.entries_per_word)
    assert len(prog.images["codebook"]) == 3 * 16
    assert len(prog.images["layers"]) == 3 * 4


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_pe=st.sampled_from([1, 3, 4, 64]), depth=st.integers(1, 3))
def test_compiled_memories_decode_to_the_network(seed, n_pe, depth):
    from eiegen.sim.golden import layer_matrix

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 50, size=depth + 1).tolist()
    net = random_network(rng, sizes, density=float(rng.choice([0.0, 0.05, 0.5])))
    prog = compile_network(net, ArchConfig(n_pe=n_pe))
    for k, layer in enumerate(net.layers):
        m = layer_matrix(prog, k)
        dense = np.zeros_like(layer.indices)
        dense[m.rows, m.cols] = m.index
        assert np.array_equal(dense, layer.indices)
