"""fastdl.ops pooling (Cython) against its NumPy twin and against torch.

Max pooling selects, and average pooling sums in the same order in all three, so those
results are compared bit for bit; the backwards of the average poolings and adaptive
pooling (double sums) to rounding. Random geometries (hypothesis) are in
tests/properties/test_pooling_properties.py, thread-count invariance in
tests/test_determinism.py.
"""

import numpy as np
import pytest

import fastdl
from fastdl import ops, reference as ref

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch parity tests skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}


def _x(shape, dtype, seed=0, ties=False):
    x = np.random.default_rng(seed).standard_normal(shape)
    if ties:
        x = np.round(2 * x)  # many equal values in a window: first-maximum rule
    return x.astype(dtype)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(n, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape, written out again for the tests."""
    num = n + 2 * p - d * (k - 1) - 1
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


# Named cases: (x shape, kernel_size, stride, padding, dilation, ceil_mode)
CASES = [
    ((2, 3, 17, 17), 3, 2, 1, 1, False),  # ResNet stem
    ((1, 1, 7, 7), 1, 1, 0, 1, False),  # identity
    ((1, 17, 5, 9), (5, 9), None, 0, 1, False),  # kernel = image: output 1x1
    ((1, 2, 6, 11), (1, 3), (1, 2), (0, 1), 1, False),  # asymmetric
    ((1, 2, 11, 6), (3, 1), (2, 1), (1, 0), (2, 1), True),
    ((2, 4, 6, 6), 2, 2, 1, 1, True),  # ceil_mode adds a window on the padding
    ((1, 3, 5, 5), 2, 2, 1, 1, True),  # ceil_mode: the extra window would start in padding
    ((1, 5, 13, 7), 7, 3, 3, 1, True),
    ((1, 2, 12, 9), 3, 3, 1, 3, False),  # dilation 3
    ((3, 1, 9, 10), (2, 4), (3, 1), (1, 2), (3, 2), True),
    ((1, 1, 1, 1), 1, 1, 0, 1, True),
    ((1, 16, 4, 4), 2, 2, 0, 1, False),  # VGG-style halving
]


def _geom(case):
    shape, k, s, p, d, cm = case
    return shape, dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm), d


# --------------------------------------------------------------------- forward/backward


def _check_all(x, k, s, p, d, cm, cip, torch_too):
    """Every op, native vs twin (and torch), on one input and one geometry."""
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm)
    dt = x.dtype.type
    y, ind = ops.max_pool2d(x, dilation=d, **kw)
    ry, rind = ref.max_pool2d(x, dilation=d, **kw)
    assert y.dtype == x.dtype and ind.dtype == np.int64 and y.shape == ind.shape
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)
    gy = _x(y.shape, dt, seed=1)
    gx = ops.max_pool2d_backward(gy, ind, x.shape)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    np.testing.assert_array_equal(gx, ref.max_pool2d_backward(gy, ind, x.shape))

    a = ops.avg_pool2d(x, count_include_pad=cip, **kw)  # no dilation
    (kH, kW), (sH, sW), (pH, pW) = _pair(k), _pair(k if s is None else s), _pair(p)
    assert a.shape == x.shape[:2] + (_out_size(x.shape[2], kH, sH, pH, 1, cm),
                                     _out_size(x.shape[3], kW, sW, pW, 1, cm))
    assert a.dtype == x.dtype
    np.testing.assert_array_equal(a, ref.avg_pool2d(x, count_include_pad=cip, **kw))
    gya = _x(a.shape, dt, seed=2)
    ga = ops.avg_pool2d_backward(gya, x.shape, count_include_pad=cip, **kw)
    assert ga.shape == x.shape and ga.dtype == x.dtype
    np.testing.assert_allclose(
        ga, ref.avg_pool2d_backward(gya, x.shape, count_include_pad=cip, **kw), **TOL[dt])

    if torch_too:
        tx = torch.from_numpy(x).requires_grad_()
        ty, tind = F.max_pool2d(tx, k, s, p, d, cm, return_indices=True)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(ind, tind.numpy())
        ty.backward(torch.from_numpy(gy))
        np.testing.assert_allclose(gx, tx.grad.numpy(), **TOL[dt])
        tx.grad = None
        ta = F.avg_pool2d(tx, k, s, p, cm, cip)
        np.testing.assert_allclose(a, ta.detach().numpy(), **TOL[dt])
        ta.backward(torch.from_numpy(gya))
        np.testing.assert_allclose(ga, tx.grad.numpy(), **TOL[dt])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-k{c[1]}s{c[2]}p{c[3]}d{c[4]}c{int(c[5])}")
def test_named_cases(case, cip, dtype):
    shape, k, s, p, d, cm = case
    _check_all(_x(shape, dtype, ties=cip), k, s, p, d, cm, cip, torch is not None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,out", [
    ((2, 3, 7, 7), 1), ((1, 17, 13, 11), (5, 4)), ((2, 2, 5, 7), (None, 3)),
    ((1, 3, 4, 6), (8, 9)), ((1, 1, 1, 1), 1), ((2, 4, 6, 6), 6), ((1, 2, 10, 3), (3, None)),
])
def test_adaptive_vs_twin_and_torch(shape, out, dtype):
    x = _x(shape, dtype)
    y = ops.adaptive_avg_pool2d(x, out)
    ry = ref.adaptive_avg_pool2d(x, out)
    assert y.dtype == x.dtype and y.shape == ry.shape
    np.testing.assert_allclose(y, ry, **TOL[dtype])
    gy = _x(y.shape, dtype, seed=2)
    gx = ops.adaptive_avg_pool2d_backward(gy, shape)
    assert gx.shape == shape and gx.dtype == x.dtype
    # the same divisions and additions in the same order
    np.testing.assert_array_equal(gx, ref.adaptive_avg_pool2d_backward(gy, shape))
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_()
        ty = F.adaptive_avg_pool2d(tx, out)
        assert tuple(ty.shape) == y.shape
        np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype])
        ty.backward(torch.from_numpy(gy))
        np.testing.assert_allclose(gx, tx.grad.numpy(), **TOL[dtype])


def test_adaptive_float32_global_average_is_accurate():
    # a 224x224 plane to 1x1: the double sum keeps float32 rounding (a float32
    # running sum of 50,176 terms of 1e4 + noise would drift by ~1e-4 relative)
    x = (1e4 + np.random.default_rng(3).standard_normal((1, 2, 224, 224))).astype(np.float32)
    exact = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(ops.adaptive_avg_pool2d(x, 1), exact, rtol=1e-7)


# ------------------------------------------------------------------- NaN, inf, layouts


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_wins_and_last_nan_is_the_index(dtype):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan, 2.0, 5.0]]]], dtype=dtype)
    y, ind = ops.max_pool2d(x, (1, 4), stride=(1, 2))
    # windows [0:4] -> NaNs at 1 and 3 (the last wins); [2:6] -> NaN at 3
    assert np.isnan(y).all()
    np.testing.assert_array_equal(ind, [[[[3, 3]]]])
    ry, rind = ref.max_pool2d(x, (1, 4), stride=(1, 2))
    np.testing.assert_array_equal(rind, ind)
    if torch is not None:
        _, tind = F.max_pool2d(torch.from_numpy(x), (1, 4), (1, 2), return_indices=True)
        np.testing.assert_array_equal(ind, tind.numpy())
    # a NaN before a larger number is kept
    y, ind = ops.max_pool2d(np.array([[[[np.nan, 9.0]]]], dtype=dtype), (1, 2))
    assert np.isnan(y).all() and ind.item() == 0
    # NaN propagates through average pooling
    a = ops.avg_pool2d(x, (1, 2))
    np.testing.assert_array_equal(np.isnan(a), [[[[True, True, False]]]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_infinities_and_ties(dtype):
    # all -inf: the first in-bounds position (after the left padding), as torch
    x = np.full((1, 1, 2, 4), -np.inf, dtype=dtype)
    y, ind = ops.max_pool2d(x, 3, stride=1, padding=1)
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(ind, [[[[0, 0, 1, 2], [0, 0, 1, 2]]]])
    # ties: the first in row-major window order
    x = np.array([[[[2.0, 2.0], [2.0, 2.0]]]], dtype=dtype)
    assert ops.max_pool2d(x, 2)[1].item() == 0
    x = np.array([[[[1.0, 2.0], [2.0, np.inf]]]], dtype=dtype)
    assert ops.max_pool2d(x, 2)[1].item() == 3


def test_unbatched_3d_input():
    x = _x((3, 9, 8), np.float32)
    y, ind = ops.max_pool2d(x, 3, 2, 1)
    y4, ind4 = ops.max_pool2d(x[None], 3, 2, 1)
    assert y.shape == (3, 5, 4)
    np.testing.assert_array_equal(y, y4[0])
    np.testing.assert_array_equal(ind, ind4[0])
    gy = _x(y.shape, np.float32, seed=1)
    np.testing.assert_array_equal(ops.max_pool2d_backward(gy, ind, x.shape),
                                  ops.max_pool2d_backward(gy[None], ind4, (1,) + x.shape)[0])
    np.testing.assert_array_equal(ops.avg_pool2d(x, 2, ceil_mode=True),
                                  ops.avg_pool2d(x[None], 2, ceil_mode=True)[0])
    np.testing.assert_array_equal(ops.avg_pool2d_backward(gy, x.shape, 3, 2, 1),
                                  ops.avg_pool2d_backward(gy[None], (1,) + x.shape, 3, 2, 1)[0])
    a = ops.adaptive_avg_pool2d(x, (2, 3))
    np.testing.assert_array_equal(a, ops.adaptive_avg_pool2d(x[None], (2, 3))[0])
    assert ops.adaptive_avg_pool2d_backward(a, x.shape).shape == x.shape
    if torch is not None:
        np.testing.assert_array_equal(y, F.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy())


def test_empty_batch():
    x = np.zeros((0, 3, 5, 5), np.float32)
    y, ind = ops.max_pool2d(x, 2)
    assert y.shape == ind.shape == (0, 3, 2, 2)
    assert ops.max_pool2d_backward(y, ind, x.shape).shape == x.shape
    assert ops.avg_pool2d(x, 2).shape == (0, 3, 2, 2)
    assert ops.adaptive_avg_pool2d(x, 1).shape == (0, 3, 1, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_layout_and_read_only_inputs(dtype):
    base = _x((2, 5, 14, 22), dtype)
    x = base[:, ::2, :, ::2]  # strided view
    x.flags.writeable = False
    xc = np.ascontiguousarray(x)
    before = base.copy()
    for a, b in [(ops.max_pool2d(x, 3, 2, 1), ops.max_pool2d(xc, 3, 2, 1)),
                 (ops.avg_pool2d(x, 2, 1, 1), ops.avg_pool2d(xc, 2, 1, 1)),
                 (ops.adaptive_avg_pool2d(x, 3), ops.adaptive_avg_pool2d(xc, 3))]:
        np.testing.assert_array_equal(a, b)
    y, ind = ops.max_pool2d(xc, 3, 2, 1)
    gy = np.asfortranarray(_x(y.shape, dtype, seed=5))
    ind_f = np.asfortranarray(ind)
    ind_f.flags.writeable = False
    np.testing.assert_array_equal(ops.max_pool2d_backward(gy, ind_f, x.shape),
                                  ops.max_pool2d_backward(np.ascontiguousarray(gy), ind, x.shape))
    g2 = np.asfortranarray(_x(ops.avg_pool2d(xc, 2, 1, 1).shape, dtype))
    np.testing.assert_array_equal(ops.avg_pool2d_backward(g2, x.shape, 2, 1, 1),
                                  ops.avg_pool2d_backward(np.ascontiguousarray(g2), x.shape, 2, 1, 1))
    np.testing.assert_array_equal(base, before)


# ------------------------------------------------------------------------- bad input

IMPLS = [pytest.param(ops, id="native"), pytest.param(ref, id="numpy")]
X = np.zeros((1, 2, 6, 6), np.float32)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("call,exc,match", [
    (lambda m: m.max_pool2d([[1.0]], 2), TypeError, "x must be a numpy.ndarray"),
    (lambda m: m.max_pool2d(X.astype(np.int32), 2), fastdl.DTypeError, "x must be float32 or float64, got int32"),
    (lambda m: m.avg_pool2d(X.astype(np.float16), 2), fastdl.DTypeError, "x must be float32"),
    (lambda m: m.adaptive_avg_pool2d(X.astype(np.int64), 2), fastdl.DTypeError, "x must be float32"),
    (lambda m: m.max_pool2d(X[0, 0], 2), ValueError, r"x must be 4-D .* got shape \(6, 6\)"),
    (lambda m: m.avg_pool2d(X[None], 2), ValueError, "x must be 4-D"),
    (lambda m: m.max_pool2d(X[:, :0], 2), ValueError, "x must have C, H and W >= 1"),
    (lambda m: m.max_pool2d(X, 0), ValueError, "kernel_size must be >= 1"),
    (lambda m: m.max_pool2d(X, (2, -1)), ValueError, "kernel_size must be >= 1"),
    (lambda m: m.max_pool2d(X, (2, 2, 2)), ValueError, "kernel_size must be an int or a pair"),
    (lambda m: m.max_pool2d(X, 2.0), TypeError, "kernel_size must be an int"),
    (lambda m: m.max_pool2d(X, True), TypeError, "kernel_size must be an int"),
    (lambda m: m.max_pool2d(X, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda m: m.avg_pool2d(X, 2, stride=(1, 0)), ValueError, "stride must be >= 1"),
    (lambda m: m.max_pool2d(X, 2, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda m: m.max_pool2d(X, 2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda m: m.max_pool2d(X, 3, padding=2), ValueError, "padding must be at most half"),
    (lambda m: m.avg_pool2d(X, (4, 1), padding=(2, 1)), ValueError, "padding must be at most half"),
    (lambda m: m.max_pool2d(X, 7), ValueError, "output height is 0"),
    (lambda m: m.max_pool2d(X, 3, dilation=3), ValueError, "output height is 0"),
    (lambda m: m.avg_pool2d(X, (1, 8)), ValueError, "output width is 0"),
    (lambda m: m.max_pool2d(X, 2, ceil_mode="yes"), TypeError, "ceil_mode must be a bool"),
    (lambda m: m.avg_pool2d(X, 2, count_include_pad=None), TypeError, "count_include_pad must be a bool"),
    (lambda m: m.adaptive_avg_pool2d(X, 0), ValueError, "output_size must be >= 1"),
    (lambda m: m.adaptive_avg_pool2d(X, (2, 2, 2)), ValueError, "output_size must be an int or a pair"),
    (lambda m: m.adaptive_avg_pool2d(X, 2.5), TypeError, "output_size must be an int"),
])
def test_bad_forward_arguments(impl, call, exc, match):
    with pytest.raises(exc, match=match):
        call(impl)


def test_dtype_error_is_both_type_and_value_error():
    for exc in (TypeError, ValueError):
        with pytest.raises(exc):
            ops.max_pool2d(X.astype(np.int16), 2)


GY = np.ones((1, 2, 3, 3), np.float32)
IND = np.zeros((1, 2, 3, 3), np.int64)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("call,exc,match", [
    (lambda m: m.max_pool2d_backward(GY, IND.astype(np.int32), (1, 2, 6, 6)), ValueError, "indices must be int64"),
    (lambda m: m.max_pool2d_backward(GY, IND.tolist(), (1, 2, 6, 6)), TypeError, "indices must be a numpy.ndarray"),
    (lambda m: m.max_pool2d_backward(GY, IND[..., :2], (1, 2, 6, 6)), ValueError, "indices must have grad_y's shape"),
    (lambda m: m.max_pool2d_backward(GY, IND + 36, (1, 2, 6, 6)), ValueError, r"18 of the indices are outside .*\[0, 36\)"),
    (lambda m: m.max_pool2d_backward(GY, IND - 1, (1, 2, 6, 6)), ValueError, "indices are outside"),
    (lambda m: m.max_pool2d_backward(GY.astype(np.int32), IND, (1, 2, 6, 6)), fastdl.DTypeError, "grad_y must be float32"),
    (lambda m: m.max_pool2d_backward(GY, IND, (1, 3, 6, 6)), ValueError, "input_shape must be .* grad_y's N and C"),
    (lambda m: m.max_pool2d_backward(GY, IND, (2, 6, 6)), ValueError, "input_shape must be"),
    (lambda m: m.max_pool2d_backward(GY, IND, (1, 2, 0, 6)), ValueError, "input_shape must be"),
    (lambda m: m.max_pool2d_backward(GY, IND, "1, 2, 6, 6"), TypeError, "input_shape must be a tuple of ints"),
    (lambda m: m.max_pool2d_backward(GY, IND, (1, 2, 6.0, 6)), TypeError, "input_shape must be a tuple of ints"),
    (lambda m: m.avg_pool2d_backward(GY, (1, 2, 6, 6), 3), ValueError, r"grad_y must have spatial size \(2, 2\)"),
    (lambda m: m.avg_pool2d_backward(GY, (1, 2, 6, 6), 2, padding=2), ValueError, "padding must be at most half"),
    (lambda m: m.avg_pool2d_backward(GY[0, 0], (6, 6), 2), ValueError, "grad_y must be 4-D"),
    (lambda m: m.adaptive_avg_pool2d_backward(GY, (2, 2, 6, 6)), ValueError, "input_shape must be"),
    (lambda m: m.adaptive_avg_pool2d_backward(GY.astype(np.float16), (1, 2, 6, 6)), fastdl.DTypeError, "grad_y"),
])
def test_bad_backward_arguments(impl, call, exc, match):
    with pytest.raises(exc, match=match):
        call(impl)
