"""Tests of the native batch normalization (fastdl/ops/batchnorm.py): against the NumPy
twin and torch, numerics on ill-conditioned and constant channels, argument validation.
Random shapes (hypothesis) are in tests/properties/test_batchnorm_properties.py,
thread-count independence in tests/test_determinism.py."""

import numpy as np
import pytest

import fastdl as fd
from fastdl import DTypeError, ops, reference as ref

# (N, C), (N, C, L), (N, C, H, W): N = 1 with H*W > 1, C = 1, large C, odd sizes, spatial
# sizes S on both sides of the kernel's plane/tile switch (S * itemsize = 512 bytes) and of
# its block length (S > 4096 splits rows into pieces).
SHAPES = [(5, 3), (130, 67), (4, 1500), (4, 3, 7), (2, 4, 3, 5), (1, 3, 6, 6), (3, 1, 9, 11),
          (2, 300, 2, 2), (3, 5, 17, 13), (2, 2, 70, 70), (200, 7, 3), (1, 2, 33)]
DTYPES = [np.float32, np.float64]


def _tol(dtype, m=1):
    """Tolerances of one output; sums over m values get sqrt(m) more absolute slack."""
    if dtype == np.float32:
        return dict(rtol=2e-5, atol=2e-5 * max(1.0, np.sqrt(m)))
    return dict(rtol=1e-11, atol=1e-11 * max(1.0, np.sqrt(m)))


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


def _copy(a):
    return None if a is None else a.copy()


def _per_channel(shape):
    return int(np.prod((shape[0],) + shape[2:]))


# --------------------------------------------------------------------------------------
# native vs NumPy twin
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine, running", [(True, True), (False, True), (True, False),
                                             (False, False)])
def test_matches_twin(shape, dtype, training, affine, running):
    x, gamma, beta, rm, rv, dy = _inputs(shape, dtype)
    if not affine:
        gamma = beta = None
    if not running:
        rm = rv = None
    m = _per_channel(shape)
    if training and m == 1:
        pytest.skip("one value per channel (tested below)")
    rm1, rv1, rm2, rv2 = _copy(rm), _copy(rv), _copy(rm), _copy(rv)
    out = ops.batch_norm(x, gamma, beta, rm1, rv1, training, momentum=0.2)
    want = ref.batch_norm(x, gamma, beta, rm2, rv2, training, momentum=0.2)
    y, save_mean, save_invstd = out
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous
    assert save_mean.shape == save_invstd.shape == (shape[1],)
    assert save_mean.dtype == save_invstd.dtype == x.dtype
    np.testing.assert_allclose(y, want[0], **_tol(dtype))
    np.testing.assert_allclose(save_mean, want[1], **_tol(dtype))
    np.testing.assert_allclose(save_invstd, want[2], **_tol(dtype))
    if running:
        np.testing.assert_allclose(rm1, rm2, **_tol(dtype))
        np.testing.assert_allclose(rv1, rv2, **_tol(dtype))
        if not training:
            np.testing.assert_array_equal(rm1, rm)  # eval only reads them
            np.testing.assert_array_equal(rv1, rv)

    bw_training = training or not running
    gx, gg, gb = ops.batch_norm_backward(dy, x, gamma, save_mean, save_invstd, bw_training)
    wx, wg, wb = ref.batch_norm_backward(dy, x, gamma, save_mean, save_invstd, bw_training)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    np.testing.assert_allclose(gx, wx, **_tol(dtype, 4))
    if affine:
        assert gg.shape == gb.shape == (shape[1],) and gg.dtype == gb.dtype == x.dtype
        np.testing.assert_allclose(gg, wg, **_tol(dtype, m))
        np.testing.assert_allclose(gb, wb, **_tol(dtype, m))
    else:
        assert gg is None and gb is None


@pytest.mark.parametrize("which", ["gamma", "beta"])
def test_scale_or_shift_alone(which):
    x, gamma, beta, _, _, dy = _inputs((6, 4, 5), np.float64)
    if which == "gamma":
        beta = None
    else:
        gamma = None
    a = ops.batch_norm(x, gamma, beta, None, None, True)
    b = ref.batch_norm(x, gamma, beta, None, None, True)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    g1 = ops.batch_norm_backward(dy, x, gamma, a[1], a[2], True)
    g2 = ref.batch_norm_backward(dy, x, gamma, a[1], a[2], True)
    for u, v in zip(g1, g2):
        if v is None:
            assert u is None
        else:
            np.testing.assert_allclose(u, v, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("momentum", [0.0, 0.1, 1.0])
def test_running_stats_momentum(momentum):
    x, gamma, beta, rm, rv, _ = _inputs((6, 4, 5), np.float32)
    rm0, rv0 = rm.copy(), rv.copy()
    rm2, rv2 = rm.copy(), rv.copy()
    ops.batch_norm(x, gamma, beta, rm, rv, True, momentum=momentum)
    ref.batch_norm(x, gamma, beta, rm2, rv2, True, momentum=momentum)
    np.testing.assert_allclose(rm, rm2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, rv2, rtol=1e-6, atol=1e-7)
    if momentum == 0.0:
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
    if momentum == 1.0:
        xs = x.astype(np.float64)
        np.testing.assert_allclose(rm, xs.mean(axis=(0, 2)), rtol=1e-6)
        np.testing.assert_allclose(rv, xs.var(axis=(0, 2), ddof=1), rtol=1e-6)


# --------------------------------------------------------------------------------------
# torch parity (float32, as a torch user runs it)
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 9), (2, 3, 5, 7), (1, 2, 4, 4), (4, 64, 3, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("momentum", [0.0, 0.1, 1.0])
def test_matches_torch(shape, training, momentum):
    torch = pytest.importorskip("torch")
    x, gamma, beta, rm, rv, dy = _inputs(shape, np.float32, seed=5)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(gamma, requires_grad=True)
    bt = torch.tensor(beta, requires_grad=True)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, gt, bt, training, momentum, 1e-5)
    yt.backward(torch.tensor(dy))
    y, mean, invstd = ops.batch_norm(x, gamma, beta, rm, rv, training, momentum, 1e-5)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(rm, rmt.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rv, rvt.numpy(), rtol=1e-6, atol=1e-6)
    gx, gg, gb = ops.batch_norm_backward(dy, x, gamma, mean, invstd, training)
    m = _per_channel(shape)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(gg, gt.grad.numpy(), rtol=1e-4, atol=2e-5 * np.sqrt(m))
    np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-4, atol=2e-5 * np.sqrt(m))


def test_matches_torch_native_batch_norm_saved_stats():
    torch = pytest.importorskip("torch")
    x, gamma, beta, _, _, _ = _inputs((8, 6, 5, 5), np.float32, seed=6)
    _, tm, tinv = torch.ops.aten.native_batch_norm(torch.tensor(x), torch.tensor(gamma),
                                                   torch.tensor(beta), None, None, True,
                                                   0.1, 1e-5)
    _, mean, invstd = ops.batch_norm(x, gamma, beta, None, None, True)
    np.testing.assert_allclose(mean, tm.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(invstd, tinv.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------------------
# numerics
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(64, 3, 16, 16), (4096, 3), (16, 40, 3)])
def test_ill_conditioned_float32(shape):
    # E[x^2] - E[x]^2 in float32 loses every digit here (and can go negative).
    rng = np.random.default_rng(7)
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    y, mean, invstd = ops.batch_norm(x, None, None, None, None, True)
    x64 = x.astype(np.float64)
    y64, mean64, invstd64 = ref.batch_norm(x64, None, None, None, None, True)
    np.testing.assert_allclose(mean, mean64, rtol=1e-7)
    np.testing.assert_allclose(invstd, invstd64, rtol=1e-5)
    # the float32 mean itself is only good to half an ulp of 1e4 (4.9e-4)
    np.testing.assert_allclose(y, y64, atol=1e-3)
    gx, _, _ = ops.batch_norm_backward(dy, x, None, mean, invstd, True)
    gx64, _, _ = ref.batch_norm_backward(dy.astype(np.float64), x64, None, mean64, invstd64, True)
    np.testing.assert_allclose(gx, gx64, atol=2e-3)


@pytest.mark.parametrize("shape", [(64, 3, 40, 40), (8192, 3), (256, 5, 7)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_with_distant_means(shape, dtype):
    # The kernel merges per-block statistics around the first block's mean; here the first
    # rows sit 1e4 standard deviations away from the rest.
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape)
    x[: shape[0] // 16] += 1e4
    x = x.astype(dtype)
    y, mean, invstd = ops.batch_norm(x, None, None, None, None, True)
    y64, mean64, invstd64 = ref.batch_norm(x.astype(np.float64), None, None, None, None, True)
    np.testing.assert_allclose(mean, mean64, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(invstd, invstd64, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(y, y64, rtol=1e-5, atol=1e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("shape", [(8, 3, 20, 20), (300, 5), (9, 4, 50, 100), (5, 6, 7)])
@pytest.mark.parametrize("value", [0.1, -3e4, 7.0])
def test_constant_channel_is_exactly_zero(shape, value):
    x, gamma, beta, rm, rv, _ = _inputs(shape, np.float32, seed=8)
    x[:, 1] = value
    rv0 = rv.copy()
    y, mean, invstd = ops.batch_norm(x, None, None, rm, rv, True)
    assert np.all(y[:, 1] == 0)
    assert mean[1] == np.float32(value)
    assert invstd[1] == np.float32(1 / np.sqrt(1e-5))
    assert rv[1] == np.float32((1 - 0.1) * float(rv0[1]))  # the batch variance is 0
    y, _, _ = ops.batch_norm(x, gamma, beta, None, None, True)
    assert np.all(y[:, 1] == beta[1])


@pytest.mark.parametrize("shape", [(16, 8, 182, 182), (4400, 1000)])
def test_large_outputs_use_streaming_stores_correctly(shape):
    # Outputs of 16 MB and more are written with non-temporal stores (from a buffer, with
    # unaligned heads and tails): same bits as the cached path, which the misaligned `out`
    # views below also exercise.
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape, dtype=np.float32)
    C = shape[1]
    gamma, beta = np.full(C, 1.5, np.float32), np.full(C, 0.25, np.float32)
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    assert x.nbytes >= 16 << 20
    y, mean, invstd = ops.batch_norm(x, gamma, beta, None, None, True)
    want = ref.batch_norm(x, gamma, beta, None, None, True)
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=2e-5)
    for offset in (1, 3):
        buf = np.empty(x.size + offset, np.float32)
        out = buf[offset:].reshape(shape)
        fd._core._batch_norm(x, gamma, beta, None, None, True, 0.1, 1e-5, out)
        assert out.tobytes() == y.tobytes()
        fd._core._batch_norm_backward(dy, x, gamma, mean, invstd, True, out)
        assert out.tobytes() == ops.batch_norm_backward(dy, x, gamma, mean, invstd)[0].tobytes()
    ye, _, _ = ops.batch_norm(x, gamma, beta, rm, rv, False)
    np.testing.assert_allclose(ye, (x - rm[0]) * (gamma[0] / np.sqrt(np.float32(1 + 1e-5))) + beta[0],
                               rtol=1e-5, atol=1e-5)
    gx, _, _ = ops.batch_norm_backward(dy, x, gamma, mean, invstd, True)
    wx, _, _ = ref.batch_norm_backward(dy, x, gamma, mean, invstd, True)
    np.testing.assert_allclose(gx, wx, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------
# layouts, edge cases, validation
# --------------------------------------------------------------------------------------

def test_non_contiguous_inputs_are_read_correctly():
    x, gamma, beta, rm, rv, dy = _inputs((6, 4, 5, 3), np.float64)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # x, F-ish
    dyt = dy[:, :, :, ::-1].copy()[:, :, :, ::-1]
    g2 = np.repeat(gamma, 2)[::2]
    assert not xt.flags.c_contiguous and not dyt.flags.c_contiguous
    a = ops.batch_norm(xt, g2, beta, None, None, True)
    b = ops.batch_norm(x, gamma, beta, None, None, True)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    ga = ops.batch_norm_backward(dyt, xt, g2, a[1], a[2])
    gb = ops.batch_norm_backward(dy, x, gamma, b[1], b[2])
    for u, v in zip(ga, gb):
        np.testing.assert_array_equal(u, v)


def test_eval_accepts_read_only_running_stats():
    x, gamma, beta, rm, rv, _ = _inputs((3, 4, 2), np.float32)
    rm.flags.writeable = False
    rv.flags.writeable = False
    y, mean, invstd = ops.batch_norm(x, gamma, beta, rm, rv, False)
    np.testing.assert_array_equal(mean, rm)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(rv.astype(np.float64) + 1e-5), rtol=1e-6)
    want = (x - rm[:, None]) * (gamma / np.sqrt(rv + np.float32(1e-5)))[:, None] + beta[:, None]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    gx, _, _ = ops.batch_norm_backward(x, x, gamma, mean, invstd, False)
    np.testing.assert_allclose(gx, x * (gamma * invstd)[:, None], rtol=1e-6)


def test_single_value_per_channel_in_training():
    for shape in [(1, 3), (1, 3, 1, 1), (1, 1, 1)]:
        x, gamma, beta, rm, rv, _ = _inputs(shape, np.float32)
        rm0, rv0 = rm.copy(), rv.copy()
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ops.batch_norm(x, gamma, beta, rm, rv, True)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            ops.batch_norm(x, gamma, beta, None, None, True)
        np.testing.assert_array_equal(rm, rm0)
        np.testing.assert_array_equal(rv, rv0)
        y, _, _ = ops.batch_norm(x, gamma, beta, rm, rv, False)  # eval is fine
        assert y.shape == shape


@pytest.mark.parametrize("target", ["running_mean", "running_var"])
@pytest.mark.parametrize("bad", ["read_only", "dtype", "shape", "strided", "same", "overlap",
                                 "list"])
def test_bad_running_stats_modify_nothing(bad, target):
    x, gamma, beta, rm, rv, _ = _inputs((4, 3, 2), np.float32)
    stats = {"running_mean": rm, "running_var": rv}
    other = "running_var" if target == "running_mean" else "running_mean"
    exc = ValueError
    if bad == "read_only":
        stats[target].flags.writeable = False
    elif bad == "dtype":
        stats[target] = stats[target].astype(np.float64)
        exc = DTypeError
    elif bad == "shape":
        stats[target] = np.ones((3, 1), np.float32)
    elif bad == "strided":
        stats[target] = np.ones(6, np.float32)[::2]
    elif bad == "same":
        stats[target] = stats[other]
    elif bad == "overlap":
        buf = np.ones(4, np.float32)
        stats["running_mean"], stats["running_var"] = buf[:3], buf[1:]
    else:
        stats[target] = [1.0, 1.0, 1.0]
        exc = TypeError
    before = {k: np.array(v, copy=True) for k, v in stats.items()}
    with pytest.raises(exc, match="running_"):
        ops.batch_norm(x, gamma, beta, stats["running_mean"], stats["running_var"], True)
    for k, v in stats.items():
        np.testing.assert_array_equal(v, before[k])


def test_validation_errors():
    x, gamma, beta, rm, rv, dy = _inputs((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match="gamma"):
        ops.batch_norm(x, gamma[:2], beta, rm, rv, True)
    with pytest.raises(ValueError, match="beta"):
        ops.batch_norm(x, gamma, beta.reshape(3, 1), rm, rv, True)
    with pytest.raises(DTypeError, match="gamma"):
        ops.batch_norm(x, gamma.astype(np.float64), beta, rm, rv, True)
    with pytest.raises(ValueError, match="both"):
        ops.batch_norm(x, gamma, beta, None, rv, True)
    with pytest.raises(ValueError, match="ndim"):
        ops.batch_norm(x[0, 0], None, None, None, None, True)
    with pytest.raises(TypeError, match="x"):
        ops.batch_norm(x.tolist(), None, None, None, None, True)
    with pytest.raises(TypeError, match="momentum"):
        ops.batch_norm(x, None, None, rm, rv, True, momentum=None)
    with pytest.raises(TypeError, match="training"):
        ops.batch_norm(x, None, None, rm, rv, "yes")
    for dt in (np.int32, np.float16, np.complex64):
        with pytest.raises(TypeError, match="dtype"):
            ops.batch_norm(x.astype(dt), None, None, None, None, True)
        with pytest.raises(TypeError, match="dtype"):
            ops.batch_norm_backward(dy.astype(dt), x.astype(dt), None, rm, rv, True)
    _, m, inv = ops.batch_norm(x, gamma, beta, None, None, True)
    with pytest.raises(ValueError, match="grad_y"):
        ops.batch_norm_backward(dy[:2], x, gamma, m, inv)
    with pytest.raises(DTypeError, match="grad_y"):
        ops.batch_norm_backward(dy.astype(np.float64), x, gamma, m, inv)
    with pytest.raises(ValueError, match="save_mean"):
        ops.batch_norm_backward(dy, x, gamma, m[:2], inv)
    with pytest.raises(DTypeError, match="save_invstd"):
        ops.batch_norm_backward(dy, x, gamma, m, inv.astype(np.float64))
    with pytest.raises(ValueError, match="gamma"):
        ops.batch_norm_backward(dy, x, gamma[:1], m, inv)


def test_empty_batch_matches_twin():
    x = np.zeros((0, 3, 2), np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, m, inv = ops.batch_norm(x, None, None, rm, rv, True)
    assert y.shape == x.shape
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)
    want = ref.batch_norm(x, None, None, rm, rv, True)
    np.testing.assert_array_equal(m, want[1])
    np.testing.assert_array_equal(inv, want[2])
    gx, gg, gb = ops.batch_norm_backward(x, x, np.ones(3, np.float32), m, inv)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gg, 0)
    np.testing.assert_array_equal(gb, 0)


def test_private_out_argument():
    # The benchmark's allocation-free path: the binding writes into a given array.
    x, gamma, beta, _, _, dy = _inputs((4, 5, 6), np.float32)
    out = np.empty_like(x)
    y, m, inv = fd._core._batch_norm(x, gamma, beta, None, None, True, 0.1, 1e-5, out)
    assert y is out
    np.testing.assert_array_equal(out, ops.batch_norm(x, gamma, beta, None, None, True)[0])
    with pytest.raises(ValueError, match="out"):
        fd._core._batch_norm(x, gamma, beta, None, None, True, 0.1, 1e-5, out[:2])
    gout = np.empty_like(x)
    gx, _, _ = fd._core._batch_norm_backward(dy, x, gamma, m, inv, True, gout)
    assert gx is gout
