"""Tests of the NumPy twin of batch normalization (fastdl/reference/batchnorm.py).

Forward and backward against torch's F.batch_norm and autograd (when importable), the
backward against centred finite differences in float64, and argument validation.
"""

import numpy as np
import pytest

from fastdl import DTypeError
from fastdl.reference import batch_norm, batch_norm_backward

SHAPES = [(5, 3), (4, 3, 7), (2, 4, 3, 5), (1, 2, 3, 3), (6, 1, 2, 2), (3, 17)]


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2, C).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, rm, rv, dy


# --------------------------------------------------------------------------------------
# torch parity
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("running", [True, False])
def test_matches_torch_float64(shape, training, affine, running):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, gamma, beta, rm, rv, dy = _inputs(shape, np.float64)
    if not affine:
        gamma = beta = None
    if not running:
        rm = rv = None
    if running and not training:
        rm.flags.writeable = False  # eval only reads the running stats
        rv.flags.writeable = False
    t = lambda a: None if a is None else torch.tensor(a, requires_grad=a.ndim == 1 and affine)  # noqa: E731
    xt = torch.tensor(x, requires_grad=True)
    gt, bt = t(gamma), t(beta)
    rmt = None if rm is None else torch.tensor(rm)
    rvt = None if rv is None else torch.tensor(rv)
    # torch requires running stats in eval mode; without them, eval uses batch stats (as
    # torch's BatchNorm with track_running_stats=False does, by passing training=True).
    yt = F.batch_norm(xt, rmt, rvt, gt, bt, training=training or rm is None, momentum=0.3)
    yt.backward(torch.tensor(dy))

    # eval passes the read-only arrays themselves; training updates copies
    rm_c = None if rm is None else rm.copy() if training else rm
    rv_c = None if rv is None else rv.copy() if training else rv
    y, save_mean, save_invstd = batch_norm(x, gamma, beta, rm_c, rv_c, training, momentum=0.3)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert save_mean.shape == save_invstd.shape == (shape[1],)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    if running:
        np.testing.assert_allclose(rm_c, rmt.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(rv_c, rvt.numpy(), rtol=1e-12, atol=1e-14)
    gx, gg, gb = batch_norm_backward(dy, x, gamma, save_mean, save_invstd,
                                     training=training or rm is None)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    if affine:
        np.testing.assert_allclose(gg, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert gg is None and gb is None


@pytest.mark.parametrize("momentum", [0.0, 0.1, 1.0])
def test_running_update_matches_torch(momentum):
    torch = pytest.importorskip("torch")
    x, gamma, beta, rm, rv, _ = _inputs((8, 3, 4), np.float32)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    torch.nn.functional.batch_norm(torch.tensor(x), rmt, rvt, torch.tensor(gamma),
                                   torch.tensor(beta), training=True, momentum=momentum)
    batch_norm(x, gamma, beta, rm, rv, True, momentum=momentum)
    np.testing.assert_allclose(rm, rmt.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, rvt.numpy(), rtol=1e-6, atol=1e-7)


def test_textbook_values():
    # (2, 1, 2): four values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased 14/3.
    x = np.array([[[1.0, 2.0]], [[3.0, 6.0]]])
    rm, rv = np.zeros(1), np.ones(1)
    y, m, inv = batch_norm(x, np.array([2.0]), np.array([1.0]), rm, rv, True, momentum=0.5,
                           eps=0.0)
    np.testing.assert_allclose(m, [3.0])
    np.testing.assert_allclose(inv, [1 / np.sqrt(3.5)])
    np.testing.assert_allclose(y.ravel(), 2 * (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5) + 1)
    np.testing.assert_allclose(rm, [1.5])
    np.testing.assert_allclose(rv, [0.5 + 0.5 * 14 / 3])


def test_ill_conditioned_float32():
    rng = np.random.default_rng(1)
    x = (1e4 + rng.standard_normal((64, 2, 8, 8))).astype(np.float32)
    y, m, inv = batch_norm(x, None, None, None, None, True)
    y64, _, _ = batch_norm(x.astype(np.float64), None, None, None, None, True)
    assert np.all(np.isfinite(inv))
    np.testing.assert_allclose(y, y64, atol=2e-3)


# --------------------------------------------------------------------------------------
# finite differences (float64)
# --------------------------------------------------------------------------------------

def _loss(x, gamma, beta, w, training, rm, rv):
    y, _, _ = batch_norm(x, gamma, beta, None if rm is None else rm.copy(),
                         None if rv is None else rv.copy(), training)
    return float(np.sum(y * w))


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_backward_finite_differences(shape, training):
    x, gamma, beta, rm, rv, w = _inputs(shape, np.float64, seed=3)
    if training:
        rm = rv = None  # the forward does not depend on them
    _, save_mean, save_invstd = batch_norm(x, gamma, beta, None if rm is None else rm.copy(),
                                           None if rv is None else rv.copy(), training)
    gx, gg, gb = batch_norm_backward(w, x, gamma, save_mean, save_invstd, training)
    h = 1e-6

    def numeric(a):
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + h
            fp = _loss(x, gamma, beta, w, training, rm, rv)
            a[i] = old - h
            fm = _loss(x, gamma, beta, w, training, rm, rv)
            a[i] = old
            g[i] = (fp - fm) / (2 * h)
        return g

    np.testing.assert_allclose(gx, numeric(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gg, numeric(gamma), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, numeric(beta), rtol=1e-6, atol=1e-7)


def test_backward_without_affine_finite_differences():
    x, _, _, _, _, w = _inputs((5, 2, 3), np.float64, seed=4)
    _, m, inv = batch_norm(x, None, None, None, None, True)
    gx, gg, gb = batch_norm_backward(w, x, None, m, inv, True)
    assert gg is None and gb is None
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        num[i] = (np.sum(batch_norm(xp, None, None, None, None, True)[0] * w)
                  - np.sum(batch_norm(xm, None, None, None, None, True)[0] * w)) / (2 * h)
    np.testing.assert_allclose(gx, num, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------
# edge cases and validation
# --------------------------------------------------------------------------------------

def test_constant_channel():
    x = np.full((4, 2, 3), 0.1, np.float32)
    x[:, 1] = np.arange(12, dtype=np.float32).reshape(4, 3)
    y, m, inv = batch_norm(x, None, None, None, None, True)
    assert np.all(y[:, 0] == 0)
    assert m[0] == np.float32(0.1)


def test_eval_reads_only_and_accepts_read_only_stats():
    x, gamma, beta, rm, rv, _ = _inputs((3, 4, 2), np.float32)
    rm.flags.writeable = False
    rv.flags.writeable = False
    y, m, inv = batch_norm(x, gamma, beta, rm, rv, False)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_allclose(inv, 1 / np.sqrt(rv.astype(np.float64) + 1e-5), rtol=1e-6)


def test_eval_without_running_stats_uses_batch_stats():
    x, gamma, beta, _, _, _ = _inputs((5, 3, 2), np.float64)
    a = batch_norm(x, gamma, beta, None, None, False)
    b = batch_norm(x, gamma, beta, None, None, True)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_single_value_per_channel_in_training():
    x, gamma, beta, rm, rv, _ = _inputs((1, 3), np.float32)
    before = rm.copy(), rv.copy()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(x, gamma, beta, rm, rv, True)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    batch_norm(x, gamma, beta, rm, rv, False)  # fine in eval
    y, _, _ = batch_norm(x.reshape(1, 3, 1, 1), None, None, None, None, False)
    assert np.all(y == 0)  # eval without running stats: the batch's (zero) variance


@pytest.mark.parametrize("bad", ["read_only", "dtype", "shape", "strided", "same"])
def test_bad_running_stats_in_training_modify_nothing(bad):
    x, gamma, beta, rm, rv, _ = _inputs((4, 3, 2), np.float32)
    if bad == "read_only":
        rm.flags.writeable = False
        exc = ValueError
    elif bad == "dtype":
        rm = rm.astype(np.float64)
        exc = DTypeError
    elif bad == "shape":
        rm = np.zeros(4, np.float32)
        exc = ValueError
    elif bad == "strided":
        rm = np.zeros(6, np.float32)[::2]
        exc = ValueError
    else:
        rv = rm
        exc = ValueError
    rm_before, rv_before = rm.copy(), rv.copy()
    with pytest.raises(exc, match="running_"):
        batch_norm(x, gamma, beta, rm, rv, True)
    np.testing.assert_array_equal(rm, rm_before)
    np.testing.assert_array_equal(rv, rv_before)


def test_validation_errors():
    x, gamma, beta, rm, rv, dy = _inputs((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match="gamma"):
        batch_norm(x, gamma[:2], beta, rm, rv, True)
    with pytest.raises(DTypeError, match="beta"):
        batch_norm(x, gamma, beta.astype(np.float64), rm, rv, True)
    with pytest.raises(ValueError, match="both"):
        batch_norm(x, gamma, beta, rm, None, True)
    with pytest.raises(ValueError, match="ndim"):
        batch_norm(x[0, 0], None, None, None, None, True)
    with pytest.raises(TypeError, match="x"):
        batch_norm(x.tolist(), None, None, None, None, True)
    with pytest.raises(TypeError, match="momentum"):
        batch_norm(x, None, None, rm, rv, True, momentum=None)
    for dt in (np.int32, np.float16):
        with pytest.raises(TypeError, match="dtype"):
            batch_norm(x.astype(dt), None, None, None, None, True)
        with pytest.raises(TypeError, match="dtype"):
            batch_norm_backward(dy.astype(dt), x.astype(dt), None, rm, rv, True)
    _, m, inv = batch_norm(x, gamma, beta, None, None, True)
    with pytest.raises(ValueError, match="grad_y"):
        batch_norm_backward(dy[:2], x, gamma, m, inv)
    with pytest.raises(ValueError, match="save_mean"):
        batch_norm_backward(dy, x, gamma, m[:2], inv)
    with pytest.raises(DTypeError, match="save_invstd"):
        batch_norm_backward(dy, x, gamma, m, inv.astype(np.float64))


def test_empty_batch():
    x = np.zeros((0, 3, 2), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, m, inv = batch_norm(x, None, None, rm, rv, True)
    assert y.shape == x.shape
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)
    gx, gg, gb = batch_norm_backward(x, x, np.ones(3, np.float32), m, inv)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gg, 0)
    np.testing.assert_array_equal(gb, 0)
