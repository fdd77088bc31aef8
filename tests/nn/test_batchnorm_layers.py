"""BatchNorm1d/2d and F.batch_norm: graph nodes around the fastdl.ops kernels."""

import numpy as np
import pytest

import fastdl as fd
from fastdl.autograd import gradcheck

rng = np.random.default_rng(0)

CONFIGS = [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
           dict(bias=False), dict(momentum=1.0, eps=1e-3)]
SHAPES = [(fd.nn.BatchNorm2d, (4, 3, 5, 6)), (fd.nn.BatchNorm1d, (7, 3)),
          (fd.nn.BatchNorm1d, (2, 3, 4))]


@pytest.mark.parametrize("cls, shape", SHAPES)
@pytest.mark.parametrize("kw", CONFIGS)
def test_against_torch_train_then_eval(cls, shape, kw):
    torch = pytest.importorskip("torch")
    m = cls(3, dtype=np.float64, **kw)
    tm = getattr(torch.nn, cls.__name__)(3, dtype=torch.float64, **kw)
    assert repr(m) == repr(tm)
    assert sorted(m.state_dict()) == sorted(tm.state_dict())
    for step in range(3):
        x = rng.standard_normal(shape) * 3 + 1
        g = rng.standard_normal(shape)
        t = fd.Tensor(x, requires_grad=True)
        m(t).backward(g)
        tx = torch.tensor(x, requires_grad=True)
        tm(tx).backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, dict(tm.named_parameters())[name].grad.numpy(),
                                   rtol=1e-10, atol=1e-12)
    for name, b in m.named_buffers():
        np.testing.assert_allclose(b, dict(tm.named_buffers())[name].numpy(), rtol=1e-12)
    m.eval()
    tm.eval()
    x = rng.standard_normal(shape)
    t = fd.Tensor(x, requires_grad=True)
    y = m(t)
    g = rng.standard_normal(shape)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = tm(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_functional_gradcheck(training):
    x = fd.Tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    w = fd.Tensor(rng.standard_normal(2) + 2, requires_grad=True)
    b = fd.Tensor(rng.standard_normal(2), requires_grad=True)
    rm, rv = rng.standard_normal(2), rng.random(2) + 0.5
    F = fd.nn.functional
    gradcheck(lambda x, w, b: F.batch_norm(x, rm.copy(), rv.copy(), w, b, training), (x, w, b))
    gradcheck(lambda x, b: F.batch_norm(x, None, None, None, b, True), (x, b))


def test_float32_layer_keeps_dtype_and_counts_batches():
    m = fd.nn.BatchNorm2d(2)
    y = m(fd.Tensor(rng.standard_normal((2, 2, 3, 3)).astype(np.float32)))
    assert y.dtype == np.float32 and m.running_mean.dtype == np.float32
    assert int(m.num_batches_tracked) == 1
    m.reset_running_stats()
    assert int(m.num_batches_tracked) == 0 and (m.running_var == 1).all()


def test_bad_input():
    with pytest.raises(ValueError, match="expected 4D input"):
        fd.nn.BatchNorm2d(3)(fd.Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="channels"):
        fd.nn.BatchNorm1d(3)(fd.Tensor(np.zeros((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError):  # one value per channel in training, as torch
        fd.nn.BatchNorm1d(3)(fd.Tensor(np.zeros((1, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="num_features"):
        fd.nn.BatchNorm2d(0)
