"""Tests for fastdl.optim.LBFGS: torch.optim.LBFGS parity, param groups, state_dict."""

import pickle

import numpy as np
import pytest

from fastdl.nn import Parameter
from fastdl.optim import LBFGS

# a softmax regression with an L2 term: W (3, 4), b (3,), 30 samples; gradients by hand
_rng = np.random.default_rng(0)
X = _rng.standard_normal((30, 4))
Y = _rng.integers(0, 3, 30)
W0 = 0.1 * _rng.standard_normal((3, 4))
B0 = np.zeros(3)


def softmax_loss(W, b):
    Z = X @ W.T + b
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(P[np.arange(30), Y])) + 0.05 * np.sum(W * W)
    R = P.copy()
    R[np.arange(30), Y] -= 1
    R /= 30
    return float(loss), R.T @ X + 0.1 * W, R.sum(axis=0)


def rosen_loss(x):
    a, b = x
    return ((1 - a) ** 2 + 100 * (b - a * a) ** 2,
            np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]))


def _softmax_run(groups=None, dtype=np.float64, **opts):
    W, b = Parameter(W0.astype(dtype)), Parameter(B0.astype(dtype))
    opt = LBFGS(groups(W, b) if groups else [W, b], **opts)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss, gW, gb = softmax_loss(W.data, b.data)
        W.grad, b.grad = gW.astype(dtype), gb.astype(dtype)
        return loss

    return opt, (W, b), closure, calls


def _torch_softmax_run(torch, dtype, **opts):
    W = torch.tensor(W0, dtype=dtype, requires_grad=True)
    b = torch.tensor(B0, dtype=dtype, requires_grad=True)
    tX, tY = torch.tensor(X, dtype=dtype), torch.tensor(Y)
    opt = torch.optim.LBFGS([W, b], **opts)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tX @ W.T + b, tY) + 0.05 * (W * W).sum()
        loss.backward()
        return loss

    return opt, (W, b), closure


OPTS = [dict(lr=1, max_iter=6, history_size=4, line_search_fn="strong_wolfe"),
        dict(lr=0.5, max_iter=5, history_size=3, line_search_fn=None),
        dict(lr=1, max_iter=4, max_eval=6, history_size=10, line_search_fn="strong_wolfe")]


@pytest.mark.parametrize("opts", OPTS)
def test_matches_torch_softmax_float64(opts):
    torch = pytest.importorskip("torch")
    opt, (W, b), closure, _ = _softmax_run(**opts)
    topt, (tW, tb), tclosure = _torch_softmax_run(torch, torch.float64, **opts)
    for _ in range(5):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert loss == pytest.approx(tloss.item(), rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(W.data, tW.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-10, atol=1e-12)
        s, ts = opt.state[W], topt.state[tW]
        assert (s["func_evals"], s["n_iter"]) == (ts["func_evals"], ts["n_iter"])
        assert len(s["old_dirs"]) == len(ts["old_dirs"])
        assert s["t"] == pytest.approx(float(ts["t"]), rel=1e-10)


def _rosen_runs(torch, extra=None, **opts):
    """Rosenbrock from (-1.2, 1) in fastdl and torch; ``extra``: a parameter without grad."""
    x = Parameter(np.array([-1.2, 1.0]))
    opt = LBFGS([x] + ([Parameter(np.array(extra))] if extra else []), **opts)
    tx = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    textra = [torch.tensor(extra, dtype=torch.float64, requires_grad=True)] if extra else []
    topt = torch.optim.LBFGS([tx] + textra, **opts)

    def closure():
        opt.zero_grad()
        f, x.grad = rosen_loss(x.data)
        return f

    def tclosure():
        topt.zero_grad()
        f = (1 - tx[0]) ** 2 + 100 * (tx[1] - tx[0] ** 2) ** 2
        f.backward()
        return f

    return (opt, x, closure), (topt, tx, tclosure)


def test_matches_torch_rosenbrock_strong_wolfe():
    # non-convex: the line search brackets and zooms
    torch = pytest.importorskip("torch")
    (opt, x, closure), (topt, tx, tclosure) = _rosen_runs(torch, max_iter=8,
                                                          line_search_fn="strong_wolfe")
    for _ in range(8):
        opt.step(closure)
        topt.step(tclosure)
        np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert opt.state[x]["func_evals"] == topt.state[tx]["func_evals"]
    np.testing.assert_allclose(x.data, [1.0, 1.0], atol=1e-4)  # and it converges


def test_float32_close_to_torch():
    torch = pytest.importorskip("torch")
    opts = OPTS[0]
    opt, (W, b), closure, _ = _softmax_run(dtype=np.float32, **opts)
    topt, (tW, tb), tclosure = _torch_softmax_run(torch, torch.float32, **opts)
    for _ in range(2):
        opt.step(closure)
        topt.step(tclosure)
    assert W.data.dtype == np.float32 and opt.state[W]["d"].dtype == np.float32
    np.testing.assert_allclose(W.data, tW.detach().numpy(), rtol=1e-3, atol=1e-4)


def test_converges_and_counts_closure_calls():
    opt, (W, b), closure, calls = _softmax_run(max_iter=100, line_search_fn="strong_wolfe",
                                               tolerance_grad=1e-8, tolerance_change=0)
    opt.step(closure)
    # max_eval = 125; as in torch, the last line search may take one evaluation more
    assert len(calls) == opt.state[W]["func_evals"] <= 126
    opt.step(closure)  # continue from the saved state
    assert len(calls) == opt.state[W]["func_evals"]
    _, gW, gb = softmax_loss(W.data, b.data)
    assert max(np.abs(gW).max(), np.abs(gb).max()) <= 1e-8
    # at the optimum, a further step evaluates once and returns
    before = len(calls)
    opt.step(closure)
    assert len(calls) == before + 1


def test_several_groups_equal_one_group():
    a, _, ca, _ = _softmax_run(max_iter=7, line_search_fn="strong_wolfe")
    two, (W, b), c2, _ = _softmax_run(lambda W, b: [{"params": [W]}, {"params": [b]}],
                                      max_iter=7, line_search_fn="strong_wolfe")
    for _ in range(3):
        a.step(ca)
        two.step(c2)
    one_W = a.param_groups[0]["params"][0]
    assert np.array_equal(W.data, one_W.data)  # same flat vector, same operations
    assert list(two.state) == [W]  # the state lives under the first parameter


def test_groups_with_different_options_are_rejected():
    W, b = Parameter(W0.copy()), Parameter(B0.copy())
    with pytest.raises(ValueError, match=r"same options.*\['lr'\]"):
        LBFGS([{"params": [W]}, {"params": [b], "lr": 0.5}])
    opt = LBFGS([W])
    with pytest.raises(ValueError, match="history_size"):
        opt.add_param_group({"params": [b], "history_size": 5})
    assert len(opt.param_groups) == 1  # nothing added
    opt.add_param_group({"params": [b]})  # same options: fine
    assert opt.param_groups[1]["params"] == [b]


def test_bad_arguments():
    W = Parameter(W0.copy())
    with pytest.raises(ValueError, match="Invalid learning rate"):
        LBFGS([W], lr=-1)
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS([W], line_search_fn="armijo")
    with pytest.raises(ValueError, match="history_size"):
        LBFGS([W], history_size=0)
    opt = LBFGS([W])
    with pytest.raises(TypeError):
        opt.step()
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)


def test_bad_grad_leaves_params_alone():
    W, b = Parameter(W0.copy()), Parameter(B0.copy())
    opt = LBFGS([W, b])

    def closure():
        W.grad, b.grad = np.ones((3, 4)), np.ones(4)  # b's grad has the wrong shape
        return 1.0

    with pytest.raises(ValueError, match=r"grad is an ndarray of shape \(4,\)"):
        opt.step(closure)
    assert np.array_equal(W.data, W0) and np.array_equal(b.data, B0)


def test_missing_grad_counts_as_zero():
    torch = pytest.importorskip("torch")
    (opt, x, closure), (topt, tx, tclosure) = _rosen_runs(torch, extra=[5.0], max_iter=5,
                                                          line_search_fn="strong_wolfe")
    opt.step(closure)
    topt.step(tclosure)
    frozen, tf = opt.param_groups[0]["params"][1], topt.param_groups[0]["params"][1]
    assert frozen.grad is None and frozen.data[0] == 5.0 and tf.grad is None
    assert len(opt.state[x]["d"]) == 3  # the flat vectors span the frozen parameter too
    np.testing.assert_allclose(x.data, tx.detach().numpy(), rtol=1e-10)


def test_state_dict_resume_is_bitwise():
    opts = dict(max_iter=3, history_size=4, line_search_fn="strong_wolfe")
    full, (Wf, bf), cf, _ = _softmax_run(**opts)
    first, (W1, b1), c1, _ = _softmax_run(**opts)
    for _ in range(2):
        full.step(cf)
        first.step(c1)
    sd = pickle.loads(pickle.dumps(first.state_dict()))
    live = first.state_dict()
    first.step(c1)  # the state_dict holds copies: stepping leaves it alone
    for k in ("d", "prev_flat_grad"):
        assert np.array_equal(sd["state"][0][k], live["state"][0][k])
    assert all(np.array_equal(a, b) for a, b in zip(sd["state"][0]["old_dirs"],
                                                   live["state"][0]["old_dirs"]))
    resumed, (W2, b2), c2, _ = _softmax_run(**opts)
    W2.data[...], b2.data[...] = Wf.data, bf.data  # the parameters when sd was taken
    resumed.load_state_dict(sd)
    for _ in range(2):
        full.step(cf)
        resumed.step(c2)
    assert np.array_equal(W2.data, Wf.data) and np.array_equal(b2.data, bf.data)
    assert sorted(sd["state"][0]) == sorted(["func_evals", "n_iter", "d", "t", "old_dirs",
                                             "old_stps", "ro", "H_diag", "prev_flat_grad",
                                             "prev_loss", "al"])
    assert sd["param_groups"][0]["params"] == [0, 1]


def test_load_torch_state_dict_continues_like_torch():
    torch = pytest.importorskip("torch")
    opts = dict(max_iter=3, history_size=4, line_search_fn="strong_wolfe")
    topt, (tW, tb), tclosure = _torch_softmax_run(torch, torch.float64, **opts)
    topt.step(tclosure)
    tsd = topt.state_dict()
    opt, (W, b), closure, _ = _softmax_run(**opts)
    W.data[...], b.data[...] = tW.detach().numpy(), tb.detach().numpy()
    opt.load_state_dict(tsd)  # tensors, lists of tensors and numbers, as torch saves them
    assert isinstance(opt.state[W]["d"], np.ndarray) and isinstance(opt.state[W]["t"], float)
    for _ in range(2):
        opt.step(closure)
        topt.step(tclosure)
        np.testing.assert_allclose(W.data, tW.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_load_state_dict_validates():
    opt, (W, b), closure, _ = _softmax_run(max_iter=2)
    opt.step(closure)
    sd = opt.state_dict()
    sd["state"][0]["d"] = np.zeros(5)
    fresh, *_ = _softmax_run(max_iter=2)
    with pytest.raises(ValueError, match=r"'d'\] has shape \(5,\), expected \(15,\)"):
        fresh.load_state_dict(sd)
    assert len(fresh.state) == 0
