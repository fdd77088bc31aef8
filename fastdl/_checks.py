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


def silent_ieee(f):
    """Decorator for the NumPy twins: NaN and inf arise and propagate silently, as in
    the native kernels and torch (no NumPy floating-point warnings)."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return f(*args, **kwargs)
    return wrapper


def _cgroup_limit() -> int:
    """The container's memory limit (cgroup v2 memory.max, or v1), 0 when none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**62:
            return int(text)
    return 0


def _memory_bytes() -> int:
    """This machine's memory: RAM plus swap (/proc/meminfo), else the physical pages,
    capped by a container's memory limit; 0 when unknown."""
    total = 0
    try:
        with open("/proc/meminfo") as f:
            kb = {line.split(":")[0]: int(line.split()[1]) for line in f
                  if line.startswith(("MemTotal:", "SwapTotal:"))}
        total = (kb.get("MemTotal", 0) + kb.get("SwapTotal", 0)) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if not total:
        try:
            import os
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            total = 0
    limit = _cgroup_limit()
    return min(total, limit) if total and limit else total or limit


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1024 or unit == "EB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def check_alloc(fn: str, arrays) -> None:
    """MemoryError, before anything is allocated, when the new arrays ``arrays`` (a list
    of ``(name, shape, dtype)``) would need more bytes than this machine has (RAM plus
    swap) or than an address space holds: a clear error instead of an allocation that
    fails late, or succeeds under memory overcommit and gets the process OOM-killed
    when written. Sizes are exact Python ints (no overflow)."""
    total = 0
    parts = []
    for name, shape, dtype in arrays:
        n = 1
        for s in shape:
            n *= int(s)
        nbytes = n * np.dtype(dtype).itemsize
        total += nbytes
        parts.append(f"{name} {tuple(int(s) for s in shape)} {np.dtype(dtype)}")
    limit = _memory_bytes()
    if total >= 2**63 or (limit and total > limit):
        have = f"this machine's memory ({_human(limit)})" if limit else "the address space"
        raise MemoryError(f"{fn}: the result ({', '.join(parts)}) would need "
                          f"{_human(total)}, more than {have}")
