"""Pure-NumPy reference twins of the fused multi-tensor optimizer steps.

Every function here updates a list of parameter arrays (and their optimizer
state arrays) **in place**, one call taking one optimizer step for every
tensor.  The update equations are exactly those of the single-tensor
functional forms of :mod:`torch.optim` (``_single_tensor_sgd``,
``_single_tensor_adagrad``, ``_single_tensor_adadelta``,
``_single_tensor_rmsprop``, ``_single_tensor_adam`` and
``_single_tensor_nadam``), including the order in which the floating-point
operations are performed where this costs nothing extra.

Conventions shared by all six functions
---------------------------------------
* ``params`` and every state list are lists (or tuples) of C-contiguous,
  writable ``numpy.ndarray`` objects of dtype float32 or float64; all params of
  one call share one dtype, and every grad/state array has the shape and dtype
  of its param.  Grads may have any memory layout and are only ever read: the
  caller's gradient arrays are never modified (``maximize`` and weight decay
  work on a scratch copy).
* A state list that the chosen options do not use may be an empty list
  (``momentum_buffers`` when there is no momentum, ``grad_avgs`` when not
  centered, ``max_exp_avg_sqs`` without amsgrad).
* ``step`` is the 1-based index of the step being taken (``1`` on the first
  call).  Bias corrections and all scalar coefficients are computed in Python
  floats (double precision); array arithmetic stays in the arrays' dtype
  (NumPy 2 / NEP 50: a Python float never upcasts a float32 array).
* Every argument is validated before anything is written, so a call that
  raises leaves every array unchanged.  0-size arrays are accepted and left
  alone; empty lists make the call a no-op.
* Non-finite values arise and propagate silently (no NumPy floating-point
  warnings), as in torch and in the native kernels.
* In-place arrays (params and the state arrays in use) must not share memory
  with one another (ValueError, nothing written); a grad that shares memory
  with one of them (a param passed as its own grad) is copied first, so the
  step computes what it computes on separate arrays (as the native kernels).

This module depends on NumPy only (and fastdl._checks, pure-Python argument checks
shared with fastdl.ops).
"""

from __future__ import annotations

import numpy as np

from fastdl._checks import (DTypeError, disjoint_spans, overlaps_any, quiet_ieee as _silent_ieee,
                            real as _real, step as _step)

__all__ = [
    "sgd_step",
    "adagrad_step",
    "adadelta_step",
    "rmsprop_step",
    "adam_step",
    "nadam_step",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------

_check_scalar = _real  # (fn, name, value) -> float; TypeError for non-numbers
_check_step = _step  # (fn, step) -> int; TypeError unless integral, ValueError if < 1


def _check_list(fname, name, seq):
    if not isinstance(seq, (list, tuple)):
        raise TypeError(
            f"{fname}: {name} must be a list of numpy.ndarray, "
            f"got {type(seq).__name__}"
        )


def _check_inplace_layout(fname, label, arr):
    if not arr.flags.writeable:
        raise ValueError(
            f"{fname}: {label} is not writable (it is updated in place)"
        )
    if not arr.flags.c_contiguous:
        raise ValueError(
            f"{fname}: {label} is not C-contiguous (it is updated in place "
            f"and is never silently copied)"
        )
    if not arr.flags.aligned:  # as the native kernels, which need aligned elements
        raise ValueError(
            f"{fname}: {label} is not aligned (it is updated in place "
            f"and is never silently copied)"
        )


def _check_like(fname, name, i, arr, param, inplace):
    label = f"{name}[{i}]"
    if not isinstance(arr, np.ndarray):
        raise TypeError(
            f"{fname}: {label} must be a numpy.ndarray, got {type(arr).__name__}"
        )
    if arr.dtype not in _FLOAT_DTYPES:
        raise DTypeError(
            f"{fname}: {label} has unsupported dtype {arr.dtype}; "
            f"expected {param.dtype} like params[{i}]"
        )
    if arr.dtype != param.dtype:
        raise DTypeError(
            f"{fname}: {label} has dtype {arr.dtype}, "
            f"expected {param.dtype} like params[{i}]"
        )
    if arr.shape != param.shape:
        raise ValueError(
            f"{fname}: {label} has shape {arr.shape}, "
            f"expected {param.shape} like params[{i}]"
        )
    if inplace:
        _check_inplace_layout(fname, label, arr)


def _validate(fname, params, grads, states=()):
    """Validate the array arguments of one optimizer step; raise before any write.

    Parameters
    ----------
    fname : str
        Public function name, used as the prefix of every error message.
    params, grads : list of numpy.ndarray
        Parameters (updated in place) and gradients (read only).
    states : sequence of (str, list, bool, str)
        ``(name, arrays, used, condition)`` for every state list.  A used
        list must have the length of ``params``; an unused one may also be
        empty.  ``condition`` describes when the list is used (for messages).

    Returns
    -------
    list of numpy.ndarray
        The grads, each one that shares memory with an in-place array replaced
        by a copy.
    """
    _check_list(fname, "params", params)
    n = len(params)
    _check_list(fname, "grads", grads)
    if len(grads) != n:
        raise ValueError(
            f"{fname}: grads has length {len(grads)}, "
            f"expected {n} (the length of params)"
        )
    checked = []
    for name, arrays, used, condition in states:
        _check_list(fname, name, arrays)
        if len(arrays) == n:
            checked.append((name, arrays))
        elif used:
            raise ValueError(
                f"{fname}: {name} has length {len(arrays)}, expected {n} "
                f"(the length of params); {name} is required when {condition}"
            )
        elif len(arrays) != 0:
            raise ValueError(
                f"{fname}: {name} has length {len(arrays)}, expected {n} "
                f"(the length of params) or 0 ({name} is only used when "
                f"{condition})"
            )
    dtype0 = None
    for i, p in enumerate(params):
        if not isinstance(p, np.ndarray):
            raise TypeError(
                f"{fname}: params[{i}] must be a numpy.ndarray, "
                f"got {type(p).__name__}"
            )
        if p.dtype not in _FLOAT_DTYPES:
            raise DTypeError(
                f"{fname}: params[{i}] has unsupported dtype {p.dtype}; "
                f"expected float32 or float64"
            )
        if dtype0 is None:
            dtype0 = p.dtype
        elif p.dtype != dtype0:
            raise DTypeError(
                f"{fname}: params[{i}] has dtype {p.dtype} but params[0] has "
                f"dtype {dtype0}; all params of one call must share one dtype"
            )
        _check_inplace_layout(fname, f"params[{i}]", p)
        _check_like(fname, "grads", i, grads[i], p, inplace=False)
        for name, arrays in checked:
            _check_like(fname, name, i, arrays[i], p, inplace=True)
    targets = [(f"params[{i}]", p) for i, p in enumerate(params)]
    for name, arrays in checked:
        targets += [(f"{name}[{i}]", a) for i, a in enumerate(arrays)]
    spans = disjoint_spans(fname, targets)
    return [g.copy() if overlaps_any(spans, g) else g for g in grads]


# --------------------------------------------------------------------------
# kernels' building blocks (all write through ``out=``; none allocates
# unless stated)
# --------------------------------------------------------------------------

def _effective_grad(p, g, weight_decay, maximize):
    """Return ``(d, owned)`` with ``d = (-g if maximize else g) + weight_decay * p``.

    ``owned`` tells whether ``d`` is a fresh scratch array (which the caller
    may overwrite) or the caller's own ``g`` (which must only be read).
    """
    if weight_decay != 0:
        d = np.multiply(p, weight_decay, out=np.empty_like(p))
        if maximize:
            np.subtract(d, g, out=d)  # == (-g) + wd * p, bit for bit
        else:
            np.add(g, d, out=d)
        return d, True
    if maximize:
        return np.negative(g, out=np.empty_like(p)), True
    return g, False


def _lerp_(a, end, weight, tmp):
    """``a <- a + weight * (end - a)`` in place, with torch's two-branch formula."""
    np.subtract(end, a, out=tmp)
    if abs(weight) < 0.5:
        np.multiply(tmp, weight, out=tmp)
        np.add(a, tmp, out=a)
    else:
        np.multiply(tmp, 1.0 - weight, out=tmp)
        np.subtract(end, tmp, out=a)


def _addcmul_sq_(a, x, value, tmp):
    """``a <- a + (value * x) * x`` in place (torch ``addcmul_(x, x, value)``)."""
    if value == 1.0:
        np.multiply(x, x, out=tmp)
    else:
        np.multiply(x, value, out=tmp)
        np.multiply(tmp, x, out=tmp)
    np.add(a, tmp, out=a)


def _sub_scaled_div_(p, x, scale, denom, out):
    """``p <- p - (scale * x) / denom`` in place (torch ``addcdiv_(x, denom, value=-scale)``).

    ``out`` is scratch; it may be ``x`` itself when ``x`` may be overwritten.
    """
    np.multiply(x, scale, out=out)
    np.divide(out, denom, out=out)
    np.subtract(p, out, out=p)


# --------------------------------------------------------------------------
# public steps
# --------------------------------------------------------------------------

def sgd_step(params, grads, momentum_buffers, *, lr, momentum=0.0,
             dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False,
             step):
    r"""Take one SGD step (with optional momentum / Nesterov) for every tensor.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    momentum_buffers : list of numpy.ndarray
        Momentum buffers :math:`b`, updated in place.  May be an empty list
        when ``momentum == 0``.
    lr : float
        Learning rate :math:`\gamma`.
    momentum : float, default 0.0
        Momentum factor :math:`\mu`.
    dampening : float, default 0.0
        Dampening :math:`\tau` for the momentum.
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda`.
    nesterov : bool, default False
        Use Nesterov momentum.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    step : int
        1-based index of this step; at ``step == 1`` the momentum buffer is
        initialised to a copy of the (weight-decayed) gradient.

    Raises
    ------
    TypeError
        If an array argument is not a ``numpy.ndarray`` or not float32/float64,
        or a hyperparameter is not a real number.
    ValueError
        On mismatched lengths, shapes or dtypes, mixed param dtypes, an in-place
        array that is read-only or not C-contiguous, or ``step`` not an int >= 1.

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        b &\leftarrow g \quad (t = 1), \qquad
        b \leftarrow \mu b + (1-\tau) g \quad (t > 1) \\
        g &\leftarrow g + \mu b \ \text{(nesterov)} \quad\text{or}\quad
        g \leftarrow b \\
        \theta &\leftarrow \theta - \gamma g

    The momentum lines apply only when ``momentum != 0``.
    """
    fname = "sgd_step"
    lr = _check_scalar(fname, "lr", lr)
    momentum = _check_scalar(fname, "momentum", momentum)
    dampening = _check_scalar(fname, "dampening", dampening)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    step = _check_step(fname, step)
    use_momentum = momentum != 0
    grads = _validate(fname, params, grads, [
        ("momentum_buffers", momentum_buffers, use_momentum, "momentum != 0"),
    ])
    damp_scale = 1.0 - dampening

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            g, owned = _effective_grad(p, grads[i], weight_decay, maximize)
            tmp = None
            if use_momentum:
                buf = momentum_buffers[i]
                if step == 1:
                    np.copyto(buf, g)
                else:
                    np.multiply(buf, momentum, out=buf)
                    if damp_scale == 1.0:
                        np.add(buf, g, out=buf)
                    else:
                        tmp = np.multiply(g, damp_scale, out=np.empty_like(p))
                        np.add(buf, tmp, out=buf)
                if nesterov:
                    if tmp is None:
                        tmp = np.empty_like(p)
                    np.multiply(buf, momentum, out=tmp)
                    np.add(g, tmp, out=tmp)
                    d, d_owned = tmp, True
                else:
                    d, d_owned = buf, False
                    if owned:  # g is dead: recycle it as scratch
                        tmp = g
            else:
                d, d_owned = g, owned
            if d_owned:
                scratch = d
            elif tmp is not None:
                scratch = tmp
            else:
                scratch = np.empty_like(p)
            np.multiply(d, lr, out=scratch)
            np.subtract(p, scratch, out=p)


def adagrad_step(params, grads, state_sums, *, lr, lr_decay=0.0,
                 weight_decay=0.0, eps=1e-10, maximize=False, step):
    r"""Take one Adagrad step for every tensor.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    state_sums : list of numpy.ndarray
        Accumulated squared gradients :math:`s`, updated in place.
    lr : float
        Learning rate :math:`\gamma`.
    lr_decay : float, default 0.0
        Learning-rate decay :math:`\eta`.
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda`.
    eps : float, default 1e-10
        Term added to the denominator, *outside* the square root.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    step : int
        1-based index :math:`t` of this step.

    Raises
    ------
    TypeError, ValueError
        See :func:`sgd_step`.

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        \tilde\gamma &= \gamma / (1 + (t - 1)\eta) \\
        s &\leftarrow s + g^2 \\
        \theta &\leftarrow \theta - \tilde\gamma\, g / (\sqrt{s} + \epsilon)
    """
    fname = "adagrad_step"
    lr = _check_scalar(fname, "lr", lr)
    lr_decay = _check_scalar(fname, "lr_decay", lr_decay)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    eps = _check_scalar(fname, "eps", eps)
    step = _check_step(fname, step)
    grads = _validate(fname, params, grads, [
        ("state_sums", state_sums, True, "always"),
    ])
    clr = lr / (1 + (step - 1) * lr_decay)

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            s = state_sums[i]
            g, owned = _effective_grad(p, grads[i], weight_decay, maximize)
            std = np.empty_like(p)
            _addcmul_sq_(s, g, 1.0, std)
            np.sqrt(s, out=std)
            np.add(std, eps, out=std)
            _sub_scaled_div_(p, g, clr, std, g if owned else np.empty_like(p))


def adadelta_step(params, grads, square_avgs, acc_deltas, *, lr=1.0, rho=0.9,
                  eps=1e-6, weight_decay=0.0, maximize=False):
    r"""Take one Adadelta step for every tensor.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    square_avgs : list of numpy.ndarray
        Running averages of squared gradients :math:`v`, updated in place.
    acc_deltas : list of numpy.ndarray
        Running averages of squared updates :math:`u`, updated in place.
    lr : float, default 1.0
        Learning rate :math:`\gamma`.
    rho : float, default 0.9
        Averaging coefficient :math:`\rho`.
    eps : float, default 1e-6
        Term added *inside* both square roots.
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda`.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.

    Raises
    ------
    TypeError, ValueError
        See :func:`sgd_step` (there is no ``step`` argument).

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        v &\leftarrow \rho v + (1-\rho) g^2 \\
        \Delta &= \sqrt{u + \epsilon}\,/\,\sqrt{v + \epsilon}\cdot g \\
        u &\leftarrow \rho u + (1-\rho)\Delta^2 \\
        \theta &\leftarrow \theta - \gamma\Delta
    """
    fname = "adadelta_step"
    lr = _check_scalar(fname, "lr", lr)
    rho = _check_scalar(fname, "rho", rho)
    eps = _check_scalar(fname, "eps", eps)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    grads = _validate(fname, params, grads, [
        ("square_avgs", square_avgs, True, "always"),
        ("acc_deltas", acc_deltas, True, "always"),
    ])
    one_minus_rho = 1.0 - rho

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            v = square_avgs[i]
            u = acc_deltas[i]
            g, owned = _effective_grad(p, grads[i], weight_decay, maximize)
            std = np.empty_like(p)
            np.multiply(v, rho, out=v)
            _addcmul_sq_(v, g, one_minus_rho, std)
            np.add(v, eps, out=std)
            np.sqrt(std, out=std)
            delta = np.add(u, eps, out=np.empty_like(p))
            np.sqrt(delta, out=delta)
            np.divide(delta, std, out=delta)
            np.multiply(delta, g, out=delta)
            np.multiply(u, rho, out=u)
            _addcmul_sq_(u, delta, one_minus_rho, std)
            np.multiply(delta, lr, out=delta)
            np.subtract(p, delta, out=p)


def rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, *,
                 lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
    r"""Take one RMSprop step (optionally centered, with momentum) for every tensor.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    square_avgs : list of numpy.ndarray
        Running averages of squared gradients :math:`v`, updated in place.
    grad_avgs : list of numpy.ndarray
        Running averages of gradients :math:`a`, updated in place.  May be an
        empty list when not ``centered``.
    momentum_buffers : list of numpy.ndarray
        Momentum buffers :math:`b`, updated in place.  May be an empty list
        when ``momentum <= 0``.
    lr : float
        Learning rate :math:`\gamma`.
    alpha : float, default 0.99
        Smoothing constant :math:`\alpha`.
    eps : float, default 1e-8
        Term added to the denominator, *outside* the square root.
    weight_decay : float, default 0.0
        L2 penalty :math:`\lambda`.
    momentum : float, default 0.0
        Momentum factor :math:`\mu`; momentum is used when ``momentum > 0``
        (as in torch).
    centered : bool, default False
        Normalise by an estimate of the gradient variance.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.

    Raises
    ------
    TypeError, ValueError
        See :func:`sgd_step` (there is no ``step`` argument).

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        a &\leftarrow a + (1-\alpha)(g - a) \quad\text{(centered)} \\
        d &= \sqrt{v - a^2} + \epsilon \ \text{(centered)}
            \quad\text{or}\quad d = \sqrt{v} + \epsilon \\
        b &\leftarrow \mu b + g / d, \quad \theta \leftarrow \theta - \gamma b
            \quad (\mu > 0) \\
        \theta &\leftarrow \theta - \gamma g / d \quad (\text{otherwise})
    """
    fname = "rmsprop_step"
    lr = _check_scalar(fname, "lr", lr)
    alpha = _check_scalar(fname, "alpha", alpha)
    eps = _check_scalar(fname, "eps", eps)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    momentum = _check_scalar(fname, "momentum", momentum)
    use_momentum = momentum > 0
    grads = _validate(fname, params, grads, [
        ("square_avgs", square_avgs, True, "always"),
        ("grad_avgs", grad_avgs, bool(centered), "centered=True"),
        ("momentum_buffers", momentum_buffers, use_momentum, "momentum > 0"),
    ])
    one_minus_alpha = 1.0 - alpha

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            v = square_avgs[i]
            g, owned = _effective_grad(p, grads[i], weight_decay, maximize)
            avg = np.empty_like(p)
            np.multiply(v, alpha, out=v)
            _addcmul_sq_(v, g, one_minus_alpha, avg)
            if centered:
                a = grad_avgs[i]
                _lerp_(a, g, one_minus_alpha, avg)
                np.multiply(a, a, out=avg)
                np.subtract(v, avg, out=avg)  # == v + (-1 * a) * a, bit for bit
                np.sqrt(avg, out=avg)
            else:
                np.sqrt(v, out=avg)
            np.add(avg, eps, out=avg)
            if use_momentum:
                buf = momentum_buffers[i]
                np.multiply(buf, momentum, out=buf)
                # buf += g / avg; avg is dead afterwards, so it takes the quotient
                np.divide(g, avg, out=avg)
                np.add(buf, avg, out=buf)
                np.multiply(buf, lr, out=avg)
                np.subtract(p, avg, out=p)
            else:
                _sub_scaled_div_(p, g, lr, avg, g if owned else np.empty_like(p))


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, step,
              lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
              amsgrad=False, maximize=False, decoupled_weight_decay=False):
    r"""Take one Adam / AdamW (optionally AMSGrad) step for every tensor.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    exp_avgs : list of numpy.ndarray
        First moments :math:`m`, updated in place.
    exp_avg_sqs : list of numpy.ndarray
        Second moments :math:`v`, updated in place.
    max_exp_avg_sqs : list of numpy.ndarray
        Running maxima :math:`\hat v` of the second moments, updated in place.
        May be an empty list when not ``amsgrad``.
    step : int
        1-based index :math:`t` of this step.
    lr : float
        Learning rate :math:`\gamma`.
    beta1, beta2 : float, default 0.9, 0.999
        Moment coefficients :math:`\beta_1, \beta_2`.
    eps : float, default 1e-8
        Term added to the denominator, *outside* the square root.
    weight_decay : float, default 0.0
        Weight decay :math:`\lambda`.
    amsgrad : bool, default False
        Use the AMSGrad variant.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    decoupled_weight_decay : bool, default False
        Decoupled (AdamW) weight decay instead of an L2 penalty.

    Raises
    ------
    TypeError, ValueError
        See :func:`sgd_step`.

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``, and
    :math:`c_1 = 1 - \beta_1^t`, :math:`c_2 = 1 - \beta_2^t`:

    .. math::

        \theta &\leftarrow \theta(1 - \gamma\lambda) \ \text{(decoupled)}
            \quad\text{or}\quad g \leftarrow g + \lambda\theta \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &\leftarrow \max(\hat v, v) \ \text{(amsgrad; else } \hat v = v) \\
        \theta &\leftarrow \theta - \frac{\gamma}{c_1}\,
            \frac{m}{\sqrt{\hat v}/\sqrt{c_2} + \epsilon}
    """
    fname = "adam_step"
    step = _check_step(fname, step)
    lr = _check_scalar(fname, "lr", lr)
    beta1 = _check_scalar(fname, "beta1", beta1)
    beta2 = _check_scalar(fname, "beta2", beta2)
    eps = _check_scalar(fname, "eps", eps)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    grads = _validate(fname, params, grads, [
        ("exp_avgs", exp_avgs, True, "always"),
        ("exp_avg_sqs", exp_avg_sqs, True, "always"),
        ("max_exp_avg_sqs", max_exp_avg_sqs, bool(amsgrad), "amsgrad=True"),
    ])
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    decay_factor = 1 - lr * weight_decay
    coupled_wd = 0.0 if decoupled_weight_decay else weight_decay

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            m = exp_avgs[i]
            v = exp_avg_sqs[i]
            if weight_decay != 0 and decoupled_weight_decay:
                np.multiply(p, decay_factor, out=p)
            g, owned = _effective_grad(p, grads[i], coupled_wd, maximize)
            denom = np.empty_like(p)
            _lerp_(m, g, 1 - beta1, denom)
            np.multiply(v, beta2, out=v)
            _addcmul_sq_(v, g, 1 - beta2, denom)
            if amsgrad:
                vmax = max_exp_avg_sqs[i]
                np.maximum(vmax, v, out=vmax)
                np.sqrt(vmax, out=denom)
            else:
                np.sqrt(v, out=denom)
            np.divide(denom, bias_correction2_sqrt, out=denom)
            np.add(denom, eps, out=denom)
            _sub_scaled_div_(p, m, step_size, denom, g if owned else np.empty_like(p))


def nadam_step(params, grads, exp_avgs, exp_avg_sqs, *, step, mu_product, lr,
               beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
               momentum_decay=4e-3, decoupled_weight_decay=False,
               maximize=False):
    r"""Take one NAdam step for every tensor and return the new momentum product.

    Parameters
    ----------
    params : list of numpy.ndarray
        Parameters :math:`\theta`, float32 or float64, C-contiguous and
        writable; updated in place.
    grads : list of numpy.ndarray
        Gradients :math:`g`, same shapes and dtype; read only, any layout.
    exp_avgs : list of numpy.ndarray
        First moments :math:`m`, updated in place.
    exp_avg_sqs : list of numpy.ndarray
        Second moments :math:`v`, updated in place.
    step : int
        1-based index :math:`t` of this step.
    mu_product : float
        :math:`\Pi_{t-1} = \prod_{k<t}\mu_k`, the momentum product *before*
        this step (``1.0`` at the first step).
    lr : float
        Learning rate :math:`\gamma`.
    beta1, beta2 : float, default 0.9, 0.999
        Moment coefficients :math:`\beta_1, \beta_2`.
    eps : float, default 1e-8
        Term added to the denominator, *outside* the square root.
    weight_decay : float, default 0.0
        Weight decay :math:`\lambda`.
    momentum_decay : float, default 4e-3
        Momentum decay :math:`\psi`.
    decoupled_weight_decay : bool, default False
        Decoupled (NAdamW) weight decay instead of an L2 penalty.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.

    Returns
    -------
    float
        :math:`\Pi_t = \Pi_{t-1}\mu_t`, to pass as ``mu_product`` next step.
        It is kept in double precision whatever the arrays' dtype.

    Raises
    ------
    TypeError, ValueError
        See :func:`sgd_step`.

    Notes
    -----
    With :math:`g \leftarrow -g` first if ``maximize``,
    :math:`\mu_k = \beta_1(1 - \tfrac12 0.96^{k\psi})` and
    :math:`c_2 = 1 - \beta_2^t`:

    .. math::

        \theta &\leftarrow \theta(1 - \gamma\lambda) \ \text{(decoupled)}
            \quad\text{or}\quad g \leftarrow g + \lambda\theta \\
        \Pi_t &= \Pi_{t-1}\mu_t \\
        m &\leftarrow m + (1-\beta_1)(g - m) \\
        v &\leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        d &= \sqrt{v / c_2} + \epsilon \\
        \theta &\leftarrow \theta
            - \frac{\gamma(1-\mu_t)}{1-\Pi_t}\,\frac{g}{d}
            - \frac{\gamma\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\,\frac{m}{d}
    """
    fname = "nadam_step"
    step = _check_step(fname, step)
    mu_product = _check_scalar(fname, "mu_product", mu_product)
    lr = _check_scalar(fname, "lr", lr)
    beta1 = _check_scalar(fname, "beta1", beta1)
    beta2 = _check_scalar(fname, "beta2", beta2)
    eps = _check_scalar(fname, "eps", eps)
    weight_decay = _check_scalar(fname, "weight_decay", weight_decay)
    momentum_decay = _check_scalar(fname, "momentum_decay", momentum_decay)
    grads = _validate(fname, params, grads, [
        ("exp_avgs", exp_avgs, True, "always"),
        ("exp_avg_sqs", exp_avg_sqs, True, "always"),
    ])
    bias_correction2 = 1 - beta2**step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product = mu_product * mu
    mu_product_next = mu_product * mu_next
    # torch: addcdiv_ values -lr*(1-mu)/(1-mu_product) and (-lr*mu_next)/(1-mu_product_next);
    # negation is exact, so subtracting these positive coefficients is bit-identical.
    grad_coef = lr * (1.0 - mu) / (1.0 - mu_product)
    avg_coef = (lr * mu_next) / (1.0 - mu_product_next)
    decay_factor = 1 - lr * weight_decay
    coupled_wd = 0.0 if decoupled_weight_decay else weight_decay

    with _silent_ieee():
        for i, p in enumerate(params):
            if p.size == 0:
                continue
            m = exp_avgs[i]
            v = exp_avg_sqs[i]
            if weight_decay != 0 and decoupled_weight_decay:
                np.multiply(p, decay_factor, out=p)
            g, owned = _effective_grad(p, grads[i], coupled_wd, maximize)
            denom = np.empty_like(p)
            _lerp_(m, g, 1 - beta1, denom)
            np.multiply(v, beta2, out=v)
            _addcmul_sq_(v, g, 1 - beta2, denom)
            np.divide(v, bias_correction2, out=denom)
            np.sqrt(denom, out=denom)
            np.add(denom, eps, out=denom)
            scratch = g if owned else np.empty_like(p)
            _sub_scaled_div_(p, g, grad_coef, denom, scratch)
            _sub_scaled_div_(p, m, avg_coef, denom, scratch)
    return mu_product
