"""Built-in networks: seeded random quantized networks for tests and benchmarks, and the
small default example `eiegen compile --example` uses."""

from __future__ import annotations

import numpy as np

from .network import Layer, Network
from .weight_sharing import share_weights

__all__ = ["random_layer", "random_network", "example_network", "random_indices",
           "trained_like_layer", "relu_like_inputs"]


def random_indices(rng: np.random.Generator, n_out: int, n_in: int, density: float,
                   codebook_size: int = 16, dtype=np.int64) -> np.ndarray:
    """A codebook-index matrix with about ``density`` of its entries non-zero."""
    mask = rng.random((n_out, n_in), dtype=np.float32) < density
    vals = rng.integers(1, codebook_size, size=(n_out, n_in), dtype=np.uint8)
    return (mask * vals).astype(dtype)


def random_layer(rng: np.random.Generator, n_in: int, n_out: int, density: float = 0.1,
                 index_bits: int = 4, relu: bool = True, bias: bool = True,
                 scale: float | None = None, name: str = "") -> Layer:
    """A quantized layer with a random codebook; weights are scaled so that outputs keep
    roughly the magnitude of the inputs (unless ``scale`` is given)."""
    size = 1 << index_bits
    if scale is None:
        scale = 1.0 / np.sqrt(max(1.0, density * n_in))
    codebook = np.concatenate(([0.0], rng.normal(0.0, scale, size - 1)))
    codebook[1:][codebook[1:] == 0.0] = scale  # entry 0 is the only exact zero
    indices = random_indices(rng, n_out, n_in, density, size)
    b = rng.normal(0.0, 0.1 * scale, n_out) if bias else None
    return Layer(weight=codebook[indices], bias=b, activation="relu" if relu else "none",
                 name=name, codebook=codebook, indices=indices)


def random_network(rng, sizes, density=0.1, index_bits: int = 4, relu_last: bool = False,
                   bias: bool = True, scale=None) -> Network:
    """A quantized network with layer sizes ``sizes = [n_in, h1, ..., n_out]``; ReLU on
    every layer but the last (unless ``relu_last``). ``density`` may be a list per layer."""
    if isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    n = len(sizes) - 1
    dens = density if isinstance(density, (list, tuple)) else [density] * n
    layers = [random_layer(rng, sizes[k], sizes[k + 1], dens[k], index_bits,
                           relu=(k < n - 1) or relu_last, bias=bias, scale=scale, name=f"fc{k}")
              for k in range(n)]
    return Network(tuple(layers))


def trained_like_layer(rng: np.random.Generator, n_in: int = 4096, n_out: int = 1000,
                       density: float = 0.25, index_bits: int = 4, name: str = "fc") -> Layer:
    """A Deep-Compressed fully connected layer shaped like AlexNet's FC8 (by default):
    Laplacian weights (scale 0.0094) plus a per-row mean, the ``1 - density`` smallest
    pruned, the rest shared through a ``2**index_bits``-entry k-means codebook: non-zero
    magnitudes from about 0.015 to 0.075 and, on :func:`relu_like_inputs` (up to about
    10), outputs of about -8..8."""
    w = rng.laplace(0.0, 0.0094, (n_out, n_in)) + rng.normal(0.0, 0.0025, (n_out, 1))
    w[np.abs(w) < np.quantile(np.abs(w), 1.0 - density)] = 0.0
    codebook, indices = share_weights(w, index_bits, "linear")
    indices = indices.astype(np.uint8 if index_bits <= 8 else np.int64)
    return Layer(weight=codebook[indices], bias=rng.normal(0.0, 0.05, n_out),
                 activation="none", name=name, codebook=codebook, indices=indices)


def relu_like_inputs(rng: np.random.Generator, batch: int, n: int, density: float = 0.43,
                     scale: float = 0.8) -> np.ndarray:
    """Post-ReLU activations: ``density`` of them non-zero, exponentially distributed with
    mean ``scale`` (a heavy tail: the largest of a few thousand is about 10)."""
    x = rng.exponential(scale, (batch, n))
    x[rng.random((batch, n)) >= density] = 0.0
    return x


def example_network() -> Network:
    """The built-in default: a 256-128-64-10 MLP at 10% weight density (seed 0)."""
    return random_network(np.random.default_rng(0), [256, 128, 64, 10], density=0.1)
