"""The compile pipeline: network + architecture config -> Program.

quantize (if needed) -> lower convolutions (compiler/lower.py) -> balance (optional) ->
choose formats -> check memories ->
encode -> pack images. Every check that can refuse the network runs before anything is
returned, and nothing is written to disk here: `Program.save` does that.
"""

from __future__ import annotations

import numpy as np

from eiegen.arch import ArchConfig
from eiegen.fixedpoint import to_fixed

from .balance import permute_network
from .encode import encode_layer
from .formats import ACC_HEADROOM_BITS, choose_formats
from .network import ConvLayer, Network
from .pack import pack_entries
from .program import LayerProgram, Program, ProgramError

__all__ = ["compile_network", "default_calibration", "check_fits", "fit_problems"]


def default_calibration(n_in: int, n: int = 256, seed: int = 0) -> np.ndarray:
    """Calibration inputs used when the user gives none: uniform in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, n_in))


def _quantize(net: Network, cfg: ArchConfig) -> Network:
    """Weight-share every layer that is not quantized yet, with the config's index bits."""
    if net.quantized:
        return net
    from .weight_sharing import share_weights

    layers = []
    for layer in net.layers:
        if not layer.quantized:
            codebook, indices = share_weights(layer.weight, bits=cfg.index_bits)
            layer = layer.quantize(codebook, indices)
        layers.append(layer)
    return Network(tuple(layers))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_fits(net: Network, cfg: ArchConfig) -> None:
    """Refuse a network the config's memories cannot hold (entries are checked after
    encoding, in compile_network). All problems are reported at once."""
    problems = fit_problems(_fit_layers(net), cfg)
    if problems:
        raise ProgramError("the network does not fit the configuration:\n  - "
                           + "\n  - ".join(problems))


def _fit_layers(net: Network) -> list:
    """(label, n_in, n_out, codebook size or None) of every layer the array will run: a
    convolution as its lowered matrix and its max-pooling steps (compiler/lower.py), whose
    sizes are known without building them."""
    if not any(isinstance(layer, ConvLayer) for layer in net):
        return [(f"layer {k} ({layer.name})" if layer.name else f"layer {k}",
                 layer.n_in, layer.n_out, len(layer.codebook) if layer.quantized else None)
                for k, layer in enumerate(net.layers)]
    from .lower import POOL_CODEBOOK, lowered_shapes

    rows = []
    for k, (name, kind, n_in, n_out, src) in enumerate(lowered_shapes(net)):
        layer = net[src]
        codebook = len(layer.codebook) if layer.quantized else None
        label = f"layer {k} ({name})"
        if kind == "conv":
            label = f"layer {k} ({name}: {layer.describe()}, lowered to {n_out}x{n_in})"
        elif kind == "maxpool":
            codebook = len(POOL_CODEBOOK)
            label = f"layer {k} ({name}: max-pooling step of network layer {src})"
        rows.append((label, n_in, n_out, codebook))
    return rows


def fit_problems(layers, cfg: ArchConfig) -> list[str]:
    """What does not fit ``cfg`` in ``layers``, a list of (label, n_in, n_out, codebook
    size or None); each problem says what to raise and to what. Shared by the compiler
    and the program loader (Program.load), so both refuse the same things."""
    problems = []
    if len(layers) > cfg.max_layers:
        problems.append(f"the network has {len(layers)} layers but the control unit holds "
                        f"max_layers={cfg.max_layers} descriptors: raise max_layers")
    for label, n_in, n_out, codebook in layers:
        for what, n in (("inputs", n_in), ("outputs", n_out)):
            need = _ceil_div(n, cfg.n_pe)
            if need > cfg.act_depth:
                problems.append(
                    f"{label} has {n} {what}, {need} per PE, but the activation register files "
                    f"hold act_depth={cfg.act_depth} per PE: raise act_depth to {need} or n_pe "
                    f"to {_ceil_div(n, cfg.act_depth)}")
        if codebook is not None and codebook > cfg.codebook_size:
            problems.append(
                f"{label} has a {codebook}-entry codebook but index_bits="
                f"{cfg.index_bits} allows {cfg.codebook_size}: re-quantize with fewer clusters "
                f"or raise index_bits to {(codebook - 1).bit_length()}")
    ptrs = sum(n_in + 1 for _, n_in, _, _ in layers)
    if ptrs > cfg.ptr_depth:
        problems.append(f"pointer memory: the layers need {ptrs} pointers per PE but "
                        f"ptr_depth={cfg.ptr_depth}: raise ptr_depth to {ptrs + ptrs % 2}")
    biases = sum(_ceil_div(n_out, cfg.n_pe) for _, _, n_out, _ in layers)
    if biases > cfg.bias_depth:
        problems.append(f"bias memory: the layers need {biases} biases per PE but "
                        f"bias_depth={cfg.bias_depth}: raise bias_depth to {biases} or n_pe")
    return problems


def compile_network(net: Network, cfg: ArchConfig, calibration=None,
                    balance: bool = False, *, acc_policy: str | None = None,
                    headroom_bits: int = ACC_HEADROOM_BITS) -> Program:
    """Compile ``net`` for ``cfg``.

    Parameters
    ----------
    net : Network
        Quantized layers are used as they are; others are weight-shared with
        ``cfg.index_bits`` bits first.
    cfg : ArchConfig
    calibration : array (batch, n_in), optional
        Float inputs that represent the data; they set the activation formats. Defaults to
        :func:`default_calibration`.
    balance : bool
        Permute rows to even out the work per PE (see compiler/balance.py).
    acc_policy, headroom_bits
        How each layer's weight format leaves room in the accumulator
        (compiler/formats.py, docs/fixed-point.md): ``"saturate"`` (room for the
        calibration's partial sums scaled to the input format's range, times
        ``2**headroom_bits``; the hardware saturates beyond it) or ``"worst_case"``
        (room for any input; EIE's rule). Default: the one the hardware allows
        (``"saturate"`` when ``cfg.acc_saturate``).
    """
    check_fits(net, cfg)
    net = _quantize(net, cfg)
    check_fits(net, cfg)
    lowering = None
    if any(isinstance(layer, ConvLayer) for layer in net):
        from .lower import lower_network
        net, lowering = lower_network(net)  # the sizes were checked by check_fits
    if calibration is None:
        calibration = default_calibration(net.n_in)
    calibration = np.asarray(calibration, dtype=np.float64)
    if calibration.ndim != 2 or calibration.shape[1] != net.n_in:
        raise ProgramError(f"calibration inputs must have shape (batch, {net.n_in}), "
                           f"got {calibration.shape}")
    if len(calibration) == 0 or not np.all(np.isfinite(calibration)):
        # the formats are chosen from these values: NaN or none would choose them blind
        raise ProgramError("calibration inputs must be at least one sample of finite "
                           "numbers (no NaN or infinity)")
    row_orders = [None] * len(net)
    if balance:
        net, row_orders = permute_network(net, cfg)
    formats = choose_formats(net, cfg, calibration, acc_policy=acc_policy,
                             headroom_bits=headroom_bits)

    encoded = [encode_layer(layer.indices, cfg.n_pe, cfg.rel_bits) for layer in net.layers]
    entries_per_pe = [sum(e.pe[k].n_entries for e in encoded) for k in range(cfg.n_pe)]
    worst = max(entries_per_pe)
    if worst > cfg.spmat_entries:
        pe = int(np.argmax(entries_per_pe))
        need_words = _ceil_div(worst, cfg.entries_per_word)
        raise ProgramError(
            f"the network does not fit the configuration:\n  - sparse-matrix memory: PE {pe} "
            f"needs {worst} entries ({need_words} words of {cfg.entries_per_word}) but "
            f"spmat_depth={cfg.spmat_depth} words hold {cfg.spmat_entries}: raise spmat_depth "
            f"to {need_words}, add PEs, or prune further")
    program = _build_program(net, cfg, formats, encoded, row_orders)
    # not saved with the program: what the lowering cost, for the compile statistics
    program.lowering = lowering
    return program


def _build_program(net, cfg, formats, encoded, row_orders) -> Program:
    n_pe = cfg.n_pe
    layers: list[LayerProgram] = []
    ptr_images = [[] for _ in range(n_pe)]
    bias_images = [[] for _ in range(n_pe)]
    v_streams = [[] for _ in range(n_pe)]
    z_streams = [[] for _ in range(n_pe)]
    codebooks = []
    ptr_base = bias_base = 0
    entry_base = [0] * n_pe
    for layer, fmt, enc, order in zip(net.layers, formats, encoded, row_orders):
        cb = np.zeros(cfg.codebook_size)
        cb[:len(layer.codebook)] = layer.codebook
        cb_q = to_fixed(cb, fmt.frac_w, cfg.weight_bits)
        codebooks.append(cb_q)
        bias_q = to_fixed(layer.bias_or_zeros(), fmt.frac_in + fmt.frac_w, cfg.acc_bits)
        rows_per_pe = _ceil_div(layer.n_out, n_pe)
        lp = LayerProgram(
            name=layer.name, n_in=layer.n_in, n_out=layer.n_out, relu=layer.relu,
            ptr_base=ptr_base, bias_base=bias_base, fmt=fmt,
            codebook=list(cb), codebook_q=list(cb_q), entry_base=list(entry_base),
            entries=[s.n_entries for s in enc.pe], padding=[s.n_padding for s in enc.pe],
            row_order=order)
        for k, s in enumerate(enc.pe):
            ptr_images[k].append(s.ptr + entry_base[k])
            v_streams[k].append(s.v)
            z_streams[k].append(s.z)
            b = np.zeros(rows_per_pe, dtype=np.int64)
            mine = bias_q[k::n_pe]
            b[:len(mine)] = mine
            bias_images[k].append(b)
            entry_base[k] += s.n_entries
        layers.append(lp)
        ptr_base += layer.n_in + 1
        bias_base += rows_per_pe

    images = {
        "codebook": np.concatenate(codebooks).astype(np.int64),
        "layers": np.array([w for lp in layers for w in lp.descriptor_words()], dtype=np.uint32),
    }
    for k in range(n_pe):
        images[f"pe{k}.ptr"] = np.concatenate(ptr_images[k]).astype(np.uint32)
        images[f"pe{k}.bias"] = np.concatenate(bias_images[k]).astype(np.int64)
        images[f"pe{k}.spmat"] = pack_entries(
            np.concatenate(v_streams[k]), np.concatenate(z_streams[k]),
            cfg.index_bits, cfg.rel_bits, cfg.entries_per_word)
    return Program(cfg=cfg, layers=layers, images=images)
