"""RMSprop (torch.optim.RMSprop)."""

from __future__ import annotations

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, optionally centered and with momentum.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 1e-2
        Learning rate :math:`\gamma`.
    alpha : float, default 0.99
        Smoothing constant :math:`\alpha`.
    eps : float, default 1e-8
        Term added to the denominator, outside the square root.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`.
    momentum : float, default 0
        Momentum factor :math:`\mu`.
    centered : bool, default False
        Normalize by an estimate of the gradient's variance.
    capturable, differentiable : bool, default False
        Must be False.
    foreach : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.

    Notes
    -----
    torch.optim.RMSprop's update, one :func:`fastdl.ops.rmsprop_step` call per dtype.
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        v &\leftarrow \alpha v + (1-\alpha) g^2 \\
        a &\leftarrow a + (1-\alpha)(g - a), \quad d = \sqrt{v - a^2} + \epsilon
            \ \text{(centered; else } d = \sqrt{v} + \epsilon) \\
        b &\leftarrow \mu b + g / d, \quad \theta \leftarrow \theta - \gamma b
            \ \ (\mu > 0; \text{ else } \theta \leftarrow \theta - \gamma g / d)

    State: ``"step"``, ``"square_avg"`` (:math:`v`), ``"momentum_buffer"`` (:math:`b`,
    when :math:`\mu > 0`), ``"grad_avg"`` (:math:`a`, when centered).
    See :func:`fastdl.reference.rmsprop_step`.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _state_init(self, group):
        init = {"step": 0, "square_avg": 0}
        if group["momentum"] > 0:
            init["momentum_buffer"] = 0
        if group["centered"]:
            init["grad_avg"] = 0
        return init

    def _prepare(self, group, p):
        super()._prepare(group, p)  # the update does not depend on the step count

    def _update(self, group, params, data, grads, key):
        ops.rmsprop_step(data, grads, self._states(params, "square_avg"),
                         self._states(params, "grad_avg") if group["centered"] else [],
                         self._states(params, "momentum_buffer") if group["momentum"] > 0 else [],
                         lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                         weight_decay=group["weight_decay"], momentum=group["momentum"],
                         centered=group["centered"], maximize=group["maximize"])
