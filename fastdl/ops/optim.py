"""Fused multi-tensor optimizer steps (native).

One call updates every array of ``params`` (and the optimizer state) in place, in one
pass over memory, with the update equations of torch.optim's functional forms. All
arrays of one call share one dtype (float32 or float64); grads may have any layout,
while params and state arrays must be writable and C-contiguous. Every argument is
checked before anything is written: a call that raises leaves all arrays unchanged.
The equations are in the docstrings of the NumPy twins, :mod:`fastdl.reference.optim`.

Threads: the GIL is released during the update, so calls from several Python threads
on separate arrays run at once and give the serial results. Two threads stepping the
same arrays at once race on them: no crash and no other memory touched, but the values
are undefined. Lock around shared parameters (the optimizer classes are not thread-safe).
"""

from __future__ import annotations

from fastdl import _core
from fastdl._checks import flag, real, step as _step

__all__ = ["sgd_step", "adagrad_step", "adadelta_step", "rmsprop_step", "adam_step", "nadam_step"]


def sgd_step(params, grads, momentum_buffers, *, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False, step):
    """SGD with momentum, dampening and Nesterov, in place (torch.optim.SGD's update).

    ``momentum_buffers`` may be empty when ``momentum == 0``; at ``step == 1`` each
    buffer is set to the gradient (after weight decay), as torch does.
    See :func:`fastdl.reference.sgd_step` for the equations.
    """
    fn = "sgd_step"
    _core._sgd_step(params, grads, momentum_buffers, real(fn, "lr", lr),
                    real(fn, "momentum", momentum), real(fn, "dampening", dampening),
                    real(fn, "weight_decay", weight_decay), flag(fn, "nesterov", nesterov),
                    flag(fn, "maximize", maximize), _step(fn, step))


def adagrad_step(params, grads, state_sums, *, lr, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, maximize=False, step):
    """Adagrad, in place (torch.optim.Adagrad's update; eps outside the square root).

    See :func:`fastdl.reference.adagrad_step` for the equations.
    """
    fn = "adagrad_step"
    _core._adagrad_step(params, grads, state_sums, real(fn, "lr", lr),
                        real(fn, "lr_decay", lr_decay), real(fn, "weight_decay", weight_decay),
                        real(fn, "eps", eps), flag(fn, "maximize", maximize), _step(fn, step))


def adadelta_step(params, grads, square_avgs, acc_deltas, *, lr=1.0, rho=0.9, eps=1e-6,
                  weight_decay=0.0, maximize=False):
    """Adadelta, in place (torch.optim.Adadelta's update; eps inside both square roots).

    See :func:`fastdl.reference.adadelta_step` for the equations.
    """
    fn = "adadelta_step"
    _core._adadelta_step(params, grads, square_avgs, acc_deltas, real(fn, "lr", lr),
                         real(fn, "rho", rho), real(fn, "eps", eps),
                         real(fn, "weight_decay", weight_decay), flag(fn, "maximize", maximize))


def rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha=0.99,
                 eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    """RMSprop, centered or not, with optional momentum, in place (torch.optim.RMSprop).

    ``grad_avgs`` may be empty when not centered, ``momentum_buffers`` when
    ``momentum == 0``. See :func:`fastdl.reference.rmsprop_step` for the equations.
    """
    fn = "rmsprop_step"
    _core._rmsprop_step(params, grads, square_avgs, grad_avgs, momentum_buffers,
                        real(fn, "lr", lr), real(fn, "alpha", alpha), real(fn, "eps", eps),
                        real(fn, "weight_decay", weight_decay), real(fn, "momentum", momentum),
                        flag(fn, "centered", centered), flag(fn, "maximize", maximize))


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, step, lr, beta1=0.9,
              beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
              decoupled_weight_decay=False):
    """Adam / AdamW, in place (torch.optim.Adam's update; eps after bias correction).

    ``decoupled_weight_decay=True`` is AdamW. ``max_exp_avg_sqs`` may be empty without
    amsgrad. See :func:`fastdl.reference.adam_step` for the equations.
    """
    fn = "adam_step"
    _core._adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, _step(fn, step),
                     real(fn, "lr", lr), real(fn, "beta1", beta1), real(fn, "beta2", beta2),
                     real(fn, "eps", eps), real(fn, "weight_decay", weight_decay),
                     flag(fn, "amsgrad", amsgrad), flag(fn, "maximize", maximize),
                     flag(fn, "decoupled_weight_decay", decoupled_weight_decay))


def nadam_step(params, grads, exp_avgs, exp_avg_sqs, *, step, mu_product, lr, beta1=0.9,
               beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
               decoupled_weight_decay=False, maximize=False):
    """NAdam, in place (torch.optim.NAdam's update). Returns the new ``mu_product``.

    ``mu_product`` is the product of the momentum coefficients before this step (1.0
    before the first); pass the returned value to the next call.
    See :func:`fastdl.reference.nadam_step` for the equations.
    """
    fn = "nadam_step"
    return _core._nadam_step(params, grads, exp_avgs, exp_avg_sqs, _step(fn, step),
                             real(fn, "mu_product", mu_product), real(fn, "lr", lr),
                             real(fn, "beta1", beta1), real(fn, "beta2", beta2),
                             real(fn, "eps", eps), real(fn, "weight_decay", weight_decay),
                             real(fn, "momentum_decay", momentum_decay),
                             flag(fn, "decoupled_weight_decay", decoupled_weight_decay),
                             flag(fn, "maximize", maximize))
