r"""Functional forms of the layers and losses (torch.nn.functional's names and arguments).

Inputs are Tensors (ndarrays are taken as constants); targets, ``weight`` and
``pos_weight`` may be ndarrays or Tensors. Each loss is one graph node: its forward
computes the elementwise loss and the reduction, and its backward the closed-form
gradient stated in its docstring. Reductions: ``"none"`` (the elementwise losses),
``"sum"``, ``"mean"``. Shape mismatches are ValueErrors naming the argument (torch
would broadcast a mismatched target with a warning).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from fastdl import ops
from fastdl import random as _random
from fastdl.autograd import Tensor, _log_softmax, _sigmoid, cat, make_node

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout", "cat", "flatten",
    "local_response_norm", "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss",
    "cross_entropy", "binary_cross_entropy_with_logits", "max_pool2d", "avg_pool2d",
    "adaptive_avg_pool2d", "batch_norm", "linear", "conv2d",
]


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# --- activations and shape ------------------------------------------------------------
def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted for torch compatibility; fastdl never writes
    into its inputs. Gradient: g where x > 0, else 0."""
    return _tensor(input).relu()


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-x)). Gradient: g * y * (1 - y)."""
    return _tensor(input).sigmoid()


def tanh(input) -> Tensor:
    """tanh(x). Gradient: g * (1 - y^2)."""
    return _tensor(input).tanh()


def _softmax_dim(name: str, ndim: int, dim):
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along ``dim``, stable (the maximum is subtracted
    first). ``dtype``: cast the input first. Gradient: y * (g - sum(g * y))."""
    x = _tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    return x.softmax(_softmax_dim("softmax", x.ndim, dim))


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x_i - log sum_j exp(x_j) along ``dim``, stable (log-sum-exp after subtracting
    the maximum). Gradient: g - softmax(x) * sum(g)."""
    x = _tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    return x.log_softmax(_softmax_dim("log_softmax", x.ndim, dim))


def flatten(input, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one (torch.flatten)."""
    return _tensor(input).flatten(start_dim, end_dim)


def _probability(fn: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{fn}: p must be a real number, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the others by 1/(1-p)
    (inverted dropout: no rescaling at evaluation). Identity when not ``training``.

    The mask comes from the default generator (:func:`fastdl.manual_seed`).
    Gradient: g * mask / (1 - p). ``inplace`` is accepted and ignored.
    """
    p = _probability("dropout", p)
    x = _tensor(input)
    if not training or p == 0.0:
        return x
    data = x.data
    if p == 1.0:
        def dropout_all_backward(g):
            return (np.zeros_like(g),)
        return make_node(np.zeros_like(data), (x,), dropout_all_backward)
    keep = _random.default_generator.rng.random(data.shape, dtype=np.float32) >= p
    scale = 1.0 / (1.0 - p)
    y = data * keep
    y *= scale

    def dropout_backward(g):
        gx = g * keep
        gx *= scale
        return (gx,)
    return make_node(y, (x,), dropout_backward)


def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, c'] for c - before <= c' <= c + after (within range)."""
    out = a.copy()
    C = a.shape[1]
    for d in range(1, min(before, C - 1) + 1):
        out[:, d:] += a[:, :-d]
    for d in range(1, min(after, C - 1) + 1):
        out[:, :-d] += a[:, d:]
    return out


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    r"""Local response normalization across channels (AlexNet), torch's convention.

    .. math::

        s_c = k + \frac{\alpha}{n}\sum_{c'=c-\lfloor n/2\rfloor}^{c+\lfloor (n-1)/2\rfloor}
              x_{c'}^2, \qquad y_c = x_c\, s_c^{-\beta}

    (``alpha`` is divided by the window ``size`` n, as torch does; the paper's
    :math:`\alpha` is torch's ``alpha / size``). ``input`` is (N, C, ...), 3-D or more.
    Gradient: :math:`g_c s_c^{-\beta} - \frac{2\alpha\beta}{n} x_c \sum_{c'\ni c}
    g_{c'} x_{c'} s_{c'}^{-\beta-1}` over the windows holding c.
    """
    x_t = _tensor(input)
    x = x_t.data
    if x.ndim < 3:
        raise ValueError("local_response_norm: input must be 3-D or more (N, C, ...), got "
                         f"shape {x.shape}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    before, after = size // 2, (size - 1) // 2
    s = _channel_window_sum(x * x, before, after)
    s *= alpha / size
    s += k
    p = s ** -beta
    y = x * p

    def local_response_norm_backward(g):
        # c' contributes to s_c for c' in [c - before, c + after], so c receives from the
        # windows c in [c' - after, c' + before]: the transposed window
        w = _channel_window_sum(g * y / s, after, before)
        w *= x
        w *= 2.0 * alpha * beta / size
        return (g * p - w,)
    return make_node(y, (x_t,), local_response_norm_backward)


# --- losses: shared helpers ------------------------------------------------------------
class ClassIndexError(ValueError, IndexError):
    """A class index outside [0, C) in cross_entropy's target: a ValueError like
    fastdl's other argument errors, and an IndexError like torch's."""


_REDUCTIONS = ("none", "mean", "sum")


def _reduction(fn: str, reduction: str, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:  # torch's legacy arguments
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", stacklevel=3)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: {reduction!r} is not a valid value for reduction "
                         "(expected 'none', 'mean' or 'sum')")
    return reduction


def _input(fn: str, input) -> Tensor:
    x = _tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be a float32 or float64 tensor, got dtype {x.dtype}")
    return x


def _operand(fn: str, name: str, value, dtype=None):
    """(ndarray, Tensor or None): a target/weight given as an ndarray, list or Tensor."""
    t = value if isinstance(value, Tensor) else None
    arr = t.data if t is not None else np.asarray(value)
    if dtype is not None:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: {name} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(dtype, copy=False)
    return arr, t


def _same_shape(fn: str, name: str, arr: np.ndarray, shape: tuple) -> None:
    if arr.shape != shape:
        raise ValueError(f"{fn}: {name} has shape {arr.shape}, expected {shape} like input")


def _broadcastable(fn: str, name: str, arr: np.ndarray, shape: tuple) -> None:
    try:
        ok = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{fn}: {name} has shape {arr.shape}, which does not broadcast to "
                         f"input's shape {shape}")


def _reduce(loss: np.ndarray, reduction: str, denominator):
    """The reduced loss and the factor its gradient gets (1/denominator for mean)."""
    if reduction == "none":
        return loss, 1.0
    total = loss.sum()
    if reduction == "sum":
        return total, 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # empty input: nan, as torch
        return total / denominator, 1.0 / denominator if denominator else np.nan


def _pointwise_loss(fn, input, target, reduction, weight, loss_of, grad_of, weighted_mean):
    """A loss of z = input - target applied elementwise: ``loss_of(z)``, ``grad_of(z)``
    (its derivative in z). The gradient for the target, when it requires one, is
    minus the input's. ``weighted_mean``: with ``weight``, mean divides by sum(weight)
    (torch's l1/mse) rather than by the element count (torch's huber)."""
    x_t = _input(fn, input)
    x = x_t.data
    t, t_t = _operand(fn, "target", target, x.dtype)
    _same_shape(fn, "target", t, x.shape)
    w = None
    if weight is not None:
        w, _ = _operand(fn, "weight", weight, x.dtype)
        _same_shape(fn, "weight", w, x.shape)
    z = x - t
    loss = loss_of(z)
    if w is not None:
        loss *= w
    out, scale = _reduce(loss, reduction, w.sum() if w is not None and weighted_mean
                         else x.size)
    need_t = t_t is not None and t_t.requires_grad

    def loss_backward(g):
        d = grad_of(z)
        if w is not None:
            d *= w
        d *= g if reduction == "none" else g * scale
        return d, (-d if need_t else None)
    return make_node(out, (x_t, t_t), loss_backward)


# --- regression losses -----------------------------------------------------------------
def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    r"""Mean absolute error: :math:`\ell_i = w_i\,|x_i - t_i|`.

    Reductions: none; sum; mean = :math:`\sum_i \ell_i / n` (or :math:`/\sum_i w_i`
    with ``weight``, as torch). Gradient: :math:`\partial\ell_i/\partial x_i =
    w_i\,\mathrm{sign}(x_i - t_i)` (0 where they are equal), times 1/n for mean.
    ``target`` and ``weight`` have input's shape.
    """
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    return _pointwise_loss("l1_loss", input, target, reduction, weight, np.abs, np.sign, True)


def _square(z):
    return z * z


def _twice(z):
    return 2 * z


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    r"""Mean squared error (squared L2): :math:`\ell_i = w_i (x_i - t_i)^2`.

    Reductions: none; sum; mean = :math:`\sum_i \ell_i / n` (or :math:`/\sum_i w_i`
    with ``weight``, as torch). Gradient: :math:`\partial\ell_i/\partial x_i =
    2 w_i (x_i - t_i)`, times 1/n for mean. ``target`` and ``weight`` have input's shape.
    """
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    return _pointwise_loss("mse_loss", input, target, reduction, weight, _square, _twice, True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    r"""Smooth L1: quadratic below ``beta``, linear above (beta = 0 is the L1 loss).

    .. math::

        \ell_i = \begin{cases} 0.5\,z_i^2/\beta & |z_i| < \beta \\
                 |z_i| - 0.5\,\beta & \text{otherwise}\end{cases}, \qquad z = x - t

    Gradient: :math:`z_i/\beta` where :math:`|z_i| < \beta`, else
    :math:`\mathrm{sign}(z_i)`; times 1/n for mean.
    """
    fn = "smooth_l1_loss"
    reduction = _reduction(fn, reduction, size_average, reduce)
    beta = float(beta)
    if beta < 0:
        raise ValueError(f"{fn}: beta must be >= 0, got {beta}")
    if beta == 0.0:
        return _pointwise_loss(fn, input, target, reduction, None, np.abs, np.sign, True)

    def loss_of(z):
        a = np.abs(z)
        return np.where(a < beta, (0.5 / beta) * z * z, a - 0.5 * beta)

    def grad_of(z):
        return np.where(np.abs(z) < beta, z / beta, np.sign(z))
    return _pointwise_loss(fn, input, target, reduction, None, loss_of, grad_of, True)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0,
               weight=None) -> Tensor:
    r"""Huber loss: quadratic below ``delta``, linear (slope ``delta``) above.

    .. math::

        \ell_i = w_i\begin{cases} 0.5\,z_i^2 & |z_i| < \delta \\
                 \delta\,(|z_i| - 0.5\,\delta) & \text{otherwise}\end{cases}, \qquad z = x - t

    It is ``delta`` times smooth_l1 with beta = delta. Mean divides by the element count
    even with ``weight`` (as torch). Gradient: :math:`w_i\,\mathrm{clip}(z_i, -\delta,
    \delta)`, times 1/n for mean.
    """
    fn = "huber_loss"
    reduction = _reduction(fn, reduction)
    delta = float(delta)
    if not delta > 0:
        raise ValueError(f"{fn}: delta must be > 0, got {delta}")

    def loss_of(z):
        a = np.abs(z)
        return np.where(a < delta, 0.5 * z * z, delta * (a - 0.5 * delta))

    def grad_of(z):
        return np.clip(z, -delta, delta)
    return _pointwise_loss(fn, input, target, reduction, weight, loss_of, grad_of, False)


# --- classification losses ---------------------------------------------------------------
def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy of softmax(input) against class indices or class probabilities.

    ``input`` holds logits, shape (C,), (N, C) or (N, C, d1, ...) (classes on axis 1).
    ``target`` is either class indices (an integer array of input's shape without the
    class axis; ``ignore_index`` marks items to skip) or probabilities (a float array
    of input's shape). With :math:`\log p = \mathrm{log\_softmax}(x)` computed stably
    (log-sum-exp after subtracting the maximum), the loss of item i is

    .. math::

        \ell_i = -\sum_c q_{ic} \log p_{ic}, \qquad
        q_{ic} = (1-\varepsilon)\,w_{y_i}[c = y_i] + \tfrac{\varepsilon}{C} w_c
        \ \text{(indices)}, \qquad
        q_{ic} = w_c\big((1-\varepsilon)\,t_{ic} + \tfrac{\varepsilon}{C}\big)
        \ \text{(probabilities)}

    with :math:`\varepsilon` the ``label_smoothing`` and :math:`w` the per-class
    ``weight`` (1 if None); ignored items have :math:`\ell_i = 0`. Reduction "mean"
    divides the sum by :math:`\sum_i w_{y_i}` over the non-ignored items for indices
    (their count without weight; nan if there are none), and by the number of items for
    probabilities, as torch. Gradient: :math:`\partial\ell_i/\partial x_{ic} =
    p_{ic}\sum_{c'} q_{ic'} - q_{ic}` (:math:`p_{ic} - [c = y_i]` in the plain case).

    Raises ValueError for a target of the wrong shape or dtype, a class index outside
    [0, C) other than ``ignore_index`` (:class:`ClassIndexError`, also an IndexError as
    in torch), a ``weight`` that is not of shape (C,), or ``label_smoothing`` outside
    [0, 1].
    """
    fn = "cross_entropy"
    reduction = _reduction(fn, reduction, size_average, reduce)
    x_t = _input(fn, input)
    x = x_t.data
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension: shape (C,), (N, C) or "
                         "(N, C, d1, ...), got a scalar")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be between 0.0 and 1.0, got {eps}")
    unbatched = x.ndim == 1
    C = x.shape[0] if unbatched else x.shape[1]
    t, t_t = _operand(fn, "target", target)
    w = None
    if weight is not None:
        w, _ = _operand(fn, "weight", weight, x.dtype)
        if w.shape != (C,):
            raise ValueError(f"{fn}: weight has shape {w.shape}, expected ({C},): one weight "
                             f"per class of input {x.shape}")
    xb = x[None] if unbatched else x
    tb = t[None] if unbatched else t
    w_b = None if w is None else w.reshape((1, C) + (1,) * (xb.ndim - 2))
    if t.shape == x.shape:
        if t.dtype.kind != "f":
            raise ValueError(f"{fn}: a target of input's shape {x.shape} holds class "
                             f"probabilities and must be floating point, got dtype {t.dtype} "
                             "(class indices have input's shape without the class axis)")
        if ignore_index >= 0:
            raise ValueError(f"{fn}: ignore_index is not supported for probability targets")
        return _cross_entropy_probs(x_t, xb, tb.astype(x.dtype, copy=False), t_t, w_b,
                                    eps, C, reduction, unbatched)
    expected = () if unbatched else x.shape[:1] + x.shape[2:]
    if t.shape != expected:
        raise ValueError(f"{fn}: target has shape {t.shape}; expected class indices of shape "
                         f"{expected} (input {x.shape} without the class axis) or "
                         f"probabilities of shape {x.shape}")
    if t.dtype.kind not in "iu":
        raise ValueError(f"{fn}: class-index target must have an integer dtype, got {t.dtype}")
    valid = tb != ignore_index
    bad = valid & ((tb < 0) | (tb >= C))
    if bad.any():
        raise ClassIndexError(f"{fn}: target holds class index {tb[bad].flat[0]}, outside "
                              f"[0, {C}) (and not ignore_index={ignore_index})")
    return _cross_entropy_indices(x_t, xb, tb, valid, w, w_b, eps, C, reduction, unbatched)


def _cross_entropy_indices(x_t, x, t, valid, w, w_b, eps, C, reduction, unbatched):
    # log p = z - lse with z = x - max(x), lse = log sum exp(z). The node keeps exp(z)
    # and its sums (softmax for the backward) rather than log p, and exp(z) overwrites
    # z: one pass and one allocation fewer each way.
    z = x - x.max(axis=1, keepdims=True)
    index = np.where(valid, t, 0)[:, None]
    picked = np.take_along_axis(z, index, axis=1)[:, 0]
    w_sum = C if w is None else w.sum()
    if eps > 0:  # sum_c w_c log p_c = sum_c w_c z_c - (sum_c w_c) lse
        wz = z.sum(axis=1) if w is None else np.tensordot(z, w, axes=([1], [0]))
    e = np.exp(z, out=z)
    s = e.sum(axis=1)
    lse = np.log(s)
    picked -= lse  # log p of the target class
    # weight of each item's target class (0 for ignored items): the mean's denominator
    w_t = (valid.astype(x.dtype) if w is None
           else np.where(valid, w[index[:, 0]], 0).astype(x.dtype))
    loss = -(1.0 - eps) * w_t * picked
    if eps > 0:
        loss -= (eps / C) * (wz - w_sum * lse) * valid
    out, scale = _reduce(loss[0] if unbatched and reduction == "none" else loss, reduction,
                         w_t.sum())

    def cross_entropy_backward(g):
        g_item = (g.reshape(1) if unbatched else g) if reduction == "none" else g * scale
        # d loss_i / d x_ic = softmax_ic * sum_c' q_ic' - q_ic
        total = (1.0 - eps) * w_t
        if eps > 0:
            total = total + (eps / C) * w_sum * valid
        gx = e * (total / s * g_item)[:, None]
        if eps > 0:
            gx -= (eps / C) * (1.0 if w_b is None else w_b) * (valid * g_item)[:, None]
        at = np.take_along_axis(gx, index, axis=1)
        at -= ((1.0 - eps) * w_t * g_item)[:, None]
        np.put_along_axis(gx, index, at, axis=1)
        return (gx[0] if unbatched else gx), None
    return make_node(out, (x_t, None), cross_entropy_backward)


def _cross_entropy_probs(x_t, x, t, t_t, w_b, eps, C, reduction, unbatched):
    logp = _log_softmax(x, 1)
    q = t if eps == 0 else t * (1.0 - eps) + eps / C
    if w_b is not None:
        q = q * w_b
    loss = -(logp * q).sum(axis=1)
    out, scale = _reduce(loss[0] if unbatched and reduction == "none" else loss, reduction,
                         loss.size)
    need_t = t_t is not None and t_t.requires_grad

    def cross_entropy_backward(g):
        s = (g.reshape(1) if unbatched else g)[:, None] if reduction == "none" else g * scale
        gx = np.exp(logp)
        gx *= q.sum(axis=1, keepdims=True)
        gx -= q
        gx *= s
        gt = None
        if need_t:
            gt = -(1.0 - eps) * logp * s
            if w_b is not None:
                gt *= w_b
            gt = gt[0] if unbatched else gt
        return (gx[0] if unbatched else gx), gt
    return make_node(out, (x_t, t_t), cross_entropy_backward)


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(-x)) without overflow: max(-x, 0) + log1p(exp(-|x|))."""
    out = np.exp(-np.abs(x))
    np.log1p(out, out=out)
    out += np.maximum(-x, 0)
    return out


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    r"""Sigmoid + binary cross-entropy per element (multi-label), fused and stable.

    .. math::

        \ell_i = -w_i\big[p_i t_i \log\sigma(x_i) + (1 - t_i)\log(1 - \sigma(x_i))\big]
               = w_i\big[(1 - t_i)\,x_i + (1 + (p_i - 1)\,t_i)\,
                 \mathrm{softplus}(-x_i)\big]

    with :math:`\mathrm{softplus}(-x) = \max(-x, 0) + \log(1 + e^{-|x|})`, finite for
    any logit (no inf or nan at :math:`\pm 100`). ``target`` has input's shape, values
    in [0, 1]; ``weight`` (:math:`w`) and ``pos_weight`` (:math:`p`, the weight of
    positives, e.g. one per label of shape (C,)) broadcast to input's shape. Mean
    divides by the element count. Gradient: :math:`\partial\ell_i/\partial x_i =
    w_i\big[(1 + (p_i - 1) t_i)\,\sigma(x_i) - p_i t_i\big]`
    (:math:`w_i(\sigma(x_i) - t_i)` without pos_weight).
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction(fn, reduction, size_average, reduce)
    x_t = _input(fn, input)
    x = x_t.data
    t, t_t = _operand(fn, "target", target, x.dtype)
    if t.shape != x.shape:
        raise ValueError(f"{fn}: target has shape {t.shape}, expected {x.shape} like input "
                         f"(Target size ({t.shape}) must be the same as input size ({x.shape}))")
    w = pw = None
    if weight is not None:
        w, _ = _operand(fn, "weight", weight, x.dtype)
        _broadcastable(fn, "weight", w, x.shape)
    if pos_weight is not None:
        pw, _ = _operand(fn, "pos_weight", pos_weight, x.dtype)
        _broadcastable(fn, "pos_weight", pw, x.shape)
    sp = _softplus_neg(x)
    loss = (1 - t) * x
    loss += sp if pw is None else ((pw - 1) * t + 1) * sp
    if w is not None:
        loss *= w
    out, scale = _reduce(loss, reduction, x.size)
    need_t = t_t is not None and t_t.requires_grad

    def bce_with_logits_backward(g):
        s = g if reduction == "none" else g * scale
        if w is not None:
            s = s * w
        sig = _sigmoid(x)
        if pw is None:
            gx = sig - t
        else:
            pt = pw * t
            gx = (pt + 1 - t) * sig - pt
        gx *= s
        gt = None
        if need_t:  # d/dt = w [(p - 1) softplus(-x) - x]
            gt = (-x if pw is None else (pw - 1) * _softplus_neg(x) - x) * s
        return gx, gt
    return make_node(out, (x_t, t_t), bce_with_logits_backward)


# --- pooling: one node per call, around the fastdl.ops kernel pair ----------------------

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling over (N, C, H, W) (or (C, H, W)); see :func:`fastdl.ops.max_pool2d`.

    With ``return_indices=True`` also returns the int64 argmax indices (an ndarray,
    flat ``h * W + w`` into each input plane, as torch)."""
    x = _tensor(input)
    y, idx = ops.max_pool2d(x.data, kernel_size, stride, padding, dilation, ceil_mode)
    shape = x.shape

    def backward(g):
        return (ops.max_pool2d_backward(g, idx, shape),)

    out = make_node(y, (x,), backward)
    return (out, idx) if return_indices else out


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average pooling over (N, C, H, W) (or (C, H, W)); see :func:`fastdl.ops.avg_pool2d`.
    ``divisor_override`` is not supported (ValueError unless None)."""
    if divisor_override is not None:
        raise ValueError("avg_pool2d: divisor_override is not supported")
    x = _tensor(input)
    y = ops.avg_pool2d(x.data, kernel_size, stride, padding, ceil_mode, count_include_pad)
    shape = x.shape

    def backward(g):
        return (ops.avg_pool2d_backward(g, shape, kernel_size, stride, padding, ceil_mode,
                                        count_include_pad),)

    return make_node(y, (x,), backward)


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling to ``output_size`` (int, pair; None keeps that size)."""
    x = _tensor(input)
    y = ops.adaptive_avg_pool2d(x.data, output_size)
    shape = x.shape

    def backward(g):
        return (ops.adaptive_avg_pool2d_backward(g, shape),)

    return make_node(y, (x,), backward)


# --- batch normalization ------------------------------------------------------------------

def _array_or_none(v):
    return None if v is None else (v.data if isinstance(v, Tensor) else v)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over axis 1 (torch's ``F.batch_norm`` arguments).

    ``running_mean``/``running_var`` are ndarrays (updated in place when ``training``)
    or None; ``weight``/``bias`` are Tensors (learnable gamma/beta) or None. See
    :func:`fastdl.ops.batch_norm` for the equations. One graph node whose backward is
    :func:`fastdl.ops.batch_norm_backward` (x_hat recomputed, not stored)."""
    x = _tensor(input)
    w = None if weight is None else _tensor(weight)
    b = None if bias is None else _tensor(bias)
    xd, wd = x.data, None if w is None else w.data
    y, save_mean, save_invstd = ops.batch_norm(
        xd, wd, None if b is None else b.data, _array_or_none(running_mean),
        _array_or_none(running_var), bool(training), float(momentum), float(eps))

    def backward(g):
        gx, gw, gb = ops.batch_norm_backward(g, xd, wd, save_mean, save_invstd, bool(training))
        if wd is None and b is not None:  # a shift without a scale: grad_beta = sum(g)
            gb = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        return gx, gw, gb

    return make_node(y, (x, w, b), backward)


# --- linear and convolution ----------------------------------------------------------------

def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` for input (*, in_features), weight (out, in), bias (out,)
    or None; one node around :func:`fastdl.ops.linear` / ``linear_backward``."""
    x, w = _tensor(input), _tensor(weight)
    b = None if bias is None else _tensor(bias)
    xd, wd = x.data, w.data
    y = ops.linear(xd, wd, None if b is None else b.data)

    def backward(g):
        return ops.linear_backward(g, xd, wd, bias=b is not None)

    return make_node(y, (x, w, b), backward)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (torch's ``F.conv2d`` arguments; padding may be "same"/"valid");
    one node around :func:`fastdl.ops.conv2d` / ``conv2d_backward``."""
    x, w = _tensor(input), _tensor(weight)
    b = None if bias is None else _tensor(bias)
    xd, wd = x.data, w.data
    y = ops.conv2d(xd, wd, None if b is None else b.data, stride, padding, dilation, groups)

    def backward(g):
        return ops.conv2d_backward(g, xd, wd, stride, padding, dilation, groups,
                                   bias=b is not None)

    return make_node(y, (x, w, b), backward)
