"""Pure-NumPy twins of every kernel in :mod:`fastdl.ops`: same names, signatures and
results. They are the test oracles of the native kernels and the baseline they are
benchmarked against; this package depends on NumPy alone."""

from fastdl.reference.batchnorm import batch_norm, batch_norm_backward
from fastdl.reference.conv import col2im, conv2d, conv2d_backward, im2col
from fastdl.reference.linear import linear, linear_backward, matmul
from fastdl.reference.optim import (
    adadelta_step,
    adagrad_step,
    adam_step,
    nadam_step,
    rmsprop_step,
    sgd_step,
)
from fastdl.reference.pooling import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)

__all__ = [
    "col2im",
    "conv2d",
    "conv2d_backward",
    "im2col",
    "adadelta_step",
    "adagrad_step",
    "adam_step",
    "batch_norm",
    "batch_norm_backward",
    "linear",
    "linear_backward",
    "matmul",
    "nadam_step",
    "rmsprop_step",
    "sgd_step",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
]
