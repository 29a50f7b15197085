"""Fidelity: how far the golden model (and so the RTL, which equals it bit for bit) is
from the float network the program was compiled from.

The golden model is exact to the hardware, but the hardware is not exact to the user's
float model: inputs are rounded and may clip at the input format, codebook entries are
rounded to ``weight_bits`` at ``frac_w``, accumulators may overflow ``acc_bits``,
outputs are rounded at write-back and may clip at ``act_bits``. This module measures all
of it on given float inputs, layer by layer, and turns what it finds into one-line
warnings that name the config field or option that would help (docs/fixed-point.md,
"Fidelity report").

Every figure is computed from the inputs given; nothing is estimated or stored.
Comparisons are made in the network's row order (:meth:`Program.to_network_order`), with
each layer's integer outputs scaled by ``2**-frac_out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from eiegen.compiler.network import Layer, Network
from eiegen.fixedpoint import round_shift, signed_range

from .golden import layer_matrix, run_golden

__all__ = ["SQNR_WARN_DB", "LayerFidelity", "Fidelity", "measure_fidelity",
           "input_saturation", "input_warning", "program_network", "predictions",
           "classification"]

SQNR_WARN_DB = 40.0  # default warning threshold; `--sqnr-warn` changes it


@dataclass(frozen=True)
class LayerFidelity:
    """One layer's distance from the float reference (all inputs together).

    ``*_pct`` are percentages of the float output range (max - min over all outputs of
    the layer and all inputs); they and ``sqnr_db`` are None when undefined (a constant
    output; no error at all for ``sqnr_db``).
    """

    name: str
    max_abs_error: float
    mean_abs_error: float
    output_range: float
    max_error_pct: float | None
    mean_error_pct: float | None
    sqnr_db: float | None
    output_saturations: int  # outputs clipped at act_bits on write-back (that ReLU kept)
    acc_saturations: int  # additions the saturating accumulator clamped (all inputs)
    weight_bits_max: int  # magnitude bits of the largest quantized codebook entry
    weight_bits_min: int  # ... of the smallest non-zero one (0: it rounded to zero)
    weight_bits_avail: int  # weight_bits - 1: what the format could hold
    frac_out: int

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Fidelity:
    """The fidelity report of a program on a set of float inputs."""

    n_inputs: int
    # "network" (the float model given), "unshared network" (one given before weight
    # sharing: the figures then include the sharing's error) or "program" (its codebooks)
    reference: str
    input_frac: int
    input_saturations: int  # input values clipped by quantization
    inputs_saturated: int  # input vectors with at least one clipped value
    layers: tuple
    warnings: tuple
    sqnr_warn_db: float
    # Last-layer outputs in network order, kept for accuracy; not part of the report.
    golden_outputs: np.ndarray = field(repr=False, compare=False, default=None)
    float_outputs: np.ndarray = field(repr=False, compare=False, default=None)

    def to_dict(self) -> dict:
        return {"n_inputs": self.n_inputs, "reference": self.reference,
                "input_frac": self.input_frac,
                "input_saturations": self.input_saturations,
                "inputs_saturated": self.inputs_saturated,
                "sqnr_warn_db": self.sqnr_warn_db,
                "layers": [la.to_dict() for la in self.layers],
                "warnings": list(self.warnings)}

    def table(self) -> str:
        ref = {"network": "the float network",
               "unshared network": "the float network before weight sharing",
               "program": "the program's float codebooks"}[self.reference]
        lines = [f"fidelity against {ref} on {self.n_inputs} input(s): "
                 f"{self.inputs_saturated} input(s) clip at the input format "
                 f"(frac_in {self.input_frac})",
                 f"{'layer':<10}{'max err':>11}{'% range':>10}{'mean err':>11}{'% range':>10}"
                 f"{'SQNR dB':>9}{'out sat':>9}{'acc sat':>9}{'weight bits':>13}"]
        for la in self.layers:
            lines.append(
                # 10 wide: a 3-digit percentage below 0.001 ("0.000725%") takes 9
                f"{la.name[:10]:<10}{la.max_abs_error:>11.3g}{_pct(la.max_error_pct):>10}"
                f"{la.mean_abs_error:>11.3g}{_pct(la.mean_error_pct):>10}"
                f"{'exact' if la.sqnr_db is None else f'{la.sqnr_db:.1f}':>9}"
                f"{la.output_saturations:>9}{la.acc_saturations:>9}"
                f"{f'{la.weight_bits_min}-{la.weight_bits_max}/{la.weight_bits_avail}':>13}")
        return "\n".join(lines)


def _pct(p) -> str:
    return "-" if p is None else f"{p:.3g}%"


def input_saturation(program, x) -> tuple[int, int]:
    """(values, vectors) of float inputs ``x`` that clip when quantized to the program's
    input format: the same rounding as :meth:`Program.quantize_input`, before its clamp."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    lo, hi = signed_range(program.cfg.act_bits)
    scaled = np.rint(x * np.ldexp(1.0, program.input_frac))
    clipped = (scaled < lo) | (scaled > hi)
    return int(clipped.sum()), int(clipped.any(axis=1).sum())


def input_warning(program, values: int, vectors: int, n: int, calibration=None) -> str:
    """The one-line warning about ``values`` clipped input values in ``vectors`` of ``n``
    inputs (:func:`input_saturation`), naming what would help."""
    top = signed_range(program.cfg.act_bits)[1] * 2.0 ** -program.input_frac
    origin = f"the {calibration} calibration" if calibration else "the calibration"
    return (f"input: {vectors} of {n} inputs ({values} values) clip at the input format "
            f"(|x| <= {top:.4g}, set by {origin}): compile with a --calibration set that "
            f"covers them, or raise act_bits")


def program_network(program):
    """The float network a program encodes, in the network's row order: float codebook
    centroids, biases as stored (the program keeps only their fixed-point values). The
    reference when the user's float network is not at hand (``eiegen simulate``)."""
    layers = []
    prev_order = None
    for k, lp in enumerate(program.layers):
        m = layer_matrix(program, k)
        idx = np.zeros((lp.n_out, lp.n_in), dtype=np.int64)
        idx[m.rows, m.cols] = m.index
        b = m.bias * 2.0 ** -(lp.fmt.frac_in + lp.fmt.frac_w)
        if lp.row_order is not None:  # hardware row p computes network row row_order[p]
            idx[lp.row_order], b[lp.row_order] = idx.copy(), b.copy()
        if prev_order is not None:  # hardware column c is the previous layer's row c
            idx[:, prev_order] = idx.copy()
        prev_order = lp.row_order
        cb = np.asarray(lp.codebook, dtype=np.float64)
        layers.append(Layer(weight=cb[idx], bias=b, activation="relu" if lp.relu else "none",
                            name=lp.name, codebook=cb, indices=idx))
    return Network(tuple(layers))


def _weight_bits(program, k: int) -> tuple[int, int]:
    """Magnitude bits kept by layer k's quantized codebook: of its largest entry, and of
    its smallest entry whose float centroid is non-zero (0 if that one rounded to 0)."""
    cb = np.asarray(program.layers[k].codebook, dtype=np.float64)
    q = np.abs(np.asarray(program.codebook_q(k), dtype=np.int64))[:len(cb)]
    used = q[cb != 0.0]
    if not used.size:
        return 0, 0
    return int(used.max()).bit_length(), int(used.min()).bit_length()


def measure_fidelity(program, x, network=None, *, sqnr_warn_db: float = SQNR_WARN_DB,
                     calibration: str | None = None) -> Fidelity:
    """Run float inputs ``x`` through the golden model and the float reference.

    Parameters
    ----------
    program : Program
    x : array (batch, n_in) of floats, network order
    network : Network, optional
        The float network the program was compiled from (un-permuted, as given to
        ``compile_network``). Default: :func:`program_network`.
    sqnr_warn_db : float
        A layer whose SQNR is below this gets a warning.
    calibration : str, optional
        What set the formats, named in the input-saturation warning (e.g. ``"default
        uniform[-1,1]"``).
    """
    cfg = program.cfg
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    reference = "program" if network is None else \
        "network" if network.quantized else "unshared network"
    net = network if network is not None else program_network(program)
    ref = net.forward(x, all_layers=True)
    x_int = program.quantize_input(x)
    outs, accs, sats = run_golden(program, x_int, accumulators=True, saturations=True)
    in_values, in_vectors = input_saturation(program, x)
    lo, hi = signed_range(cfg.act_bits)
    layers = []
    for k, lp in enumerate(program.layers):
        pre = round_shift(accs[k], lp.shift)
        clipped = pre > hi if lp.relu else (pre > hi) | (pre < lo)
        g = program.dequantize_output(outs[k], layer=k)
        f = ref[k]
        err = np.abs(g - f)
        rng = float(f.max() - f.min()) if f.size else 0.0
        max_err = float(err.max()) if err.size else 0.0
        mean_err = float(err.mean()) if err.size else 0.0
        noise = float(np.sum((g - f) ** 2))
        signal = float(np.sum(f ** 2))
        sqnr = 10.0 * math.log10(signal / noise) if noise > 0 and signal > 0 else None
        wmax, wmin = _weight_bits(program, k)
        layers.append(LayerFidelity(
            name=lp.name or f"layer{k}", max_abs_error=max_err, mean_abs_error=mean_err,
            output_range=rng,
            max_error_pct=100.0 * max_err / rng if rng > 0 else None,
            mean_error_pct=100.0 * mean_err / rng if rng > 0 else None,
            sqnr_db=sqnr, output_saturations=int(np.count_nonzero(clipped)),
            acc_saturations=int(np.sum(sats[k])), weight_bits_max=wmax, weight_bits_min=wmin,
            weight_bits_avail=cfg.weight_bits - 1, frac_out=lp.fmt.frac_out))
    warnings = _warnings(program, layers, in_values, in_vectors, len(x), sqnr_warn_db,
                         calibration)
    return Fidelity(n_inputs=len(x), reference=reference, input_frac=program.input_frac,
                    input_saturations=in_values, inputs_saturated=in_vectors,
                    layers=tuple(layers), warnings=tuple(warnings), sqnr_warn_db=sqnr_warn_db,
                    golden_outputs=program.dequantize_output(outs[-1]), float_outputs=ref[-1])


def _warnings(program, layers, in_values, in_vectors, n, sqnr_warn_db, calibration):
    cfg = program.cfg
    out = []
    if in_values:
        out.append(input_warning(program, in_values, in_vectors, n, calibration))
    # Errors travel downstream: a layer whose SQNR is no more than 6 dB below that of the
    # first troubled layer before it is pointed there rather than given a hint of its own.
    source = ("the clipped inputs", -math.inf) if in_values else None
    for la in layers:
        if la.acc_saturations:
            out.append(f"layer {la.name}: the accumulator saturated {la.acc_saturations} "
                       f"time(s) at acc_bits={cfg.acc_bits}: raise acc_bits")
        if la.output_saturations:
            top = signed_range(cfg.act_bits)[1] * 2.0 ** -la.frac_out
            out.append(f"layer {la.name}: {la.output_saturations} output(s) clip at "
                       f"act_bits={cfg.act_bits} (|y| <= {top:.4g}): compile with a "
                       f"--calibration set that covers these inputs, or raise act_bits")
        if la.weight_bits_min == 0:
            out.append(f"layer {la.name}: a non-zero codebook entry rounds to 0 (the "
                       f"codebook keeps {la.weight_bits_max} of {la.weight_bits_avail} "
                       f"magnitude bits): {_weight_hint(la)}")
        low = la.sqnr_db is not None and la.sqnr_db < sqnr_warn_db
        if low:
            if la.acc_saturations or la.output_saturations:
                hint = "the saturations above dominate"
            elif source is not None and la.sqnr_db >= source[1] - 6.0:
                hint = f"carried from {source[0]} (see above)"
            else:
                hint = _sqnr_hint(la, sqnr_warn_db)
            out.append(f"layer {la.name}: SQNR {la.sqnr_db:.1f} dB is below "
                       f"{sqnr_warn_db:g} dB (max error {_pct(la.max_error_pct)} of the output "
                       f"range): {hint}")
        if source is None and (low or la.acc_saturations or la.output_saturations):
            source = (f"layer {la.name}", la.sqnr_db if la.sqnr_db is not None else -math.inf)
    return out


def _sqnr_hint(la: LayerFidelity, sqnr_warn_db: float) -> str:
    """Which width would most likely help a layer's own (not inherited) error."""
    # Rounding a codebook whose largest entry keeps b magnitude bits costs about 6 dB per
    # bit; below the threshold plus a margin the weights are the likely limit.
    if 6.02 * la.weight_bits_max < sqnr_warn_db + 10.0:
        return (f"the codebook keeps {la.weight_bits_max} of {la.weight_bits_avail} weight "
                f"magnitude bits: {_weight_hint(la)}")
    if la.max_abs_error <= 2.0 ** -la.frac_out:
        return (f"the error is the output rounding (1 LSB = {2.0 ** -la.frac_out:.3g}): "
                f"raise act_bits")
    return "raise act_bits or weight_bits"


def _weight_hint(la: LayerFidelity) -> str:
    # A codebook that does not reach the top of its format was scaled down to leave the
    # accumulator room (compiler/formats.py): more acc_bits give the bits back.
    if la.weight_bits_max < la.weight_bits_avail - 1:
        return "raise acc_bits (the accumulator's room sets frac_w)"
    return "raise weight_bits"


def predictions(outputs) -> np.ndarray:
    """Class predictions from last-layer outputs (batch, n_out): the argmax, or for a
    single output its sign (a logit: positive is class 1)."""
    y = np.asarray(outputs)
    if y.shape[1] == 1:
        return (y[:, 0] > 0).astype(np.int64)
    return np.argmax(y, axis=1)


def classification(labels, **outputs) -> dict:
    """Accuracy (percent) of each named set of outputs against integer ``labels``, and the
    agreement (percent of inputs with the same prediction) of each with ``float``."""
    labels = np.asarray(labels).reshape(-1)
    preds = {name: predictions(y) for name, y in outputs.items()}
    rep = {f"{name}_accuracy": 100.0 * float(np.mean(p == labels)) for name, p in preds.items()}
    if "float" in preds:
        for name, p in preds.items():
            if name != "float":
                rep[f"{name}_float_agreement"] = 100.0 * float(np.mean(p == preds["float"]))
    return rep
