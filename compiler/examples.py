"""Built-in networks: seeded random quantized networks for tests and benchmarks, and the
small default example `eiegen compile --example` uses."""

from __future__ import annotations

import numpy as np

from .network import Layer, Network

__all__ = ["random_layer", "random_network", "example_network", "random_indices"]


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


def example_network() -> Network:
    """The built-in default: a 256-128-64-10 MLP at 10% weight density (seed 0)."""
    return random_network(np.random.default_rng(0), [256, 128, 64, 10], density=0.1)
