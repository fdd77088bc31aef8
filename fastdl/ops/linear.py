"""Matrix products on fastdl's own packed GEMM (native): ``matmul``, ``linear`` and
``linear_backward``.

The GEMM is a Goto/BLIS-style kernel (cache blocking, packed panels, a register-blocked
micro-kernel per instruction set; ``fastdl.build_info()["gemm"]`` names the one in use),
multithreaded with ``fastdl.set_num_threads``. Results are bitwise identical for any
thread count: threads split the rows and columns of the output, never the reduction.
float32 and float64; arguments whose dtypes disagree are a ValueError (no promotion).
The NumPy twins, with the same signatures, are in :mod:`fastdl.reference.linear`.
"""

from __future__ import annotations

from fastdl import _core
from fastdl._checks import flag

__all__ = ["matmul", "linear", "linear_backward"]


def matmul(a, b):
    """Matrix product of two 2-D arrays, ``a @ b``, on fastdl's GEMM.

    Parameters
    ----------
    a : ndarray (M, K), float32 or float64
    b : ndarray (K, N), same dtype as ``a``
        Any memory layout: transposed and strided views are read in place (no copy).

    Returns
    -------
    ndarray (M, N), the dtype of ``a`` (as ``numpy.matmul`` gives for equal dtypes)

    Raises
    ------
    TypeError
        A non-array, or a dtype other than float32/float64.
    ValueError
        Not 2-D, ``b.shape[0] != a.shape[1]``, or dtypes that differ.
    """
    return _core._matmul(a, b)


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
    return _core._linear(x, weight, bias)


def linear_backward(grad_y, x, weight, bias=True):
    """Gradients of :func:`linear`: ``(grad_x, grad_weight, grad_bias)``.

    Parameters
    ----------
    grad_y : ndarray (*, out_features), dtype of ``x``
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
        ``grad_y`` summed over all leading dimensions (accumulated in double, in blocks)
    """
    return _core._linear_backward(grad_y, x, weight, flag("linear_backward", "bias", bias))
