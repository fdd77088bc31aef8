"""Argument checks of the convolution family (im2col, col2im, conv2d, conv2d_backward),
shared by fastdl.ops.conv (native) and the NumPy twins in fastdl.reference.conv: one
set of rules, one set of messages. Pure Python and NumPy; never imports the native
module."""

from __future__ import annotations

import numpy as np

from fastdl._checks import DTypeError
from fastdl._geometry import conv_output_size, conv_padding, pair

__all__ = ["float_array", "windows", "col2im_setup", "conv_setup", "conv_bias",
           "conv_grad_y"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(fn, name, a, ndims, dtype=None):
    """``a`` checked: an ndarray of float32/float64 (``dtype`` when given) with one of
    the ranks ``ndims``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _FLOATS:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}; only float32 and float64 "
                         "are supported")
    if dtype is not None and a.dtype != dtype:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}, expected {dtype} like x")
    if a.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{fn}: {name} must be {want}, got shape {a.shape}")
    return a


def windows(fn, size, kernel_size, dilation, padding, stride):
    """im2col/col2im window arguments as pairs, and the output size (OH, OW)."""
    k = pair(fn, "kernel_size", kernel_size, minimum=1)
    d = pair(fn, "dilation", dilation, minimum=1)
    p = pair(fn, "padding", padding, minimum=0)
    s = pair(fn, "stride", stride, minimum=1)
    return k, d, p, s, conv_output_size(fn, size, k, s, p, p, d)


def col2im_setup(fn, cols, output_size, kernel_size, dilation, padding, stride):
    """col2im's checks; returns (cols, size, k, d, p, s, out, channels)."""
    cols = float_array(fn, "cols", cols, (2, 3))
    size = pair(fn, "output_size", output_size, minimum=1)
    k, d, p, s, out = windows(fn, size, kernel_size, dilation, padding, stride)
    ckk, length = cols.shape[-2:]
    if ckk % (k[0] * k[1]) != 0:
        raise ValueError(f"{fn}: cols has {ckk} rows, which is not a multiple of the "
                         f"kernel's {k[0]}x{k[1]} = {k[0] * k[1]} positions")
    if length != out[0] * out[1]:
        raise ValueError(f"{fn}: cols has {length} blocks, but output_size {size}, "
                         f"kernel_size {k}, dilation {d}, padding {p} and stride {s} give "
                         f"{out[0]}x{out[1]} = {out[0] * out[1]}")
    return cols, size, k, d, p, s, out, ckk // (k[0] * k[1])


def conv_setup(fn, x, weight, stride, padding, dilation, groups):
    """Checks shared by conv2d and conv2d_backward; returns
    (x, weight, k, s, d, pad_lo, pad_hi, out)."""
    x = float_array(fn, "x", x, (4,))
    weight = float_array(fn, "weight", weight, (4,), x.dtype)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    n, c, h, w = x.shape
    f, cg, kh, kw = weight.shape
    if c % groups or f % groups:
        raise ValueError(f"{fn}: groups={groups} must divide both the input channels "
                         f"(x.shape[1] = {c}) and the output channels (weight.shape[0] = {f})")
    if cg != c // groups:
        raise ValueError(f"{fn}: weight.shape[1] = {cg}, expected x.shape[1] / groups = "
                         f"{c // groups} (weight {weight.shape}, x {x.shape}, groups {groups})")
    if kh < 1 or kw < 1:
        raise ValueError(f"{fn}: weight has an empty kernel, shape {weight.shape}")
    k = (kh, kw)
    s = pair(fn, "stride", stride, minimum=1)
    d = pair(fn, "dilation", dilation, minimum=1)
    lo, hi = conv_padding(fn, padding, k, s, d)
    out = conv_output_size(fn, (h, w), k, s, lo, hi, d)
    return x, weight, k, s, d, lo, hi, out


def conv_bias(fn, bias, f, dtype):
    """conv2d's bias: None, or an (f,) array of ``dtype``."""
    if bias is None:
        return None
    bias = float_array(fn, "bias", bias, (1,), dtype)
    if bias.shape != (f,):
        raise ValueError(f"{fn}: bias has shape {bias.shape}, expected ({f},)")
    return bias


def conv_grad_y(fn, grad_y, x, weight, out):
    """conv2d_backward's grad_y: x's dtype, shape (N, F, OH, OW)."""
    grad_y = float_array(fn, "grad_y", grad_y, (4,), x.dtype)
    want = (x.shape[0], weight.shape[0]) + tuple(out)
    if grad_y.shape != want:
        raise ValueError(f"{fn}: grad_y has shape {grad_y.shape}, expected "
                         f"{want} (the output of conv2d)")
    return grad_y
