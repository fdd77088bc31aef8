"""Type stubs for fastdl._pool (the Cython pooling loops). Use fastdl.ops instead.

Arrays are C-contiguous planes (N*C, H, W) of one float dtype (float32 or float64);
the wrappers in fastdl.ops.pooling check and allocate everything."""

import numpy as np

def max_pool2d_forward(x: np.ndarray, y: np.ndarray, ind: np.ndarray, scratch: np.ndarray,
                       kH: int, kW: int, sH: int, sW: int, pH: int, pW: int, dH: int,
                       dW: int) -> None: ...
def max_pool2d_backward(grad_y: np.ndarray, ind: np.ndarray, grad_x: np.ndarray,
                        num_threads: int) -> int: ...
def avg_pool2d_forward(x: np.ndarray, y: np.ndarray, kH: int, kW: int, sH: int, sW: int,
                       pH: int, pW: int, count_include_pad: bool, num_threads: int) -> None: ...
def avg_pool2d_backward(grad_y: np.ndarray, grad_x: np.ndarray, scratch: np.ndarray,
                        kH: int, kW: int, sH: int, sW: int, pH: int, pW: int,
                        count_include_pad: bool) -> None: ...
def adaptive_avg_pool2d_forward(x: np.ndarray, y: np.ndarray, hbins: np.ndarray,
                                wbins: np.ndarray, num_threads: int) -> None: ...
def adaptive_avg_pool2d_backward(grad_y: np.ndarray, grad_x: np.ndarray, hbins: np.ndarray,
                                 wbins: np.ndarray, num_threads: int) -> None: ...
