"""Pure-NumPy twins of the GEMM-backed kernels: ``matmul``, ``linear`` and
``linear_backward`` (see :mod:`fastdl.ops.linear`).

Conventions (shared with the native versions):

* float32 and float64 only; any other dtype is a :class:`fastdl.DTypeError` (a
  TypeError), and arrays whose dtypes disagree are a DTypeError too (also a
  ValueError). Wrong dimensions or shapes are a ValueError naming the argument.
* ``linear`` follows ``torch.nn.functional.linear``: ``x`` has shape ``(*, in)``
  and ``y`` shape ``(*, out)``.
* Results are new arrays of the inputs' dtype; inputs are never modified.

This module depends on NumPy only.
"""

from __future__ import annotations

import numpy as np

from fastdl._checks import DTypeError, flag, silent_ieee

__all__ = ["matmul", "linear", "linear_backward"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _array(fn, name, a):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in _FLOAT_DTYPES:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}; only float32 and float64 are supported")
    return a


def _same_dtype(fn, name, a, like_name, like):
    if a.dtype != like.dtype:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}, expected {like.dtype} like {like_name}")


def _ndim(fn, name, a, ndim):
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {a.shape}")


def _check_linear(fn, x, weight):
    _array(fn, "x", x)
    _array(fn, "weight", weight)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have at least 1 dimension (*, in), got shape {x.shape}")
    _ndim(fn, "weight", weight, 2)
    _same_dtype(fn, "weight", weight, "x", x)
    if weight.shape[1] != x.shape[-1]:
        raise ValueError(f"{fn}: weight has shape {weight.shape}, expected (out_features, "
                         f"{x.shape[-1]}) to match x of shape {x.shape}")


@silent_ieee
def matmul(a, b):
    """Matrix product of two 2-D arrays: ``a @ b``.

    Parameters
    ----------
    a : ndarray (M, K), float32 or float64
    b : ndarray (K, N), same dtype as ``a``
        Any memory layout (transposed and strided views are fine).

    Returns
    -------
    ndarray (M, N), the dtype of ``a``
    """
    fn = "matmul"
    _array(fn, "a", a)
    _array(fn, "b", b)
    _ndim(fn, "a", a, 2)
    _ndim(fn, "b", b, 2)
    _same_dtype(fn, "b", b, "a", a)
    if b.shape[0] != a.shape[1]:
        raise ValueError(f"{fn}: b has shape {b.shape}, expected ({a.shape[1]}, N) to match a "
                         f"of shape {a.shape}")
    return a @ b


@silent_ieee
def linear(x, weight, bias=None):
    """Fully connected layer: ``y = x @ weight.T + bias`` (torch.nn.functional.linear).

    Parameters
    ----------
    x : ndarray (*, in_features), float32 or float64
    weight : ndarray (out_features, in_features), dtype of ``x``
    bias : ndarray (out_features,) or None, dtype of ``x``

    Returns
    -------
    y : ndarray (*, out_features), dtype of ``x``
    """
    fn = "linear"
    _check_linear(fn, x, weight)
    if bias is not None:
        _array(fn, "bias", bias)
        _same_dtype(fn, "bias", bias, "x", x)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{fn}: bias has shape {bias.shape}, expected ({weight.shape[0]},) "
                             f"(out_features of weight {weight.shape})")
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y


@silent_ieee
def linear_backward(grad_y, x, weight, bias=True):
    """Gradients of :func:`linear` with respect to its inputs.

    Parameters
    ----------
    grad_y : ndarray (*, out_features), dtype of ``x``
        Gradient of the loss with respect to ``y``.
    x : ndarray (*, in_features), float32 or float64
    weight : ndarray (out_features, in_features), dtype of ``x``
    bias : bool
        Whether to compute ``grad_bias`` (else it is returned as None).

    Returns
    -------
    grad_x : ndarray (*, in_features)
        ``grad_y @ weight``
    grad_weight : ndarray (out_features, in_features)
        ``grad_y.T @ x`` over all leading dimensions
    grad_bias : ndarray (out_features,) or None
        ``grad_y`` summed over all leading dimensions (accumulated in float64)
    """
    fn = "linear_backward"
    bias = flag(fn, "bias", bias)
    _check_linear(fn, x, weight)
    _array(fn, "grad_y", grad_y)
    _same_dtype(fn, "grad_y", grad_y, "x", x)
    out, inp = weight.shape
    if grad_y.shape != x.shape[:-1] + (out,):
        raise ValueError(f"{fn}: grad_y has shape {grad_y.shape}, expected "
                         f"{x.shape[:-1] + (out,)} (x's leading dimensions, out_features of weight)")
    g2 = grad_y.reshape(-1, out)
    grad_x = grad_y @ weight
    grad_weight = g2.T @ x.reshape(-1, inp)
    grad_bias = g2.sum(axis=0, dtype=np.float64).astype(x.dtype) if bias else None
    return grad_x, grad_weight, grad_bias
