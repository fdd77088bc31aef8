"""The Tensor: an ndarray with a gradient.

This is the minimal Tensor the optimizers need (data, grad, requires_grad); the
autograd issue adds the operations and the graph that ``backward`` walks.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

__all__ = ["Tensor", "no_grad", "is_grad_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """False inside a :func:`no_grad` block."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Context manager: operations inside record no graph."""
    prev = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = prev


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Tensor:
    """An ndarray (``.data``) with an optional gradient (``.grad``, an ndarray or None).

    Parameters
    ----------
    data : array_like
        Float32 and float64 arrays are kept as given (no copy when already an ndarray);
        other input is converted with ``np.asarray``.
    requires_grad : bool
        Whether gradients are accumulated into ``.grad``.
    """

    __slots__ = ("_data", "grad", "requires_grad", "_backward", "_parents", "__weakref__")

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.asarray(data)
        if requires_grad and arr.dtype not in _FLOATS:
            raise TypeError(
                f"Tensor: only float32/float64 tensors can require gradients, got dtype {arr.dtype}"
            )
        self._data = arr
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._backward = None
        self._parents: tuple = ()

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = np.asarray(value)

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
        return self._data.size

    def numpy(self) -> np.ndarray:
        """The data array (not a copy)."""
        return self._data

    def item(self) -> float:
        return self._data.item()

    def detach(self) -> "Tensor":
        """A Tensor sharing this data, outside any graph."""
        return Tensor(self._data)

    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires it.

        ``grad`` is the gradient flowing into this tensor; it may be omitted only for a
        scalar (it is then 1).
        """
        if grad is None:
            if self._data.size != 1:
                raise ValueError(
                    f"backward: grad can be implicit only for a scalar; this tensor has shape {self.shape}"
                )
            grad = np.ones_like(self._data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self._data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, expected {self.shape}")
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no graph")
        self._accumulate(grad)

    def _accumulate(self, grad: np.ndarray) -> None:
        if self._backward is not None:
            self._backward(grad)
        elif self.grad is None:
            self.grad = np.array(grad, dtype=self._data.dtype, copy=True)
        else:
            self.grad += grad

    def __repr__(self) -> str:
        rg = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self._data, separator=', ', threshold=20)}{rg})"
