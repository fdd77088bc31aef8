"""Tests for fastdl.linear_model.LogisticRegression (scipy and scikit-learn as oracles)."""

import warnings

import numpy as np
import pytest

import fastdl
from fastdl.linear_model import (ConvergenceWarning, LogisticRegression, NotFittedError,
                                 _LogisticLoss)

SOLVERS = ["newton", "bfgs", "lbfgs", "cg", "gd", "sgd", "adam"]
# enough iterations for the first-order baselines to reach tol
MAX_ITER = {"gd": 20000, "sgd": 20000, "adam": 50000}


def _data(n=200, p=5, k=2, seed=0, scale=1.0):
    """Overlapping classes (no separating hyperplane), features of mixed scale."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.linspace(0.5, 2.0, p) * scale
    W = rng.standard_normal((k, p))
    Z = X @ W.T / scale + rng.gumbel(size=(n, k)) * 1.5
    y = Z.argmax(axis=1)
    return X, y


# --- the objective, written out independently of the code under test --------------------

def sk_objective(coef, intercept, X, y, C, penalty="l2"):
    """scikit-learn's objective: C * sum of log-losses + penalty(coef)."""
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = Z[:, 0]
        loss = np.sum(np.logaddexp(0, z) - y * z)
    else:
        m = Z.max(axis=1)
        lse = m + np.log(np.exp(Z - m[:, None]).sum(axis=1))
        loss = np.sum(lse - Z[np.arange(len(y)), y])
    pen = {"l2": 0.5 * np.sum(coef**2), "l1": np.sum(np.abs(coef)), None: 0.0}[penalty]
    return C * loss + pen


def scipy_optimum(X, y, C, k, penalty="l2"):
    """The minimum of sk_objective by scipy's L-BFGS-B, to a tight tolerance.

    L1 is solved smoothly by splitting coef = u - v with u, v >= 0 (bounds).
    """
    optimize = pytest.importorskip("scipy.optimize")
    n, p = X.shape
    K = 1 if k == 2 else k
    Y = np.eye(k)[y] if K > 1 else y[:, None].astype(float)
    split = penalty == "l1"

    def unpack(theta):
        if split:
            u, v, b = theta[:K * p], theta[K * p:2 * K * p], theta[2 * K * p:]
            return (u - v).reshape(K, p), b, u, v
        return theta[:K * p].reshape(K, p), theta[K * p:], None, None

    def fg(theta):
        W, b, u, v = unpack(theta)
        Z = X @ W.T + b
        if K == 1:
            P = 1 / (1 + np.exp(-Z))
            loss = np.sum(np.logaddexp(0, Z) - Y * Z)
        else:
            m = Z.max(axis=1, keepdims=True)
            E = np.exp(Z - m)
            P = E / E.sum(axis=1, keepdims=True)
            loss = np.sum(m[:, 0] + np.log(E.sum(axis=1)) - np.sum(Y * Z, axis=1))
        GW, gb = C * (P - Y).T @ X, C * (P - Y).sum(axis=0)
        if split:
            return C * loss + u.sum() + v.sum(), np.concatenate(
                [(GW + 1).ravel(), (-GW + 1).ravel(), gb])
        f = C * loss + (0.5 * np.sum(W**2) if penalty == "l2" else 0.0)
        return f, np.concatenate([(GW + (W if penalty == "l2" else 0)).ravel(), gb])

    size = (2 if split else 1) * K * p + K
    bounds = [(0, None)] * (2 * K * p) + [(None, None)] * K if split else None
    res = optimize.minimize(fg, np.zeros(size), jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"gtol": 1e-11, "ftol": 1e-15, "maxiter": 20000,
                                     "maxcor": 30})
    return res.fun


# --- the same optimum as scipy ------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("solver", SOLVERS)
def test_l2_optimum_matches_scipy(solver, k):
    X, y = _data(k=k)
    fstar = scipy_optimum(X, y, 0.5, k)
    m = LogisticRegression(C=0.5, solver=solver, max_iter=MAX_ITER.get(solver, 1000)).fit(X, y)
    assert m.coef_.shape == (1 if k == 2 else k, 5)
    f = sk_objective(m.coef_, m.intercept_, X, y, 0.5)
    assert abs(f - fstar) <= 1e-6 * abs(fstar), (f, fstar)


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("k", [2, 3])
def test_l1_optimum_matches_scipy(solver, k):
    X, y = _data(k=k, seed=1)
    C = 0.02
    fstar = scipy_optimum(X, y, C, k, penalty="l1")
    m = LogisticRegression(penalty="l1", C=C, solver=solver, max_iter=20000).fit(X, y)
    f = sk_objective(m.coef_, m.intercept_, X, y, C, penalty="l1")
    assert abs(f - fstar) <= 1e-6 * abs(fstar), (f, fstar)
    assert 0 < np.sum(m.coef_ == 0) < m.coef_.size  # exact zeros, not all of them


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "bfgs"])
def test_no_penalty_matches_scipy(solver):
    X, y = _data(n=300, seed=2)
    fstar = scipy_optimum(X, y, 1.0, 2, penalty=None)
    m = LogisticRegression(penalty=None, solver=solver).fit(X, y)
    f = sk_objective(m.coef_, m.intercept_, X, y, 1.0, penalty=None)
    assert abs(f - fstar) <= 1e-6 * abs(fstar)


def test_l1_solvers_agree_and_satisfy_kkt():
    X, y = _data(k=2, seed=3)
    C = 0.05
    fits = [LogisticRegression(penalty="l1", C=C, solver=s, tol=1e-9, max_iter=50000).fit(X, y)
            for s in ("lbfgs", "gd")]
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-6)
    w, b = fits[0].coef_[0], fits[0].intercept_[0]
    r = 1 / (1 + np.exp(-(X @ w + b))) - y
    g = C * X.T @ r  # gradient of the loss part; the penalty is |w|_1
    nz = w != 0
    np.testing.assert_allclose(g[nz], -np.sign(w[nz]), atol=1e-5)
    assert np.all(np.abs(g[~nz]) <= 1 + 1e-5)
    assert abs(C * r.sum()) < 1e-5  # the intercept is not penalised


# --- the same coefficients as scikit-learn ------------------------------------------------

@pytest.fixture(scope="module")
def breast_cancer():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


@pytest.fixture(scope="module")
def sk_breast_cancer(breast_cancer):
    sklm = pytest.importorskip("sklearn.linear_model")
    X, y = breast_cancer
    return sklm.LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(X, y)


@pytest.mark.parametrize("solver", SOLVERS)
def test_breast_cancer_matches_sklearn(breast_cancer, sk_breast_cancer, solver):
    X, y = breast_cancer
    sk = sk_breast_cancer
    # |coef - coef*| <= |g| / lambda_min, lambda_min >= 1/(C n) = 1/569: tol 1e-8 keeps
    # the error near 6e-6, well inside 1e-4 (tol 1e-7 for the slow first-order ones)
    tol = 1e-7 if solver in ("sgd", "adam") else 1e-8
    m = LogisticRegression(C=1.0, solver=solver, tol=tol,
                           max_iter=MAX_ITER.get(solver, 1000)).fit(X, y)
    assert m.coef_.shape == sk.coef_.shape == (1, 30) and m.intercept_.shape == (1,)
    np.testing.assert_allclose(m.coef_, sk.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(m.intercept_, sk.intercept_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(m.predict(X), sk.predict(X))
    assert m.score(X, y) == sk.score(X, y)
    assert m.n_iter_.shape == (1,) and m.n_iter_.dtype == np.int32 and m.n_iter_[0] > 0


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_iris_multinomial_matches_sklearn(solver, fit_intercept):
    datasets = pytest.importorskip("sklearn.datasets")
    sklm = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    sk = sklm.LogisticRegression(C=2.0, tol=1e-10, max_iter=10000,
                                 fit_intercept=fit_intercept).fit(X, y)
    m = LogisticRegression(C=2.0, solver=solver, tol=1e-9,
                           fit_intercept=fit_intercept).fit(X, y)
    assert m.coef_.shape == (3, 4) and m.intercept_.shape == (3,)
    np.testing.assert_allclose(m.coef_, sk.coef_, atol=1e-4)
    np.testing.assert_allclose(m.intercept_ - m.intercept_.mean(),
                               sk.intercept_ - sk.intercept_.mean(), atol=1e-4)
    np.testing.assert_allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(m.decision_function(X) - m.intercept_.mean(),
                               sk.decision_function(X) - sk.intercept_.mean(), atol=1e-4)
    if not fit_intercept:
        assert np.all(m.intercept_ == 0)


# --- the loss, gradient and Hessian (the documented formulas) ------------------------------

@pytest.mark.parametrize("k,fit_intercept", [(2, True), (2, False), (3, True), (4, False)])
def test_gradient_hessian_and_hessp_by_finite_differences(k, fit_intercept):
    X, y = _data(n=40, p=3, k=k, seed=5)
    loss = _LogisticLoss(X, y, k, fit_intercept, alpha=0.3)
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(loss.dim)
    f, g = loss.loss_grad(theta)
    # f against the independent formula (mean-scaled: f = objective / (C n), C = 1/(alpha n))
    K = 1 if k == 2 else k
    Wa = theta.reshape(K, -1)
    coef, b = Wa[:, :3], (Wa[:, 3] if fit_intercept else np.zeros(K))
    C = 1 / (0.3 * 40)
    assert f == pytest.approx(sk_objective(coef, b, X, y, C) / (C * 40), rel=1e-12)
    h = 1e-6
    eye = np.eye(loss.dim)
    fd_g = np.array([(loss.loss_grad(theta + h * e)[0] - loss.loss_grad(theta - h * e)[0])
                     / (2 * h) for e in eye])
    np.testing.assert_allclose(g, fd_g, atol=1e-8)
    H = loss.hess(theta)
    fd_H = np.array([(loss.loss_grad(theta + h * e)[1] - loss.loss_grad(theta - h * e)[1])
                     / (2 * h) for e in eye])
    np.testing.assert_allclose(H, fd_H, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    v = rng.standard_normal(loss.dim)
    np.testing.assert_allclose(loss.hessp(theta, v), H @ v, atol=1e-12)
    # the Lipschitz bound of the fixed-step solvers bounds the Hessian's spectrum
    assert loss.lipschitz() >= np.linalg.eigvalsh(H).max()


def test_newton_cg_path_for_many_unknowns(monkeypatch):
    # above the full-Hessian size, "newton" runs Newton-CG on Hessian-vector products
    import fastdl.linear_model as lm
    X, y = _data(n=150, p=4, k=3, seed=6)
    full = LogisticRegression(solver="newton", tol=1e-9).fit(X, y)
    monkeypatch.setattr(lm, "_FULL_HESSIAN_MAX", 5)
    ncg = LogisticRegression(solver="newton", tol=1e-9).fit(X, y)
    np.testing.assert_allclose(ncg.coef_, full.coef_, atol=1e-7)


# --- numerics at large margins ------------------------------------------------------------

@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_large_margins_do_not_overflow(solver):
    # features of size 1e4 give margins of 1e4 and more: exp would overflow
    X, y = _data(n=100, p=3, seed=7, scale=1e4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning
        m = LogisticRegression(solver=solver, C=10.0, max_iter=5000, tol=1e-7).fit(X, y)
        P = m.predict_proba(X * 100)
        logP = m.predict_log_proba(X * 100)
    assert np.all(np.isfinite(m.coef_)) and np.all(np.isfinite(logP))
    assert np.all((P >= 0) & (P <= 1)) and np.allclose(P.sum(axis=1), 1)
    assert np.all(logP <= 0)
    loss = _LogisticLoss(np.array([[1.0], [-1.0]]), np.array([0, 1]), 2, False, 0.0)
    f, g = loss.loss_grad(np.array([1000.0]))  # log(1 + e^1000) = 1000 exactly
    assert f == pytest.approx(1000.0) and np.all(np.isfinite(g))


# --- the estimator API ---------------------------------------------------------------------

def test_labels_api_and_shapes():
    X, y = _data(k=3, seed=8)
    names = np.array(["cat", "dog", "emu"])[y]
    m = LogisticRegression().fit(X, names)
    assert list(m.classes_) == ["cat", "dog", "emu"]
    assert m.predict(X).dtype == names.dtype and set(m.predict(X)) <= set(m.classes_)
    P = m.predict_proba(X)
    assert P.shape == (200, 3) and np.allclose(P.sum(axis=1), 1)
    assert m.decision_function(X).shape == (200, 3)
    np.testing.assert_array_equal(m.classes_[P.argmax(axis=1)], m.predict(X))
    assert m.score(X, names) == np.mean(m.predict(X) == names) > 0.5
    assert m.n_features_in_ == 5
    b = LogisticRegression().fit(X, y == 1)
    assert b.decision_function(X).shape == (200,) and b.coef_.shape == (1, 5)
    assert list(b.classes_) == [False, True]
    np.testing.assert_array_equal(b.predict(X), b.decision_function(X) > 0)
    assert m.get_params() == {"penalty": "l2", "C": 1.0, "solver": "lbfgs", "tol": 1e-6,
                              "max_iter": 1000, "fit_intercept": True}
    assert m.set_params(C=2.0) is m and m.C == 2.0
    assert "LogisticRegression(penalty='l2', C=2.0" in repr(m)


def test_fit_intercept_false_matches_scipy():
    X, y = _data(seed=9)
    m = LogisticRegression(fit_intercept=False, solver="newton", tol=1e-9).fit(X, y)
    assert np.array_equal(m.intercept_, [0.0])
    optimize = pytest.importorskip("scipy.optimize")
    res = optimize.minimize(lambda w: sk_objective(w[None], 0.0, X, y, 1.0), np.zeros(5),
                            method="BFGS", options={"gtol": 1e-10})
    assert sk_objective(m.coef_, 0.0, X, y, 1.0) == pytest.approx(res.fun, rel=1e-8)


def test_convergence_warning():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        m = LogisticRegression(solver="gd", max_iter=3).fit(X, y)
    assert m.n_iter_[0] == 3 and np.all(np.isfinite(m.coef_))
    with pytest.warns(ConvergenceWarning):
        LogisticRegression(solver="adam", max_iter=5).fit(X, y)


def test_linear_model_is_public():
    assert fastdl.linear_model.LogisticRegression is LogisticRegression
    assert "linear_model" in fastdl.__all__


# --- bad input ----------------------------------------------------------------------------

def test_bad_data():
    X, y = _data()
    with pytest.raises(ValueError, match="X and y have different numbers of samples"):
        LogisticRegression().fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least two classes"):
        LogisticRegression().fit(X, np.zeros(200))
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        LogisticRegression().fit(Xn, y)
    Xn[3, 2] = np.inf
    with pytest.raises(ValueError, match="X contains NaN"):
        LogisticRegression().fit(Xn, y)
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        LogisticRegression().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="y must be a 1-D"):
        LogisticRegression().fit(X, y[:, None])
    with pytest.raises(TypeError, match="X must hold real numbers"):
        LogisticRegression().fit(X.astype(complex), y)


def test_bad_parameters():
    X, y = _data()
    for solver in ("newton", "bfgs", "cg", "sgd", "adam"):
        with pytest.raises(ValueError, match="penalty='l1' needs solver 'lbfgs'"):
            LogisticRegression(penalty="l1", solver=solver).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        LogisticRegression(solver="liblinear").fit(X, y)
    with pytest.raises(ValueError, match="penalty"):
        LogisticRegression(penalty="elasticnet").fit(X, y)
    for C in (0, -1.0, np.inf):
        with pytest.raises(ValueError, match="C must be a positive number"):
            LogisticRegression(C=C).fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        LogisticRegression(max_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="tol"):
        LogisticRegression(tol=-1).fit(X, y)
    with pytest.raises(ValueError, match="invalid parameter 'alpha'"):
        LogisticRegression().set_params(alpha=1)


def test_predict_before_fit_and_wrong_width():
    X, y = _data()
    with pytest.raises(NotFittedError, match="not fitted"):
        LogisticRegression().predict(X)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    m = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but the model was fitted with 5"):
        m.predict_proba(X[:, :4])
    with pytest.raises(ValueError, match="score: y has shape"):
        m.score(X, y[:10])
