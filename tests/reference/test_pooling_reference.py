"""The NumPy pooling twins (fastdl/reference/pooling.py): backwards against centred
finite differences in float64, forwards and backwards against torch."""

import numpy as np
import pytest

from fastdl._pool_args import adaptive_bins
from fastdl.reference import pooling as ref

# (x shape, kernel_size, stride, padding, dilation, ceil_mode)
GEOMETRIES = [
    ((2, 3, 7, 7), 3, 2, 1, 1, False),
    ((1, 2, 6, 9), (2, 3), (1, 2), (1, 1), 1, True),
    ((1, 1, 8, 5), (3, 1), (3, 1), (1, 0), (2, 1), True),
    ((1, 2, 5, 5), 2, 2, 1, 1, True),
    ((1, 1, 4, 4), 4, None, 2, 1, False),
]
IDS = [f"{g[0]}-k{g[1]}s{g[2]}p{g[3]}d{g[4]}c{int(g[5])}" for g in GEOMETRIES]


def _numeric_grad(f, x, r, eps=1e-6):
    """d/dx of sum(f(x) * r), by centred differences."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        up = np.sum(f(x) * r)
        x[i] = old - eps
        down = np.sum(f(x) * r)
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def _distinct(shape, seed):
    # well-separated values: a step of 1e-6 never changes which element is the maximum
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.1


@pytest.mark.parametrize("geom", GEOMETRIES, ids=IDS)
def test_max_pool2d_backward_finite_differences(geom):
    shape, k, s, p, d, cm = geom
    x = _distinct(shape, 0)
    y, ind = ref.max_pool2d(x, k, s, p, d, cm)
    r = np.random.default_rng(1).standard_normal(y.shape)
    num = _numeric_grad(lambda v: ref.max_pool2d(v, k, s, p, d, cm)[0], x, r)
    np.testing.assert_allclose(ref.max_pool2d_backward(r, ind, shape), num, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("cip", [True, False])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=IDS)
def test_avg_pool2d_backward_finite_differences(geom, cip):
    shape, k, s, p, _, cm = geom
    x = np.random.default_rng(2).standard_normal(shape)
    y = ref.avg_pool2d(x, k, s, p, cm, cip)
    r = np.random.default_rng(3).standard_normal(y.shape)
    num = _numeric_grad(lambda v: ref.avg_pool2d(v, k, s, p, cm, cip), x, r)
    np.testing.assert_allclose(ref.avg_pool2d_backward(r, shape, k, s, p, cm, cip), num,
                               rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("shape,out", [((1, 2, 7, 5), (3, 2)), ((2, 1, 5, 6), 4),
                                       ((1, 1, 3, 3), (5, None))])
def test_adaptive_avg_pool2d_backward_finite_differences(shape, out):
    x = np.random.default_rng(4).standard_normal(shape)
    y = ref.adaptive_avg_pool2d(x, out)
    r = np.random.default_rng(5).standard_normal(y.shape)
    num = _numeric_grad(lambda v: ref.adaptive_avg_pool2d(v, out), x, r)
    np.testing.assert_allclose(ref.adaptive_avg_pool2d_backward(r, shape), num,
                               rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("n_in,n_out,expected", [
    (7, 3, [(0, 3), (2, 5), (4, 7)]),  # overlapping bins
    (6, 3, [(0, 2), (2, 4), (4, 6)]),
    (3, 5, [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]),  # more bins than rows
    (5, 1, [(0, 5)]),
])
def test_adaptive_bins(n_in, n_out, expected):
    bins = adaptive_bins(n_in, n_out)
    assert bins.dtype == np.int64
    assert [tuple(b) for b in bins.T.tolist()] == expected


def test_matches_hand_computed_values():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y, ind = ref.max_pool2d(x, 2)
    np.testing.assert_array_equal(y, [[[[5, 7], [13, 15]]]])
    np.testing.assert_array_equal(ind, [[[[5, 7], [13, 15]]]])
    # padding 1, ceil: 3x3 windows of 2x2; the corners count 1 input (of 4 with padding)
    a = ref.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_array_equal(a[0, 0, 0], [0.0, 1.5, 3.0])
    a = ref.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=True)
    np.testing.assert_array_equal(a[0, 0, 0], [0.0 / 4, 3.0 / 4, 3.0 / 4])
    np.testing.assert_array_equal(ref.adaptive_avg_pool2d(x, 1), [[[[7.5]]]])


# ---------------------------------------------------------------------------- torch


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=IDS)
def test_twins_match_torch(torch, geom, dtype):
    F = torch.nn.functional
    shape, k, s, p, d, cm = geom
    x = np.random.default_rng(6).standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    tx = torch.from_numpy(x).requires_grad_()

    ty, tind = F.max_pool2d(tx, k, s, p, d, cm, return_indices=True)
    y, ind = ref.max_pool2d(x, k, s, p, d, cm)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(ind, tind.numpy())
    gy = np.random.default_rng(7).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(ref.max_pool2d_backward(gy, ind, shape), tx.grad.numpy(), **tol)

    for cip in (True, False):
        tx.grad = None
        ta = F.avg_pool2d(tx, k, s, p, cm, cip)
        a = ref.avg_pool2d(x, k, s, p, cm, cip)
        np.testing.assert_allclose(a, ta.detach().numpy(), **tol)
        ga = np.random.default_rng(8).standard_normal(a.shape).astype(dtype)
        ta.backward(torch.from_numpy(ga))
        np.testing.assert_allclose(ref.avg_pool2d_backward(ga, shape, k, s, p, cm, cip),
                                   tx.grad.numpy(), **tol)

    for out in [(3, 2), 1, (None, 4)]:
        tx.grad = None
        tad = F.adaptive_avg_pool2d(tx, out)
        ad = ref.adaptive_avg_pool2d(x, out)
        np.testing.assert_allclose(ad, tad.detach().numpy(), **tol)
        tad.backward(torch.from_numpy(ad))
        np.testing.assert_allclose(ref.adaptive_avg_pool2d_backward(ad, shape),
                                   tx.grad.numpy(), **tol)


def test_twins_take_any_layout_and_never_write_inputs():
    base = np.random.default_rng(9).standard_normal((2, 3, 10, 12))
    x = base[:, :, ::2, ::-1]
    x.flags.writeable = False
    xc = np.ascontiguousarray(x)
    np.testing.assert_array_equal(ref.max_pool2d(x, 2)[0], ref.max_pool2d(xc, 2)[0])
    np.testing.assert_array_equal(ref.avg_pool2d(x, 3, 1, 1), ref.avg_pool2d(xc, 3, 1, 1))
    np.testing.assert_array_equal(ref.adaptive_avg_pool2d(x, 2), ref.adaptive_avg_pool2d(xc, 2))
    gy = np.ones((2, 3, 2, 6))
    gy.flags.writeable = False
    ind = ref.max_pool2d(xc, 2)[1]
    ind.flags.writeable = False
    assert ref.max_pool2d_backward(gy, ind, x.shape).sum() == gy.sum()
    assert ref.avg_pool2d_backward(gy, x.shape, 2).shape == x.shape
