"""Linear and Conv2d layers and F.linear / F.conv2d: graph nodes around fastdl.ops."""

import numpy as np
import pytest

import fastdl as fd
from fastdl.autograd import gradcheck

F = fd.nn.functional
rng = np.random.default_rng(0)

CONV = [dict(in_channels=3, out_channels=4, kernel_size=3),
        dict(in_channels=4, out_channels=6, kernel_size=(1, 3), stride=2, padding=(0, 1),
             groups=2, bias=False),
        dict(in_channels=2, out_channels=2, kernel_size=2, padding="same", dilation=2),
        dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4)]


@pytest.mark.parametrize("kw", CONV)
def test_conv2d_layer_against_torch(kw):
    torch = pytest.importorskip("torch")
    m = fd.nn.Conv2d(**kw, dtype=np.float64)
    tm = torch.nn.Conv2d(**kw, dtype=torch.float64)
    assert repr(m) == repr(tm)
    assert [(n, p.shape) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal((2, kw["in_channels"], 7, 6))
    t = fd.Tensor(x, requires_grad=True)
    y = m(t)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (_, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_layer_against_torch_and_gradcheck():
    torch = pytest.importorskip("torch")
    m = fd.nn.Linear(5, 3, dtype=np.float64)
    tm = torch.nn.Linear(5, 3, dtype=torch.float64)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    x = rng.standard_normal((4, 5))
    t = fd.Tensor(x, requires_grad=True)
    m(t).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tm(tx).sum().backward()
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.grad, tm.weight.grad.numpy(), rtol=1e-12)
    assert repr(m) == repr(tm)


def test_functional_gradcheck():
    x = fd.Tensor(rng.standard_normal((2, 4, 5, 5)), requires_grad=True)
    w = fd.Tensor(rng.standard_normal((6, 2, 3, 3)), requires_grad=True)
    b = fd.Tensor(rng.standard_normal(6), requires_grad=True)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 2), (x, w, b))
    a = fd.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    lw = fd.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    gradcheck(lambda a, lw: F.linear(a, lw), (a, lw))


def test_default_init_bounds_and_dtype():
    m = fd.nn.Conv2d(8, 4, 3)
    bound = 1 / np.sqrt(8 * 9)
    assert m.weight.dtype == np.float32
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.bias.data).max() <= bound
    assert np.abs(m.weight.data).max() > 0.5 * bound
    lin = fd.nn.Linear(100, 10)
    assert np.abs(lin.weight.data).max() <= 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by groups"):
        fd.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        fd.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        fd.nn.Conv2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="in_features"):
        fd.nn.Linear(0, 3)
    with pytest.raises(ValueError):
        fd.nn.Conv2d(3, 4, 3)(fd.Tensor(np.zeros((1, 2, 5, 5), dtype=np.float32)))
