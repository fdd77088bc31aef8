"""Raw-ndarray kernels backed by fastdl's native code.

Every function here has a pure-NumPy twin of the same name and signature in
:mod:`fastdl.reference`; the two give the same results (to rounding).

Every function releases the GIL while its kernel runs and keeps its scratch per calling
thread, so calls from several Python threads on separate arrays run concurrently and
give bitwise the serial results. Arrays written in place (parameters, optimizer state,
running statistics) must not be shared by concurrent calls: that is a data race with an
undefined result (no crash). Requests larger than the machine's memory raise MemoryError
before anything is allocated.
"""

from fastdl.ops.batchnorm import batch_norm, batch_norm_backward
from fastdl.ops.conv import col2im, conv2d, conv2d_backward, im2col
from fastdl.ops.linear import linear, linear_backward, matmul
from fastdl.ops.optim import (
    adadelta_step,
    adagrad_step,
    adam_step,
    nadam_step,
    rmsprop_step,
    sgd_step,
)
from fastdl.ops.pooling import (
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
