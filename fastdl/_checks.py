"""Argument checks shared by fastdl.ops (whose arrays are checked natively) and the
NumPy twins in fastdl.reference: one set of rules, one set of error types.

Pure Python and NumPy; never imports the native module."""

from __future__ import annotations

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
