"""The worked example: a LeNet-300-100-shaped MLP on scikit-learn's handwritten digits.

scikit-learn ships the 1797 8x8 digit images of the UCI optical-digits set inside the
package, so nothing is downloaded. The MLP is 64-300-100-10 (LeNet-300-100 with 8x8
inputs), trained with the numpy back end (so torch stays optional and the result is the
same with or without it), then compressed with Deep Compression's three stages.

The demo's data, next to the demo (``eiegen/demo.py``): it uses the compiler and the
golden model, so it lives above both. ``examples/digits_mlp.py`` runs all of this and writes the files shipped in
``eiegen/data/`` (the dense and compressed networks and the report), which
:func:`load_shipped` reads back without retraining.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.compile import compile_network
from eiegen.compiler.compress import CompressionConfig, CompressionResult, compress
from eiegen.compiler.finetune import NumpyTrainer, accuracy
from eiegen.compiler.network import Layer, Network
from eiegen.compiler.report import CompressionReport
from eiegen.sim.golden import run_golden

__all__ = ["SHAPE", "DIGITS_CONFIG", "digits_data", "train_dense", "compress_digits",
           "run_digits_pipeline",
           "fixed_point_accuracy", "digits_arch", "load_shipped", "DATA_DIR"]

SHAPE = (64, 300, 100, 10)
DATA_DIR = Path(__file__).resolve().parent / "data"

# Chosen on the held-out split: fc2 (300x100) is the most redundant layer, the 10-way
# output layer the least. Relative-index widths match each layer's typical gap.
DIGITS_CONFIG = CompressionConfig(
    sparsity=(0.95, 0.97, 0.80), prune_steps=10, retrain_epochs=15,
    bits=4, method="linear", codebook_epochs=15, n_pe=1, rel_bits=(4, 5, 3), seed=0)

_TRAIN = dict(lr=1e-3, codebook_lr=1e-4, batch_size=32, weight_decay=1e-4)
_DENSE_EPOCHS = 40


def digits_data(seed: int = 0):
    """The digits split into training and held-out sets (2:1, stratified, fixed seed).

    Pixels (0..16) are scaled to [0, 1].

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=1 / 3,
                                              random_state=seed, stratify=d.target)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def _init(seed: int) -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for k, (a, b) in enumerate(zip(SHAPE, SHAPE[1:])):
        # He initialisation suits the ReLU layers.
        layers.append(Layer(rng.normal(size=(b, a)) * np.sqrt(2.0 / a), np.zeros(b),
                            "relu" if k < len(SHAPE) - 2 else "none", f"fc{k + 1}"))
    return Network(tuple(layers))


def _float32(net: Network) -> Network:
    """Round every weight and bias to float32: the dense baseline is a float32 model."""
    return Network(tuple(
        replace(la, weight=la.weight.astype(np.float32).astype(np.float64),
                bias=None if la.bias is None else la.bias.astype(np.float32).astype(np.float64))
        for la in net))


def _trainer(kind: str, data, seed: int):
    x_tr, y_tr = data[0], data[1]
    if kind == "numpy":
        return NumpyTrainer(x_tr, y_tr, seed=seed, **_TRAIN)
    if kind == "torch":
        from eiegen.compiler.finetune import TorchTrainer
        import torch

        g = torch.Generator().manual_seed(seed)
        ds = torch.utils.data.TensorDataset(torch.tensor(x_tr, dtype=torch.float32),
                                            torch.tensor(y_tr))
        loader = torch.utils.data.DataLoader(ds, batch_size=_TRAIN["batch_size"],
                                             shuffle=True, generator=g)
        return TorchTrainer(loader, lr=_TRAIN["lr"], codebook_lr=_TRAIN["codebook_lr"],
                            weight_decay=_TRAIN["weight_decay"], seed=seed)
    raise ValueError(f"trainer {kind!r} is not supported; supported: numpy, torch")


def train_dense(seed: int = 0, trainer: str = "numpy", epochs: int = _DENSE_EPOCHS) -> Network:
    """Train the dense 64-300-100-10 MLP from a seeded initialisation (float32 weights)."""
    data = digits_data()
    return _float32(_trainer(trainer, data, seed).train_weights(_init(seed), None, epochs))


def digits_arch():
    """The accelerator configuration the example is compiled for: 8 PEs (300 rows fit the
    default 64-entry activation files), otherwise the defaults (4-bit indices, 16-bit
    activations and weights)."""
    return ArchConfig(n_pe=8)


def fixed_point_accuracy(net: Network, x, y, cfg=None, calibration=None) -> float:
    """Accuracy in percent of the compiled program in the bit-exact golden model.

    The network is compiled for ``cfg`` (default :func:`digits_arch`) with
    ``calibration`` inputs (default ``x``) choosing the fixed-point formats.
    """
    cfg = digits_arch() if cfg is None else cfg
    program = compile_network(net, cfg, calibration=x if calibration is None else calibration)
    outs = run_golden(program, program.quantize_input(x))
    pred = np.argmax(program.dequantize_output(outs[-1]), axis=1)
    return 100.0 * float(np.mean(pred == np.asarray(y)))


def compress_digits(dense: Network | None = None, *, config: CompressionConfig = DIGITS_CONFIG,
                    trainer: str | None = "numpy", seed: int = 0, fixed_point: bool = True,
                    log=None) -> tuple[Network, CompressionReport]:
    """Compress the digits MLP and measure held-out accuracy after every stage.

    Parameters
    ----------
    dense : Network, optional
        The dense model; default the shipped one (``eiegen/data/digits_mlp_dense.npz``).
    config : CompressionConfig
        The pipeline settings (default :data:`DIGITS_CONFIG`).
    trainer : {"numpy", "torch", None}
        Retraining back end; ``None`` prunes one-shot and keeps the k-means centroids.
    seed : int
        Seed of the training back end.
    fixed_point : bool
        Also compile the result and report the golden model's fixed-point accuracy as a
        last stage.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    (Network, CompressionReport)
    """
    result = run_digits_pipeline(dense, config=config, trainer=trainer, seed=seed,
                                 fixed_point=fixed_point, log=log)
    return result.network, result.report


def run_digits_pipeline(dense: Network | None = None, *,
                        config: CompressionConfig = DIGITS_CONFIG,
                        trainer: str | None = "numpy", seed: int = 0,
                        fixed_point: bool = True, log=None) -> CompressionResult:
    """As :func:`compress_digits`, returning the whole :class:`CompressionResult` (which
    also holds the pruned network before weight sharing)."""
    data = digits_data()
    x_te, y_te = data[2], data[3]
    dense = load_shipped("dense") if dense is None else dense
    if trainer is None:
        config = replace(config, retrain_epochs=0, codebook_epochs=0)
    tr = None if trainer is None else _trainer(trainer, data, seed)
    result = compress(dense, config, trainer=tr, metric=lambda n: accuracy(n, x_te, y_te),
                      log=log)
    if fixed_point:
        cfg = digits_arch()
        fx = fixed_point_accuracy(result.network, x_te, y_te, cfg, calibration=data[0])
        result.report.stages.append((f"fixed point ({cfg.act_bits}-bit, golden model)", fx))
    return result


def _data_file(name: str) -> Path:
    if (DATA_DIR / name).exists():
        return DATA_DIR / name
    return Path(str(files("eiegen") / "data" / name))  # an installed, zipped package


def load_shipped(which: str = "compressed"):
    """The shipped digits artefacts: ``"dense"`` or ``"compressed"`` (a Network) or
    ``"report"`` (the JSON report as a dict)."""
    names = {"dense": "digits_mlp_dense.npz", "compressed": "digits_mlp_compressed.npz",
             "report": "digits_mlp_report.json"}
    if which not in names:
        raise ValueError(f"unknown artefact {which!r}; choose from {', '.join(names)}")
    path = _data_file(names[which])
    if which == "report":
        return json.loads(path.read_text())
    return Network.load(path)
