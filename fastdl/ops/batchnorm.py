"""Batch normalization, forward and backward (native, fused).

The forward reads x once and writes y once per call; the backward reads x and grad_y once
and writes grad_x once, recomputing x_hat. Statistics are exact two-pass sums over
cache-sized blocks merged with Chan's formula in double, so float32 stays accurate on
ill-conditioned data (x = 1e4 + N(0, 1)), and every output is bitwise identical for any
thread count. The textbook derivation is in the NumPy twin,
:mod:`fastdl.reference.batchnorm`, which has the same signatures and results.
"""

from __future__ import annotations

from fastdl import _core
from fastdl._checks import flag, real

__all__ = ["batch_norm", "batch_norm_backward"]


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalization over axis 1 of ``x`` (torch's ``F.batch_norm``).

    Parameters
    ----------
    x : ndarray, float32 or float64, shape (N, C, *spatial)
        ``(N, C)`` for BatchNorm1d, ``(N, C, L)``, ``(N, C, H, W)`` for BatchNorm2d.
        Any layout (copied once when not C-contiguous).
    gamma, beta : ndarray of x's dtype, shape (C,), or None
        Scale and shift; None means 1 and 0.
    running_mean, running_var : ndarray of x's dtype, shape (C,), or None (both)
        In training they are updated in place and must be writable and C-contiguous:
        ``running = momentum * batch_stat + (1 - momentum) * running``, with the
        unbiased variance ``var * n / (n - 1)``. In eval they are only read. None: batch
        statistics are used in both modes and nothing is updated.
    training : bool
        Batch statistics (biased variance) when True, running statistics when False.
    momentum : float
    eps : float
        Added to the variance inside the square root.

    Returns
    -------
    y : ndarray, shape and dtype of x
        ``(x - mean) * invstd * gamma + beta``.
    save_mean, save_invstd : ndarray, shape (C,), dtype of x
        The mean and ``1 / sqrt(var + eps)`` used: the batch's, or in eval mode with
        running stats the running ones. Pass them to :func:`batch_norm_backward`.

    Raises
    ------
    ValueError
        Training with one value per channel (``N * prod(spatial) == 1``), shapes that
        disagree, in-place running stats that are read-only or not C-contiguous.
        Nothing is modified.
    TypeError
        Dtypes other than float32/float64 (:class:`fastdl.DTypeError`, also a
        ValueError, as are dtypes that disagree with x's).
    """
    fn = "batch_norm"
    return _core._batch_norm(x, gamma, beta, running_mean, running_var,
                             flag(fn, "training", training), real(fn, "momentum", momentum),
                             real(fn, "eps", eps))


def batch_norm_backward(grad_y, x, gamma, save_mean, save_invstd, training=True):
    """Gradients of :func:`batch_norm` with respect to x, gamma and beta.

    Parameters
    ----------
    grad_y : ndarray, shape and dtype of x
    x : ndarray, float32 or float64, shape (N, C, *spatial)
        The forward's input.
    gamma : ndarray, shape (C,), or None
    save_mean, save_invstd : ndarray, shape (C,)
        As returned by :func:`batch_norm`.
    training : bool
        True: the statistics were the batch's and depend on x,
        ``grad_x = gamma * invstd * (dy - mean(dy) - x_hat * mean(dy * x_hat))`` with
        ``x_hat = (x - save_mean) * save_invstd``. False (eval with running stats):
        they are constants, ``grad_x = dy * gamma * invstd``.

    Returns
    -------
    grad_x : ndarray, shape and dtype of x
    grad_gamma, grad_beta : ndarray, shape (C,), or None (both None when gamma is None)
        ``sum(dy * x_hat)`` and ``sum(dy)`` over every axis but 1.
    """
    fn = "batch_norm_backward"
    return _core._batch_norm_backward(grad_y, x, gamma, save_mean, save_invstd,
                                      flag(fn, "training", training))
