import numpy as np
import pytest

from eiegen.compiler.finetune import NumpyTrainer, TorchTrainer, accuracy, codebook_gradient
from eiegen.compiler.network import Layer, Network
from eiegen.compiler.prune import apply_masks, prune_masks
from eiegen.compiler.weight_sharing import share_weights


def blobs(n=300, seed=0):
    """Three separable Gaussian classes in 6-D."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 6)) * 2
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(size=(n, 6)) * 0.7, y


def small_net(seed=0):
    rng = np.random.default_rng(seed)
    return Network((Layer(rng.normal(size=(12, 6)) * 0.5, rng.normal(size=12) * 0.1, "relu"),
                    Layer(rng.normal(size=(3, 12)) * 0.5, np.zeros(3), "none")))


def mean_loss(tr, weights, biases, relus, x, y):
    h = x
    for w, b, r in zip(weights, biases, relus):
        h = h @ w.T + b
        h = np.maximum(h, 0) if r else h
    if tr.loss == "mse":
        return np.mean((h - y) ** 2)
    h = h - h.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(h).sum(axis=1)) - h[np.arange(len(y)), y])


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_backward_matches_finite_differences(loss):
    x, y = blobs(20)
    if loss == "mse":
        y = np.eye(3)[y]
    tr = NumpyTrainer(x, y, loss=loss)
    net = small_net()
    ws = [la.weight.copy() for la in net]
    bs = [la.bias.copy() for la in net]
    relus = [la.relu for la in net]
    gw, gb = tr._backward(ws, bs, relus, x, y)
    eps = 1e-6
    for k in range(2):
        for idx in [(0, 0), (1, 2), (2, 5)]:
            ws[k][idx] += eps
            up = mean_loss(tr, ws, bs, relus, x, y)
            ws[k][idx] -= 2 * eps
            down = mean_loss(tr, ws, bs, relus, x, y)
            ws[k][idx] += eps
            assert gw[k][idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-8)
        bs[k][1] += eps
        up = mean_loss(tr, ws, bs, relus, x, y)
        bs[k][1] -= 2 * eps
        down = mean_loss(tr, ws, bs, relus, x, y)
        bs[k][1] += eps
        assert gb[k][1] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-8)


def test_codebook_gradient_is_sum_of_shared_gradients():
    idx = np.array([[0, 1, 2], [1, 1, 0]])
    g = np.array([[5.0, 1.0, 2.0], [3.0, 4.0, 7.0]])
    assert codebook_gradient(idx, g, 4).tolist() == [0.0, 8.0, 2.0, 0.0]


def test_masked_retraining_keeps_zeros_and_learns():
    x, y = blobs()
    net = small_net()
    masks = prune_masks(net, sparsity=0.5)
    pruned = apply_masks(net, masks)
    tr = NumpyTrainer(x, y, lr=1e-2, seed=1)
    trained = tr.train_weights(pruned, masks, epochs=5)
    for la, m in zip(trained, masks):
        assert not la.weight[~m].any()
    assert accuracy(trained, x, y) > accuracy(pruned, x, y)
    assert accuracy(trained, x, y) > 90
    again = NumpyTrainer(x, y, lr=1e-2, seed=1).train_weights(pruned, masks, epochs=5)
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(trained, again))


def test_trained_quantization_keeps_assignments():
    x, y = blobs()
    net = NumpyTrainer(x, y, lr=1e-2).train_weights(small_net(), None, epochs=5)
    layers = []
    for la in net:
        cb, idx = share_weights(la.weight, 2)
        layers.append(la.quantize(cb, idx))
    q = Network(tuple(layers))
    tr = NumpyTrainer(x, y, lr=1e-2, codebook_lr=1e-2, seed=0)
    t = tr.train_codebooks(q, epochs=5)
    for a, b in zip(q, t):
        assert np.array_equal(a.indices, b.indices) and b.codebook[0] == 0.0
        assert np.array_equal(b.weight, b.codebook[b.indices])
    assert not all(np.array_equal(a.codebook, b.codebook) for a, b in zip(q, t))
    assert accuracy(t, x, y) >= accuracy(q, x, y) - 1.0


def test_bad_training_data_rejected():
    with pytest.raises(ValueError, match="integer class labels"):
        NumpyTrainer(np.zeros((4, 6)), np.zeros(4))
    with pytest.raises(ValueError, match="x must be"):
        NumpyTrainer(np.zeros((4, 6)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="supported: cross_entropy, mse"):
        NumpyTrainer(np.zeros((4, 6)), np.zeros(4, dtype=int), loss="hinge")
    with pytest.raises(ValueError, match="7 features"):
        NumpyTrainer(np.zeros((4, 7)), np.zeros(4, dtype=int)).train_weights(small_net())


def test_torch_trainer_matches_the_numpy_semantics():
    torch = pytest.importorskip("torch")
    x, y = blobs()
    ds = torch.utils.data.TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y))
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    net = small_net()
    masks = prune_masks(net, sparsity=0.5)
    tr = TorchTrainer(loader, lr=1e-2, seed=0)
    trained = tr.train_weights(apply_masks(net, masks), masks, epochs=5)
    for la, m in zip(trained, masks):
        assert not la.weight[~m].any()
    assert accuracy(trained, x, y) > 90
    layers = [la.quantize(*share_weights(la.weight, 2)) for la in trained]
    q = Network(tuple(layers))
    t = tr.train_codebooks(q, epochs=3)
    for a, b in zip(q, t):
        assert np.array_equal(a.indices, b.indices) and b.codebook[0] == 0.0
    # autograd through the gather gives exactly the summed gradient
    cb = torch.tensor(q[0].codebook[1:], requires_grad=True)
    w = torch.cat([torch.zeros(1, dtype=torch.float64), cb])[torch.tensor(q[0].indices)]
    g = torch.randn(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (w * g).sum().backward()
    expect = codebook_gradient(q[0].indices, g.numpy(), len(q[0].codebook))[1:]
    assert np.allclose(cb.grad.numpy(), expect)


def test_numpy_trainer_conv_gradients_match_finite_differences():
    """Kernel, bias and FC gradients through a conv + ReLU + max pool (compiler/conv.py)."""
    from dataclasses import replace

    from eiegen.compiler.finetune import _conv_ops
    from eiegen.compiler.network import ConvLayer

    rng = np.random.default_rng(0)
    conv = ConvLayer(weight=rng.normal(size=(3, 8)), bias=rng.normal(size=3) * 0.1,
                     in_shape=(2, 5, 5), kernel=2, padding=1, pool=(2, 2), pool_stride=(2, 2))
    fc = Layer(rng.normal(size=(4, conv.n_out)), rng.normal(size=4), "none")
    net = Network((conv, fc))
    x, y = rng.normal(size=(6, 50)), rng.integers(0, 4, size=6)
    tr = NumpyTrainer(x, y)
    tr._ops = _conv_ops(net)
    ws, bs = [conv.weight.copy(), fc.weight.copy()], [conv.bias.copy(), fc.bias.copy()]

    def loss(ws, bs):
        out = Network((replace(conv, weight=ws[0], bias=bs[0]),
                       replace(fc, weight=ws[1], bias=bs[1]))).forward(x)
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return -np.mean(np.log(e[np.arange(6), y] / e.sum(axis=1)))

    gw, gb = tr._backward(ws, bs, [True, False], x, y)
    for params, grads in ((ws, gw), (bs, gb)):
        for p, g in zip(params, grads):
            for i in [0, p.size // 2, p.size - 1]:
                old = p.flat[i]
                p.flat[i] = old + 1e-6
                up = loss(ws, bs)
                p.flat[i] = old - 1e-6
                down = loss(ws, bs)
                p.flat[i] = old
                assert abs((up - down) / 2e-6 - g.flat[i]) < 1e-5
