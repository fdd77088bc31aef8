"""Property tests of the pooling kernels (fastdl.ops.max_pool2d, avg_pool2d,
adaptive_avg_pool2d and their backwards) against the NumPy twins: random kernels,
strides (None included), paddings up to and past the limit of half the kernel,
dilations, ceil_mode, count_include_pad, empty batches, 3-D inputs, ties, NaN and inf,
any input layout. Where torch is installed the same calls are also checked against it
(optional: the suite runs without torch).

Max pooling selects and average pooling sums each window in the same order as the twin,
so those forwards are compared bit for bit; the backwards sum overlapping windows in
their own order and are held to the summation bound of tests/properties/bounds.py with
the number of windows that can cover one input position.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from bounds import absf, assert_within, relayout, up
from fastdl import ops, reference as ref

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the torch comparisons are skipped
    torch = None

DTYPES = [np.float32, np.float64]


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    over = draw(st.integers(0, 9)) == 0  # now and then a padding past the limit
    p = tuple(draw(st.integers(0, kk // 2 + (1 if over else 0))) for kk in k)
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n = draw(st.sampled_from([0, 1, 2]))
    shape = (n, draw(st.integers(1, 9)), draw(st.integers(1, 16)), draw(st.integers(1, 16)))
    if draw(st.integers(0, 4)) == 0:
        shape = shape[1:]  # unbatched (C, H, W)
    return dict(shape=shape, k=k, s=stride, p=p, d=d, ceil_mode=draw(st.booleans()),
                cip=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
                values=draw(st.sampled_from(["normal", "ties", "nonfinite"])),
                layout=draw(st.sampled_from(["C", "fortran", "strided"])),
                seed=draw(st.integers(0, 2**32 - 1)))


def _values(rng, shape, dtype, kind):
    x = rng.standard_normal(shape)
    if kind == "ties":
        x = np.round(2 * x)
    elif kind == "nonfinite":
        x[rng.random(shape) < 0.1] = np.nan
        x[rng.random(shape) < 0.1] = np.inf
        x[rng.random(shape) < 0.1] = -np.inf
    return x.astype(dtype)


def _both(call):
    """call(ops) and call(ref): the two results, or the two ValueErrors' messages."""
    out = []
    for impl in (ops, ref):
        try:
            out.append(call(impl))
        except ValueError as e:
            out.append(("ValueError", str(e)))
    return out


def _is_error(r):
    return isinstance(r, tuple) and isinstance(r[0], str)


@given(pool_cases())
def test_max_pool_matches_twin(c):
    rng = np.random.default_rng(c["seed"])
    x = _values(rng, c["shape"], c["dtype"], c["values"])
    args = (c["k"], c["s"], c["p"], c["d"], c["ceil_mode"])
    got, want = _both(lambda m: m.max_pool2d(relayout(x, c["layout"]), *args))
    if _is_error(want):  # a geometry error: the same one in both
        assert got == want
        if torch is not None and x.shape[0] > 0:
            with pytest.raises(RuntimeError):
                F.max_pool2d(torch.from_numpy(x), c["k"], c["s"], c["p"], c["d"], c["ceil_mode"])
        return
    (y, ind), (ry, rind) = got, want
    assert y.dtype == x.dtype and ind.dtype == np.int64 and y.shape == ind.shape == ry.shape
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(ind, rind)
    gy = rng.standard_normal(y.shape).astype(c["dtype"])
    plane = x.shape[-2] * x.shape[-1]
    if ind.size and (ind.min() < 0 or ind.max() >= plane):
        # a window that sees no input (dilation steps over the whole unpadded input): y is
        # -inf with torch's out-of-plane index in all three; the backward refuses it
        assert (y[(ind < 0) | (ind >= plane)] == -np.inf).all()
        for impl in (ops, ref):
            with pytest.raises(ValueError, match="outside the input plane"):
                impl.max_pool2d_backward(gy, ind, x.shape)
        return
    gx = ops.max_pool2d_backward(relayout(gy, c["layout"]), ind, x.shape)
    k = c["k"][0] * c["k"][1]
    assert gx.shape == x.shape and gx.dtype == x.dtype
    assert_within(gx, ref.max_pool2d_backward(up(gy), ind, x.shape),
                  ref.max_pool2d_backward(absf(gy), ind, x.shape), k, "grad_x")
    if torch is not None and x.size and c["values"] != "nonfinite":
        ty, tind = F.max_pool2d(torch.from_numpy(x), c["k"], c["s"], c["p"], c["d"],
                                c["ceil_mode"], return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        if c["values"] == "normal":  # torch's ties between equal values are unspecified
            np.testing.assert_array_equal(ind, tind.numpy())


@given(pool_cases())
def test_avg_pool_matches_twin(c):
    rng = np.random.default_rng(c["seed"])
    x = _values(rng, c["shape"], c["dtype"], c["values"])
    args = (c["k"], c["s"], c["p"], c["ceil_mode"], c["cip"])
    got, want = _both(lambda m: m.avg_pool2d(relayout(x, c["layout"]), *args))
    if _is_error(want):
        assert got == want
        return
    assert got.shape == want.shape and got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)  # the same sums in the same order
    gy = rng.standard_normal(got.shape).astype(c["dtype"])
    gx = ops.avg_pool2d_backward(relayout(gy, c["layout"]), x.shape, *args)
    assert gx.shape == x.shape and gx.dtype == x.dtype
    k = c["k"][0] * c["k"][1]
    assert_within(gx, ref.avg_pool2d_backward(up(gy), x.shape, *args),
                  ref.avg_pool2d_backward(absf(gy), x.shape, *args), k, "grad_x")
    if torch is not None and x.size and c["values"] == "normal":
        tx = torch.from_numpy(x).requires_grad_()
        ty = F.avg_pool2d(tx, *args)
        np.testing.assert_allclose(got, ty.detach().numpy(), rtol=4 * np.finfo(x.dtype).eps,
                                   atol=4 * np.finfo(x.dtype).eps)


@given(shape=st.tuples(st.integers(0, 2), st.integers(1, 5), st.integers(1, 20),
                       st.integers(1, 20)),
       out=st.tuples(st.one_of(st.none(), st.integers(1, 25)),
                     st.one_of(st.none(), st.integers(1, 25))),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool_matches_twin(shape, out, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y = ops.adaptive_avg_pool2d(x, out)
    want = ref.adaptive_avg_pool2d(up(x), out)
    assert y.dtype == dtype and y.shape == want.shape
    bins = int(np.ceil(shape[2] / want.shape[2]) + 1) * int(np.ceil(shape[3] / want.shape[3]) + 1)
    assert_within(y, want, ref.adaptive_avg_pool2d(absf(x), out), bins, "y")
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = ops.adaptive_avg_pool2d_backward(gy, shape)
    assert gx.shape == shape and gx.dtype == dtype
    assert_within(gx, ref.adaptive_avg_pool2d_backward(up(gy), shape),
                  ref.adaptive_avg_pool2d_backward(absf(gy), shape), 8, "grad_x")


# ------------------------------------------------------------------ regressions

def test_regression_twin_avg_pool_is_silent_on_nonfinite_input():
    # Found by hypothesis (test_avg_pool_matches_twin, values="nonfinite", shrunk to a
    # (1, 5, 3) input with kernel (1, 2)): the twin's window sums warned "invalid value
    # encountered in add" on inf + -inf (an error under filterwarnings=error), while
    # the native kernel and torch propagate NaN silently. The twins now run under
    # fastdl._checks.silent_ieee.
    x = np.array([[[np.inf, -np.inf, 1.0], [np.nan, 2.0, 3.0], [1.0, 2.0, np.inf],
                   [0.0, 0.0, 0.0], [5.0, -np.inf, np.inf]]], np.float32)
    want = ref.avg_pool2d(x, (1, 2), None, 0, False, False)
    np.testing.assert_array_equal(ops.avg_pool2d(x, (1, 2), None, 0, False, False), want)
    assert np.isnan(want[0, 0, 0]) and np.isnan(want[0, 1, 0]) and want[0, 4, 0] == -np.inf
    gy = ref.avg_pool2d_backward(want, x.shape, (1, 2))
    np.testing.assert_array_equal(np.isnan(gy[0, 0]), [True, True, False])


def test_regression_window_that_sees_no_input():
    # Found by the deep hypothesis run (test_max_pool_matches_twin, shrunk to this): a
    # 1x1 input, kernel (1, 6), padding (0, 3), dilation (1, 2), ceil_mode: the one window
    # steps over the only input element. Native, twin and torch all give y = -inf with
    # index 1, outside the 1-element plane; max_pool2d_backward must reject that index
    # with a ValueError (never write out of bounds).
    x = np.array([[[0.5]]], np.float32)
    for impl in (ops, ref):
        y, ind = impl.max_pool2d(x, (1, 6), None, (0, 3), (1, 2), True)
        assert y.item() == -np.inf and ind.item() == 1
        with pytest.raises(ValueError, match="outside the input plane"):
            impl.max_pool2d_backward(np.ones_like(y), ind, x.shape)
