"""Batch transforms: each maps a ``(N, C, H, W)`` batch to a new one, vectorised over
the batch (no Python loop per image), with torchvision's arguments and semantics.

Each is called as ``t(x, generator=None)``; the random ones draw from ``generator``: a
``numpy.random.Generator``, a :class:`fastdl.Generator`, an int seed, or None for
fastdl's default generator (:func:`fastdl.manual_seed`). Within one batch every image
gets its own draw (its own crop offset, its own coin for the flip). The input is never
modified; the output is a new C-contiguous array of the input's dtype.

:class:`fastdl.data.DataLoader` applies a ``transform=`` to each batch with a
generator derived from its seed, the epoch and the batch number, so augmented runs are
reproducible.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fastdl._geometry import pair
from fastdl.random import numpy_rng

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip"]


def as_rng(generator) -> np.random.Generator:
    """The NumPy generator for ``generator`` (None, an int seed, a numpy or fastdl
    Generator)."""
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator) % (1 << 64))
    return numpy_rng(generator)


def apply(transform, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``transform(x, generator=rng)``, or ``transform(x)`` for a callable that takes no
    ``generator`` (a plain function of the batch)."""
    if _takes_generator(transform):
        return transform(x, generator=rng)
    return transform(x)


def _takes_generator(transform) -> bool:
    try:
        params = inspect.signature(transform).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    return any(p.name == "generator" or p.kind is p.VAR_KEYWORD for p in params)


def _batch(fn: str, x) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{fn}: x must be a numpy.ndarray (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{fn}: x must be a (N, C, H, W) batch, got shape {x.shape}")
    return x


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel c, as torchvision's ``Normalize``.

    Parameters
    ----------
    mean, std : float or sequence of C floats
        One value per channel (or one for all); every std must be > 0. They are cast
        to the batch's dtype, then subtracted and divided (not multiplied by a
        reciprocal), so the result is exactly torch's ``x.sub(mean).div(std)``.

    The batch must be float32 or float64 (TypeError otherwise); its channel count must
    match (ValueError).
    """

    def __init__(self, mean, std):
        self.mean = self._vector("mean", mean)
        self.std = self._vector("std", std)
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize: every std must be > 0, got {std!r}")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize: mean has {len(self.mean)} values but std has "
                             f"{len(self.std)}")

    @staticmethod
    def _vector(name: str, value) -> np.ndarray:
        try:
            v = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Normalize: {name} must be a float or a sequence of floats, "
                            f"got {value!r}") from exc
        if v.ndim > 1 or v.size == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"Normalize: {name} must be a finite float or a non-empty "
                             f"sequence of them, got {value!r}")
        return v.reshape(-1)

    def __call__(self, x, generator=None):
        x = _batch("Normalize", x)
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"Normalize: x must be float32 or float64, got dtype {x.dtype}")
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {name} has {len(v)} values but x has {c} channels")
        mean = self.mean.astype(x.dtype).reshape(-1, 1, 1)
        std = self.std.astype(x.dtype).reshape(-1, 1, 1)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Pad each image, then cut a ``size`` window at a random offset, as torchvision's
    ``RandomCrop(size, padding, fill=fill)`` with constant padding.

    Parameters
    ----------
    size : int or (h, w)
        The output's spatial size.
    padding : int or (ph, pw), default 0
        Added on each side: ``ph`` rows above and below, ``pw`` columns left and right.
    fill : float, default 0
        The value of the padding.

    Each image draws its own offset ``(i, j)``, uniform over ``0..H + 2*ph - h`` and
    ``0..W + 2*pw - w``; all its channels share it. The crops are gathered in one
    fancy-indexing operation on a sliding-window view of the padded batch.
    """

    def __init__(self, size, padding=0, fill=0.0):
        self.size = pair("RandomCrop", "size", size, minimum=1)
        self.padding = pair("RandomCrop", "padding", padding, minimum=0)
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
            raise TypeError(f"RandomCrop: fill must be a real number, got {fill!r}")
        self.fill = fill

    def __call__(self, x, generator=None):
        x = _batch("RandomCrop", x)
        n, _, height, width = x.shape
        (h, w), (ph, pw) = self.size, self.padding
        if h > height + 2 * ph or w > width + 2 * pw:
            raise ValueError(f"RandomCrop: size {self.size} is larger than the padded image "
                             f"({height + 2 * ph}x{width + 2 * pw}: {height}x{width} with "
                             f"padding {self.padding})")
        rng = as_rng(generator)
        if ph or pw:  # (np.pad is ~5x slower than this fill-and-copy)
            padded = np.full(x.shape[:2] + (height + 2 * ph, width + 2 * pw), self.fill,
                             dtype=x.dtype)
            padded[:, :, ph:ph + height, pw:pw + width] = x
            x = padded
        top = rng.integers(0, x.shape[2] - h + 1, size=n)
        left = rng.integers(0, x.shape[3] - w + 1, size=n)
        windows = sliding_window_view(x, (h, w), axis=(2, 3))   # (N, C, oh, ow, h, w), a view
        # the advanced indices (on axes 0, 2, 3) are split by a slice, so NumPy puts their
        # broadcast dimension first: the result is (N, C, h, w)
        return np.ascontiguousarray(windows[np.arange(n), :, top, left])

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (each image its own coin),
    as torchvision's ``RandomHorizontalFlip``."""

    def __init__(self, p: float = 0.5):
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"RandomHorizontalFlip: p must be a real number, got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, x, generator=None):
        x = _batch("RandomHorizontalFlip", x)
        flip = as_rng(generator).random(len(x)) < self.p
        out = np.array(x, order="C")
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply ``transforms`` in order, all drawing from the one generator given."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transforms[{i}] is not callable: {t!r}")

    def __call__(self, x, generator=None):
        rng = as_rng(generator)
        for t in self.transforms:
            x = apply(t, x, rng)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"
