"""2-D max, average and adaptive average pooling, forward and backward (native).

torch.nn.functional's semantics: ``x`` is (N, C, H, W) (or (C, H, W)), float32 or
float64; ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are ints or pairs;
``stride=None`` means ``kernel_size``; padding is at most half the kernel; the output
size follows torch's formula, ceil_mode included. Arguments are checked and normalised
here (by the rules in :mod:`fastdl._pool_args`, shared with the NumPy twins in
:mod:`fastdl.reference.pooling`); inputs that are not C-contiguous are copied once; the
loops are Cython (``fastdl/_pool.pyx``), parallel over the N*C planes with
``fastdl.get_num_threads()`` threads and bitwise identical for any thread count.
"""

from __future__ import annotations

import numpy as np

from fastdl import _core, _pool
from fastdl import _pool_args as _args

__all__ = [
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
]


def _planes(a, shape):
    """``a`` as a C-contiguous (N*C, H, W) array (a view when it already is one)."""
    return _c(a).reshape(shape[0] * shape[1], shape[2], shape[3])


def _c(a):
    """``a`` itself when C-contiguous and aligned, else one copy that is. Not
    np.ascontiguousarray: it passes an unaligned contiguous array through, and the
    loops reading doubles at an odd address is undefined behaviour (found by UBSan)."""
    return np.require(a, requirements=("C", "A"))


def _output(fn, name, like, shape, dtype):
    """A fresh output of ``like``'s rank (3-D in, 3-D out) and its (N*C, ...) view.

    MemoryError before allocating when it would need more than this machine's memory
    (the native results' check): under memory overcommit a huge allocation can succeed
    and the process be OOM-killed when the loops write it."""
    out_shape = tuple(shape) if like.ndim == 4 else tuple(shape)[1:]
    _core._check_result(fn, list(out_shape), np.dtype(dtype).itemsize, np.dtype(dtype).name)
    out = np.empty(out_shape, dtype=dtype)
    return out, out.reshape(shape[0] * shape[1], shape[2], shape[3])


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling with the argmax of each window (torch's ``max_pool2d_with_indices``).

    Parameters
    ----------
    x : ndarray (N, C, H, W) or (C, H, W), float32 or float64
    kernel_size, stride, padding, dilation : int or (int, int)

    Returns
    -------
    y : ndarray (N, C, OH, OW), x's dtype
    indices : ndarray (N, C, OH, OW), int64
        The flat index ``h * W + w`` of each maximum in its input plane. Ties go to the
        first in row-major window order; a NaN in the window wins (the last one).
    """
    fn = "max_pool2d"
    x = _args.float_array(fn, "x", x)
    g = _args.geometry(fn, _args.planes(fn, "x", x), kernel_size, stride, padding,
                       dilation, ceil_mode)
    oshape = (g.N, g.C, g.OH, g.OW)
    y, yp = _output(fn, "y", x, oshape, x.dtype)
    ind, ip = _output(fn, "indices", x, oshape, np.int64)
    # the running argmax's window offsets: int32 (faster) unless they can pass 2**31
    offsets = np.int32 if g.kH * g.kW < 2**31 else np.int64
    scratch = np.empty((_core.get_num_threads(), g.OW), dtype=offsets)
    _pool.max_pool2d_forward(_planes(x, g[:4]), yp, ip, scratch, g.kH, g.kW, g.sH, g.sW,
                             g.pH, g.pW, g.dH, g.dW)
    return y, ind


def max_pool2d_backward(grad_y, indices, input_shape):
    """Gradient of :func:`max_pool2d` with respect to x.

    Parameters
    ----------
    grad_y : ndarray (N, C, OH, OW) or (C, OH, OW), float32 or float64
    indices : ndarray of grad_y's shape, int64, as returned by max_pool2d
    input_shape : tuple (N, C, H, W) (or (C, H, W))

    Returns
    -------
    grad_x : ndarray ``input_shape``, grad_y's dtype; ``grad_y`` summed into the
    positions ``indices`` of each plane.
    """
    fn = "max_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    shape = _args.input_shape_of(fn, input_shape, grad_y)
    _args.max_indices(fn, indices, grad_y)
    grad_x, gp = _output(fn, "grad_x", grad_y, shape, grad_y.dtype)
    P, HW, OHW = gp.shape[0], shape[2] * shape[3], grad_y.shape[-2] * grad_y.shape[-1]
    bad = _pool.max_pool2d_backward(_c(grad_y).reshape(P, OHW),
                                    _c(indices).reshape(P, OHW),
                                    gp.reshape(P, HW), _core.get_num_threads())
    if bad:
        raise ValueError(f"{fn}: {bad} of the indices are outside the input plane "
                         f"[0, {HW}) of input_shape {tuple(input_shape)}")
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Average pooling (torch's ``avg_pool2d``, no divisor_override).

    Each output is the sum of its window divided by the window's size: with
    ``count_include_pad`` the window clipped to the padded input (zeros counted),
    otherwise clipped to the input.

    Parameters
    ----------
    x : ndarray (N, C, H, W) or (C, H, W), float32 or float64
    kernel_size, stride, padding : int or (int, int)

    Returns
    -------
    y : ndarray (N, C, OH, OW), x's dtype
    """
    fn = "avg_pool2d"
    x = _args.float_array(fn, "x", x)
    g = _args.geometry(fn, _args.planes(fn, "x", x), kernel_size, stride, padding, 1,
                       ceil_mode)
    cip = _args.flag(fn, "count_include_pad", count_include_pad)
    y, yp = _output(fn, "y", x, (g.N, g.C, g.OH, g.OW), x.dtype)
    _pool.avg_pool2d_forward(_planes(x, g[:4]), yp, g.kH, g.kW, g.sH, g.sW, g.pH, g.pW,
                             cip, _core.get_num_threads())
    return y


def avg_pool2d_backward(grad_y, input_shape, kernel_size, stride=None, padding=0,
                        ceil_mode=False, count_include_pad=True):
    """Gradient of :func:`avg_pool2d` with respect to x.

    Parameters
    ----------
    grad_y : ndarray (N, C, OH, OW) or (C, OH, OW), float32 or float64; (OH, OW) must
        be the output size of ``input_shape`` under the pooling arguments
    input_shape : tuple (N, C, H, W) (or (C, H, W))

    Returns
    -------
    grad_x : ndarray ``input_shape``, grad_y's dtype
    """
    fn = "avg_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    shape = _args.input_shape_of(fn, input_shape, grad_y)
    g = _args.geometry(fn, shape, kernel_size, stride, padding, 1, ceil_mode)
    cip = _args.flag(fn, "count_include_pad", count_include_pad)
    _args.grad_y_shape(fn, grad_y, (g.OH, g.OW))
    grad_x, gp = _output(fn, "grad_x", grad_y, g[:4], grad_y.dtype)
    scratch = np.empty((_core.get_num_threads(), g.OW), dtype=grad_y.dtype)
    _pool.avg_pool2d_backward(_planes(grad_y, (g.N, g.C, g.OH, g.OW)), gp, scratch, g.kH,
                              g.kW, g.sH, g.sW, g.pH, g.pW, cip)
    return grad_x


def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling (torch's ``adaptive_avg_pool2d``).

    Output bin ``i`` of a dimension of size ``H`` pooled to ``OH`` averages the rows
    ``floor(i*H/OH) <= h < ceil((i+1)*H/OH)``; bins overlap when OH does not divide H.
    Sums run in double precision.

    Parameters
    ----------
    x : ndarray (N, C, H, W) or (C, H, W), float32 or float64
    output_size : int or (int or None, int or None); None keeps that input size

    Returns
    -------
    y : ndarray (N, C, OH, OW), x's dtype
    """
    fn = "adaptive_avg_pool2d"
    x = _args.float_array(fn, "x", x)
    N, C, H, W = _args.planes(fn, "x", x)
    OH, OW = _args.adaptive_output_size(fn, output_size, H, W)
    y, yp = _output(fn, "y", x, (N, C, OH, OW), x.dtype)
    _pool.adaptive_avg_pool2d_forward(_planes(x, (N, C, H, W)), yp,
                                      _args.adaptive_bins(H, OH), _args.adaptive_bins(W, OW),
                                      _core.get_num_threads())
    return y


def adaptive_avg_pool2d_backward(grad_y, input_shape):
    """Gradient of :func:`adaptive_avg_pool2d` with respect to x.

    Parameters
    ----------
    grad_y : ndarray (N, C, OH, OW) or (C, OH, OW), float32 or float64
    input_shape : tuple (N, C, H, W) (or (C, H, W))

    Returns
    -------
    grad_x : ndarray ``input_shape``, grad_y's dtype
    """
    fn = "adaptive_avg_pool2d_backward"
    grad_y = _args.float_array(fn, "grad_y", grad_y)
    shape = _args.input_shape_of(fn, input_shape, grad_y)
    N, C, OH, OW = _args.planes(fn, "grad_y", grad_y)
    grad_x, gp = _output(fn, "grad_x", grad_y, shape, grad_y.dtype)
    _pool.adaptive_avg_pool2d_backward(_planes(grad_y, (N, C, OH, OW)), gp,
                                       _args.adaptive_bins(shape[2], OH),
                                       _args.adaptive_bins(shape[3], OW),
                                       _core.get_num_threads())
    return grad_x
