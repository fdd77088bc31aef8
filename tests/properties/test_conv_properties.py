"""Property tests of the convolution family (fastdl.ops.conv2d, conv2d_backward, im2col,
col2im) against the NumPy twins, on random geometries: shapes, strides, paddings
(ints, pairs, "same", "valid"), dilations, groups (depthwise included), bias, kernels
larger than the unpadded input, N = 0 (torch accepts an empty batch), 3-D inputs of
im2col/col2im, and input layouts (C, Fortran, strided: copied once).

Every result is compared with the float64 twin on the same (upcast) inputs, within the
summation bound of tests/properties/bounds.py whose length is the reduction length of
that output: C/groups*KH*KW for y, F/groups*KH*KW for grad_x, N*OH*OW for grad_weight.
im2col only copies, so it must be exact.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from bounds import absf, assert_within, relayout, up
from fastdl import ops, reference as ref

DTYPES = [np.float32, np.float64]


@st.composite
def conv_geometries(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    cg, fg = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()) and groups > 1:
        cg = 1  # depthwise (fg is the channel multiplier)
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if padding in ("int", "pair"):
        ph = draw(st.integers(0, 4))
        pw = ph if padding == "int" else draw(st.integers(0, 4))
        padding = ph if padding == "int" else (ph, pw)
        tot = (2 * ph, 2 * pw)
    elif padding == "same":
        tot = (dh * (kh - 1), dw * (kw - 1))
    else:
        tot = (0, 0)
    # the smallest input with one output position; with padding that can be smaller than
    # the (dilated) kernel: a kernel larger than the unpadded input
    h = max(1, dh * (kh - 1) + 1 - tot[0]) + draw(st.integers(0, 8))
    w = max(1, dw * (kw - 1) + 1 - tot[1]) + draw(st.integers(0, 8))
    n = draw(st.integers(0, 3))
    return dict(xs=(n, cg * groups, h, w), ws=(fg * groups, cg, kh, kw), stride=stride,
                padding=padding, dilation=(dh, dw), groups=groups)


@given(conv_geometries(), st.sampled_from(DTYPES), st.booleans(),
       st.sampled_from(["C", "fortran", "strided"]), st.integers(0, 2**32 - 1))
def test_conv2d_forward_backward_match_twin(geom, dtype, with_bias, layout, seed):
    rng = np.random.default_rng(seed)
    xs, ws, groups = geom["xs"], geom["ws"], geom["groups"]
    args = (geom["stride"], geom["padding"], geom["dilation"], groups)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if with_bias else None

    y = ops.conv2d(relayout(x, layout), relayout(w, layout), b, *args)
    want = ref.conv2d(up(x), up(w), up(b), *args)
    bound = ref.conv2d(absf(x), absf(w), absf(b), *args)
    assert y.dtype == dtype and y.flags.c_contiguous and y.shape == want.shape
    assert_within(y, want, bound, ws[1] * ws[2] * ws[3], "y")

    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = ops.conv2d_backward(relayout(gy, layout), x, w, *args, bias=with_bias)
    rx, rw, rb = ref.conv2d_backward(up(gy), up(x), up(w), *args)
    bx, bw, bb = ref.conv2d_backward(absf(gy), absf(x), absf(w), *args)
    assert gx.shape == xs and gw.shape == ws and gx.dtype == gw.dtype == dtype
    assert_within(gx, rx, bx, (ws[0] // groups) * ws[2] * ws[3], "grad_x")
    positions = y.shape[0] * y.shape[2] * y.shape[3]
    assert_within(gw, rw, bw, positions, "grad_weight")
    if with_bias:
        # summed in double, then rounded once to the dtype
        assert gb.shape == (ws[0],) and gb.dtype == dtype
        tol = np.finfo(dtype).eps * np.abs(rb) + (positions + 4) * np.finfo(np.float64).eps * bb
        assert (np.abs(gb - rb) <= tol).all(), (gb, rb)
    else:
        assert gb is None


@given(conv_geometries(), st.sampled_from(DTYPES), st.booleans(), st.integers(0, 2**32 - 1))
def test_im2col_col2im_match_twin(geom, dtype, unbatched, seed):
    if geom["padding"] == "valid":
        geom["padding"] = 0
    elif geom["padding"] == "same":  # the larger half on both sides: output >= input
        geom["padding"] = tuple(-(-d * (k - 1) // 2) for d, k in zip(geom["dilation"], geom["ws"][2:]))
    rng = np.random.default_rng(seed)
    xs = geom["xs"][1:] if unbatched else geom["xs"]
    k = geom["ws"][2:]
    args = (k, geom["dilation"], geom["padding"], geom["stride"])
    x = rng.standard_normal(xs).astype(dtype)
    cols = ops.im2col(relayout(x, "strided"), *args)
    want = ref.im2col(x, *args)
    assert cols.dtype == dtype and cols.shape == want.shape
    np.testing.assert_array_equal(cols, want)  # a gather: exact
    c = rng.standard_normal(cols.shape).astype(dtype)
    back = ops.col2im(c, xs[-2:], *args)
    assert back.shape == xs and back.dtype == dtype
    assert_within(back, ref.col2im(up(c), xs[-2:], *args), ref.col2im(absf(c), xs[-2:], *args),
                  k[0] * k[1], "col2im")


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 3), st.integers(1, 3),
       st.integers(1, 3), st.sampled_from(DTYPES))
def test_output_below_one_is_a_value_error_in_both(h, k, p, s, d, dtype):
    x = np.ones((1, 1, h, h), dtype)
    w = np.ones((1, 1, k, k), dtype)
    out = (h + 2 * p - d * (k - 1) - 1) // s + 1
    results = []
    for impl in (ops, ref):
        try:
            results.append(impl.conv2d(x, w, None, s, p, d).shape)
        except ValueError as e:
            assert "output" in str(e)
            results.append("ValueError")
    assert results[0] == results[1] == ((1, 1, out, out) if out >= 1 else "ValueError")


# ------------------------------------------------------------------ regressions

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["x", "weight", "grad_y"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
@pytest.mark.parametrize("geom", [
    ((2, 4, 6, 7), (6, 2, 3, 3), 1, 1, 1, 2),   # direct loops (groups, <= 4 outputs each)
    ((2, 4, 7, 7), (6, 2, 3, 3), 2, 1, 1, 2),   # direct loops, strided grad_x
    ((2, 3, 6, 7), (5, 3, 3, 3), 1, 1, 1, 1),   # GEMM, transposed-convolution grad_x
    ((2, 3, 7, 7), (5, 3, 3, 3), 2, 2, 1, 1),   # GEMM, col2im grad_x
    ((1, 4, 6, 6), (4, 1, 3, 3), 1, 2, 2, 4),   # depthwise, dilated
])
def test_regression_nonfinite_values_reach_only_their_own_terms(geom, value, where, dtype):
    # Found by the contract table (tests/test_contract.py, conv2d_backward-inf-x and
    # -nan-weight): the direct loops and the transposed convolution of the backward run
    # over zero-padded planes, so an inf or NaN met padding zeros that the true sums do
    # not have (0 * inf = NaN) and made gradient entries NaN where torch and the twin
    # give numbers. Every output's NaN/inf pattern must be the twin's.
    xs, ws, s, p, d, groups = geom
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    y = ref.conv2d(x, w, None, s, p, d, groups)
    gy = rng.standard_normal(y.shape).astype(dtype)
    arr = {"x": x, "weight": w, "grad_y": gy}[where]
    arr.flat[-1] = value  # a corner: next to the padding
    arr.flat[arr.size // 3] = -value if value == np.inf else value
    got = ops.conv2d_backward(gy, x, w, s, p, d, groups)
    want = ref.conv2d_backward(up(gy), up(x), up(w), s, p, d, groups)
    for name, g_, w_ in zip(("grad_x", "grad_weight", "grad_bias"), got, want):
        np.testing.assert_array_equal(np.isnan(g_), np.isnan(w_), err_msg=f"{name} NaN")
        np.testing.assert_array_equal(np.isposinf(g_), np.isposinf(w_), err_msg=f"{name} +inf")
        np.testing.assert_array_equal(np.isneginf(g_), np.isneginf(w_), err_msg=f"{name} -inf")
    yn = ops.conv2d(x, w, None, s, p, d, groups)
    np.testing.assert_array_equal(np.isnan(yn), np.isnan(ref.conv2d(x, w, None, s, p, d, groups)))
