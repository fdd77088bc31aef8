"""Argument checks and output geometry of 2-D pooling, shared by the native wrappers
(:mod:`fastdl.ops.pooling`) and the NumPy twins (:mod:`fastdl.reference.pooling`), so
that both accept and reject exactly the same calls with the same messages.

The rules are torch's (``aten/src/ATen/native/Pool.h``): sizes are ints or pairs,
``stride=None`` means the kernel size, padding is at most half the (undilated) kernel,
the output size is ``floor((H + 2p - d(k-1) - 1 [+ s-1 with ceil_mode]) / s) + 1``, and
with ceil_mode the last window must start inside the input or its left padding.

Pure Python and NumPy; never imports the native modules.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from fastdl._checks import DTypeError, flag
from fastdl._geometry import _int, pair

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Geometry(NamedTuple):
    """One pooling call: planes ``N*C`` of ``H x W`` pooled to ``OH x OW``."""

    N: int
    C: int
    H: int
    W: int
    OH: int
    OW: int
    kH: int
    kW: int
    sH: int
    sW: int
    pH: int
    pW: int
    dH: int
    dW: int


def float_array(fn: str, name: str, a) -> np.ndarray:
    """``a`` itself if it is a float32/float64 ndarray; TypeError / DTypeError otherwise."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _FLOAT_DTYPES:
        raise DTypeError(f"{fn}: {name} must be float32 or float64, got {a.dtype}")
    return a


def planes(fn: str, name: str, a: np.ndarray) -> tuple[int, int, int, int]:
    """(N, C, H, W) of a 4-D (N, C, H, W) or 3-D (C, H, W) array (N = 1 for 3-D).

    N may be 0; C, H and W must be >= 1 (as torch)."""
    if a.ndim not in (3, 4):
        raise ValueError(f"{fn}: {name} must be 4-D (N, C, H, W) or 3-D (C, H, W), "
                         f"got shape {a.shape}")
    shape = a.shape if a.ndim == 4 else (1,) + a.shape
    if min(shape[1:]) < 1:
        raise ValueError(f"{fn}: {name} must have C, H and W >= 1, got shape {a.shape}")
    return shape


def input_shape_of(fn: str, input_shape, grad_y: np.ndarray) -> tuple[int, int, int, int]:
    """``input_shape`` checked against ``grad_y`` and returned as (N, C, H, W).

    It must be a sequence of grad_y.ndim (4, or 3 for unbatched (C, H, W)) ints, with
    grad_y's N and C, and H, W >= 1."""
    planes(fn, "grad_y", grad_y)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in input_shape):
        raise TypeError(f"{fn}: input_shape must be a tuple of ints (N, C, H, W), "
                        f"got {input_shape!r}")
    shape = tuple(int(v) for v in input_shape)
    lead = grad_y.ndim - 2
    if len(shape) != grad_y.ndim or shape[:lead] != grad_y.shape[:lead] or min(shape[lead:]) < 1:
        raise ValueError(f"{fn}: input_shape must be (N, C, H, W) with grad_y's N and C "
                         f"(grad_y has shape {grad_y.shape}) and H, W >= 1, got {input_shape!r}")
    return shape if len(shape) == 4 else (1,) + shape


def grad_y_shape(fn: str, grad_y: np.ndarray, out_hw: tuple[int, int]) -> None:
    """grad_y's (OH, OW) must be the forward's output size."""
    if grad_y.shape[-2:] != out_hw:
        raise ValueError(f"{fn}: grad_y must have spatial size {out_hw} (the output size of "
                         f"input_shape under these pooling arguments), got shape {grad_y.shape}")


def max_indices(fn: str, indices, grad_y: np.ndarray) -> np.ndarray:
    """``indices`` must be an int64 ndarray of grad_y's shape."""
    if not isinstance(indices, np.ndarray):
        raise TypeError(f"{fn}: indices must be a numpy.ndarray, got {type(indices).__name__}")
    if indices.dtype != np.int64:
        raise DTypeError(f"{fn}: indices must be int64 (as returned by max_pool2d), "
                         f"got {indices.dtype}")
    if indices.shape != grad_y.shape:
        raise ValueError(f"{fn}: indices must have grad_y's shape {grad_y.shape}, "
                         f"got {indices.shape}")
    return indices


def _out_size(fn, dim, size, k, s, p, d, ceil_mode):
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1  # floor division, as torch's div_rtn
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window would start in the right padding
    if out < 1:
        raise ValueError(f"{fn}: output {dim} is {out} (< 1) for input {dim} {size}, "
                         f"kernel_size {k}, stride {s}, padding {p}, dilation {d}")
    return out


def geometry(fn: str, shape, kernel_size, stride, padding, dilation, ceil_mode) -> Geometry:
    """Checked pooling geometry of an input of ``shape`` (N, C, H, W)."""
    kH, kW = pair(fn, "kernel_size", kernel_size, 1)
    sH, sW = (kH, kW) if stride is None else pair(fn, "stride", stride, 1)
    pH, pW = pair(fn, "padding", padding, 0)
    dH, dW = pair(fn, "dilation", dilation, 1)
    if pH > kH // 2 or pW > kW // 2:
        raise ValueError(f"{fn}: padding must be at most half of kernel_size, got padding "
                         f"{(pH, pW)} for kernel_size {(kH, kW)}")
    ceil_mode = flag(fn, "ceil_mode", ceil_mode)
    N, C, H, W = shape
    OH = _out_size(fn, "height", H, kH, sH, pH, dH, ceil_mode)
    OW = _out_size(fn, "width", W, kW, sW, pW, dW, ceil_mode)
    return Geometry(N, C, H, W, OH, OW, kH, kW, sH, sW, pH, pW, dH, dW)


def adaptive_output_size(fn: str, output_size, H: int, W: int) -> tuple[int, int]:
    """(OH, OW) from an int or a pair whose None entries keep the input size."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{fn}: output_size must be an int or a pair, got {output_size!r}")
        sizes = [size if v is None else _int(fn, "output_size", v)
                 for v, size in zip(output_size, (H, W))]
    else:
        sizes = [_int(fn, "output_size", output_size)] * 2
    if min(sizes) < 1:
        raise ValueError(f"{fn}: output_size must be >= 1, got {output_size!r}")
    return sizes[0], sizes[1]


def adaptive_bins(n_in: int, n_out: int) -> np.ndarray:
    """(2, n_out) int64: bin i of n_out over n_in spans [row 0, row 1) =
    [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out)), torch's bins."""
    # Python ints, then one array: 5x faster than NumPy arithmetic on a few bins
    return np.array([[(i * n_in) // n_out for i in range(n_out)],
                     [-(-(i + 1) * n_in // n_out) for i in range(n_out)]], dtype=np.int64)
