"""Raw-ndarray kernels backed by fastdl's native code.

Every function here has a pure-NumPy twin of the same name and signature in
:mod:`fastdl.reference`; the two give the same results (to rounding).
"""

from fastdl.ops.linear import linear, linear_backward, matmul
from fastdl.ops.optim import (
    adadelta_step,
    adagrad_step,
    adam_step,
    nadam_step,
    rmsprop_step,
    sgd_step,
)

__all__ = [
    "adadelta_step",
    "adagrad_step",
    "adam_step",
    "linear",
    "linear_backward",
    "matmul",
    "nadam_step",
    "rmsprop_step",
    "sgd_step",
]
