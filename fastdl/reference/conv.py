"""NumPy twins of the convolution kernels: im2col / col2im (torch's F.unfold / F.fold)
and conv2d forward and backward by im2col + matmul.

Written to be obviously correct rather than fast: im2col copies one strided slice of
the padded input per kernel offset, col2im adds them back, and the convolution is one
matmul per group. Works for any float dtype; float32 and float64 are the supported ones.
Layout NCHW; weight (F, C/groups, KH, KW).
"""

from __future__ import annotations

import numpy as np

from fastdl._checks import silent_ieee

from fastdl._conv_args import (
    col2im_setup,
    conv_bias,
    conv_grad_y,
    conv_setup,
    float_array,
    windows,
)

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward"]


def _offset_slices(k, d, s, out):
    """For each kernel offset (i, j): the slices of the padded input it reads."""
    for i in range(k[0]):
        for j in range(k[1]):
            yield i, j, (slice(i * d[0], i * d[0] + s[0] * (out[0] - 1) + 1, s[0]),
                         slice(j * d[1], j * d[1] + s[1] * (out[1] - 1) + 1, s[1]))


def _unfold(xp, k, d, s, out):
    """Padded input (N, C, Hp, Wp) -> columns (N, C, KH, KW, OH, OW)."""
    n, c = xp.shape[:2]
    cols = np.empty((n, c, k[0], k[1], out[0], out[1]), dtype=xp.dtype)
    for i, j, (rows, colsl) in _offset_slices(k, d, s, out):
        cols[:, :, i, j] = xp[:, :, rows, colsl]
    return cols


def _fold(cols, padded_size, k, d, s, out):
    """Columns (N, C, KH, KW, OH, OW) -> padded image (N, C, Hp, Wp), overlaps summed."""
    n, c = cols.shape[:2]
    xp = np.zeros((n, c) + tuple(padded_size), dtype=cols.dtype)
    for i, j, (rows, colsl) in _offset_slices(k, d, s, out):
        xp[:, :, rows, colsl] += cols[:, :, i, j]
    return xp


@silent_ieee
def im2col(x, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks: torch's ``F.unfold``.

    Parameters
    ----------
    x : ndarray (N, C, H, W) or (C, H, W), float32 or float64
    kernel_size, dilation, padding, stride : int or pair of ints
        Zero padding on both sides of each spatial dimension.

    Returns
    -------
    cols : ndarray (N, C*KH*KW, L) or (C*KH*KW, L), x's dtype
        Row ``c*KH*KW + i*KW + j`` holds input channel ``c`` at kernel offset
        ``(i, j)``; column ``oh*OW + ow`` is output position ``(oh, ow)``, with
        ``OH = (H + 2*pad - dil*(KH-1) - 1) // stride + 1`` (likewise OW) and L = OH*OW.
    """
    fn = "im2col"
    x = float_array(fn, "x", x, (3, 4))
    batched = x.ndim == 4
    x4 = x if batched else x[None]
    k, d, p, s, out = windows(fn, x4.shape[2:], kernel_size, dilation, padding, stride)
    xp = np.pad(x4, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    cols = _unfold(xp, k, d, s, out)
    n, c = x4.shape[:2]
    cols = cols.reshape(n, c * k[0] * k[1], out[0] * out[1])
    return cols if batched else cols[0]


@silent_ieee
def col2im(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks back into an image: torch's ``F.fold`` (the adjoint of im2col).

    Parameters
    ----------
    cols : ndarray (N, C*KH*KW, L) or (C*KH*KW, L), float32 or float64
    output_size : int or pair
        The image size (H, W) before padding.
    kernel_size, dilation, padding, stride : int or pair of ints

    Returns
    -------
    x : ndarray (N, C, H, W) or (C, H, W); overlapping blocks are summed.
    """
    fn = "col2im"
    cols, size, k, d, p, s, out, c = col2im_setup(fn, cols, output_size, kernel_size,
                                                  dilation, padding, stride)
    batched = cols.ndim == 3
    c3 = cols if batched else cols[None]
    n = c3.shape[0]
    xp = _fold(c3.reshape(n, c, k[0], k[1], out[0], out[1]),
               (size[0] + 2 * p[0], size[1] + 2 * p[1]), k, d, s, out)
    x = xp[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    return np.ascontiguousarray(x if batched else x[0])


@silent_ieee
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as torch's ``F.conv2d``) by im2col + matmul.

    Parameters
    ----------
    x : ndarray (N, C, H, W), float32 or float64
    weight : ndarray (F, C/groups, KH, KW), x's dtype
    bias : ndarray (F,) or None
    stride, dilation : int or pair
    padding : int, pair, "valid" or "same" (stride 1 only)
    groups : int dividing C and F

    Returns
    -------
    y : ndarray (N, F, OH, OW)
        ``y[n, f] = bias[f] + sum_{c in group(f), i, j} w[f, c, i, j] *
        x_pad[n, c, oh*s + i*d, ow*s + j*d]``.
    """
    fn = "conv2d"
    x, weight, k, s, d, lo, hi, out = conv_setup(fn, x, weight, stride, padding, dilation,
                                                groups)
    n, c = x.shape[:2]
    f = weight.shape[0]
    bias = conv_bias(fn, bias, f, x.dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (lo[0], hi[0]), (lo[1], hi[1])))
    cols = _unfold(xp, k, d, s, out)                      # (N, C, KH, KW, OH, OW)
    cg, fg, length = c // groups, f // groups, out[0] * out[1]
    cols = cols.reshape(n, groups, cg * k[0] * k[1], length)
    wg = weight.reshape(groups, fg, cg * k[0] * k[1])
    y = np.matmul(wg[None], cols)                         # (N, G, F/G, L)
    y = y.reshape(n, f, out[0], out[1])
    if bias is not None:
        y += bias[None, :, None, None]
    return np.ascontiguousarray(y)


@silent_ieee
def conv2d_backward(grad_y, x, weight, stride=1, padding=0, dilation=1, groups=1, bias=True):
    """Gradients of :func:`conv2d`.

    Parameters
    ----------
    grad_y : ndarray (N, F, OH, OW)
    x, weight, stride, padding, dilation, groups : as in the forward call
    bias : bool
        Whether to return grad_bias (else None).

    Returns
    -------
    grad_x : ndarray (N, C, H, W)
        col2im of ``weight_g^T @ grad_y_g`` per group.
    grad_weight : ndarray (F, C/groups, KH, KW)
        ``sum_n grad_y_g[n] @ cols_g[n]^T`` per group.
    grad_bias : ndarray (F,) or None
        ``grad_y.sum(axis=(0, 2, 3))``.
    """
    fn = "conv2d_backward"
    x, weight, k, s, d, lo, hi, out = conv_setup(fn, x, weight, stride, padding, dilation,
                                                groups)
    n, c, h, w = x.shape
    f = weight.shape[0]
    grad_y = conv_grad_y(fn, grad_y, x, weight, out)
    cg, fg, length = c // groups, f // groups, out[0] * out[1]
    xp = np.pad(x, ((0, 0), (0, 0), (lo[0], hi[0]), (lo[1], hi[1])))
    cols = _unfold(xp, k, d, s, out).reshape(n, groups, cg * k[0] * k[1], length)
    gy = grad_y.reshape(n, groups, fg, length)
    wg = weight.reshape(groups, fg, cg * k[0] * k[1])
    grad_w = np.matmul(gy, cols.transpose(0, 1, 3, 2)).sum(axis=0)   # (G, F/G, CgKK)
    grad_cols = np.matmul(wg.transpose(0, 2, 1)[None], gy)           # (N, G, CgKK, L)
    grad_xp = _fold(grad_cols.reshape(n, c, k[0], k[1], out[0], out[1]), xp.shape[2:],
                    k, d, s, out)
    grad_x = np.ascontiguousarray(grad_xp[:, :, lo[0]:lo[0] + h, lo[1]:lo[1] + w])
    grad_b = grad_y.sum(axis=(0, 2, 3)) if bias else None
    return grad_x, grad_w.reshape(weight.shape), grad_b
