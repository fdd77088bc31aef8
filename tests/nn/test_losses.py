"""fastdl.nn losses: values against NumPy formulas and torch, gradients against finite
differences (float64) and torch, every reduction, and bad input."""

import numpy as np
import pytest

import fastdl as fd
import fastdl.nn.functional as F
from fastdl.autograd import Tensor, gradcheck

REDUCTIONS = ["none", "mean", "sum"]


def rng(seed=0):
    return np.random.default_rng(seed)


def reduce(loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    return loss.sum() / (loss.size if denominator is None else denominator) \
        if reduction == "mean" else loss.sum()


def run(fn, x, *args, seed=1, **kw):
    """(value, input grad, output weights v) of fn with backward(v)."""
    xt = Tensor(x, requires_grad=True)
    out = fn(xt, *args, **kw)
    v = rng(seed).standard_normal(out.shape)
    out.backward(v)
    return out.data, xt.grad, v


def against_torch(fd_fn, torch_fn, x, *args, rtol=1e-10, atol=1e-12, **kw):
    torch = pytest.importorskip("torch")
    y, g, v = run(fd_fn, x, *args, **kw)
    conv = {k: torch.tensor(a) if isinstance(a, np.ndarray) else a for k, a in kw.items()}
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(xt, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args],
                  **conv)
    (yt * torch.tensor(v, dtype=yt.dtype)).sum().backward()
    assert y.shape == tuple(yt.shape) and y.dtype == x.dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=rtol, atol=atol)
    assert g.dtype == x.dtype
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=rtol, atol=atol)


# --- regression losses ----------------------------------------------------------------------
def regression_data(shape=(4, 5), seed=0):
    r = rng(seed)
    x = r.standard_normal(shape) * 2
    t = r.standard_normal(shape)
    return x, t, r.random(shape) + 0.1


def np_l1(z):
    return np.abs(z)


def np_mse(z):
    return z ** 2


def np_smooth_l1(z, beta):
    return np.where(np.abs(z) < beta, 0.5 * z ** 2 / beta, np.abs(z) - 0.5 * beta)


def np_huber(z, delta):
    return np.where(np.abs(z) < delta, 0.5 * z ** 2, delta * (np.abs(z) - 0.5 * delta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_against_numpy(reduction):
    x, t, w = regression_data()
    z = x - t
    cases = [
        (F.l1_loss(x, t, reduction=reduction), reduce(np_l1(z), reduction)),
        (F.mse_loss(x, t, reduction=reduction), reduce(np_mse(z), reduction)),
        (F.l1_loss(x, t, reduction=reduction, weight=w),
         reduce(w * np_l1(z), reduction, w.sum())),
        (F.mse_loss(x, t, reduction=reduction, weight=w),
         reduce(w * np_mse(z), reduction, w.sum())),
        (F.smooth_l1_loss(x, t, reduction=reduction, beta=0.7),
         reduce(np_smooth_l1(z, 0.7), reduction)),
        (F.smooth_l1_loss(x, t, reduction=reduction, beta=0.0), reduce(np_l1(z), reduction)),
        (F.huber_loss(x, t, reduction=reduction, delta=1.3), reduce(np_huber(z, 1.3), reduction)),
        (F.huber_loss(x, t, reduction=reduction, delta=1.3, weight=w),
         reduce(w * np_huber(z, 1.3), reduction)),  # huber's weighted mean is over n
    ]
    for got, expected in cases:
        assert got.shape == np.shape(expected) and got.dtype == np.float64
        np.testing.assert_allclose(got.data, expected, rtol=1e-13)


def test_huber_is_delta_times_smooth_l1():
    x, t, _ = regression_data()
    np.testing.assert_allclose(F.huber_loss(x, t, delta=2.5).data,
                               2.5 * F.smooth_l1_loss(x, t, beta=2.5).data, rtol=1e-14)


REGRESSION = {
    "l1": (lambda x, t, **k: F.l1_loss(x, t, **k), "l1_loss", {}),
    "l1_w": (lambda x, t, **k: F.l1_loss(x, t, **k), "l1_loss", {"weight": True}),
    "mse": (lambda x, t, **k: F.mse_loss(x, t, **k), "mse_loss", {}),
    "mse_w": (lambda x, t, **k: F.mse_loss(x, t, **k), "mse_loss", {"weight": True}),
    "smooth_l1": (lambda x, t, **k: F.smooth_l1_loss(x, t, beta=0.6, **k), "smooth_l1_loss",
                  {"beta": 0.6}),
    "smooth_l1_b0": (lambda x, t, **k: F.smooth_l1_loss(x, t, beta=0.0, **k), "smooth_l1_loss",
                     {"beta": 0.0}),
    "huber": (lambda x, t, **k: F.huber_loss(x, t, delta=1.4, **k), "huber_loss", {"delta": 1.4}),
    "huber_w": (lambda x, t, **k: F.huber_loss(x, t, delta=1.4, **k), "huber_loss",
                {"delta": 1.4, "weight": True}),
}


def _regression_call(name, reduction):
    fn, torch_name, extra = REGRESSION[name]
    x, t, w = regression_data()
    kw = {"reduction": reduction}
    if extra.get("weight"):
        kw["weight"] = w
    return fn, torch_name, extra, x, t, kw


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REGRESSION))
def test_regression_losses_gradcheck_and_torch(name, reduction):
    fn, torch_name, extra, x, t, kw = _regression_call(name, reduction)
    # finite differences on the input and on a target that requires grad
    xt, tt = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    assert gradcheck(lambda a, b: fn(a, b, **kw), [xt, tt])
    torch = pytest.importorskip("torch")
    tf = getattr(torch.nn.functional, torch_name)
    tkw = {k: v for k, v in extra.items() if k != "weight"}
    against_torch(lambda a, b, **k: fn(a, b, **k), lambda a, b, **k: tf(a, b, **tkw, **k),
                  x, t, **kw)


def test_regression_target_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    x, t, _ = regression_data()
    tt = Tensor(t, requires_grad=True)
    F.smooth_l1_loss(Tensor(x, requires_grad=True), tt, beta=0.5).backward()
    xt2, tt2 = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    torch.nn.functional.smooth_l1_loss(xt2, tt2, beta=0.5).backward()
    np.testing.assert_allclose(tt.grad, tt2.grad.numpy(), rtol=1e-12)


def test_float32_losses_stay_float32():
    x, t, w = (a.astype(np.float32) for a in regression_data())
    for fn in (F.l1_loss, F.mse_loss, F.smooth_l1_loss, F.huber_loss):
        xt = Tensor(x, requires_grad=True)
        out = fn(xt, t)
        assert out.dtype == np.float32
        out.backward()
        assert xt.grad.dtype == np.float32
    logits = Tensor(x, requires_grad=True)
    out = F.cross_entropy(logits, np.array([0, 1, 4, 2]))
    out.backward()
    assert out.dtype == np.float32 and logits.grad.dtype == np.float32
    out = F.binary_cross_entropy_with_logits(x, (t > 0).astype(np.float64))
    assert out.dtype == np.float32


def test_regression_bad_input():
    x, t, w = regression_data()
    with pytest.raises(ValueError, match=r"mse_loss: target has shape \(5,\), expected \(4, 5\)"):
        F.mse_loss(x, t[0])
    with pytest.raises(ValueError, match="l1_loss: weight has shape"):
        F.l1_loss(x, t, weight=w[:, :2])
    with pytest.raises(ValueError, match="'average' is not a valid value for reduction"):
        F.huber_loss(x, t, reduction="average")
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, t, beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(x, t, delta=0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.mse_loss(np.arange(3), np.arange(3))


def test_empty_mean_is_nan_and_legacy_arguments():
    assert np.isnan(F.mse_loss(np.zeros(0), np.zeros(0)).item())
    x, t, _ = regression_data()
    with pytest.warns(UserWarning, match="reduction='sum'"):
        out = F.l1_loss(x, t, size_average=False)
    np.testing.assert_allclose(out.item(), np.abs(x - t).sum())
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert fd.nn.MSELoss(reduce=False).reduction == "none"


# --- cross-entropy ----------------------------------------------------------------------------
def np_log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_cross_entropy_against_numpy_plain_and_weighted():
    r = rng(3)
    x = r.standard_normal((6, 4))
    t = np.array([0, 3, 1, 1, 2, -100])
    w = np.array([0.5, 1.0, 2.0, 3.0])
    lp = np_log_softmax(x)
    picked = lp[np.arange(5), t[:5]]
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), -picked.mean(), rtol=1e-14)
    wt = w[t[:5]]
    np.testing.assert_allclose(F.cross_entropy(x, t, weight=w).item(),
                               -(wt * picked).sum() / wt.sum(), rtol=1e-14)
    none = F.cross_entropy(x, t, weight=w, reduction="none").data
    np.testing.assert_allclose(none, np.append(-wt * picked, 0.0), rtol=1e-14)
    # the gradient of the plain mean: (softmax - onehot) / n_valid, 0 for the ignored row
    xt = Tensor(x, requires_grad=True)
    F.cross_entropy(xt, t).backward()
    expected = np.exp(lp)
    expected[np.arange(5), t[:5]] -= 1
    expected[5] = 0
    np.testing.assert_allclose(xt.grad, expected / 5, rtol=1e-13, atol=1e-16)


def test_cross_entropy_label_smoothing_against_numpy():
    r = rng(4)
    x, t = r.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    eps, C = 0.3, 3
    lp = np_log_softmax(x)
    q = np.full((5, 3), eps / C)
    q[np.arange(5), t] += 1 - eps
    np.testing.assert_allclose(F.cross_entropy(x, t, label_smoothing=eps).item(),
                               -(q * lp).sum(1).mean(), rtol=1e-14)
    # probabilities equal to the one-hot targets give the same loss
    onehot = np.eye(C)[t]
    np.testing.assert_allclose(F.cross_entropy(x, onehot, label_smoothing=eps).item(),
                               -(q * lp).sum(1).mean(), rtol=1e-14)


def ce_cases():
    r = rng(5)
    w = r.random(4) + 0.5
    t2 = r.integers(0, 4, 7)
    t2[[1, 4]] = -100
    tk = r.integers(0, 4, (3, 2, 5))
    tk[0, 1, 2] = 1
    tk[2, 0, :] = 2  # ignore_index=2 below
    p2 = r.random((7, 4))
    p2 /= p2.sum(1, keepdims=True)
    cases = {
        "2d": (r.standard_normal((7, 4)), t2, {}),
        "2d_w": (r.standard_normal((7, 4)), t2, {"weight": w}),
        "2d_ls": (r.standard_normal((7, 4)), t2, {"label_smoothing": 0.15}),
        "2d_w_ls": (r.standard_normal((7, 4)), t2, {"weight": w, "label_smoothing": 0.15}),
        "kd_ignore2": (r.standard_normal((3, 4, 2, 5)), tk, {"ignore_index": 2, "weight": w}),
        "kd_ls": (r.standard_normal((3, 4, 2, 5)), tk, {"label_smoothing": 0.4}),
        "unbatched": (r.standard_normal(4), np.array(3), {"weight": w}),
        "unbatched_ls": (r.standard_normal(4), np.array(1), {"label_smoothing": 0.2}),
        "probs": (r.standard_normal((7, 4)), p2, {}),
        "probs_w_ls": (r.standard_normal((7, 4)), p2, {"weight": w, "label_smoothing": 0.25}),
        "probs_kd": (r.standard_normal((2, 4, 3)),
                     np.moveaxis(r.dirichlet(np.ones(4), (2, 3)), -1, 1), {"weight": w}),
        "probs_unbatched": (r.standard_normal(4), p2[0], {"label_smoothing": 0.1}),
    }
    return cases


CE = ce_cases()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CE))
def test_cross_entropy_gradcheck_and_torch(name, reduction):
    x, t, kw = CE[name]
    kw = {**kw, "reduction": reduction}
    assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), [Tensor(x, requires_grad=True)])
    torch = pytest.importorskip("torch")
    against_torch(F.cross_entropy, torch.nn.functional.cross_entropy, x, t, **kw)


def test_cross_entropy_probability_target_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    x, p, kw = CE["probs_w_ls"]
    pt = Tensor(p, requires_grad=True)
    F.cross_entropy(Tensor(x, requires_grad=True), pt, **kw).backward()
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, **kw),
                     [Tensor(x, requires_grad=True), Tensor(p, requires_grad=True)])
    p2 = torch.tensor(p, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(x), p2, weight=torch.tensor(kw["weight"]),
                                      label_smoothing=kw["label_smoothing"]).backward()
    np.testing.assert_allclose(pt.grad, p2.grad.numpy(), rtol=1e-12)


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    x = rng(6).standard_normal((3, 4))
    t = np.full(3, -100)
    assert np.isnan(F.cross_entropy(x, t).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    xt = Tensor(x, requires_grad=True)
    F.cross_entropy(xt, t, reduction="sum").backward()
    np.testing.assert_array_equal(xt.grad, 0)


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0]], dtype=np.float32)
    xt = Tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = F.cross_entropy(xt, np.array([2, 1]), reduction="none")
        out.backward(np.ones(2, np.float32))
    np.testing.assert_allclose(out.data, [2e4, 0.0])
    np.testing.assert_allclose(xt.grad, [[1, 0, -1], [0, 0, 0]])


def test_cross_entropy_bad_input():
    x = rng(7).standard_normal((4, 5))
    with pytest.raises(ValueError, match=r"class index 5, outside \[0, 5\)") as info:
        F.cross_entropy(x, np.array([0, 1, 5, 2]))
    assert isinstance(info.value, IndexError)  # what torch raises
    with pytest.raises(ValueError, match="class index -1"):
        F.cross_entropy(x, np.array([0, -1, 3, 2]))
    with pytest.raises(ValueError,
                       match=r"target has shape \(3,\); expected class indices of shape \(4,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="integer dtype"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="floating point"):
        F.cross_entropy(x, np.zeros((4, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected \(5,\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]), weight=np.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index"):
        F.cross_entropy(x, np.full((4, 5), 0.2), ignore_index=1)
    with pytest.raises(ValueError, match="class dimension"):
        F.cross_entropy(np.float64(1.0), np.array(0))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1, 2, 3]), reduction="avg")


def test_cross_entropy_module_and_targets_as_tensors():
    torch = pytest.importorskip("torch")
    x = rng(8).standard_normal((6, 3))
    t = np.array([0, 2, 1, 1, 2, 0])
    w = np.array([1.0, 2.0, 0.5])
    loss = fd.nn.CrossEntropyLoss(weight=Tensor(w), label_smoothing=0.1)
    ref = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)
    np.testing.assert_allclose(loss(Tensor(x), Tensor(t)).item(),
                               ref(torch.tensor(x), torch.tensor(t)).item(), rtol=1e-13)
    assert list(loss.state_dict()) == list(ref.state_dict()) == ["weight"]
    assert repr(loss) == repr(ref) == "CrossEntropyLoss()"
    assert list(fd.nn.CrossEntropyLoss().state_dict()) == []


# --- binary cross-entropy with logits -----------------------------------------------------------
def np_bce_logits(x, t, w=1.0, pw=1.0):
    # exact in float64 for moderate x: -w [pw t log s + (1 - t) log(1 - s)]
    s = 1 / (1 + np.exp(-x))
    return -w * (pw * t * np.log(s) + (1 - t) * np.log1p(-s))


def bce_data(seed=9):
    r = rng(seed)
    x = r.standard_normal((6, 5)) * 3
    t = (r.random((6, 5)) > 0.5).astype(np.float64)
    t[0] = r.random(5)  # soft labels too
    return x, t, r.random((6, 1)) + 0.5, r.random(5) + 0.5


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_against_numpy(reduction):
    x, t, w, pw = bce_data()
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t, reduction=reduction).data,
                               reduce(np_bce_logits(x, t), reduction), rtol=1e-12)
    got = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction)
    np.testing.assert_allclose(got.data, reduce(np_bce_logits(x, t, w, pw), reduction),
                               rtol=1e-12)
    xt = Tensor(x, requires_grad=True)
    F.binary_cross_entropy_with_logits(xt, t, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad, 1 / (1 + np.exp(-x)) - t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_gradcheck_and_torch(reduction, weighted):
    x, t, w, pw = bce_data()
    kw = {"reduction": reduction}
    if weighted:
        kw.update(weight=w, pos_weight=pw)
    assert gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw),
                     [Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)])
    torch = pytest.importorskip("torch")
    against_torch(F.binary_cross_entropy_with_logits,
                  torch.nn.functional.binary_cross_entropy_with_logits, x, t, **kw)


def test_bce_with_logits_target_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    x, t, w, pw = bce_data()
    tt = Tensor(t, requires_grad=True)
    F.binary_cross_entropy_with_logits(x, tt, weight=w, pos_weight=pw).backward()
    t2 = torch.tensor(t, requires_grad=True)
    torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), t2, weight=torch.tensor(w), pos_weight=torch.tensor(pw)).backward()
    np.testing.assert_allclose(tt.grad, t2.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_stable_at_extreme_logits(dtype):
    x = np.array([-100.0, 100.0, -100.0, 100.0, 0.0], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
    xt = Tensor(x, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = F.binary_cross_entropy_with_logits(xt, t, pos_weight=np.array(3.0),
                                                 reduction="none")
        out.backward(np.ones(5, dtype))
    assert out.dtype == dtype and np.all(np.isfinite(out.data)) and np.all(np.isfinite(xt.grad))
    # confidently wrong costs |x| (times pos_weight for positives); confidently right ~0
    np.testing.assert_allclose(out.data, [300.0, 100.0, 0.0, 0.0, 3 * np.log(2)], rtol=1e-6,
                               atol=1e-30)
    np.testing.assert_allclose(xt.grad, [-3.0, 1.0, 0.0, 0.0, 3 * 0.5 - 3], rtol=1e-6, atol=1e-30)


def test_bce_with_logits_module_and_bad_input():
    x, t, w, pw = bce_data()
    loss = fd.nn.BCEWithLogitsLoss(pos_weight=pw)
    assert list(loss.state_dict()) == ["pos_weight"]
    np.testing.assert_allclose(loss(Tensor(x), t).item(),
                               np_bce_logits(x, t, pw=pw).mean(), rtol=1e-12)
    fn = F.binary_cross_entropy_with_logits
    with pytest.raises(ValueError, match=r"target has shape \(6, 4\), expected \(6, 5\)"):
        fn(x, t[:, :4])
    with pytest.raises(ValueError, match="pos_weight has shape"):
        fn(x, t, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="weight has shape"):
        fn(x, t, weight=np.ones((6, 5, 2)))


# --- the modules --------------------------------------------------------------------------------
def test_loss_modules_match_functional_and_torch_reprs():
    x, t, _ = regression_data()
    mods = [(fd.nn.L1Loss(reduction="sum"), F.l1_loss(x, t, reduction="sum")),
            (fd.nn.MSELoss(), F.mse_loss(x, t)),
            (fd.nn.SmoothL1Loss(beta=0.3), F.smooth_l1_loss(x, t, beta=0.3)),
            (fd.nn.HuberLoss(delta=0.4, reduction="none"),
             F.huber_loss(x, t, delta=0.4, reduction="none"))]
    for mod, expected in mods:
        np.testing.assert_array_equal(mod(Tensor(x), Tensor(t)).data, expected.data)
    torch = pytest.importorskip("torch")
    for name in ("L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss",
                 "BCEWithLogitsLoss"):
        assert repr(getattr(fd.nn, name)()) == repr(getattr(torch.nn, name)())
