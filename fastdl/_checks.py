"""Argument checks shared by fastdl.ops (whose arrays are checked natively) and the
NumPy twins in fastdl.reference: one set of rules, one set of error types.

Pure Python and NumPy; never imports the native module."""

from __future__ import annotations

import bisect
import functools
import numbers

import numpy as np


class DTypeError(TypeError, ValueError):
    """An array of an unsupported dtype, or whose dtype disagrees with another argument's.

    Both a TypeError and a ValueError (as NumPy's AxisError is both a ValueError and an
    IndexError): DESIGN.md calls an unsupported dtype a TypeError and a dtype that
    disagrees with another argument's a ValueError, and an int32 gradient for a float32
    parameter is both. The native module raises this same class.
    """


def real(fn: str, name: str, value) -> float:
    """``value`` as a float; TypeError naming the argument for non-numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def flag(fn: str, name: str, value) -> bool:
    """``value`` as a bool (Python or NumPy bool, or 0/1)."""
    if isinstance(value, (bool, np.bool_, numbers.Integral)):
        return bool(value)
    raise TypeError(f"{fn}: {name} must be a bool, got {type(value).__name__}")


def step(fn: str, value) -> int:
    """The 1-based step count: an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{fn}: step must be an int (the 1-based step count), got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{fn}: step must be >= 1 (the 1-based count of the step being taken), got {value}")
    return int(value)


def byte_span(a: np.ndarray) -> tuple[int, int]:
    """The addresses [first, last) that an array's elements span (first == last when
    it is empty), whatever its strides."""
    first = a.__array_interface__["data"][0]
    if a.size == 0:
        return first, first
    last = first + a.itemsize
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            first += (n - 1) * s
        else:
            last += (n - 1) * s
    return first, last


def disjoint_spans(fn: str, targets) -> list[tuple[int, int]]:
    """Sorted byte spans of the in-place ``targets`` (``(name, array)`` pairs);
    ValueError naming two of them when their memory overlaps."""
    spans = sorted((byte_span(a), k) for k, (_, a) in enumerate(targets) if a.size)
    for (prev, j), (cur, k) in zip(spans, spans[1:]):
        if cur[0] < prev[1]:
            first, second = sorted((j, k))
            raise ValueError(f"{fn}: {targets[second][0]} shares memory with "
                             f"{targets[first][0]}; arrays updated in place must be distinct "
                             "and not overlap")
    return [span for span, _ in spans]


def overlaps_any(spans: list[tuple[int, int]], a: np.ndarray) -> bool:
    """Whether ``a``'s memory overlaps one of the sorted disjoint ``spans``."""
    first, last = byte_span(a)
    if first == last:
        return False
    k = bisect.bisect_left(spans, (last,))  # spans starting before a's end: [0, k)
    return k > 0 and spans[k - 1][1] > first


def quiet_ieee():
    """Context for the NumPy twins in which NaN and inf arise and propagate silently, as
    in the native kernels and torch (no NumPy floating-point warnings)."""
    return np.errstate(invalid="ignore", divide="ignore", over="ignore")


def silent_ieee(f):
    """Decorator form of :func:`quiet_ieee`."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with quiet_ieee():
            return f(*args, **kwargs)
    return wrapper
