"""Adadelta (torch.optim.Adadelta)."""

from __future__ import annotations

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta: steps scaled by the ratio of running RMS of updates and of gradients.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 1.0
        Coefficient :math:`\gamma` that scales the update.
    rho : float, default 0.9
        Averaging coefficient :math:`\rho`, in [0, 1].
    eps : float, default 1e-6
        Term added inside both square roots.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`.
    foreach : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    capturable, differentiable : bool, default False
        Must be False.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.

    Notes
    -----
    torch.optim.Adadelta's update, one :func:`fastdl.ops.adadelta_step` call per dtype.
    With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        v &\leftarrow \rho v + (1-\rho) g^2 \\
        \Delta &= \sqrt{u + \epsilon}\,/\,\sqrt{v + \epsilon}\cdot g \\
        u &\leftarrow \rho u + (1-\rho)\Delta^2 \\
        \theta &\leftarrow \theta - \gamma\Delta

    State: ``"step"``, ``"square_avg"`` (:math:`v`), ``"acc_delta"`` (:math:`u`).
    See :func:`fastdl.reference.adadelta_step`.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        super().__init__(params, {
            "lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "capturable": capturable, "foreach": foreach,
            "differentiable": differentiable})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr")
        if not 0.0 <= o["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {o['rho']}")
        _check_nonneg(o, "eps", "weight_decay")

    def _state_init(self, group):
        return {"step": 0, "square_avg": 0, "acc_delta": 0}

    def _prepare(self, group, p):
        super()._prepare(group, p)  # the update does not depend on the step count

    def _update(self, group, params, data, grads, key):
        ops.adadelta_step(data, grads, self._states(params, "square_avg"),
                          self._states(params, "acc_delta"), lr=group["lr"], rho=group["rho"],
                          eps=group["eps"], weight_decay=group["weight_decay"],
                          maximize=group["maximize"])
