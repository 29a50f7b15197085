"""Retraining between compression stages: masked weights and trained quantization.

Two kinds of retraining follow Deep Compression:

* after pruning, the surviving weights are retrained with the mask held fixed (a pruned
  weight gets no gradient and stays exactly zero);
* after weight sharing, only the shared values are trained: the mask and every weight's
  codebook index stay fixed, and the gradient of centroid ``c`` is the sum of the
  gradients of the weights that share it, ``dL/dc = sum_{ij: I_ij = c} dL/dW_ij``.
  Codebook entry 0 (pruned weights, padding) stays exactly zero.

Biases are trained in both stages (they are stored uncompressed).

Two interchangeable back ends implement this: :class:`NumpyTrainer` (hand-written
backpropagation for the IR, fully connected and convolutional layers with max pooling,
on in-memory arrays, no extra dependency)
and :class:`TorchTrainer` (the user's ``torch.utils.data.DataLoader`` and loss; needs the
optional ``torch``). Both train with Adam and are deterministic for a fixed seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .network import Network, NetworkError

__all__ = ["NumpyTrainer", "TorchTrainer", "codebook_gradient", "accuracy", "LOSSES"]

LOSSES = ("cross_entropy", "mse")


def accuracy(net: Network, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent of ``net`` on inputs ``x`` and integer labels ``y``."""
    pred = np.argmax(net.forward(x), axis=1)
    return 100.0 * float(np.mean(pred == np.asarray(y)))


def codebook_gradient(indices: np.ndarray, weight_grad: np.ndarray, size: int) -> np.ndarray:
    """Gradient of a codebook from the gradient of the weights that index it.

    Entry ``c`` receives the sum of ``weight_grad`` over the weights whose index is
    ``c``; entry 0 receives nothing, because it must stay exactly zero.
    """
    g = np.bincount(np.asarray(indices).reshape(-1),
                    weights=np.asarray(weight_grad, dtype=np.float64).reshape(-1),
                    minlength=size)
    g[0] = 0.0
    return g


def _conv_ops(net: Network) -> list:
    """Per layer: None for a fully connected one, else the convolution's Toeplitz pattern
    and pooling windows (compiler/conv.py), computed once per training run."""
    from .conv import conv_map
    from .network import ConvLayer

    ops = []
    for layer in net:
        if not isinstance(layer, ConvLayer):
            ops.append(None)
            continue
        rows, cols, kidx = conv_map(layer.in_shape, layer.weight.shape[0], layer.kernel,
                                    layer.stride, layer.padding, layer.dilation, layer.groups)
        positions = layer.conv_shape[1] * layer.conv_shape[2]
        ops.append(dict(rows=rows, cols=cols, kidx=kidx, och=rows // positions,
                        positions=positions, shape=(layer.n_conv_out, layer.n_in),
                        windows=None if layer.pool is None else layer.pool_windows()))
    return ops


class _Adam:
    """Adam on a list of numpy arrays (updated in place)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss {loss!r} is not supported; supported: {', '.join(LOSSES)}")
    return loss


class NumpyTrainer:
    """Retrain a :class:`Network` on in-memory data with hand-written backpropagation.

    Parameters
    ----------
    x : numpy.ndarray
        Training inputs, (n, n_in).
    y : numpy.ndarray
        Integer class labels (n,) for ``cross_entropy``, or targets (n, n_out) for ``mse``.
    loss : {"cross_entropy", "mse"}
        Softmax cross-entropy on the last layer's outputs, or mean squared error.
    lr : float
        Adam learning rate for the weights; centroids use ``codebook_lr``.
    codebook_lr : float, optional
        Learning rate of trained quantization (default ``lr``).
    batch_size : int
        Minibatch size.
    weight_decay : float
        L2 penalty on the weights (Deep Compression retrains with L2 regularisation).
    seed : int
        Seed of the minibatch shuffling.
    """

    def __init__(self, x, y, *, loss="cross_entropy", lr=1e-3, codebook_lr=None,
                 batch_size=64, weight_decay=0.0, seed=0):
        self.x = np.asarray(x, dtype=np.float64)
        self.loss = _check_loss(loss)
        self.y = np.asarray(y)
        if self.x.ndim != 2 or len(self.y) != len(self.x) or len(self.x) == 0:
            raise ValueError(f"training data: x must be (n, n_in) and y must have n rows, "
                             f"got x {self.x.shape} and y {self.y.shape}")
        if loss == "cross_entropy" and not np.issubdtype(self.y.dtype, np.integer):
            raise ValueError("cross_entropy needs integer class labels y")
        self.lr = lr
        self.codebook_lr = lr if codebook_lr is None else codebook_lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.seed = seed
        self._epoch = 0

    def _check(self, net: Network):
        self._ops = _conv_ops(net)
        if net.n_in != self.x.shape[1]:
            raise NetworkError(f"the training inputs have {self.x.shape[1]} features but the "
                               f"network expects {net.n_in}")
        if self.loss == "cross_entropy" and self.y.max() >= net.n_out:
            raise NetworkError(f"label {self.y.max()} is out of range for {net.n_out} outputs")

    def _batches(self):
        # A fresh permutation per epoch, derived from (seed, epoch): rerunning a pipeline
        # with the same seed sees the same minibatches in the same order.
        rng = np.random.default_rng([self.seed, self._epoch])
        self._epoch += 1
        order = rng.permutation(len(self.x))
        for a in range(0, len(order), self.batch_size):
            b = order[a:a + self.batch_size]
            yield self.x[b], self.y[b]

    def _backward(self, weights, biases, relus, x, y):
        """Gradients of the mean loss over the batch for every weight and bias.

        A convolution (``self._ops``, from :func:`_conv_ops`) runs as its Toeplitz matrix
        built from the kernel (im2col's matrix, transposed), so the same matrix products
        serve both kinds of layer; a kernel weight's gradient is the sum over the
        positions that repeat it, and max pooling routes each window's gradient to the
        input that won.
        """
        ops = getattr(self, "_ops", None) or [None] * len(weights)
        hs, acts, mats, wins = [x], [], [], []
        for w, b, relu, op in zip(weights, biases, relus, ops):
            if op is None:
                m, bias = w, b
            else:
                m = np.zeros(op["shape"])
                m[op["rows"], op["cols"]] = w[op["och"], op["kidx"]]
                bias = np.repeat(b, op["positions"])
            z = hs[-1] @ m.T + bias
            a = np.maximum(z, 0.0) if relu else z
            win = None if op is None else op["windows"]
            if win is not None:
                vals = np.where(win >= 0, a[:, np.maximum(win, 0)], -np.inf)
                arg = np.take_along_axis(np.broadcast_to(win, vals.shape),
                                         vals.argmax(axis=2)[..., None], axis=2)[..., 0]
                out = np.take_along_axis(a, arg, axis=1)
            else:
                arg, out = None, a
            mats.append(m), acts.append(a), wins.append(arg), hs.append(out)
        out = hs[-1]
        n = len(x)
        if self.loss == "cross_entropy":
            e = np.exp(out - out.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            p[np.arange(n), y] -= 1.0
            d = p / n
        else:
            d = 2.0 * (out - y.reshape(out.shape)) / out.size
        gw, gb = [], []
        for k in range(len(weights) - 1, -1, -1):
            op = ops[k]
            if wins[k] is not None:  # the winner of each window takes its gradient
                full = np.zeros_like(acts[k])
                np.add.at(full, (np.arange(n)[:, None], wins[k]), d)
                d = full
            if relus[k]:
                d = d * (acts[k] > 0)
            gm = d.T @ hs[k]
            if op is None:
                gw.append(gm + self.weight_decay * weights[k])
                gb.append(d.sum(axis=0))
            else:
                flat = op["och"] * weights[k].shape[1] + op["kidx"]
                g = np.bincount(flat, weights=gm[op["rows"], op["cols"]],
                                minlength=weights[k].size).reshape(weights[k].shape)
                gw.append(g + self.weight_decay * weights[k])
                gb.append(d.sum(axis=0).reshape(-1, op["positions"]).sum(axis=1))
            if k:
                d = d @ mats[k]
        return gw[::-1], gb[::-1]

    def train_weights(self, net: Network, masks=None, epochs: int = 1) -> Network:
        """Retrain all weights and biases; weights outside ``masks`` stay zero.

        Parameters
        ----------
        net : Network
            Starting point; quantized layers are trained as plain weights and lose their
            codebooks.
        masks : list of numpy.ndarray, optional
            Boolean masks, True where a weight may be non-zero (default: its non-zeros).
        epochs : int
            Passes over the training data.

        Returns
        -------
        Network
        """
        self._check(net)
        from dataclasses import replace
        masks = [layer.weight != 0 for layer in net] if masks is None else \
            [np.asarray(m, dtype=bool) for m in masks]
        weights = [np.where(m, layer.weight, 0.0) for layer, m in zip(net, masks)]
        biases = [layer.bias_or_zeros().copy() for layer in net]
        relus = [layer.relu for layer in net]
        opt = _Adam(weights + biases, self.lr)
        for _ in range(epochs):
            for xb, yb in self._batches():
                gw, gb = self._backward(weights, biases, relus, xb, yb)
                opt.step([g * m for g, m in zip(gw, masks)] + gb)
        return Network(tuple(
            replace(layer, weight=w, bias=b, codebook=None, indices=None)
            for layer, w, b in zip(net, weights, biases)))

    def train_codebooks(self, net: Network, epochs: int = 1) -> Network:
        """Trained quantization: fine-tune every quantized layer's codebook entries
        1..K-1 (and all biases) with the assignments fixed.

        Unquantized layers keep their weights and train only their biases.
        """
        self._check(net)
        from dataclasses import replace
        quant = [layer.quantized for layer in net]
        books = [layer.codebook.copy() if q else np.zeros(1) for layer, q in zip(net, quant)]
        fixed = [None if q else layer.weight for layer, q in zip(net, quant)]
        biases = [layer.bias_or_zeros().copy() for layer in net]
        relus = [layer.relu for layer in net]
        opt = _Adam(books + biases, self.codebook_lr)
        saved_wd, self.weight_decay = self.weight_decay, 0.0  # no decay on shared values
        try:
            for _ in range(epochs):
                for xb, yb in self._batches():
                    weights = [cb[layer.indices] if q else f
                               for layer, q, cb, f in zip(net, quant, books, fixed)]
                    gw, gb = self._backward(weights, biases, relus, xb, yb)
                    gc = [codebook_gradient(layer.indices, g, cb.size) if q else np.zeros(1)
                          for layer, q, g, cb in zip(net, quant, gw, books)]
                    opt.step(gc + gb)
        finally:
            self.weight_decay = saved_wd
        layers = []
        for layer, q, cb, b in zip(net, quant, books, biases):
            cb[0] = 0.0
            layer = replace(layer, bias=b)
            layers.append(layer.quantize(cb, layer.indices) if q else layer)
        return Network(tuple(layers))


class TorchTrainer:
    """Retrain a :class:`Network` with PyTorch on the user's data loader.

    The network is rebuilt as float32 tensors for training and converted back to the IR
    afterwards. Needs the optional ``torch`` dependency (``pip install eiegen[train]``).

    Parameters
    ----------
    loader : iterable
        Yields ``(inputs, targets)`` batches, e.g. a ``torch.utils.data.DataLoader``.
    loss_fn : callable, optional
        ``loss_fn(outputs, targets) -> scalar tensor``; default cross-entropy.
    lr, codebook_lr, weight_decay, seed :
        As for :class:`NumpyTrainer`.
    """

    def __init__(self, loader, *, loss_fn: Callable | None = None, lr=1e-3,
                 codebook_lr=None, weight_decay=0.0, seed=0):
        try:
            import torch
        except ImportError:  # pragma: no cover - exercised only without torch
            raise ImportError("TorchTrainer needs PyTorch: pip install 'eiegen[train]'") \
                from None
        self.torch = torch
        self.loader = loader
        self.loss_fn = loss_fn or torch.nn.functional.cross_entropy
        self.lr = lr
        self.codebook_lr = lr if codebook_lr is None else codebook_lr
        self.weight_decay = weight_decay
        self.seed = seed

    def _forward(self, weights, biases, relus, x):
        h = x
        for w, b, relu in zip(weights, biases, relus):
            h = h @ w.T + b
            if relu:
                h = self.torch.relu(h)
        return h

    def _loop(self, params, weights_fn, biases, relus, epochs, lr, weight_decay, after_step):
        torch = self.torch
        torch.manual_seed(self.seed)
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(epochs):
            for xb, yb in self.loader:
                opt.zero_grad()
                weights = weights_fn()
                out = self._forward(weights, biases, relus, xb.to(torch.float32))
                loss = self.loss_fn(out, yb)
                if weight_decay:
                    loss = loss + 0.5 * weight_decay * sum((w * w).sum() for w in weights)
                loss.backward()
                after_step(opt)

    def _refuse_conv(self, net: Network) -> None:
        if any(layer.kind != "fc" for layer in net):
            raise NetworkError("TorchTrainer retrains fully connected networks only; retrain "
                               "a convolutional network with NumpyTrainer (in-memory data)")

    def train_weights(self, net: Network, masks=None, epochs: int = 1) -> Network:
        """As :meth:`NumpyTrainer.train_weights`, on the data loader."""
        self._refuse_conv(net)
        torch = self.torch
        from dataclasses import replace
        masks = [layer.weight != 0 for layer in net] if masks is None else masks
        tmasks = [torch.tensor(np.asarray(m, dtype=bool)) for m in masks]
        weights = [torch.tensor(np.where(m, layer.weight, 0.0), dtype=torch.float32,
                                requires_grad=True) for layer, m in zip(net, masks)]
        biases = [torch.tensor(layer.bias_or_zeros(), dtype=torch.float32, requires_grad=True)
                  for layer in net]

        def step(opt):
            for w, m in zip(weights, tmasks):
                w.grad.mul_(m)  # pruned weights get no gradient, so Adam never moves them
            opt.step()
            with torch.no_grad():
                for w, m in zip(weights, tmasks):
                    w.mul_(m)

        self._loop(weights + biases, lambda: weights, biases, [la.relu for la in net],
                   epochs, self.lr, self.weight_decay, step)
        return Network(tuple(
            replace(layer, weight=w.detach().double().numpy(), bias=b.detach().double().numpy(),
                    codebook=None, indices=None)
            for layer, w, b in zip(net, weights, biases)))

    def train_codebooks(self, net: Network, epochs: int = 1) -> Network:
        """As :meth:`NumpyTrainer.train_codebooks`; autograd through the gather
        ``codebook[indices]`` sums the gradients of the weights sharing a centroid."""
        self._refuse_conv(net)
        torch = self.torch
        from dataclasses import replace
        quant = [layer.quantized for layer in net]
        books = [torch.tensor(layer.codebook[1:] if q else np.zeros(0), dtype=torch.float32,
                              requires_grad=q) for layer, q in zip(net, quant)]
        idx = [torch.tensor(layer.indices) if q else None for layer, q in zip(net, quant)]
        fixed = [None if q else torch.tensor(layer.weight, dtype=torch.float32)
                 for layer, q in zip(net, quant)]
        biases = [torch.tensor(layer.bias_or_zeros(), dtype=torch.float32, requires_grad=True)
                  for layer in net]
        zero = torch.zeros(1)

        def weights_fn():
            return [torch.cat([zero, cb])[i] if q else f
                    for q, cb, i, f in zip(quant, books, idx, fixed)]

        params = [cb for cb, q in zip(books, quant) if q] + biases
        self._loop(params, weights_fn, biases, [la.relu for la in net], epochs,
                   self.codebook_lr, 0.0, lambda opt: opt.step())
        layers = []
        for layer, q, cb, b in zip(net, quant, books, biases):
            layer = replace(layer, bias=b.detach().double().numpy())
            if q:
                full = np.concatenate([[0.0], cb.detach().double().numpy()])
                layer = layer.quantize(full, layer.indices)
            layers.append(layer)
        return Network(tuple(layers))
