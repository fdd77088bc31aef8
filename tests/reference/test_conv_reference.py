"""The NumPy twins of im2col/col2im/conv2d: against a direct loop, finite differences,
the adjoint identity, and torch when importable."""

import itertools

import numpy as np
import pytest

from fastdl import DTypeError
from fastdl.reference import conv as ref

rng = np.random.default_rng(0)


def _naive_conv(x, w, b, stride, pad_lo, pad_hi, dil, groups):
    """Seven loops, straight from the definition."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad_lo[0], pad_hi[0]), (pad_lo[1], pad_hi[1])))
    oh = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, f, oh, ow), dtype=np.float64)
    fg = f // groups
    for b_, o, i, j in itertools.product(range(n), range(f), range(oh), range(ow)):
        g = o // fg
        acc = 0.0 if b is None else float(b[o])
        for ci, p, q in itertools.product(range(cg), range(kh), range(kw)):
            acc += w[o, ci, p, q] * xp[b_, g * cg + ci, i * stride[0] + p * dil[0],
                                        j * stride[1] + q * dil[1]]
        y[b_, o, i, j] = acc
    return y


CASES = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1, 1),
    ((2, 3, 7, 6), (4, 3, 3, 2), (2, 1), (1, 0), 1, 1),
    ((1, 4, 9, 8), (6, 2, 3, 3), 1, 2, 2, 2),
    ((2, 4, 6, 6), (4, 1, 3, 3), 2, 1, 1, 4),          # depthwise
    ((1, 2, 4, 4), (3, 2, 1, 1), 1, 0, 1, 1),          # 1x1
    ((1, 2, 5, 7), (2, 2, 1, 4), 1, (0, 1), (1, 2), 1),  # asymmetric kernel
    ((1, 1, 3, 3), (1, 1, 3, 3), 3, 0, 1, 1),          # output 1x1
]


def _pad(padding, k, d):
    if padding == "same":
        tot = [d[i] * (k[i] - 1) for i in range(2)]
        return (tot[0] // 2, tot[1] // 2), (tot[0] - tot[0] // 2, tot[1] - tot[1] // 2)
    p = padding if isinstance(padding, tuple) else (padding, padding)
    return p, p


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("xs, ws, stride, padding, dil, groups", CASES)
def test_conv2d_matches_direct_loop(xs, ws, stride, padding, dil, groups):
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    y = ref.conv2d(x, w, b, stride, padding, dil, groups)
    lo, hi = _pad(padding, ws[2:], _pair(dil))
    expect = _naive_conv(x, w, b, _pair(stride), lo, hi, _pair(dil), groups)
    assert y.shape == expect.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, expect, rtol=1e-12, atol=1e-12)


def test_same_padding_even_kernel_pads_more_at_the_end():
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 2, 4))
    y = ref.conv2d(x, w, padding="same", dilation=(1, 2))
    assert y.shape == (1, 3, 5, 6)
    np.testing.assert_allclose(y, _naive_conv(x, w, None, (1, 1), (0, 3), (1, 3), (1, 2), 1),
                               rtol=1e-12, atol=1e-12)
    assert ref.conv2d(x, w, padding="valid").shape == (1, 3, 4, 3)


@pytest.mark.parametrize("xs, ws, stride, padding, dil, groups", CASES)
def test_conv2d_backward_finite_differences(xs, ws, stride, padding, dil, groups):
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    y = ref.conv2d(x, w, b, stride, padding, dil, groups)
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = ref.conv2d_backward(gy, x, w, stride, padding, dil, groups, bias=True)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape

    def loss(xx, ww, bb):
        return float((ref.conv2d(xx, ww, bb, stride, padding, dil, groups) * gy).sum())

    eps = 1e-6
    for arr, grad in ((x, gx), (w, gw), (b, gb)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss(x, w, b)
            arr[idx] = old - eps
            down = loss(x, w, b)
            arr[idx] = old
            num[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-7)
    assert ref.conv2d_backward(gy, x, w, stride, padding, dil, groups, bias=False)[2] is None


@pytest.mark.parametrize("shape, k, d, p, s", [
    ((2, 3, 6, 7), 3, 1, 1, 1), ((1, 2, 8, 5), (2, 3), (2, 1), (1, 0), (2, 1)),
    ((3, 5, 5), 2, 1, 0, 2), ((1, 1, 4, 4), 4, 1, 0, 1)])
def test_col2im_is_the_adjoint_of_im2col(shape, k, d, p, s):
    x = rng.standard_normal(shape)
    cols = ref.im2col(x, k, d, p, s)
    c = rng.standard_normal(cols.shape)
    lhs = float((cols * c).sum())
    rhs = float((x * ref.col2im(c, shape[-2:], k, d, p, s)).sum())
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_im2col_layout_by_hand():
    x = np.arange(2 * 3 * 3, dtype=np.float32).reshape(1, 2, 3, 3)
    cols = ref.im2col(x, 2)
    assert cols.shape == (1, 8, 4) and cols.dtype == np.float32
    # row c*4 + i*2 + j, column oh*2 + ow: x[c, oh + i, ow + j]
    assert cols[0, 0].tolist() == [0, 1, 3, 4]
    assert cols[0, 3].tolist() == [4, 5, 7, 8]
    assert cols[0, 4].tolist() == [9, 10, 12, 13]


def test_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for xs, ws, stride, padding, dil, groups in CASES:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(xs).astype(dtype)
            w = rng.standard_normal(ws).astype(dtype)
            b = rng.standard_normal(ws[0]).astype(dtype)
            tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
            ty = F.conv2d(tx, tw, tb, stride, padding, dil, groups)
            y = ref.conv2d(x, w, b, stride, padding, dil, groups)
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10)
            np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
            gy = rng.standard_normal(y.shape).astype(dtype)
            ty.backward(torch.tensor(gy))
            grads = ref.conv2d_backward(gy, x, w, stride, padding, dil, groups)
            for got, t in zip(grads, (tx, tw, tb)):
                np.testing.assert_allclose(got, t.grad.numpy(), **tol)
    x = rng.standard_normal((2, 3, 7, 6))
    for k, d, p, s in [(3, 1, 1, 1), ((2, 3), (2, 1), (1, 0), (2, 1)), (1, 1, 0, 3)]:
        cols = ref.im2col(x, k, d, p, s)
        np.testing.assert_allclose(cols, F.unfold(torch.tensor(x), k, d, p, s).numpy())
        back = ref.col2im(cols, (7, 6), k, d, p, s)
        np.testing.assert_allclose(back, F.fold(torch.tensor(cols), (7, 6), k, d, p, s).numpy())


def _bad(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_input():
    x = rng.standard_normal((1, 4, 5, 5))
    w = rng.standard_normal((2, 4, 3, 3))
    _bad(lambda: ref.conv2d(x[0], w), ValueError, r"conv2d: x must be 4-D")
    _bad(lambda: ref.conv2d(x, w[0]), ValueError, r"conv2d: weight must be 4-D")
    _bad(lambda: ref.conv2d(x, w, groups=3), ValueError, "groups=3")
    _bad(lambda: ref.conv2d(x, w, groups=2), ValueError, r"weight.shape\[1\]")
    _bad(lambda: ref.conv2d(x, w, groups=0), ValueError, "groups")
    _bad(lambda: ref.conv2d(x, w, stride=0), ValueError, "stride must be >= 1")
    _bad(lambda: ref.conv2d(x, w, dilation=-1), ValueError, "dilation must be >= 1")
    _bad(lambda: ref.conv2d(x, w, padding=-1), ValueError, "padding must be >= 0")
    _bad(lambda: ref.conv2d(x, w, padding="full"), ValueError, "padding must be")
    _bad(lambda: ref.conv2d(x, w, stride=2, padding="same"), ValueError, "strided")
    _bad(lambda: ref.conv2d(x, w, dilation=3), ValueError, "less than 1")
    _bad(lambda: ref.conv2d(x, w, bias=np.zeros(3)), ValueError, "bias has shape")
    _bad(lambda: ref.conv2d(x.astype(np.int32), w), TypeError, "x has dtype int32")
    _bad(lambda: ref.conv2d(x, w.astype(np.float32)), ValueError, "weight has dtype float32")
    _bad(lambda: ref.conv2d(x.tolist(), w), TypeError, "x must be a numpy.ndarray")
    _bad(lambda: ref.conv2d(x, w, stride=1.5), TypeError, "stride")
    _bad(lambda: ref.conv2d_backward(np.zeros((1, 2, 2, 2)), x, w), ValueError, "grad_y has shape")
    _bad(lambda: ref.im2col(x[0, 0], 2), ValueError, "3-D or 4-D")
    _bad(lambda: ref.col2im(np.zeros((1, 10, 4)), 3, 2), ValueError, "not a multiple")
    _bad(lambda: ref.col2im(np.zeros((1, 8, 5)), 3, 2), ValueError, "blocks")
    with pytest.raises(DTypeError):
        ref.im2col(x.astype(np.float16), 2)
