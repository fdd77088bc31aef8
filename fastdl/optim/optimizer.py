"""Optimizer: the torch.optim-compatible base class of the first-order optimizers.

A subclass states its defaults and value checks, the state it keeps per parameter and
its call of a fused native step (:mod:`fastdl.ops.optim`). This class does the rest:
param groups, checking every gradient before anything is updated, bucketing a group's
parameters by dtype and step count (one native call per bucket), ``zero_grad`` and
``state_dict``/``load_state_dict`` in torch's layout.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from itertools import chain

import numpy as np

from fastdl._core import DTypeError
from fastdl.autograd import Tensor, zero_grads

__all__ = ["Optimizer"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_nonneg(options, *keys):
    """torch's checks: ValueError ``Invalid <what>: <value>`` unless ``0 <= value``."""
    for key in keys:
        if not 0.0 <= options[key]:
            what = {"lr": "learning rate", "eps": "epsilon value"}.get(key, f"{key} value")
            raise ValueError(f"Invalid {what}: {options[key]}")


def _check_betas(betas):
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def _describe(grad):
    if isinstance(grad, np.ndarray):
        return f"an ndarray of shape {grad.shape} and dtype {grad.dtype}"
    return f"a {type(grad).__name__}"


class Optimizer:
    """Base class of the optimizers, with torch.optim.Optimizer's interface.

    Parameters
    ----------
    params : iterable of Tensor, of (name, Tensor) or of dict
        The Parameters to optimize, or param groups: dicts holding ``"params"`` and
        options that override ``defaults`` for that group.
    defaults : dict
        The options of a group that does not set them.

    Attributes
    ----------
    param_groups : list of dict
        ``"params"`` (a list of Parameters) and every option, per group. Schedulers
        change ``"lr"``, ``"momentum"`` or ``"betas"`` here; the next step uses them.
    state : defaultdict of dict
        Per-parameter state keyed by the Parameter: C-contiguous ndarrays of the
        parameter's shape and dtype, ``"step"`` (a Python int) and other Python scalars.
    defaults : dict
        The constructor's options (torch's keys).

    Notes
    -----
    ``step()`` first checks the ``.grad`` of every parameter of every group (an ndarray
    of the parameter's shape and dtype; parameters whose grad is None are skipped) and
    only then updates anything: a bad grad leaves all parameters and state untouched.
    The options ``capturable`` and ``differentiable`` are not supported (ValueError);
    ``foreach`` and ``fused`` are accepted and ignored: every step is fused.
    """

    _scalar_state = ("step",)  # state entries that are Python numbers, not arrays

    def __init__(self, params, defaults: dict):
        self._check(defaults)
        self._check_supported(defaults)
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError("params argument given to the optimizer should be an iterable "
                            f"of Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- what a subclass provides -------------------------------------------------
    @staticmethod
    def _check(options):
        """Raise ValueError for invalid option values (torch's checks and messages)."""

    def _state_init(self, group) -> dict:
        """Initial state entries: Python scalars for ``_scalar_state``, else fill values."""
        raise NotImplementedError

    def _update(self, group, params, data, grads, key):
        """One native fused call for ``params`` (one dtype, one bucket ``key``)."""
        raise NotImplementedError

    def _prepare(self, group, p):
        """Create ``p``'s missing state, count its step; return its bucket key."""
        state = self._init_state(group, p)
        state["step"] += 1
        return state["step"]

    # --- machinery ----------------------------------------------------------------
    def _init_state(self, group, p):
        state = self.state[p]
        for name, value in self._state_init(group).items():
            if name not in state:
                state[name] = (value if name in self._scalar_state
                               else np.full(p.data.shape, value, dtype=p.data.dtype))
        return state

    def _states(self, params, name):
        return [self.state[p][name] for p in params]

    @staticmethod
    def _check_supported(options):
        for name in ("capturable", "differentiable"):
            if options.get(name):
                raise ValueError(f"{name}=True is not supported: fastdl's optimizers take "
                                 "fused steps on ndarrays, outside autograd")

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (a dict with ``"params"`` and options) to ``param_groups``."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = [params] if isinstance(params, Tensor) else list(params)
        named = [isinstance(p, tuple) for p in params]
        if any(named):
            if not all(named):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            group["param_names"] = [name for name, _ in params]
            params = [p for _, p in params]
        group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if getattr(p, "_backward", None) is not None:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check(group)
        self._check_supported(group)
        ids = {id(p) for p in params}
        if len(ids) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        for other in self.param_groups:
            if ("param_names" in other) != ("param_names" in group):
                raise ValueError("all optimizer param groups should be with/without names. "
                                 "cannot add param group "
                                 f"{'with' if 'param_names' in group else 'without'} names "
                                 "to the optimizer")
            if any(id(p) in ids for p in other["params"]):
                raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _with_grad(self, gi, group):
        """The params of group ``gi`` that have a grad, after checking each grad."""
        out = []
        for i, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            where = f"{type(self).__name__}.step: param_groups[{gi}]['params'][{i}]"
            data = p.data
            if data.dtype not in _FLOATS:
                raise DTypeError(f"{where} has dtype {data.dtype}; only float32 and float64 "
                                 "parameters are supported")
            if not (data.flags.c_contiguous and data.flags.writeable):
                raise ValueError(f"{where}: the data must be a writable, C-contiguous array "
                                 "(it is updated in place)")
            g = p.grad
            if not isinstance(g, np.ndarray) or g.shape != data.shape or g.dtype != data.dtype:
                raise ValueError(f"{where}: grad is {_describe(g)}, expected an ndarray of "
                                 f"shape {data.shape} and dtype {data.dtype} like the parameter")
            out.append(p)
        return out

    def step(self, closure=None):
        """Take one optimization step; return ``closure()`` (called first) if given.

        Every grad of every group is checked before anything is written; then each
        group takes one native call per (dtype, bucket key) set of its parameters.
        """
        loss = None if closure is None else closure()
        todo = [(group, self._with_grad(gi, group)) for gi, group in enumerate(self.param_groups)]
        for group, params in todo:
            buckets = {}
            for p in params:
                buckets.setdefault((p.data.dtype, self._prepare(group, p)), []).append(p)
            for (_, key), ps in buckets.items():
                self._update(group, ps, [p.data for p in ps], [p.grad for p in ps], key)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every grad to None, or (``set_to_none=False``) fill it with zeros in place."""
        zero_grads(chain.from_iterable(g["params"] for g in self.param_groups), set_to_none)

    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.

        As torch's: parameters are numbered in group order; arrays are copies.
        """
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v
                                for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def _load_value(self, p, index, name, value):
        if value is None:  # e.g. an SGD momentum_buffer not yet created
            return None
        if name in self._scalar_state:
            value = value.item() if hasattr(value, "item") else value
            return int(value) if name == "step" else float(value)
        arr = np.asarray(value)
        if arr.shape != p.data.shape:
            raise ValueError(f"loaded state dict: state[{index}][{name!r}] has shape "
                             f"{arr.shape}, expected {p.data.shape} like its parameter")
        return np.array(arr, dtype=p.data.dtype, order="C")

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a :meth:`state_dict` (checked in full before anything changes).

        Arrays are copied into C-contiguous arrays of their parameter's dtype; the
        groups' options are replaced by the saved ones.
        """
        saved = copy.deepcopy(state_dict["param_groups"])
        if len(self.param_groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved),
                          chain.from_iterable(g["params"] for g in self.param_groups)))
        state = defaultdict(dict)
        for k, entries in state_dict["state"].items():
            if k not in id_map:
                raise ValueError(f"loaded state dict has state for parameter {k!r}, "
                                 "which is in none of its parameter groups")
            p = id_map[k]
            state[p] = {name: self._load_value(p, k, name, v) for name, v in entries.items()}
        for group, new in zip(self.param_groups, saved):
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            for name, default in self.defaults.items():
                new.setdefault(name, default)
            self._check(new)
            self._check_supported(new)
        self.state, self.param_groups = state, saved

    def __repr__(self) -> str:
        out = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"
