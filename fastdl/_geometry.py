"""Window geometry shared by convolution, im2col/col2im (and pooling): argument
normalisation and output sizes, with torch's rules and error messages that name the
argument. Pure Python; used by fastdl.ops and the NumPy twins alike."""

from __future__ import annotations

import numbers

__all__ = ["pair", "conv_output_size", "conv_padding"]


def _int(fn: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    return int(v)


def pair(fn: str, name: str, value, minimum: int | None = None) -> tuple[int, int]:
    """``value`` (an int, or a sequence of one or two ints, as torch accepts) as a pair,
    each entry ``>= minimum`` if given."""
    if isinstance(value, (tuple, list)):
        if len(value) not in (1, 2):
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        out = tuple(_int(fn, name, v) for v in value) * (2 // len(value))
    else:
        out = (_int(fn, name, value),) * 2
    if minimum is not None and min(out) < minimum:
        raise ValueError(f"{fn}: {name} must be >= {minimum} in each dimension, got {value!r}")
    return out


def conv_output_size(fn: str, in_size: tuple[int, int], kernel: tuple[int, int],
                     stride: tuple[int, int], pad_lo: tuple[int, int], pad_hi: tuple[int, int],
                     dilation: tuple[int, int]) -> tuple[int, int]:
    """Output size of a convolution-like window (floor mode); ValueError below 1."""
    out = tuple((in_size[d] + pad_lo[d] + pad_hi[d] - dilation[d] * (kernel[d] - 1) - 1)
                // stride[d] + 1 for d in range(2))
    if min(out) < 1:
        raise ValueError(
            f"{fn}: the output would be {out[0]}x{out[1]} (less than 1): input "
            f"{in_size[0]}x{in_size[1]}, kernel_size {kernel}, stride {stride}, "
            f"padding {pad_lo if pad_lo == pad_hi else (pad_lo, pad_hi)}, dilation {dilation}")
    return out


def conv_padding(fn: str, padding, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding before and after each spatial dimension: ``((top, left), (bottom, right))``.

    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size
    equals input size; stride 1 only, as torch; an odd total pads one more at the end).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{fn}: padding='same' is not supported for strided "
                                 f"convolutions (stride {stride})")
            total = tuple(dilation[d] * (kernel[d] - 1) for d in range(2))
            lo = (total[0] // 2, total[1] // 2)
            return lo, (total[0] - lo[0], total[1] - lo[1])
        raise ValueError(f"{fn}: padding must be an int, a pair, 'same' or 'valid', "
                         f"got {padding!r}")
    p = pair(fn, "padding", padding, minimum=0)
    return p, p
