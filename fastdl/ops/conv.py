"""Convolution (native): ``im2col`` / ``col2im`` (torch's ``F.unfold`` / ``F.fold``) and
``conv2d`` / ``conv2d_backward`` (torch's ``F.conv2d`` and its gradients).

The convolution runs on fastdl's packed GEMM by *implicit* im2col: the GEMM's packing
routine reads the padded, strided, dilated input straight into its cache-sized panels,
so no column matrix is ever stored; the bias is added in the GEMM's epilogue; 1x1,
stride-1, unpadded convolutions are plain GEMMs on the input. The backward pass gets
grad_weight from one GEMM per group whose reduction runs over every output position of
the batch, grad_x from ``W^T @ grad_y`` a few hundred columns at a time followed by
col2im, and grad_bias from sums in double. Extra memory is a few per-thread panels and
buffers, never proportional to the batch. Every result is bitwise identical for any
``fastdl.set_num_threads``; the GIL is released.

Arguments are checked here with the rules and messages of the NumPy twins
(:mod:`fastdl.reference.conv`, which give the same results); inputs that are not
C-contiguous are copied once.
"""

from __future__ import annotations

from fastdl import _core
from fastdl._checks import flag
from fastdl._conv_args import (
    col2im_setup,
    conv_bias,
    conv_grad_y,
    conv_setup,
    float_array,
    windows,
)

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward"]


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
    k, d, p, s, _ = windows(fn, x.shape[-2:], kernel_size, dilation, padding, stride)
    return _core._im2col(x, k[0], k[1], d[0], d[1], p[0], p[1], s[0], s[1])


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
    cols, size, k, d, p, s, _, _ = col2im_setup(fn, cols, output_size, kernel_size,
                                                dilation, padding, stride)
    return _core._col2im(cols, size[0], size[1], k[0], k[1], d[0], d[1], p[0], p[1],
                         s[0], s[1])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as torch's ``F.conv2d``).

    Parameters
    ----------
    x : ndarray (N, C, H, W), float32 or float64
    weight : ndarray (F, C/groups, KH, KW), x's dtype
    bias : ndarray (F,) or None
    stride, dilation : int or pair
    padding : int, pair, "valid" or "same" (stride 1 only; an odd total pads one more
        at the bottom/right, as torch)
    groups : int dividing C and F

    Returns
    -------
    y : ndarray (N, F, OH, OW)
        ``y[n, f] = bias[f] + sum_{c in group(f), i, j} w[f, c, i, j] *
        x_pad[n, c, oh*s + i*d, ow*s + j*d]``.
    """
    fn = "conv2d"
    x, weight, k, s, d, lo, hi, _ = conv_setup(fn, x, weight, stride, padding, dilation,
                                              groups)
    bias = conv_bias(fn, bias, weight.shape[0], x.dtype)
    return _core._conv2d(x, weight, bias, s[0], s[1], lo[0], lo[1], hi[0], hi[1], d[0],
                         d[1], int(groups))


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
        ``grad_y.sum(axis=(0, 2, 3))``, accumulated in double.
    """
    fn = "conv2d_backward"
    x, weight, k, s, d, lo, hi, out = conv_setup(fn, x, weight, stride, padding, dilation,
                                                groups)
    grad_y = conv_grad_y(fn, grad_y, x, weight, out)
    bias = flag(fn, "bias", bias)
    return _core._conv2d_backward(grad_y, x, weight, s[0], s[1], lo[0], lo[1], hi[0], hi[1],
                                  d[0], d[1], int(groups), bias)
