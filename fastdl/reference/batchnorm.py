"""Pure-NumPy twin of batch normalization (:mod:`fastdl.ops.batchnorm`).

Written the way the derivation goes. For x of shape (N, C, *spatial), every statistic is
per channel, over the m = N * prod(spatial) values of axis 1's slice:

forward (training, or no running statistics)::

    mean   = sum(x) / m
    xc     = x - mean
    var    = sum(xc^2) / m                    # biased: the one that normalizes
    invstd = 1 / sqrt(var + eps)
    x_hat  = xc * invstd
    y      = gamma * x_hat + beta
    running_mean = momentum * mean + (1 - momentum) * running_mean
    running_var  = momentum * var * m / (m - 1) + (1 - momentum) * running_var

forward (eval with running statistics): the same with mean = running_mean and
var = running_var, nothing updated.

backward (training; mean and invstd depend on x)::

    grad_beta  = sum(dy)
    grad_gamma = sum(dy * x_hat)
    grad_x     = gamma * invstd / m * (m * dy - grad_beta - x_hat * grad_gamma)

backward (eval): grad_x = dy * gamma * invstd, the same grad_gamma and grad_beta.

Reductions use float64 accumulators (NumPy's ``dtype=`` argument), so a float32 batch of
x = 1e4 + N(0, 1) is normalized as accurately as float32 can hold it; elementwise steps
run in x's dtype. The arguments are validated (same rules and error types as the native
kernels) before anything is written. This module depends on NumPy only.
"""

from __future__ import annotations

import numpy as np

from fastdl._checks import DTypeError, flag as _flag, quiet_ieee, real as _real

__all__ = ["batch_norm", "batch_norm_backward"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_x(fn, name, x):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise DTypeError(f"{fn}: {name} has dtype {x.dtype}; only float32 and float64 are supported")
    if x.ndim < 2:
        raise ValueError(f"{fn}: {name} must have shape (N, C, *spatial) with ndim >= 2, "
                         f"got shape {x.shape}")


def _check_like_x(fn, name, a, x):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != x.dtype:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}, expected {x.dtype} like x")
    if a.shape != x.shape:
        raise ValueError(f"{fn}: {name} has shape {a.shape}, expected {x.shape} like x")


def _check_channel_vector(fn, name, a, x, inplace=False):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != x.dtype:
        raise DTypeError(f"{fn}: {name} has dtype {a.dtype}, expected {x.dtype} like x")
    if a.shape != (x.shape[1],):
        raise ValueError(f"{fn}: {name} has shape {a.shape}, expected ({x.shape[1]},) "
                         f"(one value per channel of x)")
    if inplace:
        if not a.flags.writeable:
            raise ValueError(f"{fn}: {name} is read-only; it is updated in place in training")
        if not a.flags.c_contiguous or not a.flags.aligned:
            raise ValueError(f"{fn}: {name} must be C-contiguous and aligned: it is updated in place in "
                             f"training, and a copy would lose the update")


def _axes(x):
    """The reduction axes (every axis but the channels) and the per-channel broadcast shape."""
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _per_channel(x):
    """m = N * prod(spatial), the number of values of each channel."""
    return int(np.prod((x.shape[0],) + x.shape[2:]))


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalization over axis 1 of ``x``; see :func:`fastdl.ops.batch_norm`.

    Returns ``(y, save_mean, save_invstd)``; running statistics are updated in place in
    training.
    """
    fn = "batch_norm"
    _check_x(fn, "x", x)
    training = _flag(fn, "training", training)
    momentum = _real(fn, "momentum", momentum)
    eps = _real(fn, "eps", eps)
    for name, a in (("gamma", gamma), ("beta", beta)):
        if a is not None:
            _check_channel_vector(fn, name, a, x)
    if (running_mean is None) != (running_var is None):
        which = "running_mean" if running_mean is None else "running_var"
        raise ValueError(f"{fn}: running_mean and running_var must both be arrays or both "
                         f"be None, got {which} None")
    update = training and running_mean is not None
    if running_mean is not None:
        _check_channel_vector(fn, "running_mean", running_mean, x, inplace=update)
        _check_channel_vector(fn, "running_var", running_var, x, inplace=update)
        if update and x.shape[1] > 0 and np.shares_memory(running_mean, running_var):
            raise ValueError(f"{fn}: running_mean and running_var share memory; "
                             f"both are updated in place")
        if update:
            # inputs sharing memory with the running stats (gamma passed as running_mean,
            # say) are read as they were before the update, as the native kernel does
            def separate(a):
                if a is not None and (np.may_share_memory(a, running_mean)
                                      or np.may_share_memory(a, running_var)):
                    return a.copy()
                return a
            x, gamma, beta = separate(x), separate(gamma), separate(beta)
    axes, bshape = _axes(x)
    m = _per_channel(x)
    if training and m == 1:
        raise ValueError(f"{fn}: expected more than 1 value per channel when training, "
                         f"got input size {x.shape}")
    dt = x.dtype
    C = x.shape[1]

    with quiet_ieee():
        if running_mean is not None and not training:
            mean = running_mean.astype(dt)
            invstd = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(dt)
        elif m == 0:
            # An empty batch: nothing to normalize, nothing updated (as torch).
            return x.copy(), np.zeros(C, dt), np.zeros(C, dt)
        else:
            mean64 = np.mean(x, axis=axes, dtype=np.float64)
            mean = mean64.astype(dt)
            xc = x - mean.reshape(bshape)
            var64 = np.mean(np.square(xc), axis=axes, dtype=np.float64)
            invstd = (1.0 / np.sqrt(var64 + eps)).astype(dt)
            if update:
                running_mean[...] = momentum * mean64 + (1 - momentum) * running_mean.astype(np.float64)
                running_var[...] = (momentum * (var64 * m / (m - 1))
                                    + (1 - momentum) * running_var.astype(np.float64))

        x_hat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
        y = x_hat
        if gamma is not None:
            y = y * gamma.reshape(bshape)
        if beta is not None:
            y = y + beta.reshape(bshape)
    return np.ascontiguousarray(y, dtype=dt), mean, invstd


def batch_norm_backward(grad_y, x, gamma, save_mean, save_invstd, training=True):
    """Gradients of :func:`batch_norm`; see :func:`fastdl.ops.batch_norm_backward`.

    Returns ``(grad_x, grad_gamma, grad_beta)``; the last two are None when gamma is None.
    """
    fn = "batch_norm_backward"
    _check_x(fn, "x", x)
    _check_like_x(fn, "grad_y", grad_y, x)
    if gamma is not None:
        _check_channel_vector(fn, "gamma", gamma, x)
    _check_channel_vector(fn, "save_mean", save_mean, x)
    _check_channel_vector(fn, "save_invstd", save_invstd, x)
    training = _flag(fn, "training", training)
    axes, bshape = _axes(x)
    m = _per_channel(x)
    dt = x.dtype
    C = x.shape[1]
    if m == 0:
        if gamma is None:
            return np.zeros_like(x), None, None
        return np.zeros_like(x), np.zeros(C, dt), np.zeros(C, dt)

    with quiet_ieee():
        invstd = save_invstd.reshape(bshape)
        x_hat = (x - save_mean.reshape(bshape)) * invstd
        grad_beta = np.sum(grad_y, axis=axes, dtype=np.float64)
        grad_gamma = np.sum(grad_y * x_hat, axis=axes, dtype=np.float64)
        scale = invstd if gamma is None else gamma.reshape(bshape) * invstd
        if training:
            grad_x = scale / m * (m * grad_y - grad_beta.astype(dt).reshape(bshape)
                                  - x_hat * grad_gamma.astype(dt).reshape(bshape))
        else:
            grad_x = grad_y * scale
    grad_x = np.ascontiguousarray(grad_x, dtype=dt)
    if gamma is None:
        return grad_x, None, None
    return grad_x, grad_gamma.astype(dt), grad_beta.astype(dt)
