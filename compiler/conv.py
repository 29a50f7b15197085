"""Convolution and pooling geometry: which input feeds which output, by which weight.

Everything here is index arithmetic on feature maps stored channel-major, ``(C, H, W)``
flattened as ``c * H * W + h * W + w`` (torch's ``flatten(1)`` order); a 1-D map is the
case ``H = 1``. The network IR (:mod:`network`), the numpy trainer (:mod:`finetune`) and
the lowering pass (:mod:`lower`) all use these maps, so the float model, the training and
the matrix the array runs are the same linear map by construction.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv_out_size", "conv_map", "pool_windows", "conv_matrix"]


def conv_out_size(n: int, k: int, stride: int, pad: int, dilation: int) -> int:
    """Output length of a convolution or pooling window along one axis (torch's rule,
    ``ceil_mode=False``)."""
    return (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def conv_map(in_shape, out_channels: int, kernel, stride, padding, dilation, groups: int):
    """The non-zero pattern of a convolution's Toeplitz matrix.

    Parameters
    ----------
    in_shape : (C, H, W)
    out_channels : int
    kernel, stride, padding, dilation : (int, int)
        Along H and W.
    groups : int

    Returns
    -------
    rows, cols, kidx : numpy.ndarray (int64)
        One entry per (output, input) pair the kernel connects: output row
        ``o * Ho * Wo + y * Wo + x``, input column ``c * H * W + h * W + w`` and the flat
        index ``(c % (C / groups)) * kh * kw + i * kw + j`` of the kernel weight in the
        layer's ``(out_channels, C / groups * kh * kw)`` weight matrix. Taps that fall
        on zero padding are absent. Sorted by row, then column.
    """
    c_in, h_in, w_in = (int(v) for v in in_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    ho = conv_out_size(h_in, kh, sh, ph, dh)
    wo = conv_out_size(w_in, kw, sw, pw, dw)
    cg, og = c_in // groups, out_channels // groups
    o = np.arange(out_channels)[:, None, None, None, None, None]
    ci = np.arange(cg)[None, :, None, None, None, None]
    i = np.arange(kh)[None, None, :, None, None, None]
    j = np.arange(kw)[None, None, None, :, None, None]
    y = np.arange(ho)[None, None, None, None, :, None]
    x = np.arange(wo)[None, None, None, None, None, :]
    shape = (out_channels, cg, kh, kw, ho, wo)
    h = np.broadcast_to(y * sh - ph + i * dh, shape)
    w = np.broadcast_to(x * sw - pw + j * dw, shape)
    c = np.broadcast_to((o // og) * cg + ci, shape)
    rows = np.broadcast_to((o * ho + y) * wo + x, shape)
    kidx = np.broadcast_to((ci * kh + i) * kw + j, shape)
    ok = (h >= 0) & (h < h_in) & (w >= 0) & (w < w_in)
    rows, kidx = rows[ok], kidx[ok]
    cols = (c[ok] * h_in + h[ok]) * w_in + w[ok]
    order = np.lexsort((cols, rows))
    return (rows[order].astype(np.int64), cols[order].astype(np.int64),
            kidx[order].astype(np.int64))


def conv_matrix(weight: np.ndarray, in_shape, kernel, stride, padding, dilation,
                groups: int, *, dense: bool = False):
    """The convolution as a matrix ``(C_out * Ho * Wo, C * H * W)``: a scipy CSR matrix
    (or a dense array with ``dense=True``) whose non-zeros are ``weight``'s entries
    repeated once per output position."""
    from scipy.sparse import csr_matrix

    weight = np.asarray(weight)
    rows, cols, kidx = conv_map(in_shape, weight.shape[0], kernel, stride, padding,
                                dilation, groups)
    c_in, h_in, w_in = in_shape
    ho = conv_out_size(h_in, kernel[0], stride[0], padding[0], dilation[0])
    wo = conv_out_size(w_in, kernel[1], stride[1], padding[1], dilation[1])
    shape = (weight.shape[0] * ho * wo, c_in * h_in * w_in)
    # the weight of entry (row, col) is weight[o, kidx] with o = row // (Ho * Wo)
    values = weight[rows // (ho * wo), kidx]
    if dense:
        m = np.zeros(shape, dtype=weight.dtype)
        m[rows, cols] = values
        return m
    return csr_matrix((values, (rows, cols)), shape=shape)


def pool_windows(in_shape, kernel, stride, padding) -> np.ndarray:
    """The inputs of every max-pooling window, ``(C * Ho * Wo, kh * kw)``, -1 where a
    window position falls on padding (torch pads max pooling with -inf, so a padded
    position never wins: it is simply not part of the window). Rows in channel-major
    output order."""
    c_in, h_in, w_in = (int(v) for v in in_shape)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    ho = conv_out_size(h_in, kh, sh, ph, 1)
    wo = conv_out_size(w_in, kw, sw, pw, 1)
    c = np.arange(c_in)[:, None, None, None, None]
    y = np.arange(ho)[None, :, None, None, None]
    x = np.arange(wo)[None, None, :, None, None]
    i = np.arange(kh)[None, None, None, :, None]
    j = np.arange(kw)[None, None, None, None, :]
    shape = (c_in, ho, wo, kh, kw)
    h = np.broadcast_to(y * sh - ph + i, shape)
    w = np.broadcast_to(x * sw - pw + j, shape)
    idx = (np.broadcast_to(c, shape) * h_in + h) * w_in + w
    idx = np.where((h >= 0) & (h < h_in) & (w >= 0) & (w < w_in), idx, -1)
    return idx.reshape(c_in * ho * wo, kh * kw).astype(np.int64)
