"""fastdl.ops.matmul / linear / linear_backward: the packed GEMM against NumPy, the NumPy
twins and PyTorch; shapes around every tile and block edge, strided operands, alpha/beta
and bias epilogues, the PackB hook, bad input, concurrent Python threads, each ISA.
Random shapes and layouts (hypothesis) are in tests/properties/test_linear_properties.py,
thread-count invariance in tests/test_determinism.py."""

import itertools

import numpy as np
import pytest

import fastdl
from fastdl import _core, ops, reference

DTYPES = [np.float32, np.float64]


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def assert_gemm_close(got, a, b, *, scale=None, add=None):
    """got == a @ b (* scale) (+ add) to the accuracy of a K-term dot product in got's
    dtype: |err| <= (2K + 8) eps (|a| @ |b|) elementwise (the classic bound, with room
    for the float64 reference's own rounding)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = a64 @ b64
    bound = np.abs(a64) @ np.abs(b64)
    if scale is not None:
        ref, bound = ref * scale, bound * abs(scale)
    if add is not None:
        ref = ref + add
        bound = bound + np.abs(add)
    k = a.shape[1]
    eps = np.finfo(got.dtype).eps
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    tol = (2 * k + 8) * eps * bound + np.finfo(got.dtype).tiny
    bad = err > tol
    assert not bad.any(), (f"{bad.sum()} of {bad.size} elements off; worst err "
                           f"{err.max():.3g}, tol there {tol.flat[np.argmax(err - tol)]:.3g}")


# --- matmul: shapes ---------------------------------------------------------------------

ODD = [1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17]
SMALL_SHAPES = [(1, 1, 1)] + [s for i, s in enumerate(itertools.product(ODD, ODD, ODD)) if i % 7 == 0]
# Around the blocking of every ISA: MR in {6, 12}, NR in {8, 16, 32}, KC <= 512,
# MC <= 240, NC 4096; K not a multiple of any tile, tall and skinny, wide and flat.
BIG_SHAPES = [
    (31, 33, 257), (64, 95, 513), (97, 3, 1000), (3, 97, 1000), (1000, 7, 5), (7, 1000, 5),
    (2, 2, 5000), (250, 301, 130), (481, 65, 33), (13, 4200, 19), (49, 37, 1031),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SMALL_SHAPES)
def test_matmul_small_shapes(m, n, k, dtype):
    rng = np.random.default_rng(m * 10000 + n * 100 + k)
    a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
    c = ops.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == np.matmul(a, b).dtype
    assert_gemm_close(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", BIG_SHAPES)
def test_matmul_block_edges(m, n, k, dtype):
    rng = np.random.default_rng(m + n + k)
    a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
    c = ops.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == dtype
    assert_gemm_close(c, a, b)


def test_matmul_long_reduction_float32():
    # K = 4608 (a conv-shaped product): the tolerance grows with K, the error stays small
    rng = np.random.default_rng(0)
    a, b = rand(rng, (40, 4608), np.float32), rand(rng, (4608, 50), np.float32)
    c = ops.matmul(a, b)
    assert_gemm_close(c, a, b)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.abs(c - ref).max() < 1e-3 * np.abs(ref).max()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_matmul_empty(m, n, k, dtype):
    a, b = np.ones((m, k), dtype), np.ones((k, n), dtype)
    c = ops.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == dtype
    np.testing.assert_array_equal(c, np.zeros((m, n), dtype))


def test_matmul_exact_on_integers():
    # small integers: every partial sum is exact, so the result must be exact
    rng = np.random.default_rng(1)
    a = rng.integers(-8, 8, (45, 300)).astype(np.float32)
    b = rng.integers(-8, 8, (300, 70)).astype(np.float32)
    np.testing.assert_array_equal(ops.matmul(a, b), (a.astype(np.int64) @ b.astype(np.int64)))


def test_matmul_propagates_nan_and_inf():
    a = np.ones((20, 30), np.float32)
    b = np.ones((30, 40), np.float32)
    a[3, 7] = np.nan
    b[2, 5] = np.inf
    c = ops.matmul(a, b)
    ref = a @ b
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(ref))


# --- matmul: layouts --------------------------------------------------------------------

def _layouts(rng, m, n, k, dtype):
    """(name, a, b) with a (m, k) and b (k, n) in assorted memory layouts."""
    a_base = rand(rng, (2 * k + 1, 3 * m + 2), dtype)
    b_base = rand(rng, (3 * n + 1, 2 * k + 3), dtype)
    yield "C", rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
    yield "transposed", np.ascontiguousarray(a_base[:k, :m]).T, np.ascontiguousarray(b_base[:n, :k]).T
    yield "fortran", np.asfortranarray(rand(rng, (m, k), dtype)), np.asfortranarray(rand(rng, (k, n), dtype))
    yield "strided", a_base[::2, ::3][:k, :m].T, b_base[::3, ::2][:n, :k].T
    yield "negative", rand(rng, (m, k), dtype)[::-1, ::-1], rand(rng, (k, n), dtype)[::-1]
    yield "rows", rand(rng, (m, 2 * k), dtype)[:, ::2], rand(rng, (2 * k, n), dtype)[::2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(5, 7, 3), (37, 45, 70), (130, 66, 300)])
def test_matmul_layouts(m, n, k, dtype):
    rng = np.random.default_rng(7)
    for name, a, b in _layouts(rng, m, n, k, dtype):
        assert a.shape == (m, k) and b.shape == (k, n), name
        a_copy, b_copy = a.copy(), b.copy()
        c = ops.matmul(a, b)
        assert c.flags.c_contiguous and c.dtype == dtype, name
        assert_gemm_close(c, a, b)
        np.testing.assert_array_equal(a, a_copy)  # inputs untouched
        np.testing.assert_array_equal(b, b_copy)


def test_matmul_unaligned_and_readonly_inputs():
    raw = np.zeros(4 * 60 * 50 + 1, np.uint8)
    a = np.frombuffer(raw.data, dtype=np.float32, count=60 * 50, offset=1).reshape(60, 50)
    assert not a.flags.aligned
    rng = np.random.default_rng(2)
    b = rand(rng, (50, 20), np.float32)
    b.flags.writeable = False
    np.testing.assert_array_equal(ops.matmul(a, b), np.zeros((60, 20), np.float32))
    a2 = rand(rng, (60, 50), np.float32)
    a2.flags.writeable = False
    assert_gemm_close(ops.matmul(a2, b), a2, b)


# --- matmul: bad input ------------------------------------------------------------------

@pytest.mark.parametrize("impl", [ops.matmul, reference.matmul], ids=["native", "numpy"])
def test_matmul_bad_input(impl):
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match=r"matmul: a must be a numpy\.ndarray"):
        impl([[1.0]], f32)
    with pytest.raises(TypeError, match=r"matmul: a has dtype int64"):
        impl(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(TypeError, match=r"matmul: b has dtype int32"):
        impl(f32, np.ones((4, 2), np.int32))
    with pytest.raises(TypeError, match=r"matmul: b has dtype float16"):
        impl(f32, np.ones((4, 2), np.float16))
    with pytest.raises(ValueError, match=r"matmul: b has dtype float64, expected float32 like a"):
        impl(f32, np.ones((4, 2), np.float64))
    with pytest.raises(ValueError, match=r"matmul: a must be 2-D, got shape \(4,\)"):
        impl(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: b must be 2-D, got shape \(1, 4, 2\)"):
        impl(f32, np.ones((1, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: b has shape \(5, 2\), expected \(4, N\)"):
        impl(f32, np.ones((5, 2), np.float32))


# --- the C++ entry: alpha, beta, biases, the PackB hook ---------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (13, 35, 9), (50, 70, 600), (25, 4100, 3)])
@pytest.mark.parametrize("custom_pack", [False, True])
def test_gemm_alpha_beta_bias(m, n, k, dtype, custom_pack):
    rng = np.random.default_rng(m * n + k)
    a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype).T.copy().T  # b column-major
    c0 = rand(rng, (m, n), dtype)
    br, bc = rand(rng, m, dtype), rand(rng, n, dtype)
    for alpha, beta, use_br, use_bc in [(1.0, 0.0, False, False), (0.5, 1.0, True, False),
                                        (-2.0, 0.25, False, True), (1.5, -1.0, True, True)]:
        c = c0.copy()
        _core._gemm(a, b, c, alpha, beta, br if use_br else None, bc if use_bc else None,
                    custom_pack)
        add = beta * c0.astype(np.float64)
        if use_br:
            add = add + br[:, None]
        if use_bc:
            add = add + bc[None, :]
        assert_gemm_close(c, a, b, scale=alpha, add=add)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_beta_zero_ignores_nan_in_c(dtype):
    rng = np.random.default_rng(3)
    a, b = rand(rng, (20, 30), dtype), rand(rng, (30, 40), dtype)
    c = np.full((20, 40), np.nan, dtype)
    _core._gemm(a, b, c, 1.0, 0.0, None, None, False)
    assert_gemm_close(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_k_zero_scales_and_adds_bias(dtype):
    c = np.full((3, 5), 2.0, dtype)
    br, bc = np.arange(3, dtype=dtype), np.arange(5, dtype=dtype)
    _core._gemm(np.ones((3, 0), dtype), np.ones((0, 5), dtype), c, 1.0, 0.5, br, bc, False)
    np.testing.assert_array_equal(c, 1.0 + br[:, None] + bc[None, :])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
def test_few_rows_times_transposed_b(m, dtype):
    # up to 4 rows with a transposed B take the dot-product path (nothing packed); 5 the
    # packed one: both against the bound, with contiguous and strided A, and the epilogue
    rng = np.random.default_rng(m)
    for n, k in [(1, 1), (5, 15), (67, 16), (1000, 17), (33, 300)]:
        b = rand(rng, (n, k), dtype).T
        for a in (rand(rng, (m, k), dtype), rand(rng, (m, 2 * k), dtype)[:, ::2]):
            assert_gemm_close(ops.matmul(a, b), a, b)
            c0 = rand(rng, (m, n), dtype)
            br, bc = rand(rng, m, dtype), rand(rng, n, dtype)
            c = c0.copy()
            _core._gemm(a, b, c, -1.5, 0.5, br, bc, False)
            assert_gemm_close(c, a, b, scale=-1.5, add=0.5 * c0.astype(np.float64) + br[:, None] + bc)


def test_gemm_custom_pack_matches_default_bitwise():
    # the PackB hook with the plain reference packer gives the very same bits as the
    # built-in vectorised packer (same layout, same arithmetic)
    rng = np.random.default_rng(4)
    for m, n, k in [(7, 9, 5), (100, 333, 700), (30, 4500, 20)]:
        a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
        c1, c2 = np.zeros((m, n), np.float32), np.zeros((m, n), np.float32)
        _core._gemm(a, b, c1, 1.0, 0.0, None, None, False)
        _core._gemm(a, b, c2, 1.0, 0.0, None, None, True)
        np.testing.assert_array_equal(c1, c2)


def test_gemm_bad_input_leaves_c_alone():
    c = np.zeros((3, 4), np.float32)
    a, b = np.ones((3, 2), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="bias_col has shape"):
        _core._gemm(a, b, c, 1.0, 0.0, None, np.ones(3, np.float32), False)
    with pytest.raises(ValueError, match="b has shape"):
        _core._gemm(a, np.ones((2, 5), np.float32), c, 1.0, 0.0, None, None, False)
    ro = np.zeros((3, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="c is read-only"):
        _core._gemm(a, b, ro, 1.0, 0.0, None, None, False)
    np.testing.assert_array_equal(c, 0)


# --- threads ----------------------------------------------------------------------------

def test_matmul_from_concurrent_python_threads():
    # the GIL is released and each calling thread has its own workspaces
    import concurrent.futures

    rng = np.random.default_rng(12)
    cases = [(rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32))
             for m, n, k in [(300, 200, 500), (64, 3000, 100), (50, 60, 70), (400, 17, 900)]]
    want = [ops.matmul(a, b) for a, b in cases]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda ab: ops.matmul(*ab), cases))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)


# --- linear -----------------------------------------------------------------------------

LINEAR_CASES = [((1, 1), 1), ((5, 3), 7), ((64, 100), 33), ((17, 513), 10), ((300, 40), 260),
                ((4, 6, 9), 5), ((9,), 4), ((2, 3, 4, 5), 3), ((0, 7), 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,out", LINEAR_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_reference(xshape, out, dtype, with_bias):
    rng = np.random.default_rng(len(xshape) * 100 + out)
    x = rand(rng, xshape, dtype)
    w = rand(rng, (out, xshape[-1]), dtype)
    b = rand(rng, out, dtype) if with_bias else None
    y = ops.linear(x, w, b)
    want = reference.linear(x, w, b)
    assert y.shape == want.shape == xshape[:-1] + (out,) and y.dtype == want.dtype == dtype
    add = None if b is None else np.broadcast_to(b, (int(np.prod(xshape[:-1])), out))
    assert_gemm_close(y.reshape(-1, out), x.reshape(-1, xshape[-1]), w.T, add=add)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,out", LINEAR_CASES)
def test_linear_backward_matches_reference(xshape, out, dtype):
    rng = np.random.default_rng(len(xshape) * 100 + out + 1)
    x = rand(rng, xshape, dtype)
    w = rand(rng, (out, xshape[-1]), dtype)
    gy = rand(rng, xshape[:-1] + (out,), dtype)
    gx, gw, gb = ops.linear_backward(gy, x, w)
    rx, rw, rb = reference.linear_backward(gy, x, w)
    for got, want in ((gx, rx), (gw, rw), (gb, rb)):
        assert got.shape == want.shape and got.dtype == want.dtype == dtype
    g2, x2 = gy.reshape(-1, out), x.reshape(-1, xshape[-1])
    assert_gemm_close(gx.reshape(-1, xshape[-1]), g2, w)
    assert_gemm_close(gw, g2.T, x2)
    assert_gemm_close(gb[None, :], np.ones((1, g2.shape[0]), dtype), g2)
    _, _, none = ops.linear_backward(gy, x, w, bias=False)
    assert none is None


def test_linear_backward_grad_bias_is_accurate_on_ill_conditioned_data():
    # 1e4 + N(0, 1) in float32, 100k rows: a naive float32 running sum is off by ~1e-3
    # relative; the blocked double accumulation matches the float64 sum to float32 rounding
    rng = np.random.default_rng(8)
    gy = (1e4 + rng.standard_normal((100_000, 3))).astype(np.float32)
    x = rand(rng, (100_000, 2), np.float32)
    w = rand(rng, (3, 2), np.float32)
    _, _, gb = ops.linear_backward(gy, x, w)
    exact = gy.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(gb, exact, rtol=2e-7)


def test_linear_inputs_untouched_and_strided_ok():
    rng = np.random.default_rng(9)
    x = rand(rng, (20, 30), np.float32)[:, ::2]
    w = np.asfortranarray(rand(rng, (9, 15), np.float32))
    b = rand(rng, 18, np.float32)[::2]
    copies = [x.copy(), w.copy(), b.copy()]
    y = ops.linear(x, w, b)
    assert_gemm_close(y, x, w.T, add=np.broadcast_to(b, (20, 9)))
    for arr, cp in zip((x, w, b), copies):
        np.testing.assert_array_equal(arr, cp)


@pytest.mark.parametrize("impl", [ops, reference], ids=["native", "numpy"])
def test_linear_bad_input(impl):
    x = np.ones((4, 3), np.float32)
    w = np.ones((5, 3), np.float32)
    with pytest.raises(TypeError, match=r"linear: x must be a numpy\.ndarray"):
        impl.linear([[1.0]], w)
    with pytest.raises(TypeError, match=r"linear: x has dtype int64"):
        impl.linear(np.ones((4, 3), np.int64), w)
    with pytest.raises(ValueError, match=r"linear: weight has dtype float64, expected float32 like x"):
        impl.linear(x, w.astype(np.float64))
    with pytest.raises(ValueError, match=r"linear: bias has dtype float64, expected float32 like x"):
        impl.linear(x, w, np.ones(5))
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D, got shape \(5, 3, 1\)"):
        impl.linear(x, w[..., None])
    with pytest.raises(ValueError, match=r"linear: weight has shape \(5, 4\), expected \(out_features, 3\)"):
        impl.linear(x, np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match=r"linear: bias has shape \(4,\), expected \(5,\)"):
        impl.linear(x, w, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"linear: x must have at least 1 dimension"):
        impl.linear(np.ones((), np.float32), w)
    gy = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"linear_backward: grad_y has shape \(4, 6\), expected \(4, 5\)"):
        impl.linear_backward(np.ones((4, 6), np.float32), x, w)
    with pytest.raises(ValueError, match=r"linear_backward: grad_y has dtype float64, expected float32 like x"):
        impl.linear_backward(gy.astype(np.float64), x, w)
    with pytest.raises(TypeError, match=r"linear_backward: grad_y has dtype int32"):
        impl.linear_backward(gy.astype(np.int32), x, w)
    with pytest.raises(TypeError, match=r"linear_backward: bias must be a bool"):
        impl.linear_backward(gy, x, w, bias="yes")


# --- PyTorch parity ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,out", [((32, 100), 10), ((3, 5, 7), 4), ((1, 600), 300)])
def test_linear_matches_torch(xshape, out, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x = rand(rng, xshape, dtype)
    w = rand(rng, (out, xshape[-1]), dtype)
    b = rand(rng, out, dtype)
    gy = rand(rng, xshape[:-1] + (out,), dtype)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.tensor(gy))
    rtol, atol = (2e-5, 2e-5) if dtype == np.float32 else (1e-12, 1e-12)
    y = ops.linear(x, w, b)
    gx, gw, gb = ops.linear_backward(gy, x, w, bias=True)
    for got, want in ((y, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        want = want.detach().numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * np.sqrt(xshape[-1]))


def test_matmul_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a, b = rand(rng, (70, 300), np.float32), rand(rng, (300, 90), np.float32)
    want = torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    got = ops.matmul(a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# --- every instruction set --------------------------------------------------------------

_ISA_CHECK = r"""
import numpy as np, fastdl
from fastdl import _core, ops
worst = 0.0
for dtype in (np.float32, np.float64):
    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    for m, n, k in [(1, 1, 1), (5, 7, 3), (13, 17, 11), (37, 70, 300), (250, 301, 130),
                    (97, 3, 1000), (3, 97, 600), (20, 4200, 9), (2, 40, 37)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((n, k)).astype(dtype).T
        c0 = rng.standard_normal((m, n)).astype(dtype)
        br, bc = rng.standard_normal(m).astype(dtype), rng.standard_normal(n).astype(dtype)
        bound = np.abs(a.astype(float)) @ np.abs(b.astype(float))
        for got, ref, scale in [
            (ops.matmul(a, b), a.astype(float) @ b.astype(float), 1.0),
            (ops.matmul(a.T.copy().T, b.copy()), a.astype(float) @ b.astype(float), 1.0)]:
            worst = max(worst, (np.abs(got - ref) / ((2 * k + 8) * eps * bound + 1e-300)).max())
        for custom_pack in (True, False):
            c = c0.copy()
            _core._gemm(a, b, c, 0.5, 0.75, br, bc, custom_pack)
            ref = 0.5 * (a.astype(float) @ b.astype(float)) + 0.75 * c0 + br[:, None] + bc
            tol = (2 * k + 8) * eps * (0.5 * bound + 0.75 * np.abs(c0) + np.abs(br[:, None]) + np.abs(bc))
            worst = max(worst, (np.abs(c - ref) / tol).max())
        fastdl.set_num_threads(1)
        one = ops.matmul(a, b)
        fastdl.set_num_threads(3)
        assert np.array_equal(one, ops.matmul(a, b)), (m, n, k, dtype)
print(fastdl.build_info()["simd"], "|", fastdl.build_info()["gemm"], "|", worst)
"""


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_each_isa(isa, run_python):
    if isa not in fastdl.build_info()["isa_available"]:
        pytest.skip(f"{isa} not available on this CPU/build")
    r = run_python(_ISA_CHECK, env={"FASTDL_ISA": isa}, timeout=300)
    assert r.returncode == 0, r.stderr
    simd, gemm, worst = (s.strip() for s in r.stdout.split("|"))
    assert simd == isa and gemm.startswith(f"fastdl packed gemm, {isa} ")
    assert float(worst) <= 1.0, f"{isa}: error {worst} x the bound"
