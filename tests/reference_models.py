"""Straightforward reference implementations the tests compare eiegen against.

They are written for clarity, not speed: plain loops and Python integers, sharing no code
with the modules under test, so that a bug there cannot cancel out here.
"""

from __future__ import annotations

import numpy as np


def reference_encode_pe(indices, n_pe: int, pe: int, rel_bits: int):
    """One PE's (v, z, ptr) lists, column by column, following the paper's description:
    each entry counts the zero local rows before it; a gap longer than 2**rel_bits - 1 is
    bridged by padding entries (v=0, z=max_gap), each of which occupies one row itself."""
    max_gap = (1 << rel_bits) - 1
    local = np.asarray(indices)[pe::n_pe]
    v, z, ptr = [], [], [0]
    for j in range(local.shape[1]):
        last = -1
        for r in range(local.shape[0]):
            x = int(local[r, j])
            if x == 0:
                continue
            zeros = r - last - 1
            while zeros > max_gap:
                v.append(0)
                z.append(max_gap)
                zeros -= max_gap + 1
            v.append(x)
            z.append(zeros)
            last = r
        ptr.append(len(v))
    return v, z, ptr


def fixed_round(x: float, frac: int, bits: int) -> int:
    """Float -> saturated fixed point, rounding half to even (Python's round)."""
    q = round(float(x) * 2.0 ** frac)
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, q))


def reference_layer(indices, codebook_q, bias_q, a, shift: int, act_bits: int, acc_bits: int,
                    relu: bool, col_order=None):
    """(accumulators, outputs, clamped additions per row) of one layer with Python-int
    arithmetic.

    ``a`` is a list of integer inputs; the accumulator starts at the bias and adds one
    product at a time, clamping to ``acc_bits`` after each addition, columns in
    ``col_order`` (the order the hardware receives them; default 0, 1, ...); outputs are
    round-half-up shifted, saturated to ``act_bits`` and optionally ReLU'd."""
    indices = np.asarray(indices)
    n_out, n_in = indices.shape
    lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    acc_lo, acc_hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    order = range(n_in) if col_order is None else [int(j) for j in col_order]
    accs, outs, sats = [], [], []
    for i in range(n_out):
        acc, sat = int(bias_q[i]), 0
        for j in order:
            v = int(indices[i, j])
            if v:
                exact = acc + int(codebook_q[v]) * int(a[j])
                acc = min(max(exact, acc_lo), acc_hi)
                sat += acc != exact
        y = (acc + (1 << (shift - 1))) >> shift if shift else acc  # >> floors: half up
        y = min(max(y, lo), hi)
        if relu:
            y = max(y, 0)
        accs.append(acc)
        outs.append(y)
        sats.append(sat)
    return accs, outs, sats


def reference_program_bias(layer, lp, acc_bits: int) -> list[int]:
    """A layer's biases in the accumulator format the program records for it."""
    frac = lp.fmt.frac_in + lp.fmt.frac_w
    bias = layer.bias if layer.bias is not None else np.zeros(layer.n_out)
    return [fixed_round(b, frac, acc_bits) for b in bias]


def reference_network(net, program, x_int):
    """Every layer's (accumulators, outputs, clamped additions per row), network row
    order, for one integer input vector: the network's own indices (network order) and the program's fixed-point
    codebooks, biases and shifts."""
    cfg = program.cfg
    a = [int(x) for x in x_int]
    result = []
    col_order = None  # the hardware sees a layer's inputs in the previous layer's row order
    for layer, lp in zip(net.layers, program.layers):
        bias_q = reference_program_bias(layer, lp, cfg.acc_bits)
        accs, a, sats = reference_layer(layer.indices, lp.codebook_q, bias_q, a, lp.shift,
                                        cfg.act_bits, cfg.acc_bits, layer.relu, col_order)
        result.append((accs, a, sats))
        col_order = lp.row_order
    return result


def reference_issue_cycles(ptr, v, z, per_word: int, max_gap: int, merge: bool) -> list[int]:
    """Issue cycles of each column of one PE, stepping stage ``a_`` entry by entry as
    docs/architecture.md states it: an entry whose word was already read in this column
    (not the column's first entry, not slot 0) that is padding ``(0, max_gap)``, not in the
    word's last slot and with at least two more entries of the column after it, issues in
    one cycle together with the next entry."""
    out = []
    for j in range(len(ptr) - 1):
        start, end = int(ptr[j]), int(ptr[j + 1])
        a, cycles = start, 0
        while a < end:
            slot = a % per_word
            pair = (merge and a > start and slot != 0 and slot != per_word - 1
                    and end - a >= 3 and int(v[a - ptr[0]]) == 0
                    and int(z[a - ptr[0]]) == max_gap)
            a += 2 if pair else 1
            cycles += 1
        out.append(cycles)
    return out
