"""The nine EIE benchmark layers (Han et al., ISCA 2016, Tables III and IV) and the
helpers the eie_layers, queue_depth and sim_speed benchmarks share."""

from __future__ import annotations

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.compiler.balance import balance_layer_rows
from eiegen.compiler.encode import encode_layer
from eiegen.compiler.examples import random_indices
from eiegen.compiler.stats import encoded_issues

# name, n_in, n_out, weight density, activation density, theoretical us, actual us
LAYERS = [
    ("Alex-6", 9216, 4096, 0.09, 0.351, 28.1, 30.3),
    ("Alex-7", 4096, 4096, 0.09, 0.353, 11.7, 12.2),
    ("Alex-8", 4096, 1000, 0.25, 0.375, 8.9, 9.9),
    ("VGG-6", 25088, 4096, 0.04, 0.183, 28.1, 34.4),
    ("VGG-7", 4096, 4096, 0.04, 0.375, 7.9, 8.7),
    ("VGG-8", 4096, 1000, 0.23, 0.411, 7.3, 8.4),
    ("NT-We", 4096, 600, 0.10, 1.0, 5.2, 8.0),
    ("NT-Wd", 600, 8791, 0.11, 1.0, 13.0, 13.9),
    ("NT-LSTM", 1201, 2400, 0.10, 1.0, 6.5, 7.5),
]
N_PE, QUEUE_DEPTH, REL_BITS, INDEX_BITS = 64, 8, 4, 4
CLOCK_MHZ = 800.0
SEED = 2016


def layer_seed(name: str) -> int:
    return SEED + [row[0] for row in LAYERS].index(name)


def layer_indices(name, n_in, n_out, density, scale: int = 1):
    """Seeded random codebook indices at the layer's shape (divided by ``scale``)."""
    rng = np.random.default_rng(layer_seed(name))
    return random_indices(rng, max(1, n_out // scale), max(1, n_in // scale), density,
                          1 << INDEX_BITS, dtype=np.uint8)


def layer_activations(name, n_in, act_density, scale: int = 1):
    """Seeded input activations (non-zero with probability ``act_density``)."""
    rng = np.random.default_rng(layer_seed(name) + 1000)
    n = max(1, n_in // scale)
    x = rng.integers(1, 1 << 12, size=n) * rng.choice([-1, 1], size=n)
    x[rng.random(n) >= act_density] = 0
    return x.astype(np.int64)


def balanced(indices, n_pe: int = N_PE, rel_bits: int = REL_BITS, candidates=None,
             **options):
    """The compiler's compile-time balancing (compiler/balance.py) for one layer on the
    benchmark's EIE configuration: the row assignment (interleaved, balanced by
    non-zeros, or columns spread) the cycle model predicts fastest, each PE's rows ordered
    to cut padding (compiler/row_order.py). ``options``: further config fields (the
    broadcast options of issue 21), whose timing the choice then uses; ``candidates``:
    the layer's row candidates (compiler.balance.layer_row_candidates) if known."""
    cfg = ArchConfig.eie(n_pe=n_pe, rel_bits=rel_bits, queue_depth=QUEUE_DEPTH, **options)
    return indices[balance_layer_rows(indices, cfg, candidates)]


def column_lengths(indices, n_pe: int = N_PE, rel_bits: int = REL_BITS):
    """(issue cycles, lengths, entries, padding) of a layer encoded for n_pe PEs on 64-bit
    words, alone in memory (as the benchmark programs are). Both arrays are
    (n_pe, n_in): the issue cycles with padding merged (the default architecture), the
    lengths (entries per column) what EIE's one entry per cycle takes."""
    enc = encode_layer(indices, n_pe, rel_bits)
    issues = encoded_issues(ArchConfig.eie(n_pe=n_pe, rel_bits=rel_bits), enc)
    lengths = np.stack([np.diff(s.ptr) for s in enc.pe]).astype(np.int64)
    return issues, lengths, sum(s.n_entries for s in enc.pe), sum(s.n_padding for s in enc.pe)


def scaled_config(scale: int) -> ArchConfig:
    """An EIE configuration (64 PEs, queue depth 8, 64-bit words) whose memories hold
    any one of the nine layers scaled down by ``scale`` in both dimensions."""
    n_in = max(row[1] for row in LAYERS) // scale
    n_out = max(row[2] for row in LAYERS) // scale
    act = -(-max(n_in, n_out) // N_PE)
    ptr = n_in + 1 + (n_in + 1) % 2
    spmat = {1: 16384, 2: 4096, 4: 1024, 8: 512}[scale]
    return ArchConfig.eie(act_depth=act, ptr_depth=ptr, spmat_depth=spmat,
                          bias_depth=-(-n_out // N_PE), max_layers=1)


def write_result(path, result: dict) -> None:
    """Write a benchmark's JSON result and say where."""
    import json
    from pathlib import Path

    from eiegen.safeio import atomic_write_text  # beside and rename, like every writer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")
