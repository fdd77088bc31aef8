"""Reverse-mode automatic differentiation: the Tensor and the graph that ``backward`` walks.

A Tensor wraps an ndarray (``.data``). Every operation on Tensors computes its result
on the arrays at once and, when an input requires a gradient (and grad mode is on),
records a node: the output Tensor keeps its inputs (``_parents``) and a closure
(``_backward``) that maps the gradient of the output to the gradients of the inputs.
Operations are coarse -- a matmul, a softmax, a whole loss; later a conv or a batch
norm -- so the Python cost of a node is small next to the array work it wraps.

Wrapping a forward/backward kernel pair is a few lines with :func:`make_node`::

    def linear(x, weight, bias=None):
        xd, wd = x.data, weight.data
        y = ops.linear(xd, wd, None if bias is None else bias.data)
        def backward(g):                   # g: the gradient of y, an ndarray
            return ops.linear_backward(g, xd, wd, bias=bias is not None)
        return make_node(y, (x, weight, bias), backward)

The closure returns one gradient per parent, in order (None where there is none or
none is needed), shaped like that parent; it must not write into ``g`` (it may be a
read-only broadcast view). It captures only the arrays it needs: that is all a node
keeps. ``backward()`` visits the nodes in reverse topological order, sums the
gradients reaching each node, accumulates into the ``.grad`` of the leaves that
require it, and then frees the graph (each node drops its closure and parents).
"""

from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

__all__ = ["Tensor", "no_grad", "enable_grad", "is_grad_enabled", "make_node", "cat",
           "zero_grads", "gradcheck", "GradcheckError"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """False inside a :func:`no_grad` block."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager (or decorator): operations inside record no graph."""
    prev = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = prev


@contextlib.contextmanager
def enable_grad():
    """Context manager (or decorator): record graphs again inside a :func:`no_grad` block."""
    prev = is_grad_enabled()
    _state.grad_enabled = True
    try:
        yield
    finally:
        _state.grad_enabled = prev


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _freed(g):  # pragma: no cover - never called: backward checks for it first
    raise RuntimeError("unreachable")


_freed.__name__ = "freed by backward"


class Tensor:
    """An ndarray (``.data``) with an optional gradient (``.grad``, an ndarray or None).

    Parameters
    ----------
    data : array_like
        Float32 and float64 arrays are kept as given (no copy when already an ndarray);
        other input is converted with ``np.asarray`` (a Python float list becomes
        float64, as in NumPy).
    requires_grad : bool
        Whether ``backward`` accumulates a gradient into ``.grad`` (floats only).

    Notes
    -----
    Arithmetic broadcasts as NumPy does; Python numbers and ndarrays mix with Tensors
    as constants. ``==``, ``<`` and the other comparisons are elementwise (as in torch)
    and give boolean Tensors outside the graph; Tensors hash by identity, so they can
    key dicts (an optimizer's state).
    """

    __slots__ = ("_data", "grad", "requires_grad", "_backward", "_parents", "__weakref__")
    __array_ufunc__ = None  # `ndarray + Tensor` calls Tensor.__radd__, keeping the graph
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data._data
        arr = np.asarray(data)
        if requires_grad and arr.dtype not in _FLOATS:
            raise TypeError(
                "Tensor: only float32/float64 tensors can require gradients, got dtype "
                f"{arr.dtype}"
            )
        self._data = arr
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._backward = None
        self._parents: tuple = ()

    # --- the array ------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = np.asarray(value._data if isinstance(value, Tensor) else value)

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        """The number of elements (NumPy's ``size``)."""
        return self._data.size

    def __len__(self) -> int:
        return len(self._data)

    def numpy(self) -> np.ndarray:
        """The data array (not a copy)."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._data, dtype=dtype, copy=True)
        return self._data if dtype is None else self._data.astype(dtype, copy=False)

    def item(self):
        return self._data.item()

    def __float__(self) -> float:
        return float(self._data.item())

    def __int__(self) -> int:
        return int(self._data.item())

    def __bool__(self) -> bool:
        return bool(self._data)

    # --- the graph ------------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        """True for a tensor made by the user rather than by an operation on tensors
        that require grad."""
        return self._backward is None

    @property
    def grad_fn(self):
        """The closure that back-propagates through the operation that made this
        tensor (None for a leaf)."""
        return self._backward

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place (leaves only); return self."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only a leaf tensor's requires_grad can be "
                               "changed; use detach() to get a leaf")
        if requires_grad and self._data.dtype not in _FLOATS:
            raise TypeError(f"requires_grad_: only float32/float64 tensors can require "
                            f"gradients, got dtype {self._data.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """A Tensor sharing this data, outside any graph."""
        return Tensor(self._data)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires it.

        Parameters
        ----------
        grad : array_like or Tensor, optional
            The gradient flowing into this tensor, of its shape; it may be omitted
            only for a one-element tensor (it is then 1).
        retain_graph : bool, default False
            Keep the graph for another ``backward``; by default every node it visits
            drops its saved arrays, and a second ``backward`` through them raises
            RuntimeError.
        """
        if grad is None:
            if self._data.size != 1:
                raise ValueError("backward: grad can be implicit only for a scalar (one "
                                 f"element); this tensor has shape {self.shape}, so pass grad")
            grad = np.ones_like(self._data)
        else:
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad,
                              dtype=self._data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, expected {self.shape}")
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph "
                               "(was it computed under no_grad(), or from inputs that do not "
                               "require grad?)")
        if self._backward is None:
            self._accumulate(grad)
            return
        order = _topological_order(self)
        grads = {id(self): grad}
        for node in order:
            g = grads.pop(id(node), None)
            parents = node._parents
            if g is not None:
                for p, pg in zip(parents, node._backward(g)):
                    if pg is None or p is None or not p.requires_grad:
                        continue
                    if pg.dtype != p._data.dtype:
                        pg = pg.astype(p._data.dtype)
                    if p._backward is None:
                        p._accumulate(pg)
                    else:
                        key = id(p)
                        prev = grads.get(key)
                        # never in place: pg may be a view shared with another parent
                        grads[key] = pg if prev is None else prev + pg
            if not retain_graph:
                node._backward = _freed
                node._parents = ()

    def _accumulate(self, grad: np.ndarray) -> None:
        if self.grad is None:
            # a copy: grad may be a read-only view or shared with another tensor's grad
            self.grad = np.array(grad, dtype=self._data.dtype, order="C")
        else:
            self.grad += grad

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", threshold=20)
        if self._backward is not None:
            return f"Tensor({body}, grad_fn=<{_op_name(self._backward)}>)"
        return f"Tensor({body}{', requires_grad=True' if self.requires_grad else ''})"

    # --- elementwise arithmetic (broadcasting) --------------------------------------
    def __neg__(self):
        return make_node(np.negative(self._data), (self,), _neg_backward)

    def __add__(self, other):
        b, bt = _operand(other)
        a = self._data
        sa, sb = a.shape, np.shape(b)

        def add_backward(g):
            return _unbroadcast(g, sa), (_unbroadcast(g, sb) if bt is not None else None)
        return make_node(a + b, (self, bt), add_backward)

    __radd__ = __add__

    def __sub__(self, other):
        b, bt = _operand(other)
        a = self._data
        sa, sb = a.shape, np.shape(b)

        def sub_backward(g):
            return _unbroadcast(g, sa), (-_unbroadcast(g, sb) if bt is not None else None)
        return make_node(a - b, (self, bt), sub_backward)

    def __rsub__(self, other):
        b, _ = _operand(other)
        sa = self._data.shape

        def rsub_backward(g):
            return (-_unbroadcast(g, sa),)
        return make_node(b - self._data, (self,), rsub_backward)

    def __mul__(self, other):
        b, bt = _operand(other)
        a = self._data
        need_a, need_b = self.requires_grad, bt is not None and bt.requires_grad

        def mul_backward(g):
            return (_unbroadcast(g * b, a.shape) if need_a else None,
                    _unbroadcast(g * a, bt.shape) if need_b else None)
        return make_node(a * b, (self, bt), mul_backward)

    __rmul__ = __mul__

    def __truediv__(self, other):
        b, bt = _operand(other)
        a = self._data
        y = a / b
        need_a, need_b = self.requires_grad, bt is not None and bt.requires_grad

        def div_backward(g):
            # d(a/b)/db = -a/b^2 = -y/b
            return (_unbroadcast(g / b, a.shape) if need_a else None,
                    _unbroadcast(-(g * y) / b, bt.shape) if need_b else None)
        return make_node(y, (self, bt), div_backward)

    def __rtruediv__(self, other):
        b, _ = _operand(other)
        a = self._data
        y = b / a

        def rdiv_backward(g):
            return (_unbroadcast(-(g * y) / a, a.shape),)
        return make_node(y, (self,), rdiv_backward)

    def __pow__(self, exponent):
        e, et = _operand(exponent)
        a = self._data
        y = a ** e
        need_a, need_e = self.requires_grad, et is not None and et.requires_grad

        def pow_backward(g):
            ga = ge = None
            with np.errstate(divide="ignore", invalid="ignore"):
                if need_a:  # torch's rule: 0 where e == 0 (instead of 0 * 0**-1)
                    if _is_number(e):
                        d = 2 * a if e == 2 else np.zeros_like(a) if e == 0 else e * a ** (e - 1)
                    else:
                        d = np.where(e == 0, 0, e * a ** (e - 1))
                    ga = _unbroadcast(g * d, a.shape)
                if need_e:  # torch's rule: 0 where a == 0 and e >= 0 (instead of 0*log 0)
                    ge = _unbroadcast(np.where((a == 0) & (e >= 0), 0, g * y * np.log(a)),
                                      et.shape)
            return ga, ge
        return make_node(y, (self, et), pow_backward)

    def __rpow__(self, base):
        b, _ = _operand(base)
        a = self._data
        y = b ** a

        def rpow_backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (_unbroadcast(np.where((b == 0) & (a >= 0), 0, g * y * np.log(b)),
                                     a.shape),)
        return make_node(y, (self,), rpow_backward)

    def __matmul__(self, other):
        b, bt = _operand(other)
        return _matmul(self, self._data, bt, b)

    def __rmatmul__(self, other):
        return _matmul(None, _operand(other)[0], self, self._data)

    # --- comparisons: elementwise, boolean, outside the graph -----------------------
    def __eq__(self, other):  # type: ignore[override]
        return Tensor(self._data == _operand(other)[0])

    def __ne__(self, other):  # type: ignore[override]
        return Tensor(self._data != _operand(other)[0])

    def __lt__(self, other):
        return Tensor(self._data < _operand(other)[0])

    def __le__(self, other):
        return Tensor(self._data <= _operand(other)[0])

    def __gt__(self, other):
        return Tensor(self._data > _operand(other)[0])

    def __ge__(self, other):
        return Tensor(self._data >= _operand(other)[0])

    # --- reductions -----------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Sum over ``dim`` (int, tuple or None for all); NumPy's ``axis``/``keepdims``
        are accepted too."""
        axes, keep = _reduce_args(self._data.ndim, dim, keepdim, axis, keepdims)
        shape = self._data.shape

        def sum_backward(g):
            return (np.broadcast_to(_restore_dims(g, axes, keep, len(shape)), shape),)
        return make_node(self._data.sum(axis=axes, keepdims=keep), (self,), sum_backward)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        """Mean over ``dim`` (int, tuple or None for all); NumPy's ``axis``/``keepdims``
        are accepted too."""
        axes, keep = _reduce_args(self._data.ndim, dim, keepdim, axis, keepdims)
        shape = self._data.shape
        count = int(np.prod([shape[i] for i in axes])) if axes is not None else self._data.size

        def mean_backward(g):
            g = _restore_dims(g, axes, keep, len(shape)) / count
            return (np.broadcast_to(g, shape),)
        return make_node(self._data.mean(axis=axes, keepdims=keep), (self,), mean_backward)

    # --- shape ----------------------------------------------------------------------
    def reshape(self, *shape):
        """The data in a new shape (``reshape(2, -1)`` or ``reshape((2, -1))``)."""
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        old = self._data.shape

        def reshape_backward(g):
            return (g.reshape(old),)
        return make_node(self._data.reshape(shape), (self,), reshape_backward)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Merge dims ``start_dim..end_dim`` into one (torch.flatten)."""
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        s = _dim(start_dim, len(shape), "flatten", "start_dim")
        e = _dim(end_dim, len(shape), "flatten", "end_dim")
        if s > e:
            raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim "
                             f"({end_dim}) for an input of shape {shape}")
        return self.reshape(shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])

    def permute(self, *dims):
        """Reorder the dimensions (``permute(0, 2, 1)`` or ``permute((0, 2, 1))``)."""
        if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
            dims = tuple(dims[0])
        inverse = np.argsort([_dim(d, self._data.ndim, "permute", "dims") for d in dims])

        def permute_backward(g):
            return (g.transpose(inverse),)
        return make_node(self._data.transpose(dims), (self,), permute_backward)

    def transpose(self, dim0: int, dim1: int):
        """Swap two dimensions."""
        def transpose_backward(g):
            return (g.swapaxes(dim0, dim1),)
        return make_node(self._data.swapaxes(dim0, dim1), (self,), transpose_backward)

    @property
    def T(self):
        """The dimensions reversed (NumPy's ``.T``)."""
        return self.permute(tuple(range(self._data.ndim - 1, -1, -1)))

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index._data
        elif isinstance(index, tuple):
            index = tuple(i._data if isinstance(i, Tensor) else i for i in index)
        shape, dtype = self._data.shape, self._data.dtype
        basic = all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))
                    for i in (index if isinstance(index, tuple) else (index,)))

        def getitem_backward(g):
            gx = np.zeros(shape, dtype)
            if basic:
                gx[index] = g
            else:  # an index array may repeat an element: its gradients add up
                np.add.at(gx, index, g)
            return (gx,)
        return make_node(self._data[index], (self,), getitem_backward)

    def to(self, dtype):
        """This tensor cast to ``dtype`` (gradients flow back, cast to this dtype)."""
        dtype = np.dtype(dtype)
        if dtype == self._data.dtype:
            return self
        return make_node(self._data.astype(dtype), (self,), _identity_backward)

    def float(self):
        """``to(float32)``."""
        return self.to(np.float32)

    def double(self):
        """``to(float64)``."""
        return self.to(np.float64)

    # --- elementwise functions -------------------------------------------------------
    def exp(self):
        y = np.exp(self._data)

        def exp_backward(g):
            return (g * y,)
        return make_node(y, (self,), exp_backward)

    def log(self):
        x = self._data
        with np.errstate(divide="ignore", invalid="ignore"):  # -inf/nan, as torch, silently
            y = np.log(x)

        def log_backward(g):
            with np.errstate(divide="ignore", invalid="ignore"):
                return (g / x,)
        return make_node(y, (self,), log_backward)

    def relu(self):
        y = np.maximum(self._data, 0)

        def relu_backward(g):
            return (g * (y > 0),)
        return make_node(y, (self,), relu_backward)

    def sigmoid(self):
        y = _sigmoid(self._data)

        def sigmoid_backward(g):
            return (g * (y * (1 - y)),)
        return make_node(y, (self,), sigmoid_backward)

    def tanh(self):
        y = np.tanh(self._data)

        def tanh_backward(g):
            return (g * (1 - y * y),)
        return make_node(y, (self,), tanh_backward)

    def softmax(self, dim: int):
        """exp(x) / sum(exp(x)) along ``dim``, computed after subtracting the maximum."""
        y = _softmax(self._data, dim)

        def softmax_backward(g):
            gy = g * y
            return (gy - y * gy.sum(axis=dim, keepdims=True),)
        return make_node(y, (self,), softmax_backward)

    def log_softmax(self, dim: int):
        """x - logsumexp(x) along ``dim`` (stable: the maximum is subtracted first)."""
        y = _log_softmax(self._data, dim)

        def log_softmax_backward(g):
            return (g - np.exp(y) * g.sum(axis=dim, keepdims=True),)
        return make_node(y, (self,), log_softmax_backward)


# --- building nodes ---------------------------------------------------------------------
def make_node(data, parents: tuple, backward) -> Tensor:
    """The Tensor holding ``data``, the result of an operation on ``parents``.

    Parameters
    ----------
    data : ndarray
        The operation's result.
    parents : tuple of Tensor or None
        Its inputs (None for an absent optional input, such as a missing bias).
    backward : callable
        ``backward(g) -> tuple``: given the gradient ``g`` of ``data`` (an ndarray of
        its shape), one gradient per parent, in order, each shaped like that parent or
        None. It must not write into ``g``.

    The node is recorded only when grad mode is on and some parent requires grad;
    otherwise the result is a plain Tensor and ``backward`` is dropped.
    """
    out = _new(Tensor)
    out._data = data if type(data) is np.ndarray else np.asarray(data)
    out.grad = None
    out.requires_grad = False
    out._backward = None
    out._parents = ()
    if getattr(_state, "grad_enabled", True):
        for p in parents:
            if p is not None and p.requires_grad:
                out.requires_grad = True
                out._backward = backward
                out._parents = parents
                break
    return out


_new = Tensor.__new__


def _topological_order(root: Tensor) -> list:
    """The non-leaf nodes reachable from ``root``, each before all of its parents."""
    order, seen = [], {id(root)}
    stack = [(root, iter(root._parents))]
    while stack:
        node, parents = stack[-1]
        for p in parents:
            if p is not None and p._backward is not None and id(p) not in seen:
                seen.add(id(p))
                stack.append((p, iter(p._parents)))
                break
        else:
            stack.pop()
            if node._backward is _freed:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second time: its "
                    "saved arrays were freed by an earlier backward() (through "
                    f"a tensor of shape {node.shape}). Pass retain_graph=True to the first "
                    "backward() to keep them, or compute the forward pass again.")
            order.append(node)
    order.reverse()
    return order


def _op_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _neg_backward(g):
    return (-g,)


def _identity_backward(g):
    return (g,)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number)


def _operand(x):
    """(array or Python number, Tensor or None) for the other operand of an operator.

    Python numbers stay Python numbers, so that ``float32_tensor * 2.0`` stays float32
    (NumPy's weak scalars)."""
    if isinstance(x, Tensor):
        return x._data, x
    if isinstance(x, (int, float, bool)):
        return x, None
    return np.asarray(x), None


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``g`` over the axes along which an operand of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _dim(d, ndim: int, fn: str, name: str) -> int:
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise np.exceptions.AxisError(f"{fn}: {name}={d} is out of range for a tensor with "
                                      f"{ndim} dimensions")
    return d % max(ndim, 1)


def _reduce_args(ndim, dim, keepdim, axis, keepdims):
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if dim is None:
        return None, bool(keepdim)
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    return tuple(_dim(d, ndim, "sum/mean", "dim") for d in dims), bool(keepdim)


def _restore_dims(g, axes, keep, ndim):
    """``g`` with the reduced axes put back as size-1 dims (for broadcasting)."""
    if keep:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    return np.expand_dims(g, axes)


def _matmul(at, a, bt, b):
    """a @ b with NumPy's rules (1-D operands promoted, batch dims broadcast).

    ``at``/``bt`` are the Tensors behind a and b (None for constants)."""
    need_a = at is not None and at.requires_grad
    need_b = bt is not None and bt.requires_grad
    y = a @ b

    def matmul_backward(g):
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1 and b.ndim == 1:
            g2 = np.reshape(g, (1, 1))
        else:
            g2 = (np.expand_dims(g, -2) if a.ndim == 1
                  else np.expand_dims(g, -1) if b.ndim == 1 else g)
        ga = gb = None
        if need_a:
            ga = _unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if need_b:
            gb = _unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb
    return make_node(y, (at, bt), matmul_backward)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)): exp overflows to inf only where the result underflows to 0
    e = np.negative(x, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1
    return np.reciprocal(e, out=e)


def _softmax(x: np.ndarray, dim: int) -> np.ndarray:
    e = x - x.max(axis=dim, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=dim, keepdims=True)
    return e


def _log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    z = x - x.max(axis=dim, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=dim, keepdims=True))
    return z


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate tensors (or arrays) along ``dim``; the others must match in size."""
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not ts:
        raise ValueError("cat: tensors must be a non-empty sequence")
    ref = ts[0].shape
    d = _dim(dim, len(ref), "cat", "dim") if ref else dim
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or t.shape[:d] + t.shape[d + 1:] != ref[:d] + ref[d + 1:]:
            raise ValueError(f"cat: tensors[{i}] has shape {t.shape}, which does not match "
                             f"tensors[0]'s {ref} outside dim {dim}")
    datas = [t._data for t in ts]
    splits = np.cumsum([x.shape[d] for x in datas])[:-1]

    def cat_backward(g):
        return tuple(np.split(g, splits, axis=d))
    return make_node(np.concatenate(datas, axis=d), tuple(ts), cat_backward)


def zero_grads(tensors, set_to_none: bool = True) -> None:
    """Set each tensor's grad to None, or (``set_to_none=False``) fill it with zeros in
    place (a read-only grad is replaced by zeros)."""
    for t in tensors:
        if t.grad is None:
            continue
        if set_to_none:
            t.grad = None
        elif t.grad.flags.writeable:
            t.grad[...] = 0
        else:
            t.grad = np.zeros_like(t.grad)


# --- gradient checking ------------------------------------------------------------------
class GradcheckError(RuntimeError):
    """Analytic and finite-difference gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check ``backward`` against centred finite differences.

    Parameters
    ----------
    fn : callable
        ``fn(*inputs) -> Tensor``.
    inputs : sequence of Tensor
        The inputs; those that require grad must be float64 with writable data.
    eps, atol, rtol : float
        Step of the differences; an entry passes when
        ``|analytic - numeric| <= atol + rtol * |numeric|``.
    seed : int
        Seed of the random weights ``v`` that reduce the output to the scalar
        ``sum(v * fn(*inputs))`` whose gradient is checked.

    Returns True, or raises GradcheckError naming the input and the worst entry.
    The inputs' ``.grad`` are restored afterwards.
    """
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in wrt:
        if t.dtype != np.float64:
            raise ValueError("gradcheck: inputs that require grad must be float64, got "
                             f"{t.dtype}")
    saved = [t.grad for t in wrt]
    try:
        for t in wrt:
            t.grad = None
        out = fn(*inputs)
        v = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(v)
        analytic = [np.zeros(t.shape) if t.grad is None else t.grad for t in wrt]
    finally:
        for t, g in zip(wrt, saved):
            t.grad = g
    with no_grad():
        for k, (t, ga) in enumerate(zip(wrt, analytic)):
            x = t.data
            numeric = np.empty(x.shape)
            for i in np.ndindex(x.shape):
                orig = x[i]
                x[i] = orig + eps
                fp = float(np.sum(v * fn(*inputs).data))
                x[i] = orig - eps
                fm = float(np.sum(v * fn(*inputs).data))
                x[i] = orig
                numeric[i] = (fp - fm) / (2 * eps)
            err = np.abs(ga - numeric) - (atol + rtol * np.abs(numeric))
            if err.size and (err.max() > 0 or not np.all(np.isfinite(ga))):
                i = np.unravel_index(np.nanargmax(np.where(np.isfinite(err), err, np.inf)),
                                     err.shape)
                raise GradcheckError(f"gradcheck: input {k} (shape {x.shape}) at {i}: "
                                     f"analytic {ga[i]!r}, numeric {numeric[i]!r}")
    return True
