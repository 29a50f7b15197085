"""compiler/conv.py and the ConvLayer IR: the Toeplitz map equals a direct convolution."""

import numpy as np
import pytest

from eiegen.compiler.conv import conv_map, conv_matrix, conv_out_size, pool_windows
from eiegen.compiler.network import ConvLayer, Layer, Network, NetworkError


def direct_conv(x, w, stride, pad, dil, groups):
    """A plain loop convolution (cross-correlation, as torch), x (C, H, W), w (O, C/g, kh, kw)."""
    c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((c, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    ho = conv_out_size(h, kh, stride[0], pad[0], dil[0])
    wo = conv_out_size(wd, kw, stride[1], pad[1], dil[1])
    y = np.zeros((o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for yy in range(ho):
            for xx in range(wo):
                for ci in range(cg):
                    for i in range(kh):
                        for j in range(kw):
                            y[oc, yy, xx] += w[oc, ci, i, j] * xp[
                                g * cg + ci, yy * stride[0] + i * dil[0], xx * stride[1] + j * dil[1]]
    return y


CASES = [  # (C, H, W, O, kernel, stride, pad, dilation, groups)
    (1, 6, 6, 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (4, 7, 5, 6, (3, 2), (2, 1), (0, 1), (1, 2), 2),
    (3, 5, 5, 3, (3, 3), (1, 1), (1, 1), (1, 1), 3),   # depthwise
    (2, 1, 9, 4, (1, 3), (1, 2), (0, 2), (1, 1), 1),   # 1-D
    (2, 8, 8, 2, (2, 2), (2, 2), (0, 0), (1, 1), 1),
]


@pytest.mark.parametrize("case", CASES)
def test_toeplitz_matrix_equals_direct_convolution(case):
    c, h, w, o, k, s, p, d, g = case
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(o, c // g, *k))
    x = rng.normal(size=(c, h, w))
    m = conv_matrix(weight.reshape(o, -1), (c, h, w), k, s, p, d, g, dense=True)
    np.testing.assert_allclose(m @ x.reshape(-1), direct_conv(x, weight, s, p, d, g).reshape(-1),
                               atol=1e-12)
    rows, cols, kidx = conv_map((c, h, w), o, k, s, p, d, g)
    assert len(rows) == np.count_nonzero(m)  # one entry per kernel tap inside the map


def test_pool_windows_skip_padding():
    win = pool_windows((1, 3, 3), (2, 2), (2, 2), (1, 1))
    assert win.shape == (4, 4)
    assert win[0].tolist() == [-1, -1, -1, 0]  # the corner window holds one real input
    assert win[3].tolist() == [4, 5, 7, 8]


def test_convlayer_forward_with_pool_and_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    conv = ConvLayer(weight=rng.normal(size=(2, 9)), bias=rng.normal(size=2), name="c",
                     in_shape=(1, 5, 5), kernel=3, padding=1, pool=(2, 2), pool_padding=(1, 1))
    assert conv.out_shape == (2, 3, 3) and conv.n_in == 25 and conv.n_out == 18
    x = rng.normal(size=(4, 25))
    y = np.maximum(conv.conv_matrix() @ x.T + np.repeat(conv.bias, 25)[:, None], 0).T
    win = pool_windows((2, 5, 5), (2, 2), (2, 2), (1, 1))
    ref = np.stack([[y[b, [i for i in wi if i >= 0]].max() for wi in win] for b in range(4)])
    np.testing.assert_allclose(conv.forward(x), ref)
    net = Network((conv, Layer(rng.normal(size=(3, 18)), name="fc")))
    net.save(tmp_path / "n.npz")
    back = Network.load(tmp_path / "n.npz")
    assert isinstance(back[0], ConvLayer) and back[0].describe() == conv.describe()
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def test_old_fc_files_still_load(tmp_path):
    np.savez(tmp_path / "old.npz", **{"layer0.weight": np.ones((2, 3)),
                                      "layer0.activation": np.array("none")})
    assert type(Network.load(tmp_path / "old.npz")[0]) is Layer


@pytest.mark.parametrize("kw, msg", [
    (dict(weight=np.ones((2, 8))), "needs 9"),
    (dict(weight=np.ones((3, 9)), groups=2), "groups=2 must divide"),
    (dict(weight=np.ones((2, 49)), kernel=7), "does not fit"),
    (dict(weight=np.ones((2, 9)), pool=(2, 2), activation="none"), "needs a ReLU"),
])
def test_convlayer_refusals(kw, msg):
    args = dict(in_shape=(1, 4, 4), kernel=3)
    args.update(kw)
    with pytest.raises(NetworkError, match=msg):
        ConvLayer(**args)


def test_bad_geometry_in_file(tmp_path):
    np.savez(tmp_path / "bad.npz", **{"layer0.weight": np.ones((2, 9)),
                                      "layer0.kind": np.array("conv3d"),
                                      "layer0.in_shape": np.array([1, 4, 4]),
                                      "layer0.conv": np.array([3, 3, 1, 1, 0, 0, 1, 1, 1])})
    with pytest.raises(NetworkError, match="conv3d"):
        Network.load(tmp_path / "bad.npz")
