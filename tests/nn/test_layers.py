"""Parameter-free layers (ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, Dropout, Flatten,
LocalResponseNorm, Identity) and their functional forms: NumPy, finite differences,
torch."""

import numpy as np
import pytest

import fastdl as fd
import fastdl.nn.functional as F
from fastdl.autograd import Tensor, gradcheck


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_activation_modules_against_torch():
    torch = pytest.importorskip("torch")
    x = rand(3, 4, 5)
    pairs = [(fd.nn.ReLU(), torch.nn.ReLU()), (fd.nn.Sigmoid(), torch.nn.Sigmoid()),
             (fd.nn.Tanh(), torch.nn.Tanh()), (fd.nn.Softmax(1), torch.nn.Softmax(1)),
             (fd.nn.LogSoftmax(-1), torch.nn.LogSoftmax(-1)), (fd.nn.Identity(3, a=1),
                                                              torch.nn.Identity(3, a=1))]
    v = rand(3, 4, 5, seed=1)
    for mine, theirs in pairs:
        assert repr(mine) == repr(theirs)
        xt = Tensor(x, requires_grad=True)
        out = mine(xt)
        out.backward(v)
        tt = torch.tensor(x, requires_grad=True)
        ot = theirs(tt)
        ot.backward(torch.tensor(v))
        np.testing.assert_allclose(out.data, ot.detach().numpy(), rtol=1e-13, err_msg=repr(mine))
        np.testing.assert_allclose(xt.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert repr(fd.nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))


def test_functional_softmax_implicit_dim_warns_like_torch():
    x = rand(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.data.sum(1), 1.0)  # dim 1 for 2-D, as torch
    y = F.log_softmax(x.astype(np.float32), dim=0, dtype=np.float64)
    assert y.dtype == np.float64


def test_functional_accepts_arrays():
    x = rand(2, 3)
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x, 0))
    np.testing.assert_array_equal(F.flatten(rand(2, 3, 4)).shape, (24,))
    assert F.cat([x, x], dim=1).shape == (2, 6)


# --- Dropout ------------------------------------------------------------------------------------
def test_dropout_scaling_and_statistics():
    fd.manual_seed(0)
    x = np.ones((200, 500), np.float32)
    y = F.dropout(Tensor(x), p=0.3).data
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 1e5 draws: sd 0.0014
    np.testing.assert_allclose(y[kept], np.float32(1 / 0.7), rtol=1e-7)
    assert abs(y.mean() - 1.0) < 0.02      # inverted dropout keeps the expectation


def test_dropout_gradient_uses_the_same_mask():
    fd.manual_seed(1)
    x = Tensor(rand(4, 6), requires_grad=True)
    y = F.dropout(x, p=0.5)
    v = rand(4, 6, seed=2)
    y.backward(v)
    mask = y.data != 0
    np.testing.assert_allclose(x.grad, np.where(mask, v * 2.0, 0.0), rtol=1e-15)
    # finite differences with the mask held fixed: reseed before every evaluation
    x2 = Tensor(rand(4, 6), requires_grad=True)

    def f(t):
        fd.manual_seed(5)
        return F.dropout(t, p=0.25)
    assert gradcheck(f, [x2])


def test_dropout_is_seeded_and_mode_dependent():
    layer = fd.nn.Dropout(0.5)
    x = Tensor(np.ones((8, 8)))
    fd.manual_seed(123)
    a = layer(x).data
    fd.manual_seed(123)
    b = layer(x).data
    c = layer(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    xt = Tensor(np.ones(5), requires_grad=True)
    out = F.dropout(xt, 1.0)
    np.testing.assert_array_equal(out.data, 0)
    out.sum().backward()
    np.testing.assert_array_equal(xt.grad, 0)
    assert repr(layer) == "Dropout(p=0.5, inplace=False)"


def test_dropout_bad_p():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        fd.nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(np.ones(3), -0.1)
    with pytest.raises(TypeError, match="p must be a real number"):
        F.dropout(np.ones(3), "0.5")


def test_generator_interface():
    g = fd.Generator().manual_seed(7)
    assert g.initial_seed() == 7
    a = g.rng.random(3)
    state = g.get_state()
    b = g.rng.random(3)
    g.set_state(state)
    np.testing.assert_array_equal(g.rng.random(3), b)
    g.manual_seed(7)
    np.testing.assert_array_equal(g.rng.random(3), a)
    assert fd.manual_seed(-1).initial_seed() == 2 ** 64 - 1
    with pytest.raises(TypeError):
        fd.manual_seed(1.5)


# --- Flatten ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(), (0,), (1, 2), (2, -1), (-3, -2)])
def test_flatten_against_torch(args):
    torch = pytest.importorskip("torch")
    x = rand(2, 3, 4, 5)
    mine, theirs = fd.nn.Flatten(*args), torch.nn.Flatten(*args)
    xt = Tensor(x, requires_grad=True)
    out = mine(xt)
    assert out.shape == tuple(theirs(torch.tensor(x)).shape)
    np.testing.assert_array_equal(out.data, theirs(torch.tensor(x)).numpy())
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(xt.grad, 1.0)
    assert repr(mine) == repr(theirs)


def test_flatten_bad_dims():
    with pytest.raises(ValueError, match="start_dim"):
        fd.nn.Flatten(2, 1)(Tensor(np.zeros((2, 3, 4))))
    with pytest.raises(IndexError):  # AxisError: both an IndexError (torch) and a ValueError
        fd.nn.Flatten(5)(Tensor(np.zeros((2, 3))))


# --- LocalResponseNorm --------------------------------------------------------------------------
def np_lrn(x, size, alpha, beta, k):
    """The definition, one channel at a time."""
    C = x.shape[1]
    s = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        s[:, c] = k + alpha / size * (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x / s ** beta


LRN_CASES = [((2, 7, 3, 4), 5, 1e-2, 0.75, 2.0), ((1, 6, 5), 2, 0.5, 0.6, 1.0),
             ((2, 4, 3, 2, 2), 3, 0.3, 0.9, 1.5), ((3, 3, 4, 4), 8, 0.4, 0.75, 1.0),
             ((1, 5, 2, 2), 1, 0.2, 0.5, 1.0)]


@pytest.mark.parametrize("shape,size,alpha,beta,k", LRN_CASES)
def test_local_response_norm(shape, size, alpha, beta, k):
    x = rand(*shape, seed=3) * 2
    xt = Tensor(x, requires_grad=True)
    layer = fd.nn.LocalResponseNorm(size, alpha, beta, k)
    np.testing.assert_allclose(layer(xt).data, np_lrn(x, size, alpha, beta, k), rtol=1e-13)
    assert gradcheck(layer, [xt])
    torch = pytest.importorskip("torch")
    v = rand(*shape, seed=4)
    layer(xt).backward(v)
    tt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.LocalResponseNorm(size, alpha, beta, k)
    out = ref(tt)
    out.backward(torch.tensor(v))
    np.testing.assert_allclose(layer(xt).data, out.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(xt.grad, tt.grad.numpy(), rtol=1e-11, atol=1e-14)
    assert repr(layer) == repr(ref)


def test_local_response_norm_float32_and_bad_input():
    x = rand(2, 5, 3, 3).astype(np.float32)
    assert F.local_response_norm(x, 3).dtype == np.float32
    with pytest.raises(ValueError,
                       match=r"input must be 3-D or more \(N, C, ...\), got shape \(2, 5\)"):
        fd.nn.LocalResponseNorm(3)(Tensor(np.ones((2, 5))))
    with pytest.raises(ValueError, match="size"):
        F.local_response_norm(x, 0)
