"""fastdl.autograd: every Tensor op against NumPy (forward), finite differences
(gradients, float64) and torch (values and gradients); the graph's mechanics."""

import gc
import weakref

import numpy as np
import pytest

import fastdl as fd
from fastdl.autograd import GradcheckError, Tensor, cat, gradcheck, make_node


def rand(*shape, seed=0, dtype=np.float64, low=None):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    if low is not None:  # keep away from a kink or a pole
        a = np.sign(a) * (np.abs(a) + low)
    return a


def leaf(a):
    return Tensor(np.array(a), requires_grad=True)


def torch_grads(fn, arrays, grad_out_seed=1):
    """Values and gradients from torch for fn(*tensors) with weights v on the output."""
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    v = torch.tensor(np.random.default_rng(grad_out_seed).standard_normal(tuple(out.shape)))
    (out * v).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts], v.numpy()


def fd_grads(fn, arrays, v):
    ts = [leaf(a) for a in arrays]
    out = fn(*ts)
    out.backward(v)
    return out.data, [t.grad for t in ts]


# --- elementwise arithmetic with broadcasting -------------------------------------------
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (5, 1)), ((4,), ()), ((), (2, 3)),
          ((1, 3), (2, 1))]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_forward_and_gradcheck(op, sa, sb):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2, low=0.5)
    if op == "pow":
        a = np.abs(a) + 0.5
    ta, tb = leaf(a), leaf(b)
    out = BINARY[op](ta, tb)
    expected = BINARY[op](a, b)
    assert out.shape == np.shape(expected) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)
    assert gradcheck(BINARY[op], [ta, tb])


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_against_torch(op):
    a, b = rand(2, 1, 3, seed=1), rand(5, 1, seed=2, low=0.5)
    if op == "pow":
        a = np.abs(a) + 0.5
    y_t, g_t, v = torch_grads(BINARY[op], [a, b])
    y, g = fd_grads(BINARY[op], [a, b], v)
    np.testing.assert_allclose(y, y_t, rtol=1e-12)
    for mine, theirs in zip(g, g_t):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda x: 2.5 + x, lambda x: x + 2.5, lambda x: 3 - x, lambda x: x - 3,
    lambda x: 1.5 * x, lambda x: x * 1.5, lambda x: 2 / x, lambda x: x / 2,
    lambda x: -x, lambda x: x ** 2, lambda x: x ** 3, lambda x: x ** -1.5, lambda x: 2.0 ** x,
    lambda x: np.full((3, 4), 0.5) * x, lambda x: np.arange(4.0) + x, lambda x: np.ones(4) - x,
    lambda x: np.arange(1.0, 5.0) / x,
], ids=["radd", "add", "rsub", "sub", "rmul", "mul", "rdiv", "div", "neg", "sq", "cube",
        "negpow", "rpow", "ndarray_mul", "ndarray_add", "ndarray_rsub", "ndarray_rdiv"])
def test_with_constants(fn):
    a = np.abs(rand(3, 4, seed=3)) + 0.5
    x = leaf(a)
    out = fn(x)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, fn(a), rtol=1e-14)
    assert gradcheck(fn, [x])


def test_float32_stays_float32_with_python_scalars():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = ((x * 2.0 + 1) / 3.0 - 0.5) ** 2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_gradients_are_cast_to_the_leaf_dtype():
    w = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = (w * np.arange(3.0)).sum()  # float64 constant: the result is float64, as NumPy
    assert y.dtype == np.float64
    y.backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [0, 1, 2])


def test_pow_with_tensor_exponent_at_zero_base_matches_torch():
    torch = pytest.importorskip("torch")
    a, e = np.array([0.0, 0.0, 2.0]), np.array([2.0, 0.0, 3.0])
    ta, te = leaf(a), leaf(e)
    (ta ** te).sum().backward()
    xa, xe = torch.tensor(a, requires_grad=True), torch.tensor(e, requires_grad=True)
    (xa ** xe).sum().backward()
    np.testing.assert_allclose(ta.grad, xa.grad.numpy())
    np.testing.assert_allclose(te.grad, xe.grad.numpy())


# --- matmul -------------------------------------------------------------------------------
MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)),
                 ((1, 7), (7, 1))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    a, b = rand(*sa, seed=4), rand(*sb, seed=5)
    ta, tb = leaf(a), leaf(b)
    out = ta @ tb
    assert out.shape == (a @ b).shape
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-13)
    assert gradcheck(lambda x, y: x @ y, [ta, tb])


def test_matmul_against_torch_and_with_constants():
    a, b = rand(2, 1, 3, 4, seed=4), rand(5, 4, 2, seed=5)
    y_t, g_t, v = torch_grads(lambda x, y: x @ y, [a, b])
    y, g = fd_grads(lambda x, y: x @ y, [a, b], v)
    np.testing.assert_allclose(y, y_t, rtol=1e-12)
    for mine, theirs in zip(g, g_t):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10)
    x = leaf(rand(3, 4))
    assert gradcheck(lambda t: np.ones((2, 4)) @ t.T, [x])  # ndarray @ Tensor
    assert gradcheck(lambda t: t @ b[0], [x])


# --- reductions -----------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": (0, 2)}, {"dim": -1, "keepdim": True},
                                {"axis": 0, "keepdims": True}, {"dim": None, "keepdim": True}])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reductions(op, kw):
    a = rand(2, 3, 4)
    x = leaf(a)
    axis, keep = kw.get("dim", kw.get("axis")), kw.get("keepdim", kw.get("keepdims", False))
    out = getattr(x, op)(**kw)
    expected = getattr(a, op)(axis=axis, keepdims=keep)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)
    assert gradcheck(lambda t: getattr(t, op)(**kw), [x])


def test_reductions_against_torch():
    a = rand(2, 3, 4)
    for fn in (lambda t: t.sum(1), lambda t: t.mean((0, 2), keepdim=True), lambda t: t.sum()):
        y_t, g_t, v = torch_grads(fn, [a])
        y, g = fd_grads(fn, [a], v)
        np.testing.assert_allclose(y, y_t, rtol=1e-13)
        np.testing.assert_allclose(g[0], g_t[0], rtol=1e-13)


# --- shape ops ---------------------------------------------------------------------------------
SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), lambda a: a.reshape(4, 6)),
    "reshape_tuple": (lambda t: t.reshape((2, -1)), lambda a: a.reshape(2, -1)),
    "view": (lambda t: t.view(-1), lambda a: a.reshape(-1)),
    "transpose": (lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    "permute": (lambda t: t.permute(1, 2, 0), lambda a: a.transpose(1, 2, 0)),
    "permute_tuple": (lambda t: t.permute((2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    "T": (lambda t: t.T, lambda a: a.T),
    "flatten": (lambda t: t.flatten(), lambda a: a.reshape(-1)),
    "flatten_1": (lambda t: t.flatten(1), lambda a: a.reshape(2, -1)),
    "flatten_01": (lambda t: t.flatten(0, 1), lambda a: a.reshape(6, 4)),
    "slice": (lambda t: t[:, 1:], lambda a: a[:, 1:]),
    "int": (lambda t: t[1], lambda a: a[1]),
    "neg_step": (lambda t: t[::-1, ::2, -1], lambda a: a[::-1, ::2, -1]),
    "none_ellipsis": (lambda t: t[None, ..., 2], lambda a: a[None, ..., 2]),
    "repeated_index": (lambda t: t[[0, 1, 0, 0]], lambda a: a[[0, 1, 0, 0]]),
    "mixed_index": (lambda t: t[1, [2, 2, 0], 1:3], lambda a: a[1, [2, 2, 0], 1:3]),
    "bool_mask": (lambda t: t[t.data > 0], lambda a: a[a > 0]),
    "index_tensor": (lambda t: t[Tensor(np.array([1, 1]))], lambda a: a[[1, 1]]),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name):
    fn, ref = SHAPE_OPS[name]
    a = rand(2, 3, 4, seed=6)
    x = leaf(a)
    out = fn(x)
    np.testing.assert_array_equal(out.data, ref(a))
    assert gradcheck(fn, [x])


def test_repeated_index_gradient_adds_up():
    x = leaf(np.arange(3.0))
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 0, 1])


def test_flatten_edge_cases():
    assert leaf(np.float64(3.0)).flatten().shape == (1,)
    assert leaf(np.zeros((2, 0, 3))).flatten(1).shape == (2, 0)
    with pytest.raises(ValueError, match="start_dim"):
        leaf(np.zeros((2, 3))).flatten(1, 0)
    with pytest.raises(ValueError):
        leaf(np.zeros((2, 3))).flatten(3)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    arrays = [rand(2, 3, seed=1), rand(2, 3, seed=2), rand(2, 3, seed=3)]
    if dim == 0:
        arrays[1] = rand(4, 3, seed=2)
    else:
        arrays[1] = rand(2, 5, seed=2)
    ts = [leaf(a) for a in arrays]
    out = cat(ts, dim)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis=dim))
    assert gradcheck(lambda *t: cat(t, dim), ts)
    y_t, g_t, v = torch_grads(lambda *t: __import__("torch").cat(t, dim), arrays)
    _, g = fd_grads(lambda *t: cat(t, dim), arrays, v)
    for mine, theirs in zip(g, g_t):
        np.testing.assert_array_equal(mine, theirs)


def test_cat_bad_input():
    with pytest.raises(ValueError, match=r"tensors\[1\]"):
        cat([leaf(np.zeros((2, 3))), leaf(np.zeros((3, 3)))], dim=1)
    with pytest.raises(ValueError, match="non-empty"):
        cat([])
    out = cat([leaf(np.zeros(2)), np.ones(3)])  # ndarrays are constants
    out.sum().backward()


# --- elementwise functions, softmax ----------------------------------------------------------
UNARY = {
    "exp": (lambda t: t.exp(), np.exp, "exp"),
    "log": (lambda t: t.log(), np.log, "log"),
    "relu": (lambda t: t.relu(), lambda a: np.maximum(a, 0), "relu"),
    "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), "sigmoid"),
    "tanh": (lambda t: t.tanh(), np.tanh, "tanh"),
    "softmax0": (lambda t: t.softmax(0), lambda a: np.exp(a) / np.exp(a).sum(0), "softmax0"),
    "softmax-1": (lambda t: t.softmax(-1),
                  lambda a: np.exp(a) / np.exp(a).sum(-1, keepdims=True), "softmax-1"),
    "log_softmax1": (lambda t: t.log_softmax(1),
                     lambda a: a - np.log(np.exp(a).sum(1, keepdims=True)), "log_softmax1"),
}


def _torch_unary(name, t):
    return {"exp": t.exp, "log": t.log, "relu": t.relu, "sigmoid": t.sigmoid, "tanh": t.tanh,
            "softmax0": lambda: t.softmax(0), "softmax-1": lambda: t.softmax(-1),
            "log_softmax1": lambda: t.log_softmax(1)}[name]()


@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name):
    fn, ref, _ = UNARY[name]
    a = rand(3, 4, 2, seed=7, low=0.05)  # no element near relu's kink
    if name == "log":
        a = np.abs(a)
    x = leaf(a)
    np.testing.assert_allclose(fn(x).data, ref(a), rtol=1e-13, atol=1e-15)
    assert gradcheck(fn, [x])
    y_t, g_t, v = torch_grads(lambda t: _torch_unary(name, t), [a])
    y, g = fd_grads(fn, [a], v)
    np.testing.assert_allclose(y, y_t, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g[0], g_t[0], rtol=1e-12, atol=1e-14)


def test_stable_at_extreme_inputs():
    big = np.array([[1000.0, 1001.0, -1000.0], [-1e4, 0.0, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = leaf(big).softmax(1)
        ls = leaf(big).log_softmax(1)
    np.testing.assert_allclose(s.data[0], [1 / (1 + np.e), np.e / (1 + np.e), 0], rtol=1e-14)
    np.testing.assert_allclose(ls.data[0, :2], [-np.log1p(np.e), -np.log1p(np.exp(-1))],
                               rtol=1e-14)
    assert ls.data[1, 0] == -2e4
    for dtype in (np.float32, np.float64):  # no overflow warning (warnings are errors here)
        x = Tensor(np.array([-100.0, -20.0, 0.0, 20.0, 100.0], dtype), requires_grad=True)
        y = x.sigmoid()
        assert y.dtype == dtype and np.all(np.isfinite(y.data))
        assert y.data[0] < 1e-40 and y.data[-1] == 1 and y.data[2] == 0.5
        y.sum().backward()
        assert np.all(np.isfinite(x.grad))


def test_float32_matches_torch_float32():
    torch = pytest.importorskip("torch")
    a = rand(5, 7, seed=8, dtype=np.float32)
    x = Tensor(a, requires_grad=True)
    y = ((x.tanh() * 3).softmax(1) + x.sigmoid() * x.relu()).log().sum(0)
    y.backward(np.ones(7, np.float32))
    xt = torch.tensor(a, requires_grad=True)
    yt = ((xt.tanh() * 3).softmax(1) + xt.sigmoid() * xt.relu()).log().sum(0)
    yt.backward(torch.ones(7))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=2e-6)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=2e-5, atol=1e-6)


def test_to_casts_and_gradient_flows_back():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and x.float() is x
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2, 2, 2])


# --- the graph ----------------------------------------------------------------------------------
def test_composite_graph_against_torch():
    torch = pytest.importorskip("torch")
    a, b, c = rand(4, 3, seed=1), rand(3, seed=2), rand(3, 5, seed=3)

    def f(x, w, v, lib):
        h = (x * w + 1.0)
        h = (h.relu() if lib == "fd" else torch.relu(h)) @ v
        return (h.tanh() * h - h / 3.0).sum(1).mean() + (x ** 2).sum()

    ta, tb, tc = leaf(a), leaf(b), leaf(c)
    out = f(ta, tb, tc, "fd")
    out.backward()
    xa, xb, xc = (torch.tensor(z, requires_grad=True) for z in (a, b, c))
    ot = f(xa, xb, xc, "torch")
    ot.backward()
    np.testing.assert_allclose(out.item(), ot.item(), rtol=1e-13)
    for mine, theirs in ((ta, xa), (tb, xb), (tc, xc)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-11)


def test_diamond_and_reuse_accumulate():
    x = leaf(np.array([1.0, 2.0, 3.0]))
    y = x * x            # used twice below, and x used in three places
    z = (y + y * x + x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3 * x.data ** 2 + 1)


def test_grads_accumulate_over_backward_calls_and_zero_grad():
    x = leaf(np.array([1.0, -2.0]))
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6, 6])


def test_backward_frees_the_graph():
    x = leaf(rand(3))
    y = x.exp()
    z = (y * 2).sum()
    z.backward()
    assert y._parents == () and z._parents == ()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        (y + 1).sum().backward()  # a new node on top of a freed one


def test_retain_graph_allows_another_backward():
    x = leaf(np.array([1.0, 2.0]))
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_array_equal(x.grad, 2 * 2 * x.data)


def test_graph_memory_is_released_after_backward():
    x = leaf(rand(1000))
    h = x * 2.0
    h2 = h.exp()
    ref = weakref.ref(h.data)
    loss = h2.sum()
    del h, h2
    assert ref() is not None  # the graph holds it
    loss.backward()
    gc.collect()
    assert ref() is None      # freed with the graph, although `loss` is still alive


def test_a_node_keeps_only_what_its_backward_needs():
    x = leaf(rand(1000))
    y = x * 3.0                # needs nothing but the constant
    ref = weakref.ref(y.data)
    z = y + 1.0                # needs no array at all
    del y
    gc.collect()
    # y's Tensor is still a parent of z, so its data is alive through the graph ...
    assert ref() is not None
    del z
    gc.collect()
    assert ref() is None       # ... and nothing else holds it


def test_no_grad_and_detach():
    x = leaf(rand(3))
    with fd.no_grad():
        y = x * 2
        assert not fd.is_grad_enabled()
        with fd.enable_grad():
            w = x * 2
    assert fd.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None
    assert w.requires_grad and not w.is_leaf
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()

    @fd.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_backward_errors():
    x = leaf(rand(2, 3))
    y = x * 2
    with pytest.raises(ValueError, match="scalar"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(Tensor(np.ones((2, 3))))
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).backward()
    with pytest.raises(TypeError):
        Tensor(np.arange(3)).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_one_element_backward_and_repr():
    x = leaf(np.array([2.0]))
    y = x * x
    assert "grad_fn=<mul_backward>" in repr(y)
    assert "requires_grad=True" in repr(x)
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0])


def test_constants_get_no_gradient_and_are_not_differentiated():
    x = leaf(rand(3))
    c = Tensor(rand(3, seed=9))
    calls = []

    def spy(g):
        calls.append(g)
        return g, None
    y = make_node(x.data + c.data, (x, c), spy)
    y.sum().backward()
    assert c.grad is None and len(calls) == 1
    np.testing.assert_array_equal(x.grad, np.ones(3))


def test_make_node_records_only_when_needed():
    x, c = leaf(rand(3)), Tensor(rand(3))
    assert not make_node(c.data * 2, (c, None), lambda g: (g, None)).requires_grad
    with fd.no_grad():
        assert not make_node(x.data * 2, (x,), lambda g: (g,)).requires_grad
    assert make_node(x.data * 2, (None, x), lambda g: (None, g)).requires_grad


def test_comparisons_are_elementwise_and_hashing_is_by_identity():
    a, b = Tensor(np.array([1.0, 2.0])), Tensor(np.array([1.0, 3.0]))
    np.testing.assert_array_equal((a == b).data, [True, False])
    np.testing.assert_array_equal((a != b).data, [False, True])
    np.testing.assert_array_equal((a < b).data, [False, True])
    np.testing.assert_array_equal((a <= 1.5).data, [True, False])
    np.testing.assert_array_equal((a > b).data, [False, False])
    np.testing.assert_array_equal((a >= np.array([0.0, 3.0])).data, [True, False])
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2 and len({a, b, a}) == 2
    assert hash(a) != hash(Tensor(a.data))


def test_numpy_interop():
    x = leaf(np.arange(3.0))
    y = np.arange(3.0) + x          # ndarray on the left keeps the graph
    assert isinstance(y, Tensor) and y.requires_grad
    assert np.asarray(x) is x.data
    assert float(Tensor(np.array([2.5]))) == 2.5 and len(x) == 3


def test_optimizer_trains_through_autograd():
    w = fd.nn.Parameter(np.array([3.0, -2.0]))
    opt = fd.optim.SGD([w], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = ((w - np.array([1.0, 1.0])) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.data, [1.0, 1.0], atol=1e-8)
    with pytest.raises(ValueError, match="non-leaf"):
        fd.optim.SGD([w * 2], lr=0.1)


def test_gradcheck_catches_a_wrong_gradient():
    x = leaf(rand(4))

    def wrong_square(t):
        return make_node(t.data ** 2, (t,), lambda g: (g * t.data,))  # should be 2 * x

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(wrong_square, [x])
    assert x.grad is None
    with pytest.raises(ValueError, match="float64"):
        gradcheck(lambda t: t * 2, [Tensor(np.ones(2, np.float32), requires_grad=True)])


def test_wrapping_a_kernel_pair_as_the_docstring_shows():
    # NumPy stand-ins with the signatures of ops.linear / ops.linear_backward
    def linear_kernel(x, weight, bias=None):
        y = x @ weight.T
        return y if bias is None else y + bias

    def linear_backward_kernel(grad_y, x, weight, bias=True):
        return grad_y @ weight, grad_y.T @ x, (grad_y.sum(0) if bias else None)

    def linear(x, weight, bias=None):
        xd, wd = x.data, weight.data
        y = linear_kernel(xd, wd, None if bias is None else bias.data)

        def backward(g):
            return linear_backward_kernel(g, xd, wd, bias=bias is not None)
        return make_node(y, (x, weight, bias), backward)

    x, w, b = leaf(rand(5, 3, seed=1)), leaf(rand(4, 3, seed=2)), leaf(rand(4, seed=3))
    assert gradcheck(lambda *t: linear(*t), [x, w, b])
    assert gradcheck(lambda *t: linear(*t), [x, w])
    y_t, g_t, v = torch_grads(lambda a, c, d: __import__("torch").nn.functional.linear(a, c, d),
                              [x.data, w.data, b.data])
    out, g = fd_grads(linear, [x.data, w.data, b.data], v)
    np.testing.assert_allclose(out, y_t, rtol=1e-13)
    for mine, theirs in zip(g, g_t):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
