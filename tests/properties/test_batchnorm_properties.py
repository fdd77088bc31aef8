"""Property tests of fastdl.ops.batch_norm / batch_norm_backward against the NumPy twin:
x of ndim 2 to 5 with size-1 dimensions and empty batches, training or eval, with or
without gamma/beta, with or without running statistics, any momentum and eps, both
dtypes, any input layout.

The oracle is the float64 twin on the same (upcast) inputs; bounds are in units of the
dtype's roundoff u times the magnitude of the terms (tests/properties/bounds.py). The
statistics are accumulated in double by both, so the per-element error of y and grad_x
is a handful of roundings of the terms that make it, independent of the batch size:
y from (|x| + |mean|) * invstd * |gamma| + |beta|, grad_x from
|gamma| invstd (|dy| + mean|dy| + |x_hat| mean|dy x_hat|) with |x_hat| taken as
(|x| + |mean|) invstd; the per-channel sums grad_gamma, grad_beta from the sums of the
absolute terms.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from bounds import assert_within, up
from fastdl import ops, reference as ref

DTYPES = [np.float32, np.float64]


@st.composite
def cases(draw):
    ndim = draw(st.integers(2, 5))
    dims = st.sampled_from([1, 1, 2, 3, 5, 8, 17])
    n = draw(st.sampled_from([0, 1, 2, 3, 7, 16]))
    shape = (n, draw(st.integers(1, 6))) + tuple(draw(dims) for _ in range(ndim - 2))
    return dict(shape=shape, dtype=draw(st.sampled_from(DTYPES)), training=draw(st.booleans()),
                affine=draw(st.sampled_from(["both", "gamma", "beta", "none"])),
                running=draw(st.booleans()), momentum=draw(st.sampled_from([0.1, 0.0, 1.0, 0.37])),
                eps=draw(st.sampled_from([1e-5, 1e-3, 0.0])),
                offset=draw(st.sampled_from([0.0, 3.0, -50.0])),
                fortran=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def _per_channel(shape):
    return int(np.prod((shape[0],) + shape[2:]))


@given(cases())
def test_batch_norm_forward_backward_match_twin(case):
    shape, dt, training = case["shape"], case["dtype"], case["training"]
    rng = np.random.default_rng(case["seed"])
    C, m = shape[1], _per_channel(shape)
    x = (case["offset"] + rng.standard_normal(shape) * rng.uniform(0.1, 3)).astype(dt)
    gamma = rng.uniform(-2, 2, C).astype(dt) if case["affine"] in ("both", "gamma") else None
    beta = rng.standard_normal(C).astype(dt) if case["affine"] in ("both", "beta") else None
    rm = rng.standard_normal(C).astype(dt) if case["running"] else None
    rv = rng.uniform(0.2, 3, C).astype(dt) if case["running"] else None
    mom, eps = case["momentum"], case["eps"]
    if eps == 0 and (m < 2 or not training) and not case["running"]:
        eps = 1e-5  # a zero batch variance with eps 0: invstd is inf in both (not this test)
    xin = np.asfortranarray(x) if case["fortran"] else x
    rm_n, rv_n = (None, None) if rm is None else (rm.copy(), rv.copy())
    rm_r, rv_r = (None, None) if rm is None else (up(rm), up(rv))

    if training and m == 1:
        rm_t, rv_t = (None, None) if rm is None else (rm.copy(), rv.copy())
        for impl, a, b in ((ops, rm_n, rv_n), (ref, rm_t, rv_t)):
            with pytest.raises(ValueError, match="more than 1 value per channel"):
                impl.batch_norm(xin, gamma, beta, a, b, training, mom, eps)
        if rm is not None:
            np.testing.assert_array_equal(rm_n, rm)
        return

    y, mean, invstd = ops.batch_norm(xin, gamma, beta, rm_n, rv_n, training, mom, eps)
    wy, wmean, winvstd = ref.batch_norm(up(x), up(gamma), up(beta), rm_r, rv_r, training, mom, eps)
    assert y.shape == shape and y.dtype == dt and y.flags.c_contiguous
    assert mean.shape == invstd.shape == (C,) and mean.dtype == invstd.dtype == dt
    if m == 0:  # an empty batch: nothing normalized, nothing updated (as torch)
        if rm is not None:
            np.testing.assert_array_equal(rm_n, rm)
            np.testing.assert_array_equal(rv_n, rv)
        return

    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, C) + (1,) * (len(shape) - 2)
    absx = np.abs(up(x))
    mean_abs = absx.mean(axis=axes)  # the size of the terms of the mean
    assert_within(mean, wmean, mean_abs if (training or rm is None) else np.abs(wmean), 2,
                  "save_mean")
    assert_within(invstd, winvstd, winvstd, 4, "save_invstd")
    g = np.ones(C) if gamma is None else np.abs(up(gamma))
    b = np.zeros(C) if beta is None else np.abs(up(beta))
    # the batch mean is accurate to a few u of mean|x| (a sum's bound), not of |mean|:
    # that error enters every y; running stats in eval are used as given
    mean_size = np.abs(wmean) if (rm is not None and not training) else mean_abs
    xh = (absx + mean_size.reshape(bshape)) * winvstd.reshape(bshape)  # >= |x_hat| + error
    assert_within(y, wy, xh * g.reshape(bshape) + b.reshape(bshape), 4, "y")
    if rm is not None:
        if training:
            var_unb = (np.square(up(x) - wmean.reshape(bshape)).mean(axis=axes) * m / (m - 1))
            assert_within(rm_n, rm_r, mom * mean_abs + abs(1 - mom) * np.abs(up(rm)), 4,
                          "running_mean")
            assert_within(rv_n, rv_r, mom * var_unb + abs(1 - mom) * up(rv), 4,
                          "running_var")
        else:  # eval only reads them
            np.testing.assert_array_equal(rm_n, rm)
            np.testing.assert_array_equal(rv_n, rv)

    # backward, from the native saved statistics given to both
    bw_training = training or rm is None
    dy = rng.standard_normal(shape).astype(dt)
    gx, gg, gb = ops.batch_norm_backward(dy, xin, gamma, mean, invstd, bw_training)
    rx, rg, rb = ref.batch_norm_backward(up(dy), up(x), up(gamma), up(mean), up(invstd),
                                         bw_training)
    assert gx.shape == shape and gx.dtype == dt and gx.flags.c_contiguous
    xh = (absx + np.abs(up(mean)).reshape(bshape)) * up(invstd).reshape(bshape)
    ady = np.abs(up(dy))
    scale = (g * up(invstd)).reshape(bshape)
    if bw_training:
        bound = scale * (ady + ady.mean(axis=axes).reshape(bshape)
                         + xh * (ady * xh).mean(axis=axes).reshape(bshape))
    else:
        bound = scale * ady
    assert_within(gx, rx, bound, 8, "grad_x")
    if gamma is None:
        assert gg is None and gb is None
    else:
        assert gg.shape == gb.shape == (C,) and gg.dtype == gb.dtype == dt
        assert_within(gg, rg, (ady * xh).sum(axis=axes), 4, "grad_gamma")
        assert_within(gb, rb, ady.sum(axis=axes), 2, "grad_beta")


# ------------------------------------------------------------------ regressions

@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_nan_in_x_makes_the_variance_nan(dtype):
    # Found by the contract table (tests/test_contract.py, batch_norm_train-nan-x): the
    # variance was clamped with std::max(0.0, m2), which turns a NaN into 0, so a NaN in
    # x gave save_invstd = 1/sqrt(eps) and a finite running_var where torch and the twin
    # give NaN.
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(dtype)
    x[0, 1, 2] = np.nan
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    _, mean, invstd = ops.batch_norm(x, None, None, rm, rv, True)
    _, wmean, winvstd = ref.batch_norm(x, None, None, np.zeros(3, dtype), np.ones(3, dtype), True)
    np.testing.assert_array_equal(np.isnan(invstd), [False, True, False])
    np.testing.assert_array_equal(np.isnan(invstd), np.isnan(winvstd))
    np.testing.assert_array_equal(np.isnan(rv), [False, True, False])
    np.testing.assert_array_equal(np.isnan(rm), [False, True, False])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3, 5), (8, 3, 300, 30), (64, 40, 5, 5), (1024, 48),
                                   (2, 2, 90, 90)])
def test_regression_inf_in_x_gives_an_infinite_mean(shape, dtype):
    # Found by the contract table (tests/test_contract.py, batch_norm_train-inf-x): the
    # statistics are deviations from each block's plain mean, and with an inf in the
    # block those are inf - inf = NaN, so save_mean and running_mean came out NaN where
    # torch and the twin give +-inf. Shapes: the plane, tile and split-row paths.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[7] = np.inf                 # channel 0 (and 1 in the 2-D case): +inf
    x.flat[x.size // 2] = np.inf
    x.flat[-1] = -np.inf
    outs = []
    for impl in (ops, ref):
        rm, rv = np.zeros(shape[1], dtype), np.ones(shape[1], dtype)
        outs.append([*impl.batch_norm(x, None, None, rm, rv, True), rm, rv])
    for name, got, want in zip(["y", "save_mean", "save_invstd", "running_mean",
                                "running_var"], *outs):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("where", ["gamma", "save_invstd"])
@pytest.mark.parametrize("shape", [(4, 3, 5), (8, 3, 300, 30), (1024, 48)])
def test_regression_infinite_scale_in_backward(shape, where, training, dtype):
    # Found by the contract table (batch_norm_backward-inf-gamma / -inf-save_invstd, kept
    # there as strict xfails until fixed): grad_x was dy*a + (x - mean)*b + c with the
    # per-channel coefficients, which an infinite gamma*invstd turns into inf - inf = NaN
    # where torch and the twin's factored form give +-inf; and grad_gamma with an
    # infinite invstd was sum(dy*(x - mean))*invstd instead of the twin's sum(dy*x_hat).
    rng = np.random.default_rng(1)
    C = shape[1]
    x, dy = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    gamma = rng.uniform(0.5, 2, C).astype(dtype)
    mean = rng.standard_normal(C).astype(dtype)
    invstd = rng.uniform(0.5, 2, C).astype(dtype)
    {"gamma": gamma, "save_invstd": invstd}[where][1] = np.inf
    got = ops.batch_norm_backward(dy, x, gamma, mean, invstd, training)
    want = ref.batch_norm_backward(dy, x, gamma, mean, invstd, training)
    for name, g, w in zip(["grad_x", "grad_gamma", "grad_beta"], got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=name)
        np.testing.assert_array_equal(g[np.isinf(w)], w[np.isinf(w)], err_msg=name)
        fin = np.isfinite(w)
        np.testing.assert_allclose(g[fin], w[fin], rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10, err_msg=name)
    if where == "gamma":  # the case that matters: +-inf gradients, not NaN
        assert np.isinf(got[0][:, 1]).all() and not np.isnan(got[0]).any()
