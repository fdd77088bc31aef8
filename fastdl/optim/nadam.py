"""NAdam (torch.optim.NAdam)."""

from __future__ import annotations

from fastdl import ops
from fastdl.optim.optimizer import Optimizer, _check_betas, _check_nonneg

__all__ = ["NAdam"]


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimize, or param groups (dicts with ``"params"`` and options).
    lr : float, default 2e-3
        Learning rate :math:`\gamma`.
    betas : (float, float), default (0.9, 0.999)
        Moment coefficients :math:`\beta_1, \beta_2`, each in [0, 1).
    eps : float, default 1e-8
        Term added to the denominator, outside the square root.
    weight_decay : float, default 0
        Weight decay :math:`\lambda`.
    momentum_decay : float, default 4e-3
        Momentum decay :math:`\psi`.
    decoupled_weight_decay : bool, default False
        Decoupled weight decay (NAdamW) instead of an L2 penalty.
    foreach : bool or None
        Accepted for torch compatibility and ignored: the step is always fused.
    maximize : bool, default False
        Maximize the objective instead of minimizing it.
    capturable, differentiable : bool, default False
        Must be False.

    Notes
    -----
    torch.optim.NAdam's update, one :func:`fastdl.ops.nadam_step` call per dtype, step
    count and momentum product. With :math:`g \leftarrow -g` first if ``maximize``,
    :math:`\mu_k = \beta_1(1 - \tfrac12 0.96^{k\psi})`, at step :math:`t`:

    .. math::

        \theta &\leftarrow \theta(1 - \gamma\lambda) \ \text{(decoupled)}
            \quad\text{or}\quad g \leftarrow g + \lambda\theta \\
        \Pi_t &= \Pi_{t-1}\mu_t, \quad m \leftarrow m + (1-\beta_1)(g - m), \quad
            v \leftarrow \beta_2 v + (1-\beta_2) g^2 \\
        d &= \sqrt{v / (1 - \beta_2^t)} + \epsilon \\
        \theta &\leftarrow \theta - \frac{\gamma(1-\mu_t)}{1-\Pi_t}\frac{g}{d}
            - \frac{\gamma\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m}{d}

    State: ``"step"``, ``"mu_product"`` (:math:`\Pi`, a Python float: double precision,
    as torch keeps it when its default dtype is float64), ``"exp_avg"``,
    ``"exp_avg_sq"``. See :func:`fastdl.reference.nadam_step`.
    """

    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        super().__init__(params, {
            "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
            "foreach": foreach, "capturable": capturable, "differentiable": differentiable})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr", "eps")
        _check_betas(o["betas"])
        _check_nonneg(o, "weight_decay", "momentum_decay")

    def _state_init(self, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": 0, "exp_avg_sq": 0}

    def _prepare(self, group, p):
        return super()._prepare(group, p), self.state[p]["mu_product"]

    def _update(self, group, params, data, grads, key):
        beta1, beta2 = group["betas"]
        step, mu_product = key
        mu_product = ops.nadam_step(
            data, grads, self._states(params, "exp_avg"), self._states(params, "exp_avg_sq"),
            step=step, mu_product=mu_product, lr=group["lr"], beta1=beta1, beta2=beta2,
            eps=group["eps"], weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"],
            decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])
        for p in params:
            self.state[p]["mu_product"] = mu_product
