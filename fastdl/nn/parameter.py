"""Parameter: a Tensor that an optimizer updates in place."""

from __future__ import annotations

import numpy as np

from fastdl.autograd import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A trainable Tensor (``requires_grad=True``).

    ``.data`` is always a writable, C-contiguous float32 or float64 array, because fused
    optimizer steps update it in place: the constructor takes a copy only if the given
    array is not already one (other dtypes become float32). ``.data`` may be reassigned
    to an array of the same shape and dtype; ``.grad`` is an ndarray or None.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.asarray(data)
        if arr.dtype not in (np.float32, np.float64):
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                raise TypeError(f"Parameter: data must be numeric, got dtype {arr.dtype}")
            arr = arr.astype(np.float32)
        arr = np.require(arr, requirements=("C", "A", "W"))
        super().__init__(arr, requires_grad=requires_grad)

    @Tensor.data.setter
    def data(self, value) -> None:
        arr = np.asarray(value.data if isinstance(value, Tensor) else value)
        if arr.shape != self._data.shape or arr.dtype != self._data.dtype:
            raise ValueError(
                f"Parameter.data: new array has shape {arr.shape} and dtype {arr.dtype}, "
                f"expected {self._data.shape} and {self._data.dtype}"
            )
        self._data = np.require(arr, requirements=("C", "A", "W"))

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"
