"""LBFGS: torch.optim.LBFGS on fastdl Parameters (closure protocol, same iterates)."""

from __future__ import annotations

import numpy as np

from fastdl.optim.linesearch import strong_wolfe
from fastdl.optim.optimizer import Optimizer, _check_nonneg

__all__ = ["LBFGS"]

_OPTIONS = ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
            "history_size", "line_search_fn")
_INTS = ("func_evals", "n_iter")
_FLOATS = ("t", "H_diag", "prev_loss")
_VECTORS = ("d", "prev_flat_grad")
_VECTOR_LISTS = ("old_dirs", "old_stps")
_FLOAT_LISTS = ("ro", "al")


def _two_loop(g, s_list, y_list, rho, h_diag, al=None):
    """The L-BFGS direction ``-H g`` by the two-loop recursion (N&W algorithm 7.4).

    ``H`` is the inverse-Hessian approximation built from the pairs (s_i, y_i), oldest
    first, ``rho_i = 1 / (s_i' y_i)``, on top of ``h_diag * I``. ``al`` (a list of at
    least ``len(s_list)`` entries, torch.optim.LBFGS's ``state["al"]``) receives the
    first loop's coefficients when given. The operation order is torch's.
    """
    k = len(s_list)
    if al is None:
        al = [None] * k
    q = -g
    for i in range(k - 1, -1, -1):
        al[i] = float(s_list[i] @ q) * rho[i]
        q = q - al[i] * y_list[i]
    r = q * h_diag
    for i in range(k):
        be_i = float(y_list[i] @ r) * rho[i]
        r = r + (al[i] - be_i) * s_list[i]
    return r


def _float(value):
    """A loss or a 0-d value as a Python float (Tensors and arrays via ``.item()``)."""
    return float(value.item() if hasattr(value, "item") else value)


class LBFGS(Optimizer):
    """L-BFGS with torch.optim.LBFGS's arguments, closure protocol and iterates.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        The parameters, or param groups. Unlike torch, several groups are accepted
        (the quasi-Newton state spans all their parameters, in group order), but their
        options must be equal: a group with different options is a ValueError.
    lr : float, default 1
        The step length (the first trial step of the line search).
    max_iter : int, default 20
        The most iterations per :meth:`step`.
    max_eval : int, optional
        The most closure evaluations per :meth:`step`; default ``max_iter * 5 // 4``.
    tolerance_grad : float, default 1e-7
        Stop when the gradient's inf-norm is <= this.
    tolerance_change : float, default 1e-9
        Stop when the loss or the step (inf-norm) changes by less than this.
    history_size : int, default 100
        The number of (s, y) pairs kept.
    line_search_fn : None or "strong_wolfe"
        None: fixed steps of length ``lr`` (``min(1, 1/|g|_1) * lr`` on the very first
        iteration). "strong_wolfe": :func:`fastdl.optim.linesearch.strong_wolfe` with
        c1 = 1e-4, c2 = 0.9 (torch's ``_strong_wolfe``).

    Notes
    -----
    ``step(closure)`` calls ``closure()`` (which clears the grads, computes the loss,
    sets every ``p.grad`` and returns the loss) up to ``max_eval`` times and runs up to
    ``max_iter`` L-BFGS iterations, exactly as torch: the same direction (the two-loop
    recursion, pairs stored when y's > 1e-10, initial scaling y's / y'y), step, stopping
    tests and state. A parameter whose grad is None counts as a zero gradient. The
    vectors are flattened over all parameters in the common dtype of the parameters
    (float64 when float32 and float64 mix). The state lives under the first parameter,
    with torch's keys (``func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag,
    prev_flat_grad, prev_loss, al``): ndarrays, lists of ndarrays and Python numbers.
    An unknown ``line_search_fn`` is a ValueError at construction (torch raises
    RuntimeError in step); ``max_iter`` and ``history_size`` must be >= 1.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, {
            "lr": lr, "max_iter": max_iter, "max_eval": max_eval,
            "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
            "history_size": history_size, "line_search_fn": line_search_fn})

    @staticmethod
    def _check(o):
        _check_nonneg(o, "lr")
        if o["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{o['line_search_fn']!r}")
        for key in ("max_iter", "history_size"):
            if not o[key] >= 1:
                raise ValueError(f"LBFGS: {key} must be >= 1, got {o[key]}")

    def add_param_group(self, param_group: dict) -> None:
        """Add a group; its options (after defaults) must equal the first group's."""
        super().add_param_group(param_group)
        if len(self.param_groups) > 1:
            first, new = self.param_groups[0], self.param_groups[-1]
            diff = [k for k in _OPTIONS if new[k] != first[k]]
            if diff:
                self.param_groups.pop()
                raise ValueError("LBFGS: every param group must have the same options (the "
                                 "quasi-Newton state spans all of them); this group differs "
                                 f"from the first in {diff}")

    # --- flat views over all parameters ------------------------------------------------
    @property
    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def _dtype(self):
        return np.result_type(*[p.data.dtype for p in self._params])

    def _numel(self):
        return sum(p.data.size for p in self._params)

    def _gather_flat_grad(self):
        for gi, group in enumerate(self.param_groups):
            self._with_grad(gi, group)  # checks every grad's shape and dtype
        dtype = self._dtype()
        return np.concatenate([np.zeros(p.data.size, dtype) if p.grad is None
                               else p.grad.reshape(-1).astype(dtype, copy=False)
                               for p in self._params])

    def _add_grad(self, step_size, update):
        offset = 0
        for p in self._params:
            numel = p.data.size
            p.data += (step_size * update[offset:offset + numel]).reshape(p.data.shape)
            offset += numel

    def _clone_param(self):
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data):
        for p, pdata in zip(self._params, params_data):
            p.data[...] = pdata

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = _float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def step(self, closure):  # noqa: C901 - torch's algorithm, kept in one piece to compare
        """Run up to ``max_iter`` L-BFGS iterations; return the closure's first loss.

        ``closure()`` must clear the grads, compute the loss, set the grads and return
        the loss (a number, 0-d array or Tensor).
        """
        if not callable(closure):
            raise TypeError("LBFGS.step needs a closure that clears the grads, computes the "
                            "loss, sets the grads and returns the loss")
        for gi, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                data = p.data
                if data.dtype not in (np.float32, np.float64) or not (
                        data.flags.c_contiguous and data.flags.writeable):
                    raise ValueError(f"LBFGS.step: param_groups[{gi}]['params'][{i}] must be a "
                                     "writable, C-contiguous float32/float64 array (it is "
                                     "updated in place)")
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        # the state is global; kept under the first parameter, as torch does
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = _float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        if np.max(np.abs(flat_grad)) <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # --- the direction ---------------------------------------------------------
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(y @ y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = _two_loop(flat_grad, old_stps, old_dirs, ro, H_diag, al=state["al"])
                d = d.astype(flat_grad.dtype, copy=False)

            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            # --- the step length ----------------------------------------------------------
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr
            else:
                t = lr
            gtd = float(flat_grad @ d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def phi(step, x_init=x_init, d=d):
                    return self._directional_evaluate(closure, x_init, step, d)

                loss, flat_grad, t, ls_func_evals = strong_wolfe(
                    phi, d, t, loss, flat_grad, gtd, tolerance_change=tolerance_change,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = np.max(np.abs(flat_grad)) <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # no evaluation after the last iteration (torch: in a stochastic
                    # setting it would be wasted)
                    loss = _float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.max(np.abs(flat_grad)) <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # --- stopping tests ---------------------------------------------------------
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                break
            if np.max(np.abs(d * t)) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

    # --- state_dict: torch's layout; the lists are copied too ---------------------------
    def state_dict(self) -> dict:
        """As torch's: ``{"state": {0: {...}}, "param_groups": [...]}``, all copies."""
        sd = super().state_dict()
        for entries in sd["state"].values():
            for name, value in entries.items():
                if isinstance(value, list):
                    entries[name] = [v.copy() if isinstance(v, np.ndarray) else v
                                     for v in value]
        return sd

    def _load_value(self, p, index, name, value):
        if value is None:
            return None
        where = f"loaded state dict: state[{index}][{name!r}]"
        numel, dtype = self._numel(), self._dtype()

        def vector(v):
            arr = np.asarray(v)
            if arr.shape != (numel,):
                raise ValueError(f"{where} has shape {arr.shape}, expected ({numel},): one "
                                 "value per parameter element")
            return np.array(arr, dtype=dtype, order="C")

        if name in _INTS:
            return int(_float(value))
        if name in _FLOATS:
            return _float(np.asarray(value))
        if name in _VECTORS:
            return vector(value)
        if name in _VECTOR_LISTS:
            return [vector(v) for v in value]
        if name in _FLOAT_LISTS:
            return [None if v is None else _float(np.asarray(v)) for v in value]
        raise ValueError(f"{where}: unknown LBFGS state entry")
