"""Convolution: conv2d and conv2d_backward (torch's F.conv2d and its gradients).

Interim implementation: per sample, the columns of one image are built in NumPy
(fastdl.reference.conv's strided copies) and multiplied on fastdl's native GEMM. The
native implicit-im2col kernel (no column buffer at all) replaces this; the signatures
and results stay.
"""

from __future__ import annotations

import numpy as np

from fastdl.ops.linear import matmul
from fastdl.reference import conv as _ref

__all__ = ["conv2d", "conv2d_backward"]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution, as :func:`fastdl.reference.conv2d` (same signature and checks).

    x (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) or None; padding an int, a
    pair, "valid" or "same". Returns y (N, F, OH, OW) in x's dtype.
    """
    fn = "conv2d"
    x, weight, k, s, d, lo, hi, out = _ref._conv_setup(fn, x, weight, stride, padding,
                                                      dilation, groups)
    n, c = x.shape[:2]
    f = weight.shape[0]
    if bias is not None:
        bias = _ref._array(fn, "bias", bias, (1,), x.dtype)
        if bias.shape != (f,):
            raise ValueError(f"{fn}: bias has shape {bias.shape}, expected ({f},)")
    cg, fg, length = c // groups, f // groups, out[0] * out[1]
    wg = np.ascontiguousarray(weight).reshape(groups, fg, cg * k[0] * k[1])
    y = np.empty((n, f, length), dtype=x.dtype)
    for i in range(n):
        xp = np.pad(x[i:i + 1], ((0, 0), (0, 0), (lo[0], hi[0]), (lo[1], hi[1])))
        cols = _ref._unfold(xp, k, d, s, out).reshape(groups, cg * k[0] * k[1], length)
        for g in range(groups):
            y[i, g * fg:(g + 1) * fg] = matmul(wg[g], cols[g])
    if bias is not None:
        y += bias[None, :, None]
    return y.reshape(n, f, out[0], out[1])


def conv2d_backward(grad_y, x, weight, stride=1, padding=0, dilation=1, groups=1, bias=True):
    """Gradients of :func:`conv2d`: ``(grad_x, grad_weight, grad_bias)`` (grad_bias None
    unless ``bias``), as :func:`fastdl.reference.conv2d_backward`."""
    fn = "conv2d_backward"
    x, weight, k, s, d, lo, hi, out = _ref._conv_setup(fn, x, weight, stride, padding,
                                                      dilation, groups)
    n, c, h, w = x.shape
    f = weight.shape[0]
    grad_y = _ref._array(fn, "grad_y", grad_y, (4,), x.dtype)
    if grad_y.shape != (n, f) + tuple(out):
        raise ValueError(f"{fn}: grad_y has shape {grad_y.shape}, expected "
                         f"{(n, f) + tuple(out)} (the output of conv2d)")
    cg, fg, length = c // groups, f // groups, out[0] * out[1]
    kk = cg * k[0] * k[1]
    wg = np.ascontiguousarray(weight).reshape(groups, fg, kk)
    gy = np.ascontiguousarray(grad_y).reshape(n, groups, fg, length)
    grad_w = np.zeros((groups, fg, kk), dtype=x.dtype)
    grad_x = np.empty_like(x, order="C")
    hp, wp = h + lo[0] + hi[0], w + lo[1] + hi[1]
    for i in range(n):
        xp = np.pad(x[i:i + 1], ((0, 0), (0, 0), (lo[0], hi[0]), (lo[1], hi[1])))
        cols = _ref._unfold(xp, k, d, s, out).reshape(groups, kk, length)
        grad_cols = np.empty((groups, kk, length), dtype=x.dtype)
        for g in range(groups):
            grad_w[g] += matmul(gy[i, g], cols[g].T)
            grad_cols[g] = matmul(wg[g].T, gy[i, g])
        gxp = _ref._fold(grad_cols.reshape(1, c, k[0], k[1], out[0], out[1]), (hp, wp),
                         k, d, s, out)
        grad_x[i] = gxp[0, :, lo[0]:lo[0] + h, lo[1]:lo[1] + w]
    grad_b = grad_y.sum(axis=(0, 2, 3)) if bias else None
    return grad_x, grad_w.reshape(weight.shape), grad_b
