"""SGD with momentum, dampening and Nesterov (torch.optim.SGD)."""

from __future__ import annotations

import numpy as np

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 1e-3
        Learning rate :math:`\gamma`.
    momentum : float, default 0
        Momentum factor :math:`\mu`.
    dampening : float, default 0
        Dampening :math:`\tau` of the momentum.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`.
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    foreach, fused : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    differentiable : bool, default False
        Must be False.

    Notes
    -----
    torch.optim.SGD's update, one :func:`fastdl.ops.sgd_step` call per dtype (and per
    new/existing momentum buffer). With :math:`g \leftarrow -g` first if ``maximize``:

    .. math::

        g &\leftarrow g + \lambda\theta \\
        b &\leftarrow g \ (\text{first step}) \quad\text{or}\quad
            b \leftarrow \mu b + (1-\tau) g \\
        g &\leftarrow g + \mu b \ (\text{nesterov}) \quad\text{or}\quad g \leftarrow b \\
        \theta &\leftarrow \theta - \gamma g

    (the momentum lines only when :math:`\mu \ne 0`). State: ``"momentum_buffer"``
    when :math:`\mu \ne 0`, else none. See :func:`fastdl.reference.sgd_step`.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "differentiable": differentiable, "fused": fused})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr", "momentum", "weight_decay")
        if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _prepare(self, group, p):
        # The bucket key is the step passed to the kernel: 1 sets a new buffer to the
        # gradient (torch clones it), 2 is the usual momentum update. No "step" state.
        if group["momentum"] == 0:
            return 1
        state = self.state[p]
        if state.get("momentum_buffer") is None:
            state["momentum_buffer"] = np.zeros_like(p.data)
            return 1
        return 2

    def _update(self, group, params, data, grads, key):
        momentum = group["momentum"]
        ops.sgd_step(data, grads, self._states(params, "momentum_buffer") if momentum != 0 else [],
                     lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                     weight_decay=group["weight_decay"], nesterov=group["nesterov"],
                     maximize=group["maximize"], step=key)
