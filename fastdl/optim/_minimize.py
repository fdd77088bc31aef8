"""minimize: gradient descent, Newton, BFGS, L-BFGS and nonlinear CG on NumPy functions.

Plain NumPy: each iteration is a few vector operations (an n x n matrix product for
BFGS, a Cholesky factorisation for Newton) next to the user's function, which is where
the time goes. Every method takes its steps with the strong-Wolfe line search of
:mod:`fastdl.optim.linesearch` (Nocedal & Wright algorithms 3.5/3.6).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastdl.optim.linesearch import strong_wolfe, sufficient_decrease

__all__ = ["minimize", "OptimizeResult", "METHODS"]

METHODS = ("gd", "newton", "bfgs", "lbfgs", "cg")

_EPS = np.finfo(np.float64).eps
# Changes of f below _FLAT * |f| count as rounding noise in the line search: there the
# slope decides (Hager & Zhang's approximate Wolfe condition), so that tight tolerances
# remain reachable when f no longer resolves the decrease (|g|^2 / L < eps |f|).
_FLAT = 1e-10

# options every method takes, with their defaults (c2 is 0.1 for "cg", see _defaults)
_COMMON = {"c1": 1e-4, "c2": 0.9, "max_ls": 25, "fd_step": _EPS ** (1 / 3)}
_METHOD_OPTIONS = {
    "gd": {"l1": None},
    "newton": {"cg_max_iter": None},
    "bfgs": {},
    "lbfgs": {"m": 10, "l1": None},
    "cg": {"beta": "pr+", "restart": None},
}
_CG_BETAS = ("pr+", "fr", "hs")


class OptimizeResult(dict):
    """The result of :func:`minimize`: a dict whose keys are also attributes.

    Attributes
    ----------
    x : ndarray (n,), float64
        The solution (the last iterate).
    fun : float
        The objective at ``x`` (with ``options["l1"]``: including the L1 term).
    jac : ndarray (n,)
        The gradient at ``x`` (with ``options["l1"]``: the minimum-norm subgradient of
        the whole objective, which is what ``tol`` is checked against).
    nit : int
        Iterations taken (steps accepted).
    nfev, njev, nhev : int
        Calls of ``fun``; gradient evaluations (calls of ``jac``, of ``fun`` with
        ``jac=True``, or finite-difference gradients); calls of ``hess``/``hessp``.
    success : bool
        True only when the gradient's inf-norm reached ``tol`` (status 0).
    status : int
        0: converged; 1: ``max_iter`` reached; 2: the line search found no step that
        decreases f (precision loss, an inaccurate gradient, or ``tol`` too small for
        float64 rounding); 3: a non-finite value of f, the gradient or the Hessian.
    message : str
        Says which, in words.
    history : dict of ndarray
        ``history["f"][k]`` and ``history["grad_norm"][k]`` (the gradient's inf-norm)
        after ``k`` iterations, ``k = 0 .. nit``: the convergence curve.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self):
        return list(self.keys())

    def __repr__(self):
        if not self:
            return f"{type(self).__name__}()"
        width = max(map(len, self)) + 1
        lines = []
        for k, v in self.items():
            text = repr(v) if k != "history" else f"{{'f': <{len(v['f'])} values>, ...}}"
            lines.append(k.rjust(width) + ": " + text.replace("\n", "\n" + " " * (width + 2)))
        return "\n".join(lines)


# --- argument checks ------------------------------------------------------------------

def _as_x0(x0):
    if isinstance(x0, (str, bytes)):
        raise TypeError("minimize: x0 must be a 1-D array of real numbers, got "
                        f"{type(x0).__name__}")
    x = np.asarray(x0)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"minimize: x0 must be a 1-D array of real numbers, got dtype {x.dtype}")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"minimize: x0 must be a non-empty 1-D array (shape (n,)), got "
                         f"shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("minimize: x0 must be finite")
    return np.array(x, dtype=np.float64)  # always a fresh float64 copy


def _options(method, options, n):
    allowed = {**_COMMON, **_METHOD_OPTIONS[method]}
    if method == "cg":
        allowed["c2"] = 0.1
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"minimize: options must be a dict, got {type(options).__name__}")
    for key in options:
        if key not in allowed:
            if key == "l1":
                raise ValueError("minimize: options['l1'] is supported by method 'lbfgs' "
                                 f"(OWL-QN) and 'gd' (proximal gradient), not {method!r}")
            raise ValueError(f"minimize: unknown option {key!r} for method {method!r}; "
                             f"valid options: {sorted(allowed)}")
    o = {**allowed, **options}
    if not 0 < o["c1"] < o["c2"] < 1:
        raise ValueError(f"minimize: options c1, c2 must satisfy 0 < c1 < c2 < 1, got "
                         f"c1={o['c1']}, c2={o['c2']}")
    for key in ("max_ls", "m", "restart", "cg_max_iter"):
        v = o.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)
                              or v < 1):
            raise ValueError(f"minimize: options[{key!r}] must be an int >= 1, got {v!r}")
    if not (isinstance(o["fd_step"], numbers.Real) and o["fd_step"] > 0):
        raise ValueError(f"minimize: options['fd_step'] must be > 0, got {o['fd_step']!r}")
    if method == "cg":
        if o["beta"] not in _CG_BETAS:
            raise ValueError(f"minimize: options['beta'] must be one of {_CG_BETAS}, got "
                             f"{o['beta']!r}")
        o["restart"] = o["restart"] or n
    if method == "newton":
        o["cg_max_iter"] = o["cg_max_iter"] or 20 * n
    if o.get("l1") is not None:
        lam = np.asarray(o["l1"], dtype=np.float64)
        if lam.ndim == 0:
            lam = np.full(n, float(lam))
        if lam.shape != (n,) or not np.all(lam >= 0) or not np.all(np.isfinite(lam)):
            raise ValueError(f"minimize: options['l1'] must be a number or an array of shape "
                             f"({n},) of finite values >= 0, got shape {lam.shape}")
        o["l1"] = lam
    return o


def _scalar(value, who):
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"minimize: {who} must return a scalar, got an array of shape "
                         f"{arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"minimize: {who} must return a real number, got dtype {arr.dtype}")
    return float(arr.reshape(()))


def _vector(value, n, who):
    arr = np.asarray(value)
    if arr.shape != (n,):
        raise ValueError(f"minimize: {who} has shape {arr.shape}, expected ({n},) like x0")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"minimize: {who} must be real, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


# --- the objective: counts calls, checks shapes, finite differences -------------------

class _Objective:
    """f and its gradient at x, however the user provides them; counts every call."""

    def __init__(self, fun, jac, hess, hessp, n, fd_step):
        self.fun, self.jac, self.hess_fn, self.hessp_fn = fun, jac, hess, hessp
        self.n, self.fd_step = n, fd_step
        self.nfev = self.njev = self.nhev = 0
        self.nonfinite = 0  # evaluations that gave a non-finite f or gradient

    def _f(self, x):
        self.nfev += 1
        return _scalar(self.fun(x), "fun")

    def __call__(self, x):
        if self.jac is True:
            self.nfev += 1
            out = self.fun(x)
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("minimize: with jac=True, fun must return a pair (f, gradient), "
                                 f"got {type(out).__name__}")
            f = _scalar(out[0], "fun")
            g = _vector(out[1], self.n, "the gradient returned by fun (jac=True)")
        elif callable(self.jac):
            f = self._f(x)
            g = _vector(self.jac(x), self.n, "the gradient returned by jac")
        else:
            f = self._f(x)
            g = self._finite_difference(x)
        self.njev += 1
        if not (math.isfinite(f) and np.all(np.isfinite(g))):
            self.nonfinite += 1
        return f, g

    def _finite_difference(self, x):
        # central differences, h_i = fd_step * max(1, |x_i|): error O(h^2), so the
        # default fd_step = eps^(1/3) balances truncation against rounding
        h = self.fd_step * np.maximum(1.0, np.abs(x))
        g = np.empty(self.n)
        for i in range(self.n):
            xp, xm = x.copy(), x.copy()
            xp[i] += h[i]
            xm[i] -= h[i]
            g[i] = (self._f(xp) - self._f(xm)) / (xp[i] - xm[i])
        return g

    def hess(self, x):
        self.nhev += 1
        H = np.asarray(self.hess_fn(x))
        if H.shape != (self.n, self.n):
            raise ValueError(f"minimize: the Hessian returned by hess has shape {H.shape}, "
                             f"expected ({self.n}, {self.n})")
        if H.dtype.kind not in "biuf":
            raise TypeError(f"minimize: hess must return a real matrix, got dtype {H.dtype}")
        return H.astype(np.float64, copy=False)

    def hessp(self, x, v):
        self.nhev += 1
        return _vector(self.hessp_fn(x, v), self.n, "the product returned by hessp")


# --- the state of a run: iterate, stopping tests, history, result ---------------------

def _pseudo_gradient(x, g, lam):
    """The minimum-norm subgradient of f(x) + sum(lam * |x|) (OWL-QN's pseudo-gradient)."""
    right, left = g + lam, g - lam  # one-sided derivatives where x_i = 0
    pg = np.where(x > 0, right, np.where(x < 0, left, 0.0))
    at0 = x == 0
    pg = np.where(at0 & (right < 0), right, pg)
    return np.where(at0 & (left > 0), left, pg)


class _Run:
    def __init__(self, obj, x, tol, max_iter, l1=None):
        self.obj, self.tol, self.max_iter, self.l1 = obj, tol, max_iter, l1
        self.nit = 0
        self.status = None
        self.message = ""
        self.t = 1.0  # the last accepted step length
        self.f_prev = None  # the objective before the last step
        self.hist_f, self.hist_g = [], []
        self._set(x, *obj(x))

    def _set(self, x, f, g):
        self.x, self.f, self.g = x, f, g
        if self.l1 is None:
            self.F, self.pg = f, g
        else:
            self.F = f + float(self.l1 @ np.abs(x))
            self.pg = _pseudo_gradient(x, g, self.l1)
        self.gnorm = float(np.max(np.abs(self.pg)))
        self.hist_f.append(self.F)
        self.hist_g.append(self.gnorm)

    def accept(self, x, f, g):
        """Move to x (one iteration); keep s = x_new - x and y = g_new - g."""
        self.s, self.y = x - self.x, g - self.g
        self.f_prev = self.F
        self.nit += 1
        self._set(x, f, g)

    def stop(self):
        """Set the status and return True when the run is over."""
        if not (math.isfinite(self.F) and np.all(np.isfinite(self.g))):
            where = "x0" if self.nit == 0 else f"iteration {self.nit}"
            what = f"f = {self.F}" if not math.isfinite(self.F) else "a non-finite gradient"
            return self._end(3, f"Stopped: fun gave {what} at {where}")
        if self.gnorm <= self.tol:
            return self._end(0, "Optimization terminated successfully: the gradient's "
                                f"inf-norm {self.gnorm:.3g} <= tol")
        if self.nit >= self.max_iter:
            return self._end(1, f"Maximum number of iterations (max_iter={self.max_iter}) "
                                f"reached; the gradient's inf-norm is {self.gnorm:.3g}")
        return False

    def _end(self, status, message):
        self.status, self.message = status, message
        return True

    def fail(self, nonfinite_before=None):
        """End the run after a line search that found no lower point.

        ``nonfinite_before``: the objective's count of non-finite evaluations when the
        search began; when it grew, the failure is reported as non-finite (status 3).
        """
        if nonfinite_before is not None and self.obj.nonfinite > nonfinite_before:
            return self._end(3, "Stopped: the line search met non-finite values of f or the "
                                f"gradient and found no lower point (iteration {self.nit})")
        return self._end(2, "Stopped: the line search found no step that decreases f "
                            f"(iteration {self.nit}; the gradient's inf-norm is "
                            f"{self.gnorm:.3g}): precision loss, an inaccurate gradient, or "
                            "tol below what float64 rounding allows")

    def search(self, d, t0, o):
        """A strong-Wolfe line search along d; on success move there and return True.

        A step is taken when the search returns a point of sufficient decrease (the
        curvature condition may fail when the search ran out of evaluations); callers
        that need it (the quasi-Newton updates) check ``s @ y > 0`` themselves.
        """
        x, f, g = self.x, self.f, self.g
        gtd = float(g @ d)
        self._ls_before = self.obj.nonfinite
        if not gtd < 0:
            return False

        def phi(t):
            return self.obj(x + t * d)

        xtol = 4 * _EPS * max(1.0, float(np.max(np.abs(x))))
        flat = _FLAT * abs(f)
        f_new, g_new, t, _ = strong_wolfe(phi, d, t0, f, g, gtd, c1=o["c1"], c2=o["c2"],
                                          tolerance_change=xtol, max_ls=o["max_ls"],
                                          flat_eps=flat)
        if not (t > 0 and sufficient_decrease(f_new, float(g_new @ d), f, o["c1"], t, gtd,
                                              flat)):
            return False
        x_new = x + t * d
        if np.array_equal(x_new, x):
            return False
        self.t = t
        self.accept(x_new, f_new, g_new)
        return True

    def search_failed(self):
        """End the run after :meth:`search` returned False."""
        return self.fail(self._ls_before)

    def result(self):
        return OptimizeResult(
            x=self.x, fun=self.F, jac=self.pg, nit=self.nit, nfev=self.obj.nfev,
            njev=self.obj.njev, nhev=self.obj.nhev, success=self.status == 0,
            status=self.status, message=self.message,
            history={"f": np.array(self.hist_f), "grad_norm": np.array(self.hist_g)})


def _first_step(g):
    """The first trial step along -g: a move of length at most 1."""
    return min(1.0, 1.0 / float(np.linalg.norm(g)))


def _interpolated_step(run, gtd):
    """N&W (3.60): the step at which a quadratic through f_prev, f, gtd is minimised.

    1.01 * 2 (f_k - f_{k-1}) / phi'(0), as scipy's CG does; the last step when that is
    not a positive number.
    """
    if run.f_prev is not None and gtd < 0:
        t = 2.02 * (run.F - run.f_prev) / gtd
        if t > 0 and math.isfinite(t):
            return t
    return run.t


# --- the methods ----------------------------------------------------------------------

def _gd(run, o):
    while not run.stop():
        d = -run.g
        t0 = _first_step(run.g) if run.nit == 0 else _interpolated_step(run, float(run.g @ d))
        if not run.search(d, t0, o):
            run.search_failed()
            break
    return run.result()


def _modified_cholesky_solve(H, g):
    """d = -(H + tau I)^-1 g with the smallest tau of N&W algorithm 3.3 (tau doubling).

    tau = 0 when H is positive definite (the Newton step); else start from
    beta - min(diag H) and double until the Cholesky factorisation succeeds.
    """
    diag = np.diag(H)
    beta = 1e-3 * max(1.0, float(np.max(np.abs(diag))))
    tau = 0.0 if np.min(diag) > 0 else beta - float(np.min(diag))
    eye = np.eye(H.shape[0])
    for _ in range(200):
        try:
            L = np.linalg.cholesky(H + tau * eye if tau else H)
        except np.linalg.LinAlgError:
            tau = max(2 * tau, beta)
            continue
        return np.linalg.solve(L.T, np.linalg.solve(L, -g))
    return -g  # pragma: no cover - tau grows past any finite eigenvalue long before


def _newton_cg_direction(hessp, g, max_iter):
    """Newton-CG's inner loop (N&W algorithm 7.1): CG on H d = -g, truncated.

    Stops at relative residual min(0.5, sqrt(|g|)) (superlinear, quadratic in the end)
    or at negative curvature (then the iterate so far, or -g on the first CG step).
    """
    gnorm = float(np.linalg.norm(g))
    eps_k = min(0.5, math.sqrt(gnorm)) * gnorm
    z = np.zeros_like(g)
    r = g.copy()
    p = -r
    rr = float(r @ r)
    for j in range(max_iter):
        Hp = hessp(p)
        pHp = float(p @ Hp)
        if not pHp > 0:
            return -g if j == 0 else z
        alpha = rr / pHp
        z = z + alpha * p
        r = r + alpha * Hp
        rr_new = float(r @ r)
        if math.sqrt(rr_new) < eps_k:
            break
        p = -r + (rr_new / rr) * p
        rr = rr_new
    return z


def _newton(run, o):
    obj = run.obj
    while not run.stop():
        if obj.hess_fn is not None:
            H = obj.hess(run.x)
            if not np.all(np.isfinite(H)):
                run._end(3, f"Stopped: hess gave a non-finite value at iteration {run.nit}")
                break
            d = _modified_cholesky_solve(H, run.g)
        else:
            x = run.x
            d = _newton_cg_direction(lambda v: obj.hessp(x, v), run.g, o["cg_max_iter"])
        if not np.all(np.isfinite(d)):
            d = -run.g
        # the Newton step is tried first; when it fails, one steepest-descent step
        if not (run.search(d, 1.0, o) or run.search(-run.g, _first_step(run.g), o)):
            run.search_failed()
            break
    return run.result()


def _curvature_ok(s, y, sy):
    """BFGS's curvature condition s'y > 0, with a margin for rounding."""
    return sy > _EPS * float(np.linalg.norm(s) * np.linalg.norm(y))


def _bfgs(run, o):
    n = run.x.size
    H = None  # the inverse-Hessian approximation; None: not yet built (steepest descent)
    while not run.stop():
        if H is None:
            d, t0 = -run.g, _first_step(run.g)
        else:
            d, t0 = -(H @ run.g), 1.0
        if not run.search(d, t0, o):
            if H is None:
                run.search_failed()
                break
            H = None  # restart from steepest descent
            continue
        s, y = run.s, run.y
        sy = float(s @ y)
        if not _curvature_ok(s, y, sy):
            continue  # skip the update: it would not stay positive definite
        if H is None:
            H = np.eye(n) * (sy / float(y @ y))  # N&W (6.20), before the first update
        # N&W (6.17): H+ = (I - rho s y') H (I - rho y s') + rho s s', rho = 1/s'y
        Hy = H @ y
        H += ((sy + float(y @ Hy)) / sy**2) * np.outer(s, s)
        H -= (np.outer(Hy, s) + np.outer(s, Hy)) / sy
    return run.result()


class _Memory:
    """The L-BFGS pairs (s_i, y_i), oldest first, and H g in compact form.

    Byrd, Nocedal & Schnabel (1994), theorem 2.2: with S, Y the (k, n) stacks of the
    pairs, R = triu(S Y') (R_ij = s_i'y_j, i <= j), D = diag(R), H0 = gamma I,

        H = gamma I + [S' gamma Y'] [[R^-T (D + gamma Y Y') R^-1, -R^-T], [-R^-1, 0]]
                                    [S; gamma Y]

    the matrix the two-loop recursion applies. H g then costs four (k, n) matrix-vector
    products and a few k x k ones: a dozen NumPy calls instead of the recursion's 4k,
    which dominate on small problems. D, Y Y' and R^-1 are updated in O(kn) per pair:
    dropping the oldest pair keeps R^-1[1:, 1:] (R is upper triangular), and a new pair
    appends a column to R, whose inverse is [[R^-1, -R^-1 c / d], [0, 1 / d]].
    """

    def __init__(self, m, n):
        self.m, self.k, self.gamma = m, 0, 1.0
        self.S, self.Y = np.empty((m, n)), np.empty((m, n))
        self.YY, self.Rinv, self.D = np.empty((m, m)), np.zeros((m, m)), np.empty(m)

    def clear(self):
        self.k = 0

    def add(self, s, y):
        """Keep the pair when it meets the curvature condition (else skip it)."""
        sy = float(s @ y)
        if _curvature_ok(s, y, sy):
            self.push(s, y, sy)

    def push(self, s, y, sy):
        if self.k == self.m:  # forget the oldest pair
            for a in (self.S, self.Y, self.D):
                a[:-1] = a[1:].copy()
            for a in (self.YY, self.Rinv):
                a[:-1, :-1] = a[1:, 1:].copy()
            self.k -= 1
        k = self.k
        self.S[k], self.Y[k], self.D[k] = s, y, sy
        self.YY[k, :k + 1] = self.YY[:k + 1, k] = self.Y[:k + 1] @ y
        c = self.S[:k] @ y  # the new column of R above its diagonal
        self.Rinv[:k, k] = -(self.Rinv[:k, :k] @ c) / sy
        self.Rinv[k, :k] = 0.0
        self.Rinv[k, k] = 1.0 / sy
        self.k = k + 1
        self.gamma = sy / self.YY[k, k]  # N&W (7.20)

    def direction(self, g):
        """-H g."""
        k, gamma = self.k, self.gamma
        if k == 0:
            return -g
        S, Y, Rinv = self.S[:k], self.Y[:k], self.Rinv[:k, :k]
        u = Rinv @ (S @ g)
        v = (self.D[:k] * u + gamma * (self.YY[:k, :k] @ u - Y @ g)) @ Rinv
        return -(gamma * g + v @ S - gamma * (u @ Y))


def _lbfgs(run, o):
    if o["l1"] is not None:
        return _owlqn(run, o)
    mem = _Memory(o["m"], run.x.size)
    while not run.stop():
        if mem.k:
            d, t0 = mem.direction(run.g), 1.0
        else:
            d, t0 = -run.g, _first_step(run.g)
        if not run.search(d, t0, o):
            if not mem.k:
                run.search_failed()
                break
            mem.clear()  # forget the memory, restart from steepest descent
            continue
        mem.add(run.s, run.y)
    return run.result()


def _owlqn(run, o):
    """OWL-QN (Andrew & Gao 2007): L-BFGS on f(x) + sum(l1 * |x|).

    The direction is the L-BFGS direction for the pseudo-gradient, with the components
    that disagree in sign with -pseudo-gradient zeroed; each trial point is projected
    onto the orthant of x (sign(x), or sign(-pseudo-gradient) where x = 0), with a
    backtracking (halving) search for sufficient decrease of the whole objective (up to
    _FLAT |F| of rounding noise). The memory holds s and the change of the smooth
    gradient.
    """
    lam = run.l1
    mem = _Memory(o["m"], run.x.size)
    while not run.stop():
        x, pg = run.x, run.pg
        if mem.k:
            d, t = mem.direction(pg), 1.0
        else:
            d, t = -pg, _first_step(pg)
        d = np.where(d * pg < 0, d, 0.0)
        orthant = np.where(x != 0, np.sign(x), -np.sign(pg))
        before = run.obj.nonfinite
        for _ in range(o["max_ls"]):
            x_new = x + t * d
            x_new = np.where(np.sign(x_new) == orthant, x_new, 0.0)
            f_new, g_new = run.obj(x_new)
            F_new = f_new + float(lam @ np.abs(x_new))
            if (F_new <= run.F + o["c1"] * float(pg @ (x_new - x)) + _FLAT * abs(run.F)
                    and not np.array_equal(x_new, x)):
                break
            t *= 0.5
        else:
            if mem.k:
                mem.clear()
                continue
            run.fail(before)
            break
        run.t = t
        run.accept(x_new, f_new, g_new)
        mem.add(run.s, run.y)
    return run.result()


def _proximal_gd(run, o):
    """Proximal gradient (ISTA) on f(x) + sum(l1 * |x|).

    x+ = soft_threshold(x - t g, t l1), soft_threshold(v, a) = sign(v) max(|v| - a, 0);
    t starts from the Barzilai-Borwein step s's/s'y and is halved until
    f(x+) <= f(x) + g'(x+ - x) + |x+ - x|^2 / (2t) (which makes F decrease; up to
    _FLAT |f| of rounding noise is allowed).
    """
    lam = run.l1
    t = _first_step(run.g)
    while not run.stop():
        x, g, f = run.x, run.g, run.f
        before = run.obj.nonfinite
        for _ in range(o["max_ls"]):
            v = x - t * g
            x_new = np.sign(v) * np.maximum(np.abs(v) - t * lam, 0.0)
            dx = x_new - x
            f_new, g_new = run.obj(x_new)
            if f_new <= f + float(g @ dx) + float(dx @ dx) / (2 * t) + _FLAT * abs(f):
                break
            t *= 0.5
        else:
            run.fail(before)
            break
        if not np.any(dx):
            run.fail()
            break
        run.t = t
        run.accept(x_new, f_new, g_new)
        sy = float(run.s @ run.y)
        t = float(run.s @ run.s) / sy if sy > 0 else 2 * t
    return run.result()


def _cg(run, o):
    """Nonlinear CG: d = -g + beta d_prev, with beta PR+ (default), FR or HS.

    Restarts (d = -g) every ``restart`` iterations (default n), when consecutive
    gradients are far from orthogonal (|g'g_prev| >= 0.1 |g|^2, Powell's test, N&W
    5.52), and whenever d is not a descent direction.
    """
    rule = o["beta"]
    d = None
    since_restart = 0
    while not run.stop():
        g = run.g
        if d is None or not float(g @ d) < 0:
            d, since_restart = -g, 0
        gtd = float(g @ d)
        t0 = _first_step(g) if run.nit == 0 else _interpolated_step(run, gtd)
        if not run.search(d, t0, o):
            if since_restart == 0:
                run.search_failed()
                break
            d = None
            continue
        g_new, y = run.g, run.y
        since_restart += 1
        gg = float(g @ g)
        if since_restart >= o["restart"] or abs(float(g_new @ g)) >= 0.1 * float(g_new @ g_new):
            d = None
            continue
        if rule == "pr+":
            beta = max(0.0, float(g_new @ y) / gg)
        elif rule == "fr":
            beta = float(g_new @ g_new) / gg
        else:  # hs
            dy = float(d @ y)
            beta = float(g_new @ y) / dy if dy != 0 else 0.0
        d = -g_new + beta * d
    return run.result()


_SOLVERS = {"gd": _gd, "newton": _newton, "bfgs": _bfgs, "lbfgs": _lbfgs, "cg": _cg}


def minimize(fun, x0, jac=None, hess=None, method="lbfgs", tol=1e-5, max_iter=None,
             options=None, *, hessp=None):
    """Minimise a smooth function of a vector (optionally plus an L1 term).

    Parameters
    ----------
    fun : callable ``fun(x) -> float`` (or ``-> (float, ndarray)`` with ``jac=True``)
        The objective, called with a float64 array of shape (n,) that it must not
        modify.
    x0 : array_like (n,)
        The starting point: a non-empty 1-D sequence or array of real numbers (any
        integer or float dtype; it is copied to float64). Other shapes (scalars, 2-D)
        are a ValueError, complex or non-numeric input a TypeError.
    jac : True, callable ``jac(x) -> ndarray (n,)``, or None
        True: ``fun`` returns ``(f, gradient)``. A callable: the gradient. None:
        central finite differences (2n calls of ``fun`` per gradient, step
        ``options["fd_step"] * max(1, |x_i|)``). A gradient of the wrong shape is a
        ValueError.
    hess : callable ``hess(x) -> ndarray (n, n)``, optional
        The Hessian, for ``method="newton"`` (which needs it or ``hessp``).
    method : {"lbfgs", "bfgs", "newton", "cg", "gd"}
        ``"gd"``: steepest descent. ``"newton"``: the Newton step from a Cholesky solve
        with ``hess`` (shifted by tau I when the Hessian is not positive definite, N&W
        algorithm 3.3), or Newton-CG with ``hessp`` (N&W algorithm 7.1).
        ``"bfgs"``: the inverse-Hessian BFGS update (N&W 6.17), skipped when the
        curvature condition s'y > 0 fails, initial scaling N&W (6.20).
        ``"lbfgs"``: the two-loop recursion with ``options["m"]`` pairs (default 10).
        ``"cg"``: nonlinear conjugate gradient, ``options["beta"]`` = "pr+" (Polak-
        Ribiere+, default), "fr" (Fletcher-Reeves) or "hs" (Hestenes-Stiefel), with
        restarts.
    tol : float
        Stop when the gradient's inf-norm is <= tol.
    max_iter : int, optional
        The most iterations; default ``max(1000, 200 * n)``. Reaching it is not a
        success.
    options : dict, optional
        ``c1`` (1e-4), ``c2`` (0.9; 0.1 for "cg"): the strong-Wolfe constants;
        ``max_ls`` (25): the most function evaluations per line search after the first;
        ``fd_step`` (eps^(1/3)); "lbfgs": ``m`` (10); "cg": ``beta``, ``restart``
        (every n iterations); "newton": ``cg_max_iter`` (20 n, for ``hessp``).
        ``l1`` (a number or an array (n,) of weights >= 0): minimise
        ``f(x) + sum(l1 * |x|)`` instead, with "lbfgs" (OWL-QN) or "gd" (proximal
        gradient) only; ``tol`` then applies to the minimum-norm subgradient.
    hessp : callable ``hessp(x, v) -> ndarray (n,)``, keyword-only
        The Hessian-vector product, for Newton-CG (``method="newton"`` without
        ``hess``). An extra keyword (as in scipy) outside DESIGN's signature.

    Returns
    -------
    OptimizeResult
        ``x, fun, jac, nit, nfev, njev, nhev, success, status, message, history``.

    Notes
    -----
    Every method steps with the strong-Wolfe line search of
    :func:`fastdl.optim.linesearch.strong_wolfe` (c1 = 1e-4, c2 = 0.9; 0.1 for CG), the
    first step along -g has length at most 1, (quasi-)Newton steps try t = 1 first and
    "gd"/"cg" start from N&W (3.60). When the line search finds no lower point, the
    quasi-Newton methods and CG restart once from steepest descent; a failure there
    ends the run (status 2). Where f changes by less than 1e-10 |f| (rounding noise
    near a minimum), sufficient decrease is judged by the slope instead (Hager & Zhang's
    approximate Wolfe condition), so f may rise by that much in a step; elsewhere every
    step decreases f. A non-finite f or gradient at an iterate (or only
    non-finite values in a failed line search) ends it with status 3; a trial point
    with a non-finite value is otherwise treated as too long a step. ``hess`` and
    ``hessp`` are used by "newton" only.
    """
    if not callable(fun):
        raise TypeError(f"minimize: fun must be callable, got {type(fun).__name__}")
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"minimize: unknown method {method!r}; valid methods: {METHODS}")
    method = method.lower()
    x = _as_x0(x0)
    n = x.size
    if not (jac is None or jac is True or callable(jac)):
        raise TypeError(f"minimize: jac must be True, a callable or None, got {jac!r}")
    for name, f in (("hess", hess), ("hessp", hessp)):
        if f is not None and not callable(f):
            raise TypeError(f"minimize: {name} must be callable, got {type(f).__name__}")
    if method == "newton":
        if hess is None and hessp is None:
            raise ValueError("minimize: method 'newton' needs hess (the Hessian) or hessp "
                             "(Hessian-vector products)")
        if hess is not None and hessp is not None:
            raise ValueError("minimize: give hess or hessp, not both")
    if not (isinstance(tol, numbers.Real) and tol >= 0):
        raise ValueError(f"minimize: tol must be a number >= 0, got {tol!r}")
    if max_iter is None:
        max_iter = max(1000, 200 * n)
    elif isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise ValueError(f"minimize: max_iter must be an int >= 0 or None, got {max_iter!r}")
    o = _options(method, options, n)
    obj = _Objective(fun, jac, hess if method == "newton" else None,
                     hessp if method == "newton" else None, n, o["fd_step"])
    run = _Run(obj, x, float(tol), int(max_iter), l1=o.get("l1"))
    if method == "gd" and o["l1"] is not None:
        return _proximal_gd(run, o)
    return _SOLVERS[method](run, o)
