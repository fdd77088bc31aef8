"""Pure-NumPy twins of :mod:`fastdl.ops.pooling`: same names, signatures and results.

Max and average pooling are "loop pooling": a Python loop over the kH*kW window
offsets, each step a strided slice of the padded input that holds that offset of every
window at once. Visiting the offsets in row-major order gives torch's tie-breaking for
free (a later element replaces the running maximum only when strictly greater, or when
it is NaN). Adaptive pooling loops over the output bins, whose sizes vary.

Arguments are checked by the same rules as the native wrappers (fastdl._pool_args).
"""

from __future__ import annotations

import numpy as np

from fastdl import _pool_args as _args
from fastdl._checks import silent_ieee as _silent_ieee

__all__ = [
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
]




def _padded(a, g, value):
    """``a`` (N, C, H, W) padded by ``value``: padding on the left and as much on the
    right as the last window reaches (ceil_mode windows may run past the padding)."""
    rH = max(0, (g.OH - 1) * g.sH + (g.kH - 1) * g.dH + 1 - g.pH - g.H)
    rW = max(0, (g.OW - 1) * g.sW + (g.kW - 1) * g.dW + 1 - g.pW - g.W)
    return np.pad(a, ((0, 0), (0, 0), (g.pH, rH), (g.pW, rW)), constant_values=value)


def _window(a, g, i, j):
    """Offset (i, j) of every window: a (..., OH, OW) strided view of the padded ``a``."""
    h, w = i * g.dH, j * g.dW
    return a[..., h:h + (g.OH - 1) * g.sH + 1:g.sH, w:w + (g.OW - 1) * g.sW + 1:g.sW]


def _unbatched(out, ndim):
    return out if ndim == 4 else out[0]


@_silent_ieee
def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling with argmax indices; see :func:`fastdl.ops.max_pool2d`."""
    fn = "max_pool2d"
    x = _args.float_array(fn, "x", x)
    shape = _args.planes(fn, "x", x)
    g = _args.geometry(fn, shape, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _padded(x.reshape(shape), g, -np.inf)  # padding never wins, not even over -inf
    # Input row / column of offset i of each window (negative or >= H: padding).
    rows = np.arange(g.OH)[:, None] * g.sH - g.pH + np.arange(g.kH) * g.dH  # (OH, kH)
    cols = np.arange(g.OW)[:, None] * g.sW - g.pW + np.arange(g.kW) * g.dW  # (OW, kW)
    # A window of -inf keeps its first in-bounds position, as torch.
    first_row = np.where(rows >= 0, rows, np.iinfo(np.int64).max).min(axis=1)
    first_col = np.where(cols >= 0, cols, np.iinfo(np.int64).max).min(axis=1)
    y = np.full((g.N, g.C, g.OH, g.OW), -np.inf, dtype=x.dtype)
    ind = np.broadcast_to(first_row[:, None] * g.W + first_col, y.shape).copy()
    for i in range(g.kH):
        for j in range(g.kW):
            v = _window(xp, g, i, j)
            take = (v > y) | np.isnan(v)
            y = np.where(take, v, y)
            ind = np.where(take, rows[:, i, None] * g.W + cols[:, j], ind)
    return _unbatched(y, x.ndim), _unbatched(ind, x.ndim)


@_silent_ieee
def max_pool2d_backward(grad_y, indices, input_shape):
    """Gradient of max_pool2d; see :func:`fastdl.ops.max_pool2d_backward`."""
    fn = "max_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    N, C, H, W = _args.input_shape_of(fn, input_shape, grad_y)
    P, OHW = N * C, grad_y.shape[-2] * grad_y.shape[-1]
    idx = _args.max_indices(fn, indices, grad_y).reshape(P, OHW)
    bad = np.count_nonzero((idx < 0) | (idx >= H * W))
    if bad:
        raise ValueError(f"{fn}: {bad} of the indices are outside the input plane "
                         f"[0, {H * W}) of input_shape {tuple(input_shape)}")
    grad_x = np.zeros((P, H * W), dtype=grad_y.dtype)
    # Unbuffered: repeated indices accumulate, in output order.
    np.add.at(grad_x, (np.arange(P)[:, None], idx), grad_y.reshape(P, OHW))
    return grad_x.reshape(input_shape)


def _avg_divisor(g, count_include_pad, dtype):
    """(OH, OW) window sizes: clipped to the padded input with count_include_pad (the
    part of a ceil_mode window past the padding never counts), else to the input."""
    def sizes(n_out, s, p, k, n_in):
        a = np.arange(n_out) * s - p
        b = np.minimum(a + k, n_in + p)
        return b - a if count_include_pad else np.minimum(b, n_in) - np.maximum(a, 0)
    rows = sizes(g.OH, g.sH, g.pH, g.kH, g.H)
    cols = sizes(g.OW, g.sW, g.pW, g.kW, g.W)
    return (rows[:, None] * cols).astype(dtype)


@_silent_ieee
def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Average pooling; see :func:`fastdl.ops.avg_pool2d`."""
    fn = "avg_pool2d"
    x = _args.float_array(fn, "x", x)
    shape = _args.planes(fn, "x", x)
    g = _args.geometry(fn, shape, kernel_size, stride, padding, 1, ceil_mode)
    cip = _args.flag(fn, "count_include_pad", count_include_pad)
    xp = _padded(x.reshape(shape), g, 0)
    acc = np.zeros((g.N, g.C, g.OH, g.OW), dtype=x.dtype)
    for i in range(g.kH):
        for j in range(g.kW):
            acc += _window(xp, g, i, j)
    return _unbatched(acc / _avg_divisor(g, cip, x.dtype), x.ndim)


@_silent_ieee
def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    """Gradient of avg_pool2d; see :func:`fastdl.ops.avg_pool2d_backward`."""
    fn = "avg_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    shape = _args.input_shape_of(fn, input_shape, grad_y)
    g = _args.geometry(fn, shape, kernel_size, stride, padding, 1, ceil_mode)
    cip = _args.flag(fn, "count_include_pad", count_include_pad)
    _args.grad_y_shape(fn, grad_y, (g.OH, g.OW))
    delta = grad_y.reshape(g.N, g.C, g.OH, g.OW) / _avg_divisor(g, cip, grad_y.dtype)
    gp = _padded(np.zeros(shape, dtype=grad_y.dtype), g, 0)
    for i in range(g.kH):
        for j in range(g.kW):
            _window(gp, g, i, j)[...] += delta  # windows of one offset never overlap
    return gp[..., g.pH:g.pH + g.H, g.pW:g.pW + g.W].reshape(input_shape)


@_silent_ieee
def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling; see :func:`fastdl.ops.adaptive_avg_pool2d`."""
    fn = "adaptive_avg_pool2d"
    x = _args.float_array(fn, "x", x)
    N, C, H, W = _args.planes(fn, "x", x)
    OH, OW = _args.adaptive_output_size(fn, output_size, H, W)
    x4 = x.reshape(N, C, H, W)
    y = np.empty((N, C, OH, OW), dtype=x.dtype)
    for oh, (h0, h1) in enumerate(_args.adaptive_bins(H, OH).T):
        for ow, (w0, w1) in enumerate(_args.adaptive_bins(W, OW).T):
            total = x4[:, :, h0:h1, w0:w1].sum(axis=(2, 3), dtype=np.float64)
            y[:, :, oh, ow] = total / (h1 - h0) / (w1 - w0)
    return _unbatched(y, x.ndim)


@_silent_ieee
def adaptive_avg_pool2d_backward(grad_y, input_shape):
    """Gradient of adaptive_avg_pool2d; see :func:`fastdl.ops.adaptive_avg_pool2d_backward`."""
    fn = "adaptive_avg_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    N, C, H, W = _args.input_shape_of(fn, input_shape, grad_y)
    OH, OW = grad_y.shape[-2:]
    gy = grad_y.reshape(N, C, OH, OW)
    grad_x = np.zeros((N, C, H, W), dtype=grad_y.dtype)
    for oh, (h0, h1) in enumerate(_args.adaptive_bins(H, OH).T):
        for ow, (w0, w1) in enumerate(_args.adaptive_bins(W, OW).T):
            kh, kw = grad_y.dtype.type(h1 - h0), grad_y.dtype.type(w1 - w0)
            grad_x[:, :, h0:h1, w0:w1] += (gy[:, :, oh, ow] / kh / kw)[:, :, None, None]
    return grad_x.reshape(input_shape)
