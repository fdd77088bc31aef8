"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_betas, _check_nonneg

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, optionally AMSGrad, with L2 or decoupled (AdamW) weight decay.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 1e-3
        Learning rate :math:`\gamma`.
    betas : (float, float), default (0.9, 0.999)
        Moment coefficients :math:`\beta_1, \beta_2`, each in [0, 1).
    eps : float, default 1e-8
        Term added to the denominator, outside the square root.
    weight_decay : float, default 0
        Weight decay :math:`\lambda`.
    amsgrad : bool, default False
        Use the AMSGrad variant.
    foreach, fused : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    capturable, differentiable : bool, default False
        Must be False.
    decoupled_weight_decay : bool, default False
        Decoupled weight decay (AdamW) instead of an L2 penalty.

    Notes
    -----
    torch.optim.Adam's update, one :func:`fastdl.ops.adam_step` call per dtype and step
    count. With :math:`g \leftarrow -g` first if ``maximize``, at step :math:`t`:

    .. math::

        \theta &\leftarrow \theta(1 - \gamma\lambda) \ \text{(decoupled)}
            \quad\text{or}\quad g \leftarrow g + \lambda\theta \\
        m &\leftarrow m + (1-\beta_1)(g - m), \qquad
            v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        \hat v &\leftarrow \max(\hat v, v) \ \text{(amsgrad; else } \hat v = v) \\
        \theta &\leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\,
            \frac{m}{\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon}

    State: ``"step"``, ``"exp_avg"`` (:math:`m`), ``"exp_avg_sq"`` (:math:`v`),
    ``"max_exp_avg_sq"`` (:math:`\hat v`, with amsgrad).
    See :func:`fastdl.reference.adam_step`.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        super().__init__(params, {
            "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable, "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr", "eps")
        _check_betas(o["betas"])
        _check_nonneg(o, "weight_decay")
        if not all(isinstance(b, float) for b in o["betas"]):
            raise ValueError("betas must be either both floats or both Tensors")

    def _state_init(self, group):
        init = {"step": 0, "exp_avg": 0, "exp_avg_sq": 0}
        if group["amsgrad"]:
            init["max_exp_avg_sq"] = 0
        return init

    def _update(self, group, params, data, grads, key):
        beta1, beta2 = group["betas"]
        ops.adam_step(data, grads, self._states(params, "exp_avg"),
                      self._states(params, "exp_avg_sq"),
                      self._states(params, "max_exp_avg_sq") if group["amsgrad"] else [],
                      step=key, lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                      weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                      maximize=group["maximize"],
                      decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    r"""AdamW: :class:`Adam` with decoupled weight decay (default ``weight_decay=1e-2``).

    Parameters are those of :class:`Adam` without ``decoupled_weight_decay``, which is
    always True (also after :meth:`load_state_dict`, as in torch). The update is
    :math:`\theta \leftarrow \theta(1 - \gamma\lambda)` followed by Adam's step without
    an L2 term; see :class:`Adam` and :func:`fastdl.reference.adam_step`.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
