"""Pooling layers and their functional forms: graph nodes around the fastdl.ops kernels."""

import numpy as np
import pytest

import fastdl as fd
from fastdl.autograd import gradcheck

F = fd.nn.functional
rng = np.random.default_rng(0)

LAYERS = [
    (lambda: fd.nn.MaxPool2d(3, 2, 1), "MaxPool2d(3, 2, 1)"),
    (lambda: fd.nn.MaxPool2d((2, 3), dilation=(1, 2), ceil_mode=True),
     "MaxPool2d((2, 3), dilation=(1, 2), ceil_mode=True)"),
    (lambda: fd.nn.AvgPool2d(2), "AvgPool2d(2)"),
    (lambda: fd.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     "AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)"),
    (lambda: fd.nn.AdaptiveAvgPool2d((3, None)), "AdaptiveAvgPool2d((3, None))"),
    (lambda: fd.nn.AdaptiveAvgPool2d(1), "AdaptiveAvgPool2d(1)"),
]


@pytest.mark.parametrize("make, torch_expr", LAYERS)
def test_gradients_by_finite_differences(make, torch_expr):
    layer = make()
    x = fd.Tensor(rng.standard_normal((2, 3, 7, 8)), requires_grad=True)
    gradcheck(lambda t: layer(t), (x,))


@pytest.mark.parametrize("make, torch_expr", LAYERS)
def test_against_torch(make, torch_expr):
    torch = pytest.importorskip("torch")
    layer, tlayer = make(), eval("torch.nn." + torch_expr)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 9, 10)).astype(dtype)
        t = fd.Tensor(x, requires_grad=True)
        y = layer(t)
        assert y.dtype == dtype
        g = rng.standard_normal(y.shape).astype(dtype)
        y.backward(g)
        tx = torch.tensor(x, requires_grad=True)
        ty = tlayer(tx)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    assert repr(layer) == repr(tlayer)


def test_max_pool_return_indices_and_no_grad():
    x = fd.Tensor(rng.standard_normal((1, 2, 4, 4)))
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape
    assert not y.requires_grad
    with fd.no_grad():
        z = fd.nn.MaxPool2d(2)(fd.Tensor(x.data, requires_grad=True))
    assert not z.requires_grad


def test_bad_arguments():
    x = fd.Tensor(rng.standard_normal((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="padding"):
        fd.nn.MaxPool2d(2, padding=2)(x)
    with pytest.raises(ValueError, match="divisor_override"):
        fd.nn.AvgPool2d(2, divisor_override=3)
    with pytest.raises(ValueError):
        F.avg_pool2d(fd.Tensor(np.zeros((4, 4))), 2)
