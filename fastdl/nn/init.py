r"""Parameter initialisation, as torch.nn.init defines it.

Each function fills a Tensor/Parameter (its ``.data``) or an ndarray in place and
returns it. Random ones draw from ``generator`` (a :class:`fastdl.Generator` or a
``numpy.random.Generator``), by default from the generator that
:func:`fastdl.manual_seed` seeds. With :math:`\mathrm{fan\_in} = C_{in}\cdot k` and
:math:`\mathrm{fan\_out} = C_{out}\cdot k` for a weight of shape
:math:`(C_{out}, C_{in}, *k)` (k the product of the kernel dims, 1 for a linear layer):

- ``kaiming_normal_``: :math:`\mathcal N(0, \sigma^2)`, :math:`\sigma = g/\sqrt{\mathrm{fan}}`;
  ``kaiming_uniform_``: :math:`U(-\sqrt3\,\sigma, \sqrt3\,\sigma)`; the gain
  :math:`g` = ``calculate_gain(nonlinearity, a)`` and fan = fan_in or fan_out (``mode``).
- ``xavier_normal_``: :math:`\sigma = g\sqrt{2/(\mathrm{fan\_in}+\mathrm{fan\_out})}`;
  ``xavier_uniform_``: :math:`U(-\sqrt3\,\sigma, \sqrt3\,\sigma)`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastdl.autograd import Tensor
from fastdl.random import numpy_rng

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_",
           "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def _array(fn: str, tensor) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{fn}: tensor must be a Tensor or an ndarray, got "
                        f"{type(tensor).__name__}")
    if not arr.flags.writeable:
        raise ValueError(f"{fn}: tensor's data is read-only")
    return arr


def _float_array(fn: str, tensor) -> np.ndarray:
    arr = _array(fn, tensor)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{fn}: tensor must be float32 or float64, got dtype {arr.dtype}")
    return arr


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (torch's table): 1 for linear, conv and
    sigmoid; 5/3 for tanh; sqrt(2) for relu; sqrt(2 / (1 + a^2)) for leaky_relu (slope
    ``param``, default 0.01); 3/4 for selu."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, numbers.Real):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fans(fn: str, arr: np.ndarray):
    if arr.ndim < 2:
        raise ValueError(f"{fn}: Fan in and fan out can not be computed for tensor with fewer "
                         f"than 2 dimensions (got shape {arr.shape})")
    receptive = int(np.prod(arr.shape[2:]))
    return arr.shape[1] * receptive, arr.shape[0] * receptive


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with U(a, b)."""
    arr = _float_array("uniform_", tensor)
    rng = numpy_rng(generator)
    if arr.flags.c_contiguous:  # draw in place: the same numbers, no temporary
        rng.random(dtype=arr.dtype, out=arr)
        arr *= b - a
    else:
        np.multiply(rng.random(arr.shape, dtype=arr.dtype), b - a, out=arr)
    arr += a
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with N(mean, std^2)."""
    arr = _float_array("normal_", tensor)
    rng = numpy_rng(generator)
    if arr.flags.c_contiguous:  # draw in place: the same numbers, no temporary
        rng.standard_normal(dtype=arr.dtype, out=arr)
        arr *= std
    else:
        np.multiply(rng.standard_normal(arr.shape, dtype=arr.dtype), std, out=arr)
    arr += mean
    return tensor


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None):
    """Fill with N(mean, std^2) truncated to [a, b] (``a`` and ``b`` are absolute
    bounds, as torch's).

    Draws by rejection: normals outside [a, b] are redrawn, or, for a narrow interval
    that holds little of the normal's mass, uniforms on [a, b] are accepted with
    probability exp(-(z^2 - z0^2) / 2) (z0 the standardised point of [a, b] nearest the
    mean). An interval so far in a tail that neither accepts one draw in a thousand is
    a ValueError.
    """
    arr = _float_array("trunc_normal_", tensor)
    if not std > 0 or not a < b:
        raise ValueError(f"trunc_normal_: need std > 0 and a < b, got std={std}, a={a}, b={b}")
    rng = numpy_rng(generator)
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
    z0 = min(max(0.0, lo), hi)
    width = hi - lo
    uniform_rate = 0.0 if math.isinf(width) else \
        mass / (width * math.exp(-0.5 * z0 * z0) / math.sqrt(2 * math.pi))
    if max(mass, uniform_rate) < 1e-3:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds too little of "
                         f"N({mean}, {std}^2) to sample by rejection")
    out = np.empty(arr.size, dtype=arr.dtype)
    todo = np.arange(arr.size)
    while todo.size:
        if mass >= uniform_rate:
            z = rng.standard_normal(todo.size, dtype=arr.dtype)
            ok = (z >= lo) & (z <= hi)
        else:
            z = rng.uniform(lo, hi, todo.size)
            ok = rng.random(todo.size) < np.exp(-0.5 * (z * z - z0 * z0))
        out[todo[ok]] = z[ok]
        todo = todo[~ok]
    out *= std
    out += mean
    np.clip(out, a, b, out=out)  # as torch: the scaling may round just past a bound
    arr[...] = out.reshape(arr.shape)
    return tensor


def constant_(tensor, val: float):
    """Fill with ``val``."""
    _array("constant_", tensor)[...] = val
    return tensor


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans("xavier_uniform_", _float_array("xavier_uniform_", tensor))
    a = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot/Xavier normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans("xavier_normal_", _float_array("xavier_normal_", tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(fn, tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(fn, _float_array(fn, tensor))
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He/Kaiming uniform: U(-b, b), b = sqrt(3) * gain / sqrt(fan). torch's layers
    initialise their weights with ``a=sqrt(5)``."""
    if 0 in _float_array("kaiming_uniform_", tensor).shape:
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He/Kaiming normal: N(0, std^2), std = gain / sqrt(fan)."""
    if 0 in _float_array("kaiming_normal_", tensor).shape:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity),
                   generator)
