"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 1e-2
        Learning rate :math:`\gamma`.
    lr_decay : float, default 0
        Learning-rate decay :math:`\eta`.
    weight_decay : float, default 0
        L2 penalty :math:`\lambda`.
    initial_accumulator_value : float, default 0
        Initial value of the sums :math:`s`.
    eps : float, default 1e-10
        Term added to the denominator, outside the square root.
    foreach, fused : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    differentiable : bool, default False
        Must be False.

    Notes
    -----
    torch.optim.Adagrad's update, one :func:`fastdl.ops.adagrad_step` call per dtype and
    step count. With :math:`g \leftarrow -g` first if ``maximize``, at step :math:`t`:

    .. math::

        g &\leftarrow g + \lambda\theta, \qquad
            \tilde\gamma = \gamma / (1 + (t-1)\eta) \\
        s &\leftarrow s + g^2 \\
        \theta &\leftarrow \theta - \tilde\gamma\, g / (\sqrt{s} + \epsilon)

    State (created at construction, as torch does): ``"step"``, ``"sum"`` (filled with
    the group's ``initial_accumulator_value``; torch uses the constructor's for every
    group). See :func:`fastdl.reference.adagrad_step`.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        super().__init__(params, {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable, "fused": fused})
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(group, p)

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _state_init(self, group):
        return {"step": 0, "sum": group["initial_accumulator_value"]}

    def _update(self, group, params, data, grads, key):
        ops.adagrad_step(data, grads, self._states(params, "sum"), lr=group["lr"],
                         lr_decay=group["lr_decay"], weight_decay=group["weight_decay"],
                         eps=group["eps"], maximize=group["maximize"], step=key)
