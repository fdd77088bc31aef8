"""Type stubs for fastdl._core (the native extension). Use fastdl.ops instead."""

from typing import Any, Optional, Sequence

import numpy as np

__version__: str

class DTypeError(TypeError, ValueError): ...

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def build_info() -> dict[str, Any]: ...

_Arrays = Sequence[np.ndarray]

def _sgd_step(params: _Arrays, grads: _Arrays, momentum_buffers: _Arrays, lr: float,
              momentum: float, dampening: float, weight_decay: float, nesterov: bool,
              maximize: bool, step: int) -> None: ...
def _adagrad_step(params: _Arrays, grads: _Arrays, state_sums: _Arrays, lr: float,
                  lr_decay: float, weight_decay: float, eps: float, maximize: bool,
                  step: int) -> None: ...
def _adadelta_step(params: _Arrays, grads: _Arrays, square_avgs: _Arrays,
                   acc_deltas: _Arrays, lr: float, rho: float, eps: float,
                   weight_decay: float, maximize: bool) -> None: ...
def _rmsprop_step(params: _Arrays, grads: _Arrays, square_avgs: _Arrays,
                  grad_avgs: _Arrays, momentum_buffers: _Arrays, lr: float, alpha: float,
                  eps: float, weight_decay: float, momentum: float, centered: bool,
                  maximize: bool) -> None: ...
def _adam_step(params: _Arrays, grads: _Arrays, exp_avgs: _Arrays, exp_avg_sqs: _Arrays,
               max_exp_avg_sqs: _Arrays, step: int, lr: float, beta1: float, beta2: float,
               eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
               decoupled_weight_decay: bool) -> None: ...
def _nadam_step(params: _Arrays, grads: _Arrays, exp_avgs: _Arrays, exp_avg_sqs: _Arrays,
                step: int, mu_product: float, lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float, momentum_decay: float,
                decoupled_weight_decay: bool, maximize: bool) -> float: ...

def _batch_norm(x: np.ndarray, gamma: Optional[np.ndarray], beta: Optional[np.ndarray],
                running_mean: Optional[np.ndarray], running_var: Optional[np.ndarray],
                training: bool, momentum: float, eps: float,
                out: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def _batch_norm_backward(grad_y: np.ndarray, x: np.ndarray, gamma: Optional[np.ndarray],
                         save_mean: np.ndarray, save_invstd: np.ndarray, training: bool,
                         out: Optional[np.ndarray] = None
                         ) -> tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]: ...
# GEMM family (bind_linear.cpp)
def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray: ...
def _linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray: ...
def _linear_backward(grad_y: np.ndarray, x: np.ndarray, weight: np.ndarray,
                     bias: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]: ...
def _gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, alpha: float, beta: float,
          bias_row: np.ndarray | None, bias_col: np.ndarray | None,
          custom_pack: bool) -> None: ...
