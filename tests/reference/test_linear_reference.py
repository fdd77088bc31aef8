"""Tests of the NumPy twins of matmul / linear / linear_backward
(fastdl/reference/linear.py): the backward against centred finite differences in
float64, everything against PyTorch when it is installed."""

import numpy as np
import pytest

from fastdl import reference as ref


def _loss_and_grads(x, w, b, gy):
    """L = sum(linear(x, w, b) * gy), whose gradients are what linear_backward returns."""
    return float(np.sum(ref.linear(x, w, b) * gy))


@pytest.mark.parametrize("xshape,out", [((4, 3), 5), ((2, 3, 4), 2), ((6,), 3), ((1, 1), 1)])
def test_linear_backward_matches_finite_differences(xshape, out):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((out, xshape[-1]))
    b = rng.standard_normal(out)
    gy = rng.standard_normal(xshape[:-1] + (out,))
    gx, gw, gb = ref.linear_backward(gy, x, w, bias=True)
    h = 1e-6
    for arr, grad in ((x, gx), (w, gw), (b, gb)):
        assert grad.shape == arr.shape and grad.dtype == np.float64
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + h
            up = _loss_and_grads(x, w, b, gy)
            arr[i] = old - h
            down = _loss_and_grads(x, w, b, gy)
            arr[i] = old
            num[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-7, atol=1e-8)


def test_linear_backward_bias_flag():
    x, w = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    gy = np.ones((2, 4), np.float32)
    gx, gw, gb = ref.linear_backward(gy, x, w, bias=False)
    assert gb is None and gx.dtype == gw.dtype == np.float32
    _, _, gb = ref.linear_backward(gy, x, w)
    np.testing.assert_array_equal(gb, np.full(4, 2.0, np.float32))
    assert gb.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 7)).astype(dtype)
    w = rng.standard_normal((3, 7)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    gy = rng.standard_normal((5, 2, 3)).astype(dtype)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.tensor(gy))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.linear(x, w, b), ty.detach().numpy(), **tol)
    for got, want in zip(ref.linear_backward(gy, x, w), (tx.grad, tw.grad, tb.grad)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want.numpy(), **tol)
    a, c = rng.standard_normal((4, 6)).astype(dtype), rng.standard_normal((6, 5)).astype(dtype)
    np.testing.assert_allclose(ref.matmul(a, c), torch.matmul(torch.tensor(a), torch.tensor(c)).numpy(), **tol)


def test_reference_leaves_inputs_alone():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    gy = rng.standard_normal((3, 2))
    for arr in (x, w, b, gy):
        arr.flags.writeable = False
    ref.linear(x, w, b)
    ref.linear_backward(gy, x, w)
    ref.matmul(x, w.T)
