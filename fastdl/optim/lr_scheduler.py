"""Learning-rate schedulers with ``torch.optim.lr_scheduler`` (2.13) semantics.

The schedulers drive any optimizer object exposing ``param_groups``: a list of
dicts, each holding at least ``"lr"``.  Adam-like groups may hold ``"betas"``
and SGD/RMSprop-like groups ``"momentum"`` (used by :class:`OneCycleLR`).
The learning-rate sequences follow torch's recursive (chainable) formulas
operation for operation, so they agree with torch to rounding.

This module depends only on the standard library and NumPy.
"""

from __future__ import annotations

import math
import numbers
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping

import numpy as np

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available."
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _copy(value):
    """Copy array-valued hyper-parameters so they never alias the group's."""
    return value.copy() if isinstance(value, np.ndarray) else value


def _param_groups_val_list(optimizer, key):
    """Return ``[group[key] for group in optimizer.param_groups]`` (copied)."""
    return [_copy(group[key]) for group in optimizer.param_groups]


def _update_param_group_val(group, key, value):
    """Set ``group[key]``; arrays are filled in place to keep aliasing intact."""
    if isinstance(group[key], np.ndarray):
        group[key][...] = value
    else:
        group[key] = value


def _format_param(name, optimizer, param):
    """Broadcast a scalar or check a per-group sequence of hyper-parameters."""
    if isinstance(param, (list, tuple)):
        if len(param) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(param)} values, param_groups has "
                f"{len(optimizer.param_groups)}."
            )
    else:
        param = [param] * len(optimizer.param_groups)
    return [_copy(p) for p in param]


def _check_optimizer(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if groups is None or not all(isinstance(g, Mapping) for g in groups):
        raise TypeError(
            f"{type(optimizer).__name__} is not an Optimizer: expected an object "
            "with a `param_groups` list of dicts"
        )


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_real(name, value):
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")


def _check_int(name, value):
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")


def _warn_get_lr_called_within_step(scheduler):
    if not scheduler._get_lr_called_within_step:
        warnings.warn(
            "To get the last learning rate computed by the scheduler, "
            "please use `get_last_lr()`.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------
# base class
# ---------------------------------------------------------------------------
class LRScheduler:
    """Base class for learning-rate schedulers.

    Subclasses implement :meth:`get_lr`.  Construction performs an initial
    :meth:`step`, which sets ``last_epoch`` to ``0`` for a fresh scheduler.

    Parameters
    ----------
    optimizer : object
        Optimizer with a ``param_groups`` list of dicts holding ``"lr"``.
    last_epoch : int, default=-1
        Index of the last epoch.  ``-1`` starts a new schedule and records each
        group's ``lr`` as ``"initial_lr"``; any other value resumes and requires
        ``"initial_lr"`` to be present in every group.

    Attributes
    ----------
    base_lrs : list of float
        The groups' ``"initial_lr"`` values.
    last_epoch : int
        Number of steps taken since the start of the schedule.
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] "
                        "when resuming scheduler with last_epoch >= 0."
                    )
        self.base_lrs = _param_groups_val_list(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Initialise the step count and perform the initial step."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self):
        """Return the scheduler state.

        Returns
        -------
        dict
            Every entry of ``self.__dict__`` except the optimizer.
        """
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Load a state returned by :meth:`state_dict`.

        Parameters
        ----------
        state_dict : dict
            Scheduler state.
        """
        self.__dict__.update(state_dict)

    def get_last_lr(self):
        """Return the learning rates set by the most recent step.

        Returns
        -------
        list of float
            One learning rate per parameter group.
        """
        return self._last_lr

    def get_lr(self):
        """Compute the learning rates for the current ``last_epoch``.

        Called by :meth:`step`; use :meth:`get_last_lr` to read the rates.

        Returns
        -------
        list of float
            One learning rate per parameter group.
        """
        raise NotImplementedError

    def step(self, epoch=None):
        """Advance the schedule by one step and update the groups' ``lr``.

        Parameters
        ----------
        epoch : int, optional
            Deprecated (warns).  Sets ``last_epoch`` to ``epoch`` and uses the
            closed-form schedule where one exists.
        """
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                if hasattr(self, "_get_closed_form_lr"):
                    values = self._get_closed_form_lr()
                else:
                    values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(
                f"got {len(values)} learning rates for {len(groups)} param_groups"
            )
        for group, lr in zip(groups, values):
            _update_param_group_val(group, "lr", lr)
        self._last_lr = _param_groups_val_list(self.optimizer, "lr")


# ---------------------------------------------------------------------------
# schedulers
# ---------------------------------------------------------------------------
class StepLR(LRScheduler):
    """Decay each group's learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    step_size : int
        Period of the decay, ``> 0``.
    gamma : float, default=0.1
        Multiplicative decay factor.
    last_epoch : int, default=-1
        Index of the last epoch.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _check_int("step_size", step_size)
        if step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size}")
        _check_real("gamma", gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """Multiply the current lrs by ``gamma`` at non-zero multiples of ``step_size``."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _param_groups_val_list(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size)
            for base_lr in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    """Decay each group's learning rate by ``gamma`` at every milestone.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    milestones : iterable of int
        Epoch indices; a milestone listed ``n`` times decays by ``gamma ** n``.
    gamma : float, default=0.1
        Multiplicative decay factor.
    last_epoch : int, default=-1
        Index of the last epoch.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        try:
            milestones = list(milestones)
        except TypeError:
            raise TypeError(
                f"milestones must be an iterable of integers, got "
                f"{type(milestones).__name__}"
            ) from None
        for m in milestones:
            if not _is_int(m):
                raise TypeError(
                    f"milestones must contain integers, got {type(m).__name__}"
                )
        _check_real("gamma", gamma)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """Multiply the current lrs by ``gamma ** count`` at a milestone."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch not in self.milestones:
            return _param_groups_val_list(self.optimizer, "lr")
        return [
            group["lr"] * self.gamma ** self.milestones[self.last_epoch]
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [
            base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
            for base_lr in self.base_lrs
        ]


class ExponentialLR(LRScheduler):
    """Decay each group's learning rate by ``gamma`` every epoch.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    gamma : float
        Multiplicative decay factor.
    last_epoch : int, default=-1
        Index of the last epoch.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        _check_real("gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """Multiply the current lrs by ``gamma`` (not on the initial step)."""
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return _param_groups_val_list(self.optimizer, "lr")
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing without restarts, in torch's recursive form.

    ``lr_{t+1} = eta_min + (lr_t - eta_min) * (1 + cos((t+1) pi / T_max))
    / (1 + cos(t pi / T_max))``, which approximates the closed form
    ``eta_min + (base_lr - eta_min) * (1 + cos(t pi / T_max)) / 2``.  Past
    ``T_max`` the learning rate rises again (the cosine keeps going).

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    T_max : int
        Half period of the cosine, ``> 0``.
    eta_min : float, default=0.0
        Minimum learning rate.
    last_epoch : int, default=-1
        Index of the last epoch.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _check_real("T_max", T_max)
        if T_max <= 0:
            raise ValueError(f"T_max must be positive, got {T_max}")
        _check_real("eta_min", eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """Advance the lrs one step along the cosine (recursive form)."""
        _warn_get_lr_called_within_step(self)
        if self._is_initial:
            return _param_groups_val_list(self.optimizer, "lr")
        if self._step_count == 1 and self.last_epoch > 0:
            return [
                self.eta_min
                + (base_lr - self.eta_min)
                * (1 + math.cos((self.last_epoch) * math.pi / self.T_max))
                / 2
                for base_lr in self.base_lrs
            ]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [
                group["lr"]
                + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups)
            ]
        return [
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (group["lr"] - self.eta_min)
            + self.eta_min
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self):
        return [
            self.eta_min
            + (base_lr - self.eta_min)
            * (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / 2
            for base_lr in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """Scale the learning rate by a factor moving linearly from start to end.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    start_factor : float, default=1/3
        Factor at epoch 0, in ``(0, 1]``.
    end_factor : float, default=1.0
        Factor from ``total_iters`` on, in ``[0, 1]``.
    total_iters : int, default=5
        Number of steps to go from ``start_factor`` to ``end_factor``, ``> 0``.
    last_epoch : int, default=-1
        Index of the last epoch.
    """

    def __init__(
        self,
        optimizer,
        start_factor=1.0 / 3,
        end_factor=1.0,
        total_iters=5,
        last_epoch=-1,
    ):
        _check_real("start_factor", start_factor)
        _check_real("end_factor", end_factor)
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor start_factor expected to be greater "
                f"than 0 and less or equal to 1, got {start_factor}."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(
                "Ending multiplicative factor end_factor expected to be between "
                f"0 and 1, got {end_factor}."
            )
        _check_int("total_iters", total_iters)
        if total_iters <= 0:
            raise ValueError(f"total_iters must be a positive integer, got {total_iters}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        """Scale the lrs so successive steps interpolate the factor linearly."""
        _warn_get_lr_called_within_step(self)
        if self.last_epoch == 0:
            return [
                group["lr"] * self.start_factor for group in self.optimizer.param_groups
            ]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _param_groups_val_list(self.optimizer, "lr")
        return [
            group["lr"]
            * (
                1.0
                + (self.end_factor - self.start_factor)
                / (
                    self.total_iters * self.start_factor
                    + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
                )
            )
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self):
        return [
            base_lr
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for base_lr in self.base_lrs
        ]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm up to ``max_lr``, then anneal far below start.

    The learning rate goes from ``max_lr / div_factor`` to ``max_lr`` over
    ``pct_start`` of the steps, then down to
    ``max_lr / (div_factor * final_div_factor)``.  With ``cycle_momentum``,
    ``"momentum"`` (or ``betas[0]`` for Adam-like groups) is cycled inversely
    between ``max_momentum`` and ``base_momentum``.  Step once per batch; stepping
    more than ``total_steps`` times raises :class:`ValueError`.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    max_lr : float or list of float
        Peak learning rate, per group if a list.
    total_steps : int, optional
        Length of the cycle; otherwise ``epochs * steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        Used when ``total_steps`` is None.
    pct_start : float, default=0.3
        Fraction of the cycle spent increasing the learning rate.
    anneal_strategy : {"cos", "linear"}, default="cos"
        Annealing shape.
    cycle_momentum : bool, default=True
        Cycle momentum/beta1; the groups must hold ``"momentum"`` or ``"betas"``.
    base_momentum, max_momentum : float or list of float, default=0.85, 0.95
        Momentum bounds, per group if a list.
    div_factor : float, default=25.0
        ``initial_lr = max_lr / div_factor``.
    final_div_factor : float, default=1e4
        ``min_lr = initial_lr / final_div_factor``.
    three_phase : bool, default=False
        Use the symmetric warm-up/cool-down plus annihilation phase of the paper.
    last_epoch : int, default=-1
        Index of the last batch (to resume).
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        last_epoch=-1,
    ):
        _check_optimizer(optimizer)
        self.optimizer = optimizer

        if total_steps is not None:
            if not _is_int(total_steps) or total_steps <= 0:
                raise ValueError(
                    f"Expected positive integer total_steps, but got {total_steps}"
                )
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            if not _is_int(epochs) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not _is_int(steps_per_epoch) or steps_per_epoch <= 0:
                raise ValueError(
                    "Expected positive integer steps_per_epoch, but got "
                    f"{steps_per_epoch}"
                )
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError(
                "You must define either total_steps OR (epochs AND steps_per_epoch)"
            )

        if three_phase:
            self._schedule_phases = [
                {
                    "end_step": float(pct_start * self.total_steps) - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "max_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                },
                {
                    "end_step": float(2 * pct_start * self.total_steps) - 2,
                    "start_lr": "max_lr",
                    "end_lr": "initial_lr",
                    "start_momentum": "base_momentum",
                    "end_momentum": "max_momentum",
                },
                {
                    "end_step": self.total_steps - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "min_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "max_momentum",
                },
            ]
        else:
            self._schedule_phases = [
                {
                    "end_step": float(pct_start * self.total_steps) - 1,
                    "start_lr": "initial_lr",
                    "end_lr": "max_lr",
                    "start_momentum": "max_momentum",
                    "end_momentum": "base_momentum",
                },
                {
                    "end_step": self.total_steps - 1,
                    "start_lr": "max_lr",
                    "end_lr": "min_lr",
                    "start_momentum": "base_momentum",
                    "end_momentum": "max_momentum",
                },
            ]

        if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:
            raise ValueError(
                f"Expected float between 0 and 1 pct_start, but got {pct_start}"
            )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                "anneal_strategy must be one of 'cos' or 'linear', instead got "
                f"{anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy

        max_lrs = _format_param("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for idx, group in enumerate(optimizer.param_groups):
                group["initial_lr"] = max_lrs[idx] / div_factor
                group["max_lr"] = max_lrs[idx]
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if self.cycle_momentum:
            groups = optimizer.param_groups
            defaults = getattr(optimizer, "defaults", None)
            defaults = defaults if isinstance(defaults, Mapping) else {}
            has_betas = "betas" in defaults or (
                len(groups) > 0 and all("betas" in g for g in groups)
            )
            has_momentum = "momentum" in defaults or (
                len(groups) > 0 and all("momentum" in g for g in groups)
            )
            if not (has_betas or has_momentum):
                raise ValueError(
                    "optimizer must support momentum or beta1 with "
                    "`cycle_momentum` option enabled"
                )
            self.use_beta1 = has_betas
            max_momentums = _format_param("max_momentum", optimizer, max_momentum)
            base_momentums = _format_param("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_momentum, b_momentum, group in zip(
                    max_momentums, base_momentums, groups
                ):
                    if self.use_beta1:
                        group["betas"] = (m_momentum, *group["betas"][1:])
                    else:
                        group["momentum"] = m_momentum
                    group["max_momentum"] = m_momentum
                    group["base_momentum"] = b_momentum

        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return self._annealing_cos(start, end, pct)
        if self._anneal_func_type == "linear":
            return self._annealing_linear(start, end, pct)
        raise ValueError(f"Unknown _anneal_func_type: {self._anneal_func_type}")

    @staticmethod
    def _annealing_cos(start, end, pct):
        """Cosine anneal from ``start`` to ``end`` as ``pct`` goes 0 -> 1."""
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    @staticmethod
    def _annealing_linear(start, end, pct):
        """Linearly anneal from ``start`` to ``end`` as ``pct`` goes 0 -> 1."""
        return (end - start) * pct + start

    def get_lr(self):
        """Interpolate within the current phase; also sets momentum/beta1.

        Raises
        ------
        ValueError
            If ``last_epoch`` exceeds ``total_steps``.
        """
        _warn_get_lr_called_within_step(self)
        lrs = []
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"Tried to step {step_num} times. The specified number of total "
                f"steps is {self.total_steps}"
            )
        n_phases = len(self._schedule_phases)
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == n_phases - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    computed_lr = self._anneal_func(
                        group[phase["start_lr"]], group[phase["end_lr"]], pct
                    )
                    if self.cycle_momentum:
                        computed_momentum = self._anneal_func(
                            group[phase["start_momentum"]],
                            group[phase["end_momentum"]],
                            pct,
                        )
                    break
                start_step = phase["end_step"]
            lrs.append(computed_lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (computed_momentum, *group["betas"][1:])
                else:
                    group["momentum"] = computed_momentum
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Reduce the learning rate when a metric has stopped improving.

    Parameters
    ----------
    optimizer : object
        Optimizer with ``param_groups``.
    mode : {"min", "max"}, default="min"
        Whether the metric should decrease or increase.
    factor : float, default=0.1
        ``new_lr = lr * factor``; must be ``< 1``.
    patience : int, default=10
        Number of bad epochs tolerated before reducing.
    threshold : float, default=1e-4
        Minimum significant change of the metric.
    threshold_mode : {"rel", "abs"}, default="rel"
        Relative (``best * (1 -/+ threshold)``) or absolute threshold.
    cooldown : int, default=0
        Epochs to wait after a reduction before counting bad epochs again.
    min_lr : float or list of float, default=0
        Lower bound on the learning rate, per group if a list.
    eps : float, default=1e-8
        Reductions smaller than ``eps`` are skipped.
    """

    def __init__(
        self,
        optimizer,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0,
        eps=1e-8,
    ):
        _check_real("factor", factor)
        if factor >= 1.0:
            raise ValueError(f"factor should be < 1.0, got {factor}.")
        self.factor = factor
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}"
                )
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _param_groups_val_list(self.optimizer, "lr")
        self._init_is_better(
            mode=mode, threshold=threshold, threshold_mode=threshold_mode
        )
        self._reset()

    def _reset(self):
        """Reset the bad-epoch and cooldown counters."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics, epoch=None):
        """Record ``metrics`` and reduce the lrs if it has plateaued.

        Parameters
        ----------
        metrics : float
            The monitored quantity (anything ``float()`` accepts).
        epoch : int, optional
            Deprecated (warns).
        """
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch

        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # ignore any bad epochs in cooldown

        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

        self._last_lr = _param_groups_val_list(self.optimizer, "lr")

    def _reduce_lr(self, epoch):
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(self.optimizer.param_groups)}) differs from when "
                    f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}); "
                    "modify the `min_lrs` field to match."
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                _update_param_group_val(group, "lr", new_lr)

    @property
    def in_cooldown(self):
        """bool: Whether the scheduler is in its cooldown period."""
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in {"min", "max"}:
            raise ValueError(f"mode {mode!r} is unknown! Expected 'min' or 'max'.")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError(
                f"threshold mode threshold_mode={threshold_mode!r} is unknown! "
                "Expected 'rel' or 'abs'."
            )
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict):
        """Load a state returned by :meth:`state_dict`.

        Parameters
        ----------
        state_dict : dict
            Scheduler state.
        """
        self.__dict__.update(state_dict)
        self._init_is_better(
            mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode
        )
