r"""Logistic regression (binary and multinomial) with every solver of :mod:`fastdl.optim`.

The objective is scikit-learn's. With :math:`z_i = x_i^T w + b` and labels
:math:`y_i \in \{0, 1\}` (1 for ``classes_[1]``), the binary cross-entropy of
:math:`\sigma(z_i) = 1 / (1 + e^{-z_i})` is

.. math::

    \ell_i = -y_i \log\sigma(z_i) - (1 - y_i)\log(1 - \sigma(z_i))
           = \log(1 + e^{z_i}) - y_i z_i,

and ``LogisticRegression`` minimises :math:`C \sum_i \ell_i + R(w)` with
:math:`R = \tfrac12\|w\|^2` (``penalty="l2"``), :math:`\|w\|_1` (``"l1"``) or 0
(``None``); the intercept :math:`b` is never penalised. With more than two classes the
loss is the multinomial (softmax) cross-entropy
:math:`\ell_i = \log\sum_k e^{z_{ik}} - z_{i y_i}`, :math:`z_{ik} = x_i^T w_k + b_k`,
with :math:`R` summed over every class's :math:`w_k`.

The solvers minimise the same objective divided by :math:`Cn`, i.e. the mean loss plus
:math:`R(w)/(Cn)` -- the optimum is the same, and, as in scikit-learn's "lbfgs" and
"newton-cg" solvers, ``tol`` bounds the inf-norm of *this* gradient, so it does not
grow with n. Written out for the binary L2 case, :math:`\alpha = 1/(Cn)`,
:math:`p_i = \sigma(z_i)`:

.. math::

    f(w, b) &= \frac1n \sum_i \left[\log(1 + e^{z_i}) - y_i z_i\right]
               + \frac\alpha2 \|w\|^2 \\
    \nabla_w f &= \frac1n X^T (p - y) + \alpha w, \qquad
    \partial_b f = \frac1n \sum_i (p_i - y_i) \\
    \nabla^2 f &= \frac1n \tilde X^T D \tilde X + \alpha \begin{pmatrix} I & 0 \\ 0 & 0
                  \end{pmatrix}, \quad D = \operatorname{diag}(p_i (1 - p_i)),
                  \quad \tilde X = [X, 1]

and for the multinomial case (:math:`P = \operatorname{softmax}(Z)`, :math:`Y` one-hot)
:math:`\nabla_W f = \frac1n (P - Y)^T X + \alpha W`, and the Hessian block of classes
:math:`k, l` is :math:`\frac1n \tilde X^T \operatorname{diag}(p_k (\delta_{kl} - p_l))
\tilde X` (+ :math:`\alpha I` on the weights when :math:`k = l`). The softplus
:math:`\log(1 + e^z) = \max(z, 0) + \log(1 + e^{-|z|})` and the log-sum-exp (shifted
by the row maximum) never overflow, whatever the margins.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from fastdl.nn import Parameter
from fastdl.optim import SGD, Adam
from fastdl.optim._minimize import minimize

__all__ = ["LogisticRegression", "ConvergenceWarning", "NotFittedError"]

SOLVERS = ("newton", "bfgs", "lbfgs", "cg", "gd", "sgd", "adam")
L1_SOLVERS = ("lbfgs", "gd")  # OWL-QN and proximal gradient
PENALTIES = ("l2", "l1", None)
_FULL_HESSIAN_MAX = 1000  # "newton": the full Hessian up to this many unknowns, else Newton-CG


class ConvergenceWarning(UserWarning):
    """The solver stopped before the gradient reached ``tol`` (like scikit-learn's)."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before :meth:`fit`."""


class _LogisticLoss:
    """The mean-scaled objective, its gradient, Hessian and Hessian-vector products.

    The unknowns are ``theta = Wa.ravel()`` with ``Wa`` of shape ``(K, p + 1)``
    (``[w_k, b_k]`` per row; ``(K, p)`` without intercept); K = 1 is the binary model.
    ``y`` holds class indices (0/1 for binary). ``alpha`` is the L2 strength
    ``1/(Cn)`` (0 for the L1 and unpenalised objectives: the L1 term is the solver's).
    """

    def __init__(self, X, y, n_classes, fit_intercept, alpha):
        self.X, self.y = X, y
        self.n, self.p = X.shape
        self.K = 1 if n_classes == 2 else n_classes
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.p1 = self.p + int(fit_intercept)
        self.dim = self.K * self.p1
        self._cached = None  # (theta, p or P) of the last evaluation
        if self.K == 1:
            self.yf = y.astype(np.float64)
        else:
            self.rows = np.arange(self.n)

    def _split(self, theta):
        Wa = theta.reshape(self.K, self.p1)
        W = Wa[:, :self.p]
        b = Wa[:, self.p] if self.fit_intercept else np.zeros(self.K)
        return W, b

    def _join(self, gW, gb):
        if self.fit_intercept:
            return np.concatenate([gW, gb[:, None]], axis=1).ravel()
        return np.ascontiguousarray(gW).ravel()

    def loss_grad(self, theta):
        """(f, gradient) at theta."""
        W, b = self._split(theta)
        n, X, alpha = self.n, self.X, self.alpha
        if self.K == 1:
            w = W[0]
            z = X @ w
            z += b[0]
            e = np.exp(-np.abs(z))
            softplus = np.log1p(e)
            softplus += np.maximum(z, 0.0)
            f = (float(softplus.sum()) - float(self.yf @ z)) / n
            e1 = e + 1.0
            prob = np.where(z >= 0, 1.0, e) / e1  # sigmoid(z) without overflow
            r = prob - self.yf
            gw = X.T @ r
            gw *= 1.0 / n
            if alpha:
                gw += alpha * w
                f += 0.5 * alpha * float(w @ w)
            self._cached = (theta.copy(), prob)
            return f, (np.append(gw, r.sum() / n) if self.fit_intercept else gw)
        else:
            Z = X @ W.T + b
            m = Z.max(axis=1, keepdims=True)
            E = np.exp(Z - m)
            s = E.sum(axis=1, keepdims=True)
            f = float(np.mean(m[:, 0] + np.log(s[:, 0]) - Z[self.rows, self.y]))
            prob = E / s
            R = prob.copy()
            R[self.rows, self.y] -= 1.0
            R /= n
            gW = R.T @ X + alpha * W
            gb = R.sum(axis=0)
        if alpha:
            f += 0.5 * alpha * float(np.sum(W * W))
        self._cached = (theta.copy(), prob)
        return f, self._join(gW, gb)

    def _prob(self, theta):
        if self._cached is None or not np.array_equal(self._cached[0], theta):
            self.loss_grad(theta)
        return self._cached[1]

    def hess(self, theta):
        """The full Hessian (dim, dim) at theta."""
        prob = self._prob(theta)
        X, n, K, p, p1 = self.X, self.n, self.K, self.p, self.p1
        H = np.empty((self.dim, self.dim))
        if K == 1:
            weights = {(0, 0): prob * (1.0 - prob)}
        else:
            weights = {(k, l): prob[:, k] * ((k == l) - prob[:, l])
                       for k in range(K) for l in range(k, K)}
        for (k, l), dkl in weights.items():
            dkl = dkl / n
            block = np.empty((p1, p1))
            if k == l:  # dkl >= 0: A'A, A = sqrt(dkl) X, which BLAS does as syrk (half the flops)
                A = X * np.sqrt(dkl)[:, None]
                block[:p, :p] = A.T @ A
            else:
                block[:p, :p] = X.T @ (X * dkl[:, None])
            if k == l:
                block[:p, :p][np.diag_indices(p)] += self.alpha
            if self.fit_intercept:
                block[:p, p] = block[p, :p] = X.T @ dkl
                block[p, p] = dkl.sum()
            H[k * p1:(k + 1) * p1, l * p1:(l + 1) * p1] = block
            H[l * p1:(l + 1) * p1, k * p1:(k + 1) * p1] = block.T
        return H

    def hessp(self, theta, v):
        """The Hessian at theta times v (dim,)."""
        prob = self._prob(theta)
        Vw, vb = self._split(v)
        X, n = self.X, self.n
        if self.K == 1:
            r = prob * (1.0 - prob) * (X @ Vw[0] + vb[0]) / n
            hW = (X.T @ r + self.alpha * Vw[0])[None, :]
            hb = np.array([r.sum()])
        else:
            Zv = X @ Vw.T + vb
            R = prob * (Zv - np.sum(prob * Zv, axis=1, keepdims=True)) / n
            hW = R.T @ X + self.alpha * Vw
            hb = R.sum(axis=0)
        return self._join(hW, hb)

    def lipschitz(self):
        """An upper bound of the gradient's Lipschitz constant (for the fixed-step solvers).

        The loss's Hessian is at most (1/4n) X~'X~ (binary: p(1-p) <= 1/4) or
        (1/2n) X~'X~ per class (Boehning's bound diag(p) - pp' <= I/2), so L <=
        c |X~|_2^2 / n + alpha; |X~|_2 by power iteration (30 steps, then 5% margin).
        """
        X = self.X
        v = np.ones(self.p1) / np.sqrt(self.p1)
        lam = 0.0
        for _ in range(30):
            u = X @ v[:self.p] + (v[self.p] if self.fit_intercept else 0.0)
            w = X.T @ u
            if self.fit_intercept:
                w = np.append(w, u.sum())
            lam = float(np.linalg.norm(w))
            if lam == 0.0:
                break
            v = w / lam
        c = 0.25 if self.K == 1 else 0.5
        return 1.05 * c * lam / self.n + self.alpha


def _check_X(X, who):
    if hasattr(X, "toarray"):
        raise TypeError(f"{who}: sparse matrices are not supported; pass a dense array")
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: X must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{who}: X must be a 2-D array (n_samples, n_features), got shape "
                         f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{who}: X contains NaN or infinity")
    return np.ascontiguousarray(arr, dtype=np.float64)


class LogisticRegression:
    """Logistic regression with scikit-learn's API, objective and conventions.

    Parameters
    ----------
    penalty : {"l2", "l1", None}, default "l2"
        The penalty on the weights (never on the intercept).
    C : float, default 1.0
        The inverse regularisation strength: the objective is
        ``C * sum(log-losses) + R(w)`` with ``R = ||w||^2 / 2`` or ``||w||_1``.
    solver : {"lbfgs", "newton", "bfgs", "cg", "gd", "sgd", "adam"}, default "lbfgs"
        ``"newton"``: :func:`fastdl.optim.minimize`'s Newton with the exact Hessian
        (Cholesky) when there are at most 1000 unknowns, Newton-CG with exact
        Hessian-vector products beyond. ``"bfgs"``, ``"lbfgs"``, ``"cg"``, ``"gd"``:
        those methods of :func:`~fastdl.optim.minimize`. ``"sgd"`` / ``"adam"``:
        full-batch steps of :class:`fastdl.optim.SGD` (lr = 1/L from a bound of the
        gradient's Lipschitz constant, Nesterov momentum 0.9) and
        :class:`fastdl.optim.Adam` (lr = 0.01, AMSGrad, so that its steps shrink
        with the gradient); these first-order baselines need many more iterations.
        With ``penalty="l1"`` only ``"lbfgs"`` (OWL-QN) and ``"gd"`` (proximal
        gradient) apply; other solvers raise ValueError.
    tol : float, default 1e-6
        Stop when the inf-norm of the gradient of the mean-scaled objective (the
        objective divided by C * n_samples; for L1 its minimum-norm subgradient) is
        <= tol.
    max_iter : int, default 1000
        The most solver iterations.
    fit_intercept : bool, default True
        Fit the (unpenalised) intercept.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The sorted labels; ``classes_[1]`` is the positive class of a binary model.
    coef_ : ndarray (1, n_features) or (n_classes, n_features), float64
    intercept_ : ndarray (1,) or (n_classes,), float64
        Zeros when ``fit_intercept=False``. Multinomial intercepts are shifted to sum
        to 0 (softmax is unchanged by a common shift, so the unpenalised intercepts
        are only defined up to one).
    n_iter_ : ndarray (1,), int32
        Solver iterations.
    n_features_in_ : int

    Notes
    -----
    The loss, gradient and Hessian are written out in the module docstring
    (:mod:`fastdl.linear_model`). A run that stops before reaching ``tol`` warns with
    :class:`ConvergenceWarning` and keeps the last iterate.
    """

    def __init__(self, penalty="l2", C=1.0, solver="lbfgs", tol=1e-6, max_iter=1000,
                 fit_intercept=True):
        self.penalty = penalty
        self.C = C
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.fit_intercept = fit_intercept

    # --- scikit-learn's estimator protocol ---------------------------------------------
    _PARAMS = ("penalty", "C", "solver", "tol", "max_iter", "fit_intercept")

    def get_params(self, deep=True):
        """The constructor's arguments, as a dict."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        """Set constructor arguments; unknown names are a ValueError."""
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ValueError(f"LogisticRegression.set_params: invalid parameter {k!r}; "
                                 f"valid parameters: {list(self._PARAMS)}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS)
        return f"LogisticRegression({args})"

    def _check_params(self):
        if self.penalty not in PENALTIES:
            raise ValueError(f"LogisticRegression: penalty must be one of {PENALTIES}, got "
                             f"{self.penalty!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"LogisticRegression: solver must be one of {SOLVERS}, got "
                             f"{self.solver!r}")
        if self.penalty == "l1" and self.solver not in L1_SOLVERS:
            raise ValueError(f"LogisticRegression: penalty='l1' needs solver 'lbfgs' "
                             f"(OWL-QN) or 'gd' (proximal gradient), got {self.solver!r}")
        if not (isinstance(self.C, numbers.Real) and self.C > 0 and np.isfinite(self.C)):
            raise ValueError(f"LogisticRegression: C must be a positive number, got {self.C!r}")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"LogisticRegression: tol must be a number >= 0, got {self.tol!r}")
        if (isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral)
                or self.max_iter < 1):
            raise ValueError(f"LogisticRegression: max_iter must be an int >= 1, got "
                             f"{self.max_iter!r}")

    # --- fit ---------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit the model to X (n_samples, n_features) and labels y (n_samples,)."""
        self._check_params()
        X = _check_X(X, "LogisticRegression.fit")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"LogisticRegression.fit: y must be a 1-D array of labels, got "
                             f"shape {y.shape}")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"LogisticRegression.fit: X and y have different numbers of "
                             f"samples: X has {X.shape[0]}, y has {y.shape[0]}")
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("LogisticRegression.fit: y contains NaN or infinity")
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError("LogisticRegression.fit: y must hold at least two classes, got "
                             f"one ({classes[0]!r})" if classes.size else
                             "LogisticRegression.fit: y is empty")
        n, p = X.shape
        scale = 1.0 / (self.C * n)
        alpha = scale if self.penalty == "l2" else 0.0
        loss = _LogisticLoss(X, y_idx.reshape(-1), classes.size, self.fit_intercept, alpha)
        theta0 = np.zeros(loss.dim)
        if self.solver in ("sgd", "adam"):
            theta, nit, ok, message = self._fit_first_order(loss, theta0)
        else:
            kw, options = {}, None
            if self.solver == "newton":
                if loss.dim <= _FULL_HESSIAN_MAX:
                    kw["hess"] = loss.hess
                else:
                    kw["hessp"] = loss.hessp
            if self.penalty == "l1":
                lam = np.full((loss.K, loss.p1), scale)
                if self.fit_intercept:
                    lam[:, p] = 0.0
                options = {"l1": lam.ravel()}
            res = minimize(loss.loss_grad, theta0, jac=True, method=self.solver,
                           tol=self.tol, max_iter=self.max_iter, options=options, **kw)
            theta, nit, ok, message = res.x, res.nit, res.success, res.message
        if not ok:
            warnings.warn(f"LogisticRegression (solver={self.solver!r}) did not converge: "
                          f"{message}", ConvergenceWarning, stacklevel=2)
        W, b = loss._split(theta)
        if loss.K > 1 and self.fit_intercept:
            b = b - b.mean()
        self.classes_ = classes
        self.coef_ = np.array(W)
        self.intercept_ = np.array(b, dtype=np.float64)
        self.n_iter_ = np.array([nit], dtype=np.int32)
        self.n_features_in_ = p
        return self

    def _fit_first_order(self, loss, theta0):
        """Full-batch SGD (Nesterov) or Adam (AMSGrad) steps until the gradient is <= tol."""
        param = Parameter(theta0.copy())
        if self.solver == "sgd":
            opt = SGD([param], lr=1.0 / loss.lipschitz(), momentum=0.9, nesterov=True)
        else:
            opt = Adam([param], lr=0.01, amsgrad=True)
        message = f"max_iter={self.max_iter} iterations reached"
        for it in range(self.max_iter + 1):
            f, g = loss.loss_grad(param.data)
            if not (np.isfinite(f) and np.all(np.isfinite(g))):
                return param.data, it, False, "the loss or its gradient became non-finite"
            if np.max(np.abs(g)) <= self.tol:
                return param.data, it, True, ""
            if it == self.max_iter:
                break
            param.grad = g
            opt.step()
        return param.data, self.max_iter, False, message

    # --- prediction --------------------------------------------------------------------
    def _check_fitted(self, X, who):
        if not hasattr(self, "coef_"):
            raise NotFittedError(f"LogisticRegression.{who}: this model is not fitted yet; "
                                 "call fit first")
        X = _check_X(X, f"LogisticRegression.{who}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"LogisticRegression.{who}: X has {X.shape[1]} features, but the "
                             f"model was fitted with {self.n_features_in_}")
        return X

    def decision_function(self, X):
        """Scores: (n_samples,) for a binary model (> 0 means classes_[1]), else
        (n_samples, n_classes)."""
        X = self._check_fitted(X, "decision_function")
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """Log class probabilities (n_samples, n_classes), computed without overflow."""
        X = self._check_fitted(X, "predict_log_proba")
        scores = X @ self.coef_.T + self.intercept_
        if scores.shape[1] == 1:
            z = scores[:, 0]
            softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
            return np.stack([-softplus, z - softplus], axis=1)  # log(1-sigma), log(sigma)
        m = scores.max(axis=1, keepdims=True)
        return scores - (m + np.log(np.exp(scores - m).sum(axis=1, keepdims=True)))

    def predict(self, X):
        """The predicted labels (n_samples,), taken from ``classes_``."""
        scores = self.decision_function(X)
        idx = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    def score(self, X, y):
        """The mean accuracy on (X, y)."""
        y = np.asarray(y)
        pred = self.predict(X)
        if y.shape != pred.shape:
            raise ValueError(f"LogisticRegression.score: y has shape {y.shape}, expected "
                             f"{pred.shape} (one label per row of X)")
        return float(np.mean(pred == y))
