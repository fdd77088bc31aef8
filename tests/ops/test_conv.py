"""fastdl.ops.im2col / col2im / conv2d / conv2d_backward (native, implicit im2col on the
packed GEMM) against the NumPy twins and PyTorch: named edge geometries, non-contiguous
inputs, bad input, concurrent Python threads, memory that does not grow with the batch,
and every instruction set. Random geometries (hypothesis) are in
tests/properties/test_conv_properties.py, thread-count invariance in
tests/test_determinism.py."""

import numpy as np
import pytest

import fastdl
from fastdl import DTypeError, ops, reference

DTYPES = [np.float32, np.float64]


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def assert_close(got, want64, bound, length, what=""):
    """|got - want| <= (2 * length + 8) eps * bound elementwise: the error of a sum of
    `length` products in got's dtype, bound = the same sum over absolute values (the
    reference is the float64 twin on the same inputs)."""
    assert got.shape == want64.shape, (what, got.shape, want64.shape)
    eps = np.finfo(got.dtype).eps
    err = np.abs(got.astype(np.float64) - want64)
    tol = (2 * length + 8) * eps * bound + np.finfo(got.dtype).tiny
    bad = err > tol
    assert not bad.any(), (f"{what}: {bad.sum()} of {bad.size} off; worst err {err.max():.3g}, "
                           f"tol there {tol.flat[np.argmax(err - tol)]:.3g}")


def check_conv(x, w, b, stride=1, padding=0, dilation=1, groups=1, gy=None, what=""):
    """ops.conv2d and conv2d_backward against the float64 twin (with error bounds from
    the twin on absolute values); returns the native results."""
    dt = x.dtype
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    y = ops.conv2d(x, w, b, stride, padding, dilation, groups)
    want = reference.conv2d(x64, w64, b64, stride, padding, dilation, groups)
    bound = reference.conv2d(np.abs(x64), np.abs(w64), None if b is None else np.abs(b64),
                             stride, padding, dilation, groups)
    assert y.dtype == dt and y.flags.c_contiguous
    kk = w.shape[1] * w.shape[2] * w.shape[3]
    assert_close(y, want, bound, kk, f"{what} y")
    if gy is None:
        gy = rand(np.random.default_rng(1), y.shape, dt)
    gy64 = gy.astype(np.float64)
    gx, gw, gb = ops.conv2d_backward(gy, x, w, stride, padding, dilation, groups, bias=b is not None)
    rx, rw, rb = reference.conv2d_backward(gy64, x64, w64, stride, padding, dilation, groups)
    bx, bw, bb = reference.conv2d_backward(np.abs(gy64), np.abs(x64), np.abs(w64), stride,
                                           padding, dilation, groups)
    for got, like in ((gx, x), (gw, w)):
        assert got.shape == like.shape and got.dtype == dt and got.flags.c_contiguous
    fg = w.shape[0] // groups
    assert_close(gx, rx, bx, fg * w.shape[2] * w.shape[3], f"{what} grad_x")
    assert_close(gw, rw, bw, y.shape[0] * y.shape[2] * y.shape[3], f"{what} grad_weight")
    if b is None:
        assert gb is None
    else:
        assert gb.shape == b.shape and gb.dtype == dt
        # summed in double: the double sum's error, then one rounding to the dtype
        n = y.shape[0] * y.shape[2] * y.shape[3]
        tol = np.finfo(dt).eps * np.abs(rb) + (n + 8) * np.finfo(np.float64).eps * bb
        assert (np.abs(gb - rb) <= tol).all(), (what, gb - rb)
    return y, gx, gw, gb


# --- named geometries -----------------------------------------------------------------

CASES = [
    # x shape, weight shape, stride, padding, dilation, groups
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1, 1),
    ((2, 3, 7, 6), (4, 3, 3, 2), (2, 1), (1, 0), 1, 1),
    ((1, 4, 9, 8), (6, 2, 3, 3), 1, 2, 2, 2),
    ((2, 4, 6, 6), (4, 1, 3, 3), 2, 1, 1, 4),              # depthwise
    ((2, 17, 9, 11), (17, 1, 5, 5), 1, 2, 1, 17),          # depthwise, 17 channels
    ((2, 6, 8, 8), (12, 1, 3, 3), 1, 1, 1, 6),             # depthwise, multiplier 2
    ((1, 2, 4, 4), (3, 2, 1, 1), 1, 0, 1, 1),              # 1x1: a plain GEMM
    ((3, 17, 5, 9), (13, 17, 1, 1), 1, 0, 1, 1),           # 1x1, odd channels
    ((2, 16, 9, 9), (8, 16, 1, 1), 2, 0, 1, 1),            # 1x1 stride 2
    ((1, 6, 7, 7), (4, 3, 1, 1), 1, 1, 1, 2),              # 1x1 padded, grouped
    ((1, 2, 5, 7), (2, 2, 1, 4), 1, (0, 1), (1, 2), 1),    # asymmetric kernel
    ((2, 3, 12, 10), (5, 3, 1, 7), 1, (0, 3), 1, 1),       # 1x7
    ((2, 3, 12, 10), (5, 3, 7, 1), 1, (3, 0), 1, 1),       # 7x1
    ((1, 3, 23, 19), (8, 3, 7, 7), 2, 3, 1, 1),            # a stem: 7x7 stride 2
    ((1, 1, 3, 3), (1, 1, 3, 3), 3, 0, 1, 1),              # output 1x1
    ((2, 5, 1, 1), (3, 5, 1, 1), 1, 0, 1, 1),              # 1x1 image
    ((1, 2, 4, 4), (3, 2, 3, 3), 3, 1, 1, 1),              # stride 3, output 2x2
    ((1, 3, 10, 11), (4, 3, 3, 3), 3, 3, 3, 1),            # stride/padding/dilation 3
    ((2, 9, 8, 5), (12, 3, 2, 2), (1, 2), (2, 1), (3, 1), 3),
    ((1, 7, 6, 9), (5, 7, 4, 2), 1, "same", (1, 2), 1),    # "same", even kernel
    ((1, 4, 7, 8), (6, 2, 5, 3), 1, "same", 2, 2),
    ((2, 3, 8, 9), (4, 3, 3, 4), 1, "valid", 1, 1),
    ((1, 5, 4, 3), (3, 5, 3, 3), 1, 4, 1, 1),              # padding wider than the kernel
    ((1, 13, 11, 11), (37, 13, 3, 3), 1, 1, 1, 1),         # K = 117, F = 37: no tile fits
    ((2, 8, 6, 70), (7, 8, 2, 3), 1, 1, 1, 1),             # rows wider than a panel
    # groups with more than 4 outputs each run one GEMM per group, fewer direct loops
    ((2, 6, 9, 10), (10, 3, 3, 3), 1, 1, 1, 2),            # GEMM per group
    ((2, 6, 9, 10), (18, 2, 3, 3), 2, 1, 1, 3),            # GEMM per group, col2im
    ((1, 6, 11, 13), (6, 2, 3, 3), 3, 1, 2, 3),            # direct, stride 3, dilation 2
    ((2, 4, 13, 40), (8, 2, 3, 5), (2, 1), (1, 2), 1, 2),  # direct, blocks and edges
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, stride, padding, dil, groups", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_twin(xs, ws, stride, padding, dil, groups, dtype, with_bias):
    rng = np.random.default_rng(sum(xs) * 7 + sum(ws))
    x, w = rand(rng, xs, dtype), rand(rng, ws, dtype)
    b = rand(rng, ws[0], dtype) if with_bias else None
    check_conv(x, w, b, stride, padding, dil, groups, what=str((xs, ws)))


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 11, 16, 17])
def test_channels_one_to_seventeen(c):
    rng = np.random.default_rng(c)
    for dtype in DTYPES:
        x, w = rand(rng, (1, c, 9, 7), dtype), rand(rng, (18 - c, c, 3, 3), dtype)
        check_conv(x, w, rand(rng, 18 - c, dtype), 1, 1, what=f"C={c}")


@pytest.mark.parametrize("k", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (1, 7),
                               (7, 1), (2, 5)])
def test_kernel_sizes(k):
    rng = np.random.default_rng(k[0] * 10 + k[1])
    for dtype in DTYPES:
        x, w = rand(rng, (2, 3, 15, 13), dtype), rand(rng, (5, 3) + k, dtype)
        for stride, pad, dil in [(1, 0, 1), (2, (k[0] // 2, k[1] // 2), 1), (1, 1, 2), (3, 2, 1)]:
            check_conv(x, w, rand(rng, 5, dtype), stride, pad, dil, what=f"k={k} s={stride}")


def test_larger_layers_cross_every_block():
    # channels, positions and K past the GEMM's MC, NC, KC blocks and the grad_x chunks
    rng = np.random.default_rng(3)
    x = rand(rng, (2, 40, 30, 29), np.float32)
    w = rand(rng, (70, 40, 3, 3), np.float32)
    check_conv(x, w, rand(rng, 70, np.float32), 1, 1, what="40->70")
    check_conv(x[:, :32], rand(rng, (64, 8, 3, 3), np.float32), None, 2, 1, 1, 4, what="groups 4")


# --- im2col / col2im --------------------------------------------------------------------

UNFOLD_CASES = [((2, 3, 6, 7), 3, 1, 1, 1), ((1, 2, 8, 5), (2, 3), (2, 1), (1, 0), (2, 1)),
                ((3, 5, 5), 2, 1, 0, 2), ((1, 1, 4, 4), 4, 1, 0, 1), ((2, 4, 9, 70), (1, 7), 1, (0, 3), 1),
                ((1, 3, 10, 11), 3, 3, 3, 3), ((2, 17, 1, 1), 1, 1, 0, 1), ((2, 2, 5, 5), 3, 1, 4, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, k, d, p, s", UNFOLD_CASES)
def test_im2col_col2im_match_twin(shape, k, d, p, s, dtype):
    rng = np.random.default_rng(len(shape) + sum(shape))
    x = rand(rng, shape, dtype)
    cols = ops.im2col(x, k, d, p, s)
    want = reference.im2col(x, k, d, p, s)
    assert cols.shape == want.shape and cols.dtype == dtype
    np.testing.assert_array_equal(cols, want)  # a copy: exact
    c = rand(rng, cols.shape, dtype)
    back = ops.col2im(c, shape[-2:], k, d, p, s)
    c64 = c.astype(np.float64)
    assert back.shape == x.shape and back.dtype == dtype
    kk = _pair(k)[0] * _pair(k)[1]
    assert_close(back, reference.col2im(c64, shape[-2:], k, d, p, s),
                 reference.col2im(np.abs(c64), shape[-2:], k, d, p, s), kk, "col2im")


# --- PyTorch parity -----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_against_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    for xs, ws, stride, padding, dil, groups in CASES:
        x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, ws[0], dtype)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ty = F.conv2d(tx, tw, tb, stride, padding, dil, groups)
        y = ops.conv2d(x, w, b, stride, padding, dil, groups)
        gy = rand(rng, y.shape, dtype)
        ty.backward(torch.tensor(gy))
        gx, gw, gb = ops.conv2d_backward(gy, x, w, stride, padding, dil, groups)
        red = max(ws[1] * ws[2] * ws[3], y.shape[0] * y.shape[2] * y.shape[3])
        tol = (dict(rtol=1e-4, atol=3e-6 * red) if dtype == np.float32
               else dict(rtol=1e-10, atol=1e-13 * red))
        for got, want in ((y, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
            want = want.detach().numpy()
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got, want, **tol, err_msg=str((xs, ws)))
    for shape, k, d, p, s in UNFOLD_CASES:
        x = rand(rng, shape, dtype)
        cols = ops.im2col(x, k, d, p, s)
        np.testing.assert_array_equal(cols, F.unfold(torch.tensor(x), k, d, p, s).numpy())
        back = ops.col2im(cols, shape[-2:], k, d, p, s)
        np.testing.assert_allclose(back, F.fold(torch.tensor(cols), shape[-2:], k, d, p, s).numpy(),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


# --- layouts, accuracy, inputs untouched -----------------------------------------------------

def test_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    x = rand(rng, (3, 8, 12, 20), np.float32)[::2, ::2, :, ::2]     # (2, 4, 12, 10) strided
    w = np.asfortranarray(rand(rng, (6, 4, 3, 3), np.float32))
    b = rand(rng, 12, np.float32)[::2]
    copies = [a.copy() for a in (x, w, b)]
    y, gx, gw, gb = check_conv(x, w, b, 1, 1, what="strided")
    gy = rand(rng, y.shape[::-1], np.float32).T                       # transposed grad_y
    got = ops.conv2d_backward(gy, x, w, 1, 1)
    want = ops.conv2d_backward(np.ascontiguousarray(gy), np.ascontiguousarray(x),
                               np.ascontiguousarray(w), 1, 1)
    for g_, w_ in zip(got, want):
        np.testing.assert_array_equal(g_, w_)
    for arr, cp in zip((x, w, b), copies):
        np.testing.assert_array_equal(arr, cp)
    np.testing.assert_array_equal(ops.im2col(x, 3, 1, 1, 1), reference.im2col(x, 3, 1, 1, 1))


def test_grad_bias_is_accurate_on_ill_conditioned_data():
    # 1e4 + N(0, 1) in float32 over 2 * 120 * 120 positions: a float32 running sum is off
    # by ~1e-3 relative; the double accumulation matches the float64 sum to rounding
    rng = np.random.default_rng(6)
    gy = (1e4 + rng.standard_normal((2, 3, 120, 120))).astype(np.float32)
    x = rand(rng, (2, 2, 120, 120), np.float32)
    w = rand(rng, (3, 2, 1, 1), np.float32)
    _, _, gb = ops.conv2d_backward(gy, x, w)
    np.testing.assert_allclose(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-7)


def test_empty_batch_and_channels():
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    b = np.arange(4, dtype=np.float32)
    assert ops.conv2d(x, w, b).shape == (0, 4, 3, 3)
    gx, gw, gb = ops.conv2d_backward(np.zeros((0, 4, 3, 3), np.float32), x, w)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, 0)
    np.testing.assert_array_equal(gb, 0)
    assert ops.im2col(x, 3).shape == (0, 27, 9)


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("impl", [ops, reference], ids=["native", "numpy"])
def test_bad_input(impl):
    rng = np.random.default_rng(7)
    x = rand(rng, (1, 4, 5, 5), np.float64)
    w = rand(rng, (2, 4, 3, 3), np.float64)
    gy = np.zeros((1, 2, 3, 3))
    x0, w0 = x.copy(), w.copy()

    def bad(call, exc, match):
        with pytest.raises(exc, match=match):
            call()

    bad(lambda: impl.conv2d(x[0], w), ValueError, r"conv2d: x must be 4-D, got shape \(4, 5, 5\)")
    bad(lambda: impl.conv2d(x, w[0]), ValueError, r"conv2d: weight must be 4-D")
    bad(lambda: impl.conv2d(x, w, groups=3), ValueError, r"conv2d: groups=3 must divide")
    bad(lambda: impl.conv2d(x, w, groups=2), ValueError, r"conv2d: weight.shape\[1\] = 4, expected")
    bad(lambda: impl.conv2d(x, w, groups=0), ValueError, "conv2d: groups must be a positive int")
    bad(lambda: impl.conv2d(x, w, groups=True), ValueError, "groups must be a positive int")
    bad(lambda: impl.conv2d(x, w, stride=0), ValueError, "conv2d: stride must be >= 1")
    bad(lambda: impl.conv2d(x, w, stride=(1, -2)), ValueError, "stride must be >= 1")
    bad(lambda: impl.conv2d(x, w, dilation=0), ValueError, "conv2d: dilation must be >= 1")
    bad(lambda: impl.conv2d(x, w, padding=-1), ValueError, "conv2d: padding must be >= 0")
    bad(lambda: impl.conv2d(x, w, padding="full"), ValueError, "padding must be an int, a pair")
    bad(lambda: impl.conv2d(x, w, padding=(1, 2, 3)), ValueError, "padding must be an int or a pair")
    bad(lambda: impl.conv2d(x, w, stride=2, padding="same"), ValueError, "strided")
    bad(lambda: impl.conv2d(x, w, dilation=3), ValueError, r"output would be -1x-1 \(less than 1\)")
    bad(lambda: impl.conv2d(x, w, bias=np.zeros(3)), ValueError, r"conv2d: bias has shape \(3,\)")
    bad(lambda: impl.conv2d(x, w, bias=np.zeros((2, 1))), ValueError, "conv2d: bias must be 1-D")
    bad(lambda: impl.conv2d(x.astype(np.int32), w), TypeError, "conv2d: x has dtype int32")
    bad(lambda: impl.conv2d(x.astype(np.float16), w), DTypeError, "x has dtype float16")
    bad(lambda: impl.conv2d(x, w.astype(np.float32)), ValueError,
        "conv2d: weight has dtype float32, expected float64 like x")
    bad(lambda: impl.conv2d(x, w, np.zeros(2, np.float32)), ValueError, "bias has dtype float32")
    bad(lambda: impl.conv2d(x.tolist(), w), TypeError, "conv2d: x must be a numpy.ndarray, got list")
    bad(lambda: impl.conv2d(x, w, stride=1.5), TypeError, "stride must be an int")
    bad(lambda: impl.conv2d(x, np.zeros((2, 4, 0, 3))), ValueError, "empty kernel")
    bad(lambda: impl.conv2d_backward(np.zeros((1, 2, 2, 2)), x, w), ValueError,
        r"conv2d_backward: grad_y has shape \(1, 2, 2, 2\), expected \(1, 2, 3, 3\)")
    bad(lambda: impl.conv2d_backward(gy.astype(np.float32), x, w), ValueError,
        "conv2d_backward: grad_y has dtype float32, expected float64 like x")
    bad(lambda: impl.conv2d_backward(gy, x, w, groups=3), ValueError, "groups=3")
    bad(lambda: impl.conv2d_backward(gy[0], x, w), ValueError, "grad_y must be 4-D")
    bad(lambda: impl.im2col(x[0, 0], 2), ValueError, r"im2col: x must be 3-D or 4-D")
    bad(lambda: impl.im2col(x, 0), ValueError, "im2col: kernel_size must be >= 1")
    bad(lambda: impl.im2col(x, 2, padding=-1), ValueError, "padding must be >= 0")
    bad(lambda: impl.im2col(x, 7), ValueError, "less than 1")
    bad(lambda: impl.im2col(x, 2, stride=0), ValueError, "stride must be >= 1")
    bad(lambda: impl.im2col(x.astype(np.int64), 2), TypeError, "im2col: x has dtype int64")
    bad(lambda: impl.col2im(np.zeros((1, 10, 4)), 3, 2), ValueError, "not a multiple")
    bad(lambda: impl.col2im(np.zeros((1, 8, 5)), 3, 2), ValueError, "col2im: cols has 5 blocks")
    bad(lambda: impl.col2im(np.zeros((1, 8, 4)), 0, 2), ValueError, "output_size must be >= 1")
    bad(lambda: impl.col2im(np.zeros(8), 3, 2), ValueError, "cols must be 2-D or 3-D")
    bad(lambda: impl.col2im(np.zeros((1, 8, 4), np.int8), 3, 2), TypeError, "cols has dtype int8")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_native_checks_behind_the_python_layer():
    # fastdl._core's own checks: a direct call cannot reach a kernel with a bad geometry
    from fastdl import _core
    x = np.zeros((1, 4, 5, 5), np.float32)
    w = np.zeros((2, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output would be"):
        _core._conv2d(x, w, None, 1, 1, 0, 0, 0, 0, 3, 3, 1)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        _core._conv2d(x, w, None, 1, 1, -1, 0, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        _core._conv2d(x, w, None, 0, 1, 0, 0, 0, 0, 1, 1, 1)
    with pytest.raises(ValueError, match="groups"):
        _core._conv2d(x, w, None, 1, 1, 0, 0, 0, 0, 1, 1, 3)
    with pytest.raises(ValueError, match="grad_y has shape"):
        _core._conv2d_backward(np.zeros((1, 2, 4, 4), np.float32), x, w, 1, 1, 0, 0, 0, 0, 1, 1, 1, True)
    with pytest.raises(ValueError, match="blocks"):
        _core._col2im(np.zeros((8, 5), np.float32), 3, 3, 2, 2, 1, 1, 0, 0, 1, 1)


# --- threads, memory ----------------------------------------------------------------------


def test_concurrent_python_threads():
    # the GIL is released and each calling thread has its own workspaces and plans
    import concurrent.futures

    rng = np.random.default_rng(9)
    cases = [(rand(rng, (2, 16, 20, 20), np.float32), rand(rng, (24, 16, 3, 3), np.float32), 1, 1),
             (rand(rng, (3, 8, 31, 30), np.float32), rand(rng, (16, 8, 7, 7), np.float32), 2, 3),
             (rand(rng, (2, 12, 14, 14), np.float32), rand(rng, (12, 1, 3, 3), np.float32), 1, 1)]

    def run(case):
        x, w, s, p = case
        g = x.shape[1] // w.shape[1]
        y = ops.conv2d(x, w, None, s, p, 1, g)
        return (y,) + ops.conv2d_backward(y, x, w, s, p, 1, g, bias=False)[:2]

    want = [run(c) for c in cases]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            for got, w_ in zip(pool.map(run, cases * 2), want * 2):
                for a, b in zip(got, w_):
                    np.testing.assert_array_equal(a, b)


_MEMORY_CHECK = r"""
import resource, sys
import numpy as np
from fastdl import ops
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
x = rng.standard_normal((1, 64, 56, 56), dtype=np.float32)
y = ops.conv2d(x, w, None, 1, 1); ops.conv2d_backward(y, x, w, 1, 1)   # workspaces
xb = rng.standard_normal((16, 64, 56, 56), dtype=np.float32)            # 12.8 MB
gy = rng.standard_normal((16, 64, 56, 56), dtype=np.float32)            # (no temporaries)
before = peak_mb()
y = ops.conv2d(xb, w, None, 1, 1)
gx, gw, gb = ops.conv2d_backward(gy, xb, w, 1, 1)
print(peak_mb() - before)
"""


def test_extra_memory_does_not_grow_with_the_batch(run_python):
    # the columns of a batch of 16 would be 16 * 576 * 3136 * 4 B = 115 MB; y and grad_x
    # are 12.8 MB each, so anything near the columns' size shows in the peak
    r = run_python(_MEMORY_CHECK, env={"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) < 2 * 12.9 + 12, r.stdout


# --- every instruction set ----------------------------------------------------------------

_ISA_CHECK = r"""
import numpy as np, fastdl
from fastdl import ops, reference
worst = 0.0
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    eps = np.finfo(dtype).eps
    for xs, ws, s, p, d, g in [((2, 3, 9, 70), (5, 3, 3, 3), 1, 1, 1, 1),
                               ((1, 3, 23, 19), (8, 3, 7, 7), 2, 3, 1, 1),
                               ((2, 13, 11, 11), (37, 13, 3, 3), 1, 2, 2, 1),
                               ((2, 16, 9, 9), (8, 16, 1, 1), 1, 0, 1, 1),
                               ((2, 16, 9, 9), (8, 16, 1, 1), 2, 0, 1, 1),
                               ((2, 8, 10, 10), (8, 2, 3, 3), 1, 1, 1, 4),
                               ((2, 6, 10, 12), (6, 1, 5, 3), (1, 2), 2, 1, 6),
                               ((1, 4, 7, 8), (6, 2, 5, 3), 1, "same", 2, 2)]:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        y = ops.conv2d(x, w, b, s, p, d, g)
        gy = rng.standard_normal(y.shape).astype(dtype)
        got = (y,) + ops.conv2d_backward(gy, x, w, s, p, d, g)
        x6, w6, b6, g6 = (a.astype(float) for a in (x, w, b, gy))
        want = (reference.conv2d(x6, w6, b6, s, p, d, g),) + reference.conv2d_backward(g6, x6, w6, s, p, d, g)
        bnd = ((reference.conv2d(abs(x6), abs(w6), abs(b6), s, p, d, g),)
               + reference.conv2d_backward(abs(g6), abs(x6), abs(w6), s, p, d, g))
        red = max(ws[1] * ws[2] * ws[3], y.shape[0] * y.shape[2] * y.shape[3], ws[0] * ws[2] * ws[3])
        for a, r, bb in zip(got, want, bnd):
            worst = max(worst, (abs(a - r) / ((2 * red + 8) * eps * bb + 1e-300)).max())
        fastdl.set_num_threads(1)
        one = (ops.conv2d(x, w, b, s, p, d, g),) + ops.conv2d_backward(gy, x, w, s, p, d, g)
        fastdl.set_num_threads(2)
        two = (ops.conv2d(x, w, b, s, p, d, g),) + ops.conv2d_backward(gy, x, w, s, p, d, g)
        assert all(np.array_equal(u, v) for u, v in zip(one, two)), (xs, ws, dtype)
        cols = ops.im2col(x, ws[2:], d, 1, s)
        assert np.array_equal(cols, reference.im2col(x, ws[2:], d, 1, s))
print(fastdl.build_info()["simd"], "|", worst)
"""


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_each_isa(isa, run_python):
    if isa not in fastdl.build_info()["isa_available"]:
        pytest.skip(f"{isa} not available on this CPU/build")
    r = run_python(_ISA_CHECK, env={"FASTDL_ISA": isa}, timeout=300)
    assert r.returncode == 0, r.stderr
    simd, worst = (s.strip() for s in r.stdout.split("|"))
    assert simd == isa
    assert float(worst) <= 1.0, f"{isa}: error {worst} x the bound"
