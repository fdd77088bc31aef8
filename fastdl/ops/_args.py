"""Checks of scalar arguments shared by the ops wrappers (arrays are checked natively)."""

from __future__ import annotations

import numbers

import numpy as np


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
