r"""``fastdl race``: the optimizers of the primer compared on the same problems.

(a) ``trajectories``: SGD, Momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam and NAdam
    (the fused steps of :mod:`fastdl.ops` on a 2-vector) and Newton, BFGS, L-BFGS and CG
    (:func:`fastdl.optim.minimize`) on the Rosenbrock function
    :math:`(1 - x)^2 + 100 (y - x^2)^2` and on the saddle
    :math:`x^2/2 + y^4/4 - y^2/2` (a saddle point at 0, minima at (0, +-1)), drawn over
    their contours.
(b) ``cnn``: training loss against epoch and against wall time of the first-order
    optimizers on the digits CNN (:class:`fastdl.train.SmallCNN`), each with its default
    learning rate of :data:`fastdl.train.OPTIMIZERS`, same initial weights, same batches.
(c) ``logreg``: f - f* against iteration of Newton, BFGS, L-BFGS, CG (and gradient
    descent for scale) on multinomial logistic regression of the digits' 64 pixels
    (650 unknowns, L2 with C = 1), NumPy's BLAS on one thread (threadpoolctl).

Each part prints a table and, with matplotlib, writes ``race_<part>.png``.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from fastdl.train import new_figure, save_png

__all__ = ["PARTS", "FIRST_ORDER", "SECOND_ORDER", "PROBLEMS", "first_order_path",
           "minimize_path", "trajectories", "cnn_race", "logreg_race", "main"]

PARTS = ("trajectories", "cnn", "logreg")
SECOND_ORDER = {"Newton": "newton", "BFGS": "bfgs", "L-BFGS": "lbfgs", "CG": "cg"}


# --- the 2-D problems ---------------------------------------------------------------------
def _rosenbrock(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rosenbrock_grad(v):
    x, y = v
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def _rosenbrock_hess(v):
    x, y = v
    return np.array([[2 - 400 * (y - 3 * x * x), -400 * x], [-400 * x, 200.0]])


def _saddle(v):
    x, y = v
    return 0.5 * x * x + 0.25 * y ** 4 - 0.5 * y * y


def _saddle_grad(v):
    x, y = v
    return np.array([x, y ** 3 - y])


def _saddle_hess(v):
    x, y = v
    return np.array([[1.0, 0.0], [0.0, 3 * y * y - 1]])


# name -> f, gradient, Hessian, start, f*, (x range, y range) of the plot, first-order
# steps, and each first-order method's learning rate on it
PROBLEMS = {
    "rosenbrock": dict(
        f=_rosenbrock, grad=_rosenbrock_grad, hess=_rosenbrock_hess, x0=(-1.2, 1.0), fstar=0.0,
        box=((-2.0, 2.0), (-1.0, 3.0)), steps=2000, title="Rosenbrock (minimum at (1, 1))",
        lr={"SGD": 1e-3, "Momentum": 5e-4, "Nesterov": 5e-4, "Adagrad": 0.5, "Adadelta": 1.0,
            "RMSprop": 3e-3, "Adam": 5e-2, "NAdam": 2e-2}),
    "saddle": dict(
        f=_saddle, grad=_saddle_grad, hess=_saddle_hess, x0=(-1.8, 1e-3), fstar=-0.25,
        box=((-2.0, 2.0), (-1.6, 1.6)), steps=300, title="saddle x²/2 + y⁴/4 − y²/2",
        lr={"SGD": 0.1, "Momentum": 0.02, "Nesterov": 0.02, "Adagrad": 0.5, "Adadelta": 20.0,
            "RMSprop": 0.02, "Adam": 0.05, "NAdam": 0.05}),
}

FIRST_ORDER = ("SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "NAdam")
# the CNN race's optimizers: names of fastdl.train.OPTIMIZERS
_CNN_NAMES = {"SGD": "sgd", "Momentum": "momentum", "Nesterov": "nesterov", "Adagrad": "adagrad",
              "Adadelta": "adadelta", "RMSprop": "rmsprop", "Adam": "adam", "NAdam": "nadam"}


def first_order_path(method: str, grad, x0, lr: float, steps: int) -> np.ndarray:
    """The iterates (steps + 1, n) of ``method`` (a name of :data:`FIRST_ORDER`) from x0,
    each step one fused call of :mod:`fastdl.ops` on the float64 vector, with torch's
    defaults besides ``lr`` (momentum 0.9 for Momentum and Nesterov)."""
    from fastdl import ops

    x = np.array(x0, dtype=np.float64)
    a, b = np.zeros_like(x), np.zeros_like(x)  # the method's state (buffers/averages)
    mu = 1.0  # NAdam's product of momentum coefficients
    path = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        if method == "SGD":
            ops.sgd_step([x], [g], [], lr=lr, step=t)
        elif method in ("Momentum", "Nesterov"):
            ops.sgd_step([x], [g], [a], lr=lr, momentum=0.9, nesterov=method == "Nesterov",
                         step=t)
        elif method == "Adagrad":
            ops.adagrad_step([x], [g], [a], lr=lr, step=t)
        elif method == "Adadelta":
            ops.adadelta_step([x], [g], [a], [b], lr=lr)
        elif method == "RMSprop":
            ops.rmsprop_step([x], [g], [a], [], [], lr=lr)
        elif method == "Adam":
            ops.adam_step([x], [g], [a], [b], [], step=t, lr=lr)
        elif method == "NAdam":
            mu = ops.nadam_step([x], [g], [a], [b], step=t, mu_product=mu, lr=lr)
        else:
            raise ValueError(f"unknown first-order method {method!r}")
        path.append(x.copy())
    return np.array(path)


def minimize_path(fun, x0, method: str, **kwargs):
    """(iterates (nit + 1, n), OptimizeResult) of :func:`fastdl.optim.minimize`.

    ``minimize`` keeps f per iteration but not x, so ``fun`` is wrapped to record every
    point it is called at; iterate k is the first point evaluated after iterate k - 1
    whose f is ``history["f"][k]`` (each accepted point was evaluated by the line search
    before it was accepted).
    """
    from fastdl.optim import minimize

    calls = []

    def recorded(x):
        out = fun(x)
        calls.append((np.array(x), out[0] if isinstance(out, tuple) else out))
        return out

    res = minimize(recorded, x0, method=method, **kwargs)
    path, j = [np.array(x0, dtype=np.float64)], 0
    for fk in res.history["f"][1:]:
        while j < len(calls) and calls[j][1] != fk:
            j += 1
        if j == len(calls):  # cannot happen with minimize's line search; be safe
            break
        path.append(calls[j][0])
        j += 1
    return np.array(path), res


def trajectories():
    """{problem: {method: dict(path, f, evals, time)}} for every method on both problems."""
    out = {}
    for name, pb in PROBLEMS.items():
        runs = {}
        for method in FIRST_ORDER:
            t0 = time.perf_counter()
            path = first_order_path(method, pb["grad"], pb["x0"], pb["lr"][method], pb["steps"])
            runs[method] = dict(path=path, evals=pb["steps"], time=time.perf_counter() - t0,
                                lr=pb["lr"][method])
        for label, method in SECOND_ORDER.items():
            def fun(v, pb=pb):
                return pb["f"](v), pb["grad"](v)
            kw = {"hess": pb["hess"]} if method == "newton" else {}
            t0 = time.perf_counter()
            path, res = minimize_path(fun, pb["x0"], method, jac=True, tol=1e-8,
                                      max_iter=pb["steps"], **kw)
            runs[label] = dict(path=path, evals=res.nfev, time=time.perf_counter() - t0,
                               lr=None)
        for r in runs.values():
            r["f"] = float(pb["f"](r["path"][-1]))
        out[name] = runs
    return out


def _trajectory_table(results) -> str:
    lines = []
    for name, runs in results.items():
        pb = PROBLEMS[name]
        lines.append(f"{pb['title']}, from {pb['x0']}; first-order methods take "
                     f"{pb['steps']} steps, the others run to |grad| <= 1e-8")
        lines.append(f"  {'method':<10}{'lr':>8}{'iters':>7}{'f evals':>9}"
                     f"{'final (x, y)':>22}{'f - f*':>11}{'ms':>8}")
        for method, r in runs.items():
            x, y = r["path"][-1]
            lr = f"{r['lr']:g}" if r["lr"] is not None else "-"
            lines.append(f"  {method:<10}{lr:>8}{len(r['path']) - 1:>7}{r['evals']:>9}"
                         f"{f'({x:.4f}, {y:.4f})':>22}{r['f'] - pb['fstar']:>11.2e}"
                         f"{r['time'] * 1e3:>8.1f}")
        lines.append("")
    return "\n".join(lines)


def _colors(n):
    """n distinct colours: tab10's, then black and brown."""
    from matplotlib import colormaps

    return ([colormaps["tab10"](i) for i in range(10)] + ["black", "saddlebrown"])[:n]


def _plot_trajectories(results, path) -> None:
    fig, axes = new_figure(13, 5.5, 2)
    for ax, (name, runs) in zip(axes, results.items()):
        pb = PROBLEMS[name]
        (x0, x1), (y0, y1) = pb["box"]
        X, Y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        Z = pb["f"]((X, Y)) - pb["fstar"]
        if name == "rosenbrock":
            ax.contour(X, Y, np.log10(Z + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
        else:
            ax.contour(X, Y, Z, levels=25, cmap="Greys", linewidths=0.6)
        for (method, r), color in zip(runs.items(), _colors(len(runs))):
            p = r["path"]
            style = "-" if method in FIRST_ORDER else "o-"
            ax.plot(p[:, 0], p[:, 1], style, color=color, lw=1.2, ms=2.5, label=method)
        ax.plot(*pb["x0"], "k*", ms=10)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(pb["title"])
    axes[1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    save_png(fig, path)


# --- (b) the digits CNN ---------------------------------------------------------------------
class _BatchLog:
    """A fit callback: (seconds since start, epoch + fraction, loss) per batch."""

    def __init__(self, batches_per_epoch):
        self.nb, self.t0, self.rows = batches_per_epoch, time.perf_counter(), []

    def on_batch_end(self, epoch, batch, logs):
        self.rows.append((time.perf_counter() - self.t0, epoch + (batch + 1) / self.nb,
                          logs["loss"]))


def cnn_race(epochs: int = 3, seed: int = 0, batch_size: int = 64):
    """{optimizer: dict(log (batches, 3) of (time, epoch, loss), history, lr)} of the
    first-order optimizers on the digits CNN, constant learning rates."""
    import fastdl as fd
    from fastdl.data import ArrayDataset, DataLoader, load_digits
    from fastdl.train import SmallCNN, fit, make_optimizer

    (X_train, y_train), (X_test, y_test) = load_digits()
    out = {}
    for label, name in _CNN_NAMES.items():
        fd.manual_seed(seed)
        model = SmallCNN()
        opt = make_optimizer(name, model.parameters())
        train = DataLoader(ArrayDataset(X_train, y_train), batch_size, shuffle=True, seed=seed)
        test = DataLoader(ArrayDataset(X_test, y_test), batch_size=512)
        log = _BatchLog(len(train))
        history = fit(model, opt, train, test, epochs=epochs, callbacks=[log], progress=False)
        out[label] = dict(log=np.array(log.rows), history=history,
                          lr=opt.param_groups[0]["lr"])
    return out


def _cnn_table(results) -> str:
    lines = [f"Digits CNN, {len(next(iter(results.values()))['history']['epoch'])} epochs, "
             "batch 64, same initial weights and batches; loss: training mean of the last "
             "epoch",
             f"  {'optimizer':<10}{'lr':>8}{'loss':>10}{'train acc':>11}{'test acc':>10}"
             f"{'seconds':>9}"]
    for label, r in results.items():
        h = r["history"]
        lines.append(f"  {label:<10}{r['lr']:>8g}{h['loss'][-1]:>10.4f}{h['accuracy'][-1]:>11.4f}"
                     f"{h['val_accuracy'][-1]:>10.4f}{sum(h['time']):>9.2f}")
    return "\n".join(lines) + "\n"


def _smooth(v, k=10):
    """Running mean over the last k values (the first ones over what there is)."""
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - k, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _plot_cnn(results, path) -> None:
    fig, axes = new_figure(12, 4.2, 2)
    for (label, r), color in zip(results.items(), _colors(len(results))):
        t, e, loss = r["log"].T
        s = _smooth(loss)
        axes[0].plot(e, s, color=color, lw=1.2, label=label)
        axes[1].plot(t, s, color=color, lw=1.2, label=label)
    for ax, xlabel in zip(axes, ("epoch", "wall time (s)")):
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("training loss (running mean of 10 batches)")
        ax.grid(alpha=0.3)
    axes[0].set_title("digits CNN: loss against epoch")
    axes[1].set_title("against wall time")
    axes[1].legend(fontsize=8)
    save_png(fig, path)


# --- (c) logistic regression ----------------------------------------------------------------
def logreg_race(C: float = 1.0, tol: float = 1e-10, max_iter: int = 500):
    """{method: dict(f (iterations + 1,), nit, nfev, time, success)} of minimize's methods
    on multinomial logistic regression of the digits (training set), and f*."""
    from fastdl.data import load_digits
    from fastdl.linear_model import _LogisticLoss
    from fastdl.optim import minimize

    from fastdl.bench import try_threadpoolctl

    (X, y), _ = load_digits()
    X = X.reshape(len(X), -1).astype(np.float64)
    loss = _LogisticLoss(X, y, 10, True, 1.0 / (C * len(X)))
    out = {}
    # products of (1437, 64) matrices: too small for BLAS threads, which only cost here
    # (and a lot on a busy machine)
    tpc = try_threadpoolctl()
    with tpc.threadpool_limits(1, user_api="blas") if tpc else contextlib.nullcontext():
        for label, method in {**SECOND_ORDER, "GD": "gd"}.items():
            kw = {"hess": loss.hess} if method == "newton" else {}
            t0 = time.perf_counter()
            res = minimize(loss.loss_grad, np.zeros(loss.dim), jac=True, method=method,
                           tol=tol, max_iter=max_iter, **kw)
            out[label] = dict(f=np.asarray(res.history["f"]), nit=res.nit, nfev=res.nfev,
                              time=time.perf_counter() - t0, success=res.success)
    fstar = min(float(r["f"].min()) for r in out.values())
    return out, fstar, loss.dim


def _first_below(gap, level):
    hits = np.nonzero(gap <= level)[0]
    return int(hits[0]) if hits.size else None


def _logreg_table(results, fstar, dim) -> str:
    lines = [f"Logistic regression (digits, 10 classes, {dim} unknowns, L2 C=1): f* = "
             f"{fstar:.12f}, the lowest f any method reached",
             f"  {'method':<8}{'iters':>7}{'f evals':>9}{'to 1e-6':>9}{'final f - f*':>14}"
             f"{'seconds':>9}  converged"]
    for label, r in results.items():
        gap = r["f"] - fstar
        k = _first_below(gap, 1e-6)
        lines.append(f"  {label:<8}{r['nit']:>7}{r['nfev']:>9}{k if k is not None else '-':>9}"
                     f"{gap[-1]:>14.2e}{r['time']:>9.2f}  {r['success']}")
    return "\n".join(lines) + "\n"


def _plot_logreg(results, fstar, path) -> None:
    fig, axes = new_figure(6.5, 4.2, 1)
    for (label, r), color in zip(results.items(), _colors(len(results))):
        gap = np.maximum(r["f"] - fstar, 1e-16)
        axes.semilogy(np.arange(len(gap)), gap, "o-" if len(gap) < 40 else "-", ms=3,
                      color=color, label=label)
    axes.set_xlabel("iteration")
    axes.set_ylabel("f − f*")
    axes.set_title("logistic regression on the digits")
    axes.grid(alpha=0.3)
    axes.legend()
    save_png(fig, path)


# --- all together ---------------------------------------------------------------------------
def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(out_dir: str = "fastdl-race", parts=PARTS, epochs: int = 3, seed: int = 0,
         echo=print) -> list[str]:
    """Run the parts, print their tables, write their PNGs into ``out_dir`` (when
    matplotlib is installed); returns the paths written."""
    plots = _have_matplotlib()
    written = []
    os.makedirs(out_dir, exist_ok=True)
    steps = {  # part -> (title, run, table, plot)
        "trajectories": ("(a) trajectories on the Rosenbrock function and a saddle",
                         trajectories, _trajectory_table, _plot_trajectories),
        "cnn": ("(b) first-order optimizers on the digits CNN",
                lambda: cnn_race(epochs=epochs, seed=seed), _cnn_table, _plot_cnn),
        "logreg": ("(c) second-order methods on logistic regression", logreg_race,
                   lambda r: _logreg_table(*r), lambda r, path: _plot_logreg(r[0], r[1], path)),
    }
    for part in PARTS:
        if part not in parts:
            continue
        title, run, table, plot = steps[part]
        echo(title + "\n", flush=True)
        results = run()
        echo(table(results), flush=True)
        if plots:
            written.append(os.path.join(out_dir, f"race_{part}.png"))
            plot(results, written[-1])
    if plots:
        echo("wrote " + ", ".join(written))
    else:
        echo('note: matplotlib is not installed, so no plots were drawn (pip install '
             '"fastdl[plot]")')
    return written
