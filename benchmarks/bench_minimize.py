"""minimize and LogisticRegression: fastdl vs scipy.optimize.minimize vs scikit-learn.

Run:  pytest benchmarks/bench_minimize.py --benchmark-enable --benchmark-group-by=group \
          --benchmark-columns=median,iqr,rounds
or, for one interleaved table with the evaluation counts (medians of 7 runs):
      python benchmarks/bench_minimize.py

Problem: L2-penalised logistic regression (C = 1), scikit-learn's objective divided by
C * n (its "lbfgs" solver minimises the same scaled function), on breast-cancer
(569 x 30, standardised) and on a synthetic 100,000 x 100 problem (Gaussian features
with scales from 0.5 to 2, so not trivially conditioned). Every method stops at the
same tolerance: the gradient's inf-norm <= 1e-6. fastdl's methods and scipy's get the
very same Python function (loss and gradient in one call; the Hessian or Hessian-vector
product where used), so their evaluation counts compare directly. scipy's Newton-CG has
no gradient test; it gets xtol = 1e-9 and its final gradient is recorded. scikit-learn
is timed through its own LogisticRegression.fit (its Cython loss), against fastdl's
LogisticRegression.fit; both include input checks. Thread counts are set for all of
them (BLAS and OpenMP, via threadpoolctl) in each group ("-t1", "-t2").
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

from fastdl.linear_model import LogisticRegression, _LogisticLoss
from fastdl.optim import minimize

TOL = 1e-6


@functools.lru_cache(maxsize=None)
def problem(name):
    """(X, y) of the named problem."""
    if name == "breast_cancer":
        datasets = pytest.importorskip("sklearn.datasets")
        X, y = datasets.load_breast_cancer(return_X_y=True)
        return (X - X.mean(axis=0)) / X.std(axis=0), y
    rng = np.random.default_rng(0)
    n, p = 100_000, 100
    scales = np.geomspace(0.5, 2.0, p)
    X = rng.standard_normal((n, p)) * scales
    w = rng.standard_normal(p) / scales * 3 / np.sqrt(p)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w + 0.5)))).astype(np.int64)
    return X, y


@functools.lru_cache(maxsize=None)
def objective(name):
    X, y = problem(name)
    return _LogisticLoss(X, y, 2, True, alpha=1.0 / len(y))


@functools.lru_cache(maxsize=None)
def fstar(name):
    loss = objective(name)
    return minimize(loss.loss_grad, np.zeros(loss.dim), jac=True, hess=loss.hess,
                    method="newton", tol=1e-12).fun


def _run(name, impl):
    """One solve; returns a dict: fun, grad (inf-norm), nfev, nit (where known)."""
    loss = objective(name)
    x0 = np.zeros(loss.dim)
    lib, method = impl.split(":")
    if lib == "fastdl":
        kw = {"hess": loss.hess} if method == "newton" else {}
        r = minimize(loss.loss_grad, x0, jac=True, method=method, tol=TOL, **kw)
        return dict(fun=r.fun, grad=np.abs(r.jac).max(), nfev=r.nfev, nhev=r.nhev, nit=r.nit)
    if lib == "scipy":
        optimize = pytest.importorskip("scipy.optimize")
        opts = {"L-BFGS-B": {"gtol": TOL, "ftol": 0.0, "maxiter": 10000},
                "BFGS": {"gtol": TOL, "maxiter": 10000},
                "Newton-CG": {"xtol": 1e-9, "maxiter": 10000}}[method]
        kw = {"hessp": loss.hessp} if method == "Newton-CG" else {}
        r = optimize.minimize(loss.loss_grad, x0, jac=True, method=method, options=opts, **kw)
        g = loss.loss_grad(r.x)[1]
        return dict(fun=r.fun, grad=np.abs(g).max(), nfev=r.nfev, nhev=r.get("nhev", 0),
                    nit=r.nit)
    X, y = problem(name)
    if lib == "sklearn":
        sklm = pytest.importorskip("sklearn.linear_model")
        m = sklm.LogisticRegression(C=1.0, solver=method, tol=TOL, max_iter=10000).fit(X, y)
    else:  # "fastdl_fit"
        m = LogisticRegression(C=1.0, solver=method, tol=TOL).fit(X, y)
    theta = np.append(m.coef_[0], m.intercept_)
    f, g = loss.loss_grad(theta)
    return dict(fun=f, grad=np.abs(g).max(), nfev=None, nhev=None, nit=int(m.n_iter_[0]))


IMPLS = ["fastdl:lbfgs", "fastdl:newton", "fastdl:bfgs",
         "scipy:L-BFGS-B", "scipy:BFGS", "scipy:Newton-CG",
         "fastdl_fit:lbfgs", "fastdl_fit:newton", "sklearn:lbfgs", "sklearn:newton-cg"]
PROBLEMS = ["breast_cancer", "synthetic"]


def _check(name, out):
    # every run reached the optimum: the objective is mu-strongly convex, mu >= 1/n (the
    # L2 term), so f - f* <= |g|_2^2 / (2 mu) <= dim |g|_inf^2 n / 2
    loss = objective(name)
    assert out["fun"] - fstar(name) <= loss.dim * max(out["grad"], TOL) ** 2 * loss.n / 2, out


@pytest.fixture
def threads(request):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=request.param):
        yield request.param


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", PROBLEMS)
def test_logreg(benchmark, name, impl, threads):
    problem(name), fstar(name)  # data and f* outside the timing
    benchmark.group = f"logreg-{name}-t{threads}"
    out = benchmark.pedantic(_run, args=(name, impl), rounds=7, warmup_rounds=1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in out.items() if v is not None})
    _check(name, out)


@pytest.mark.parametrize("impl", IMPLS)
def test_every_solver_reaches_the_optimum(impl):
    # the benchmark's own result check, on the small problem (runs without timing)
    out = _run("breast_cancer", impl)
    _check("breast_cancer", out)
    if impl.startswith("fastdl:"):
        assert out["grad"] <= TOL


def main(argv=None):
    """An interleaved table: median ms of 7 runs and evaluation counts per solver."""
    from threadpoolctl import threadpool_limits

    from fastdl.bench import time_interleaved

    names = argv or PROBLEMS
    for name in names:
        problem(name), fstar(name)
        for nt in (1, 2):
            with threadpool_limits(limits=nt):
                cases = {impl: functools.partial(_run, name, impl) for impl in IMPLS}
                med = time_interleaved(cases, repeats=7)
                print(f"\n{name}, {nt} thread(s); f* = {fstar(name):.12g}")
                print(f"{'solver':<20}{'median ms':>11}{'nfev':>6}{'nhev':>6}{'nit':>6}"
                      f"{'|g|inf':>10}{'f - f*':>11}")
                for impl in IMPLS:
                    out = _run(name, impl)
                    fmt = lambda v: f"{v:>6}" if v is not None else f"{'-':>6}"  # noqa: E731
                    print(f"{impl:<20}{med[impl] * 1e3:>11.1f}{fmt(out['nfev'])}"
                          f"{fmt(out['nhev'])}{fmt(out['nit'])}{out['grad']:>10.1e}"
                          f"{out['fun'] - fstar(name):>11.1e}")


if __name__ == "__main__":
    main(sys.argv[1:])
