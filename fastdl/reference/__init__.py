"""Pure-NumPy twins of every kernel in :mod:`fastdl.ops`: same names, signatures and
results. They are the test oracles of the native kernels and the baseline they are
benchmarked against; this package depends on NumPy alone."""

from fastdl.reference.linear import linear, linear_backward, matmul
from fastdl.reference.optim import (
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
