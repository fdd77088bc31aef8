"""Datasets of arrays and the mini-batch iterator, with torch.utils.data's names."""

from __future__ import annotations

import numbers

import numpy as np

from fastdl import random as _random
from fastdl._checks import flag
from fastdl.data.transforms import apply

__all__ = ["ArrayDataset", "DataLoader"]


class ArrayDataset:
    """The pairs ``(X[i], y[i])`` of two arrays with the same first dimension (torch's
    ``TensorDataset`` for two ndarrays).

    The arrays are kept as given (``np.asarray``: no copy of an ndarray); indexing
    with an int, a slice or an index array indexes both.
    """

    def __init__(self, X, y):
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(f"ArrayDataset: X and y must have a first (sample) dimension, got "
                             f"shapes {X.shape} and {y.shape}")
        if len(X) != len(y):
            raise ValueError(f"ArrayDataset: X and y must have the same length, got len(X) = "
                             f"{len(X)} and len(y) = {len(y)}")
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.y[index]

    def __repr__(self) -> str:
        return (f"ArrayDataset(X {self.X.dtype} {self.X.shape}, "
                f"y {self.y.dtype} {self.y.shape})")


def _int(name: str, value, minimum: int, owner: str = "DataLoader") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")
    return int(value)


def epoch_order(seed: int, epoch: int, n: int, shuffle: bool, owner: str = "DataLoader"):
    """The order in which epoch ``epoch`` visits ``n`` examples: a permutation drawn
    from ``(seed, epoch)`` alone when shuffling, else ``0..n-1``. Shared by
    :class:`DataLoader` and :class:`fastdl.distributed.DistributedSampler`, whose shards
    are therefore slices of the single-process order."""
    if not shuffle:
        return np.arange(n)
    ss = np.random.SeedSequence(seed, spawn_key=(_int("epoch", epoch, 0, owner), 0))
    return np.random.default_rng(ss).permutation(n)


class DataLoader:
    """Mini-batches ``(xb, yb)`` of a dataset, as ndarrays, in order or shuffled.

    This is the sampling of mini-batch gradient descent: each epoch visits every
    example once, ``batch_size`` at a time. ``batch_size=len(dataset)`` gives one batch
    per epoch (batch gradient descent); ``batch_size=1`` gives one example per step
    (stochastic gradient descent, with ``shuffle=True``).

    Parameters
    ----------
    dataset : ArrayDataset, or any object with ``__len__`` and ``__getitem__(i) -> (x, y)``
        An :class:`ArrayDataset` is batched by slicing or fancy-indexing its arrays (no
        per-example Python loop); another dataset is read item by item and the items
        stacked with ``np.stack``.
    batch_size : int >= 1, default 1
    shuffle : bool, default False
        Visit the examples in a new random order each epoch.
    drop_last : bool, default False
        Drop the last batch when it is smaller than ``batch_size``.
    seed : int or None
        Seeds the shuffling and the transform. None draws one from fastdl's default
        generator when the loader is made (so :func:`fastdl.manual_seed` makes it
        reproducible); it is kept in :attr:`seed`.
    transform : callable or None
        Applied to each ``xb`` (not to ``yb``): ``transform(xb, generator=rng)`` if it
        takes a ``generator`` (the transforms in :mod:`fastdl.data.transforms` do), else
        ``transform(xb)``.
    sampler : iterable of indices with ``len()``, optional
        Batches of the indices it gives, in its order, instead of the whole dataset
        (e.g. a :class:`fastdl.distributed.DistributedSampler`: this rank's shard).
        Excludes ``shuffle=True`` (the sampler decides the order). :meth:`set_epoch`
        and :meth:`load_state_dict` are passed on to it when it has them.

    Reproducibility: epoch ``e``'s order is a permutation drawn from
    ``numpy.random.SeedSequence(seed, spawn_key=(e, 0))``, and batch ``b`` of that epoch
    is transformed with a generator from ``SeedSequence(seed, spawn_key=(e, 1, b))``:
    both depend only on the seed, the epoch and the batch number. Each ``iter()`` uses
    epoch :attr:`epoch` and then advances it, so a run resumed at epoch ``k`` calls
    :meth:`set_epoch` (or :meth:`load_state_dict`) and gets the very batches of the
    uninterrupted run.

    ``len(loader)`` is the number of batches per epoch. Every batch is a new array (never
    a view of the dataset), so changing it in place leaves the dataset alone.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, transform=None,
                 sampler=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError("DataLoader: dataset must have __len__ and __getitem__ (e.g. an "
                            f"ArrayDataset), got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _int("batch_size", batch_size, 1)
        self.shuffle = flag("DataLoader", "shuffle", shuffle)
        self.drop_last = flag("DataLoader", "drop_last", drop_last)
        if seed is None:
            seed = int(_random.default_generator.rng.integers(1 << 63))
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"DataLoader: seed must be an int or None, got {type(seed).__name__}")
        self.seed = int(seed) % (1 << 64)
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable or None, got "
                            f"{type(transform).__name__}")
        self.transform = transform
        if sampler is not None:
            if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
                raise TypeError(f"DataLoader: sampler must be an iterable of indices with "
                                f"len(), got {type(sampler).__name__}")
            if self.shuffle:
                raise ValueError("DataLoader: sampler and shuffle=True are mutually exclusive "
                                 "(the sampler decides the order)")
        self.sampler = sampler
        self.epoch = 0

    def _size(self) -> int:
        """The number of examples an epoch visits."""
        return len(self.dataset) if self.sampler is None else len(self.sampler)

    def __len__(self) -> int:
        n = self._size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch ``epoch`` (0-based)."""
        self.epoch = _int("epoch", epoch, 0)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)

    def state_dict(self) -> dict:
        """``{"seed", "epoch"}``: all a resumed run needs to reproduce the next epochs
        (and ``"sampler"``, the sampler's state dict, when it has one)."""
        state = {"seed": self.seed, "epoch": self.epoch}
        if hasattr(self.sampler, "state_dict"):
            state["sampler"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        seed = state["seed"]
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"DataLoader: state['seed'] must be an int, got {type(seed).__name__}")
        if state.get("sampler") is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
        self.set_epoch(state["epoch"])
        self.seed = int(seed) % (1 << 64)

    def order(self, epoch: int) -> np.ndarray:
        """The indices of the examples in the order epoch ``epoch`` visits them (with a
        sampler: the sampler's, for that epoch)."""
        n = len(self.dataset)
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(_int("epoch", epoch, 0))
            return np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        return epoch_order(self.seed, epoch, n, self.shuffle)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        return self._batches(epoch)

    def _batches(self, epoch: int):
        ordered = self.shuffle or self.sampler is not None
        order = self.order(epoch) if ordered else None
        n, bs = self._size(), self.batch_size
        # a sharding sampler's ranks get their own transform draws (rank 0's are those
        # of a loader without a sampler)
        shard = getattr(self.sampler, "rank", 0) if self.sampler is not None else 0
        for b in range(len(self)):
            start, stop = b * bs, min((b + 1) * bs, n)
            xb, yb = self._fetch(order[start:stop] if ordered else slice(start, stop))
            if self.transform is not None:
                key = (epoch, 1, b) if not shard else (epoch, 1, b, int(shard))
                ss = np.random.SeedSequence(self.seed, spawn_key=key)
                xb = apply(self.transform, xb, np.random.default_rng(ss))
            yield xb, yb

    def _fetch(self, index):
        ds = self.dataset
        if isinstance(ds, ArrayDataset):
            # fancy indexing copies; a slice is a view, copied so no batch aliases the data
            if isinstance(index, slice):
                return ds.X[index].copy(), ds.y[index].copy()
            return ds.X[index], ds.y[index]
        if isinstance(index, slice):
            index = range(index.start, index.stop)
        items = [ds[int(i)] for i in index]
        for item in items:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise TypeError(f"DataLoader: dataset[i] must be a pair (x, y), got "
                                f"{type(item).__name__}")
        return (np.stack([np.asarray(x) for x, _ in items]),
                np.stack([np.asarray(y) for _, y in items]))

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}"
                + (f", sampler={self.sampler!r})" if self.sampler is not None else ")"))
