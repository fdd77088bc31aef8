"""Tests for fastdl.optim.minimize and the strong-Wolfe line search."""

import math

import numpy as np
import pytest

from fastdl.optim import OptimizeResult, minimize
from fastdl.optim.linesearch import cubic_interpolate, strong_wolfe

QN = [("bfgs", {}), ("lbfgs", {}), ("cg", {}), ("cg", {"beta": "fr"}),
      ("cg", {"beta": "hs"})]


# --- test problems, written out here (not taken from the code under test) ---------------

def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def rosen_grad(x):
    g = np.zeros_like(x)
    t = x[1:] - x[:-1] ** 2
    g[:-1] = -400.0 * x[:-1] * t - 2 * (1 - x[:-1])
    g[1:] += 200.0 * t
    return g


def rosen_hess(x):
    n = x.size
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    H[i + 1, i + 1] += 200
    H[i, i + 1] = H[i + 1, i] = -400 * x[:-1]
    return H


def quadratic(n=6, cond=100.0, seed=0):
    """f = x'Ax/2 - b'x with A SPD of condition number `cond`; x* = A^-1 b."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(np.geomspace(1.0, cond, n)) @ Q.T
    A = (A + A.T) / 2
    b = rng.standard_normal(n)
    return A, b, np.linalg.solve(A, b)


def logistic_l2(seed=1, n=60, p=8):
    """Strongly convex: sum log(1 + exp(z_i)) - y_i z_i + |x|^2 / 2, z = Ax."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    y = (rng.random(n) < 0.5).astype(float)

    def fg(x):
        z = A @ x
        f = np.sum(np.logaddexp(0, z) - y * z) + 0.5 * x @ x
        return float(f), A.T @ (1 / (1 + np.exp(-z)) - y) + x

    def hess(x):
        s = 1 / (1 + np.exp(-(A @ x)))
        return A.T @ (A * (s * (1 - s))[:, None]) + np.eye(p)

    return fg, hess, p


def _method_kwargs(method, A=None, hess=None):
    if method != "newton":
        return {}
    return {"hess": hess if hess is not None else (lambda x: A)}


# --- known minima ---------------------------------------------------------------------

@pytest.mark.parametrize("method,opts", [("newton", {}), ("gd", {})] + QN)
def test_quadratic_known_minimum(method, opts):
    A, b, xstar = quadratic()
    # gd's steps decrease f by about |g|^2 / lambda: below 1e-6 that is lost in f's
    # rounding (the line search then reports precision loss), so it gets a looser tol
    tol = 1e-6 if method == "gd" else 1e-9
    res = minimize(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(6), jac=True,
                   method=method, tol=tol, options=opts, **_method_kwargs(method, A))
    assert isinstance(res, OptimizeResult)
    assert res.success and res.status == 0, res.message
    assert res.x.shape == (6,) and res.x.dtype == np.float64
    # |x - x*| <= |A^-1| |g| = |g| (the smallest eigenvalue of A is 1)
    np.testing.assert_allclose(res.x, xstar, rtol=0, atol=3 * tol)
    assert np.abs(res.jac).max() <= tol
    assert res.fun == pytest.approx(-0.5 * b @ xstar, rel=1e-10)
    if method == "newton":
        assert res.nit == 1  # one exact Newton step on a quadratic


def test_newton_cg_with_hessp_on_quadratic():
    A, b, xstar = quadratic(n=20, cond=1e3)
    calls = []
    res = minimize(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(20), jac=True,
                   method="newton", hessp=lambda x, v: calls.append(1) or A @ v, tol=1e-9)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, xstar, atol=1e-7 * np.abs(xstar).max())
    assert res.nhev == len(calls) > 0


@pytest.mark.parametrize("n", [2, 10])
@pytest.mark.parametrize("method,opts", [("newton", {}), ("gd", {})] + QN)
def test_rosenbrock(n, method, opts):
    x0 = np.zeros(n) if n == 10 else np.array([-1.2, 1.0])
    max_iter = 30000 if method == "gd" else None
    res = minimize(rosen, x0, jac=rosen_grad, method=method, tol=1e-5, max_iter=max_iter,
                   options=opts, **_method_kwargs(method, hess=rosen_hess))
    assert res.success, res.message
    # the minimum is x = 1; |x - 1| ~ |g| / lambda_min(H*) (about 4e-3 for n = 10)
    np.testing.assert_allclose(res.x, np.ones(n), atol=5e-3)
    assert res.fun < 1e-8
    assert res.nfev >= res.nit
    assert len(res.history["f"]) == len(res.history["grad_norm"]) == res.nit + 1
    assert res.history["grad_norm"][-1] <= 1e-5 < res.history["grad_norm"][0]


def test_rosenbrock_newton_cg():
    def hessp(x, v):
        return rosen_hess(x) @ v
    res = minimize(rosen, np.zeros(10), jac=rosen_grad, method="newton", hessp=hessp,
                   tol=1e-6)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.ones(10), atol=1e-4)


def test_history_is_monotone_and_matches_result():
    for method, opts in [("newton", {}), ("gd", {})] + QN:
        res = minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_grad, method=method,
                       options=opts, max_iter=200, **_method_kwargs(method, hess=rosen_hess))
        f = res.history["f"]
        assert np.all(np.diff(f) < 0), method  # every step decreases f (sufficient decrease)
        assert f[0] == rosen(np.array([-1.2, 1.0])) and f[-1] == res.fun
        assert res.history["grad_norm"][-1] == np.abs(res.jac).max()


# --- convergence rates, seen in the history -------------------------------------------

def _ratios(res, floor=1e-12):
    g = res.history["grad_norm"]
    g = g[g > floor]
    return g[1:] / g[:-1]


def test_newton_converges_quadratically():
    fg, hess, p = logistic_l2()
    res = minimize(fg, np.zeros(p), jac=True, hess=hess, method="newton", tol=1e-13)
    assert res.success, res.message
    g = res.history["grad_norm"]
    # in the end |g_{k+1}| <= K |g_k|^2: log|g_{k+1}| / log|g_k| close to 2
    late = [(a, b) for a, b in zip(g[:-1], g[1:]) if a < 1e-2 and b > 1e-14]
    assert late, g
    for a, b in late:
        assert b <= 10 * a * a, g
    assert any(math.log(b) / math.log(a) > 1.8 for a, b in late), g


@pytest.mark.parametrize("seed", range(4))
def test_quasi_newton_converges_superlinearly(seed):
    fg, _, p = logistic_l2(seed=seed, n=100, p=5)
    gd = minimize(fg, np.zeros(p), jac=True, method="gd", tol=1e-12, max_iter=5000)
    g = gd.history["grad_norm"]
    mid = (g[:-1] < 1e-2) & (g[1:] > 1e-6)  # before f's rounding disturbs gd's steps
    linear = np.median(g[1:][mid] / g[:-1][mid])
    assert linear > 0.2, g  # gradient descent: a constant rate
    for method in ("bfgs", "lbfgs"):
        res = minimize(fg, np.zeros(p), jac=True, method=method, tol=1e-12)
        assert res.success, res.message
        r = _ratios(res)
        # superlinear: the ratios |g_{k+1}| / |g_k| fall towards 0, far below gd's rate
        late = math.exp(np.mean(np.log(r[-3:])))
        assert late < 0.08 and late < linear / 4, (method, r)
        assert res.nit < gd.nit


# --- the line search ------------------------------------------------------------------

def _line_cases():
    A, b, _ = quadratic(n=5, cond=50.0, seed=3)
    rng = np.random.default_rng(7)

    def quad(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    def ros(x):
        return rosen(x), rosen_grad(x)

    cases = []
    for t0 in (1e-4, 0.01, 1.0, 30.0):  # far too short (extrapolate) to far too long (zoom)
        x = rng.standard_normal(5)
        cases.append((quad, x, -quad(x)[1], t0))
    for x in ([-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [-0.5, 1.5]):
        x = np.array(x)
        for t0 in (1e-3, 1.0):
            cases.append((ros, x, -ros(x)[1], t0))
        H = rosen_hess(x)
        if np.all(np.linalg.eigvalsh(H) > 0):
            cases.append((ros, x, -np.linalg.solve(H, ros(x)[1]), 1.0))
    return cases


@pytest.mark.parametrize("c2", [0.9, 0.4, 0.1])
def test_strong_wolfe_conditions_hold(c2):
    c1 = 1e-4
    for fun, x, d, t0 in _line_cases():
        f0, g0 = fun(x)
        gtd = float(g0 @ d)
        assert gtd < 0
        calls = []

        def phi(t):
            calls.append(t)
            return fun(x + t * d)

        f, g, t, nfev = strong_wolfe(phi, d, t0, f0, g0, gtd, c1=c1, c2=c2,
                                     tolerance_change=1e-14, max_ls=50)
        assert nfev == len(calls)
        assert t > 0
        ft, gt = fun(x + t * d)
        assert f == ft and np.array_equal(g, gt)
        assert f <= f0 + c1 * t * gtd  # sufficient decrease
        assert abs(float(g @ d)) <= c2 * abs(gtd)  # strong curvature


def test_strong_wolfe_takes_an_acceptable_first_step():
    # a quadratic along d with minimiser at t = 1: the first trial satisfies both
    def phi(t):
        return (t - 1.0) ** 2, np.array([2 * (t - 1.0)])
    f, g, t, nfev = strong_wolfe(phi, np.array([1.0]), 1.0, 1.0, np.array([-2.0]), -2.0)
    assert (t, nfev, f) == (1.0, 1, 0.0)


def test_strong_wolfe_backs_off_from_nan():
    # f = (t - 1)^2 for t < 1.5, NaN beyond: a first trial at t = 4 must back off
    def phi(t):
        if t >= 1.5:
            return math.nan, np.array([math.nan])
        return (t - 1.0) ** 2, np.array([2 * (t - 1.0)])
    f, g, t, nfev = strong_wolfe(phi, np.array([1.0]), 4.0, 1.0, np.array([-2.0]), -2.0,
                                 max_ls=30)
    assert 0 < t < 1.5 and math.isfinite(f) and f < 1.0
    assert abs(g[0]) <= 0.9 * 2.0


def test_cubic_interpolate():
    # the cubic through f(0) = 0, f'(0) = -1, f(1) = 0, f'(1) = 1 ... is x^2 - x + 0 x^3
    assert cubic_interpolate(0.0, 0.0, -1.0, 1.0, 0.0, 1.0) == pytest.approx(0.5)
    # f = x^3 - 3x: f(0) = 0, f'(0) = -3, f(2) = 2, f'(2) = 9: local minimum at 1
    assert cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0) == pytest.approx(1.0)
    # clipped to the bounds; coincident points give the midpoint
    assert cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0, bounds=(1.5, 3.0)) == 1.5
    assert cubic_interpolate(1.0, 0.0, -1.0, 1.0, 0.0, -1.0, bounds=(0.0, 4.0)) == 2.0


# --- gradients: jac=True, callable, finite differences; counters -----------------------

def test_gradient_sources_and_counters():
    A, b, xstar = quadratic(n=4, cond=10.0)
    counts = {"f": 0, "g": 0}

    def f(x):
        counts["f"] += 1
        return 0.5 * x @ A @ x - b @ x

    def g(x):
        counts["g"] += 1
        return A @ x - b

    res = minimize(f, np.zeros(4), jac=g, method="bfgs", tol=1e-8)
    assert res.success
    assert (res.nfev, res.njev) == (counts["f"], counts["g"])
    counts["f"] = 0
    fd = minimize(f, np.zeros(4), method="bfgs", tol=1e-6)  # central differences
    assert fd.success, fd.message
    np.testing.assert_allclose(fd.x, xstar, atol=1e-6)
    assert fd.nfev == counts["f"] == fd.njev * (1 + 2 * 4)  # f, then 2n per gradient


def test_x0_accepted_forms_and_not_modified():
    A, b, xstar = quadratic(n=3, cond=5.0)
    x0 = np.zeros(3, dtype=np.float32)
    for start in (x0, [0, 0, 0], (0.0, 0.0, 0.0), np.zeros(6)[::2]):
        res = minimize(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), start, jac=True,
                       tol=1e-9)
        assert res.x.dtype == np.float64 and res.x.shape == (3,)
        np.testing.assert_allclose(res.x, xstar, atol=1e-8)
    assert not x0.any()


# --- L1: OWL-QN ("lbfgs") and proximal gradient ("gd") ----------------------------------

@pytest.mark.parametrize("method", ["lbfgs", "gd"])
def test_l1_separable_soft_threshold(method):
    # f = |x - c|^2 / 2 + lam |x|_1 has the minimiser soft_threshold(c, lam)
    c = np.array([3.0, -0.2, 0.5, -2.0, 0.05, 0.0])
    lam = np.array([1.0, 1.0, 1.0, 0.5, 0.0, 2.0])
    res = minimize(lambda x: (0.5 * (x - c) @ (x - c), x - c), np.ones(6), jac=True,
                   method=method, tol=1e-10, options={"l1": lam})
    assert res.success, res.message
    expected = np.sign(c) * np.maximum(np.abs(c) - lam, 0)
    np.testing.assert_allclose(res.x, expected, atol=1e-10)
    assert res.x[1] == 0 and res.x[2] == 0 and res.x[5] == 0  # exact zeros
    assert res.fun == pytest.approx(0.5 * (expected - c) @ (expected - c)
                                    + lam @ np.abs(expected), rel=1e-12)


@pytest.mark.parametrize("method", ["lbfgs", "gd"])
def test_l1_lasso_optimality(method):
    rng = np.random.default_rng(4)
    A = rng.standard_normal((40, 12))
    b = rng.standard_normal(40)
    lam = 3.0
    res = minimize(lambda x: (0.5 * np.sum((A @ x - b) ** 2), A.T @ (A @ x - b)), np.zeros(12),
                   jac=True, method=method, tol=1e-9, options={"l1": lam})
    assert res.success, res.message
    x = res.x
    g = A.T @ (A @ x - b)
    nz = x != 0
    assert 0 < nz.sum() < 12  # some, not all, coefficients are zero at this lam
    # KKT: g_i = -lam sign(x_i) where x_i != 0, |g_i| <= lam where x_i == 0
    np.testing.assert_allclose(g[nz], -lam * np.sign(x[nz]), atol=1e-8)
    assert np.all(np.abs(g[~nz]) <= lam + 1e-8)


# --- non-finite values, max_iter, non-convex Newton ------------------------------------

def test_nan_at_x0_stops():
    res = minimize(lambda x: (math.nan, np.zeros(2)), np.ones(2), jac=True)
    assert not res.success and res.status == 3 and res.nit == 0
    assert "nan" in res.message and "x0" in res.message


@pytest.mark.parametrize("method", ["gd", "newton", "bfgs", "lbfgs", "cg"])
def test_nan_after_start_stops(method):
    calls = []

    def f(x):  # finite at x0 only
        calls.append(1)
        return (float(x @ x) if len(calls) == 1 else math.nan), 2 * x

    res = minimize(f, np.ones(3), jac=True, method=method, hess=lambda x: 2 * np.eye(3))
    assert not res.success and res.status == 3
    assert "non-finite" in res.message
    assert res.nit == 0 and np.array_equal(res.x, np.ones(3))
    assert len(calls) < 60  # gave up after a bounded search


@pytest.mark.parametrize("method", ["gd", "bfgs", "lbfgs", "cg"])
def test_nan_region_is_avoided(method):
    # f = sum((x - 2)^2), NaN where any x_i > 2.5: steps into the region are shortened
    seen = []

    def f(x):
        if np.any(x > 2.5):
            seen.append(1)
            return math.nan, np.full_like(x, math.nan)
        return float(np.sum((x - 2) ** 2)), 2 * (x - 2)

    res = minimize(f, np.array([-30.0, 1.0]), jac=True, method=method, tol=1e-8,
                   options={"max_ls": 40})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [2.0, 2.0], atol=1e-8)


def test_unbounded_below_stops():
    # f = -x: the line search extrapolates (x 10 times longer per trial) until a step
    # no longer changes x in float64; the run ends there, not after max_iter
    for method in ("lbfgs", "gd", "cg", "bfgs"):
        res = minimize(lambda x: (-float(x[0]), np.array([-1.0])), np.zeros(1), jac=True,
                       method=method, max_iter=500)
        assert not res.success and res.status in (2, 3) and res.nit < 50, res


def test_max_iter_reached_is_not_success():
    res = minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_grad, method="gd", max_iter=5)
    assert not res.success and res.status == 1 and res.nit == 5
    assert "max_iter=5" in res.message
    res0 = minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_grad, max_iter=0)
    assert res0.nit == 0 and not res0.success and np.array_equal(res0.x, [-1.2, 1.0])


def test_modified_newton_on_indefinite_hessian():
    # f = x^4/4 - x^2/2 + y^2/2: at x = 0.1 the Hessian diag(3x^2 - 1, 1) is indefinite;
    # the pure Newton step heads for the maximum at x = 0, the modified one to x = 1
    def fg(v):
        x, y = v
        return x**4 / 4 - x**2 / 2 + y**2 / 2, np.array([x**3 - x, y])

    def hess(v):
        return np.diag([3 * v[0] ** 2 - 1, 1.0])

    res = minimize(fg, np.array([0.1, 1.0]), jac=True, hess=hess, method="newton", tol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0, 0.0], atol=1e-10)
    ncg = minimize(fg, np.array([0.1, 1.0]), jac=True, method="newton", tol=1e-10,
                   hessp=lambda v, w: hess(v) @ w)
    assert ncg.success and abs(abs(ncg.x[0]) - 1) < 1e-8


def test_fd_step_option_and_default_max_iter():
    A, b, xstar = quadratic(n=3, cond=4.0)
    res = minimize(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(3), tol=1e-7,
                   options={"fd_step": 1e-4})
    assert res.success
    np.testing.assert_allclose(res.x, xstar, atol=1e-6)


# --- bad input ------------------------------------------------------------------------

def _quad(x):
    return float(x @ x), 2 * x


@pytest.mark.parametrize("x0", [np.zeros((2, 2)), 1.0, np.zeros(0), [[1.0, 2.0]]])
def test_bad_x0_shape(x0):
    with pytest.raises(ValueError, match="x0"):
        minimize(_quad, x0, jac=True)


def test_bad_x0_type_and_values():
    with pytest.raises(TypeError, match="x0"):
        minimize(_quad, np.zeros(2, complex), jac=True)
    with pytest.raises(TypeError, match="x0"):
        minimize(_quad, "ab", jac=True)
    with pytest.raises(ValueError, match="x0"):
        minimize(_quad, [1.0, np.nan], jac=True)


def test_newton_without_hessian():
    with pytest.raises(ValueError, match="hess"):
        minimize(_quad, np.ones(2), jac=True, method="newton")
    with pytest.raises(ValueError, match="not both"):
        minimize(_quad, np.ones(2), jac=True, method="newton", hess=lambda x: np.eye(2),
                 hessp=lambda x, v: v)


def test_wrong_gradient_and_hessian_shapes():
    with pytest.raises(ValueError, match=r"jac has shape \(3,\), expected \(2,\)"):
        minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: np.ones(3))
    with pytest.raises(ValueError, match=r"gradient returned by fun .* shape \(2, 1\)"):
        minimize(lambda x: (float(x @ x), 2 * x[:, None]), np.ones(2), jac=True)
    with pytest.raises(ValueError, match="pair"):
        minimize(lambda x: float(x @ x), np.ones(2), jac=True)
    with pytest.raises(ValueError, match="fun must return a scalar"):
        minimize(lambda x: x, np.ones(2), jac=lambda x: 2 * x)
    with pytest.raises(ValueError, match=r"Hessian returned by hess has shape \(2,\)"):
        minimize(_quad, np.ones(2), jac=True, method="newton", hess=lambda x: np.ones(2))
    with pytest.raises(ValueError, match="hessp"):
        minimize(_quad, np.ones(2), jac=True, method="newton", hessp=lambda x, v: v[:1])


def test_bad_method_options_and_scalars():
    with pytest.raises(ValueError, match="unknown method 'nelder-mead'"):
        minimize(_quad, np.ones(2), jac=True, method="nelder-mead")
    assert minimize(_quad, np.ones(2), jac=True, method="BFGS").success  # case-insensitive
    with pytest.raises(ValueError, match="unknown option 'm'"):
        minimize(_quad, np.ones(2), jac=True, method="bfgs", options={"m": 3})
    with pytest.raises(ValueError, match="l1"):
        minimize(_quad, np.ones(2), jac=True, method="bfgs", options={"l1": 1.0})
    with pytest.raises(ValueError, match="l1"):
        minimize(_quad, np.ones(2), jac=True, method="lbfgs", options={"l1": [1.0, -1.0]})
    with pytest.raises(ValueError, match="c1, c2"):
        minimize(_quad, np.ones(2), jac=True, options={"c2": 1e-5})
    with pytest.raises(ValueError, match="beta"):
        minimize(_quad, np.ones(2), jac=True, method="cg", options={"beta": "dy"})
    with pytest.raises(ValueError, match="max_ls"):
        minimize(_quad, np.ones(2), jac=True, options={"max_ls": 0})
    with pytest.raises(ValueError, match="tol"):
        minimize(_quad, np.ones(2), jac=True, tol=-1)
    with pytest.raises(ValueError, match="max_iter"):
        minimize(_quad, np.ones(2), jac=True, max_iter=-1)
    with pytest.raises(TypeError, match="fun"):
        minimize(None, np.ones(2))
    with pytest.raises(TypeError, match="jac"):
        minimize(_quad, np.ones(2), jac="2-point")


def test_optimize_result_is_a_dict_with_attributes():
    res = minimize(_quad, np.ones(2), jac=True)
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "success", "status",
                "message", "history"):
        assert key in res and getattr(res, key) is res[key]
    with pytest.raises(AttributeError):
        res.missing  # noqa: B018
    assert "success: True" in repr(res)


def test_lbfgs_compact_form_equals_two_loop_recursion():
    # minimize's L-BFGS applies H in compact form; the two-loop recursion (N&W 7.4),
    # written out here, applies the same matrix
    from fastdl.optim._minimize import _Memory

    def two_loop(g, S, Y, gamma):
        q, al = g.copy(), []
        for s, y in zip(S[::-1], Y[::-1]):
            al.append((s @ q) / (s @ y))
            q -= al[-1] * y
        r = gamma * q
        for (s, y), a in zip(zip(S, Y), al[::-1]):
            r += (a - (y @ r) / (s @ y)) * s
        return -r

    rng = np.random.default_rng(0)
    n, m = 9, 4
    A = rng.standard_normal((n, n))
    A = A @ A.T + np.eye(n)
    mem, S, Y = _Memory(m, n), [], []
    for _ in range(7):  # more pairs than m: the oldest are dropped
        s = rng.standard_normal(n)
        y = A @ s + 0.1 * rng.standard_normal(n)
        mem.push(s, y, float(s @ y))
        S, Y = (S + [s])[-m:], (Y + [y])[-m:]
        g = rng.standard_normal(n)
        expected = two_loop(g, S, Y, (s @ y) / (y @ y))
        np.testing.assert_allclose(mem.direction(g), expected, rtol=1e-10, atol=1e-12)
    mem.clear()
    assert np.array_equal(mem.direction(g), -g)
