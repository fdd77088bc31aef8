"""fastdl.data.ArrayDataset and DataLoader: batching, shuffling, determinism, resume."""

import numpy as np
import pytest

import fastdl as fd
from fastdl.data import ArrayDataset, DataLoader


def _data(n=10, features=3):
    X = np.arange(n * features, dtype=np.float32).reshape(n, features)
    y = np.arange(n, dtype=np.int64) * 10
    return X, y


class ListDataset:
    """A generic dataset (no arrays to fancy-index): items built one by one."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], int(self.y[i])


# --------------------------------------------------------------------------- ArrayDataset

def test_array_dataset_len_and_indexing():
    X, y = _data(5)
    ds = ArrayDataset(X, y)
    assert len(ds) == 5
    xi, yi = ds[3]
    assert np.array_equal(xi, X[3]) and yi == y[3]
    xb, yb = ds[np.array([4, 0])]
    assert np.array_equal(xb, X[[4, 0]]) and np.array_equal(yb, y[[4, 0]])
    assert ds.X is X and ds.y is y  # kept, not copied


def test_array_dataset_length_mismatch():
    X, y = _data(5)
    with pytest.raises(ValueError, match=r"len\(X\) = 5 and len\(y\) = 4"):
        ArrayDataset(X, y[:4])
    with pytest.raises(ValueError, match="first"):
        ArrayDataset(np.float32(1.0), y)


# --------------------------------------------------------------------------- batching

@pytest.mark.parametrize("n,bs,drop_last,sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, False, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (10, 10, False, [10]),        # batch gradient descent: one batch per epoch
    (10, 1, False, [1] * 10),     # stochastic gradient descent
    (10, 25, False, [10]),
    (10, 25, True, []),
    (0, 4, False, []),
])
@pytest.mark.parametrize("generic", [False, True], ids=["arrays", "generic"])
def test_batches_in_order(n, bs, drop_last, sizes, generic):
    X, y = _data(n)
    ds = ListDataset(X, y) if generic else ArrayDataset(X, y)
    loader = DataLoader(ds, batch_size=bs, drop_last=drop_last)
    assert len(loader) == len(sizes)
    batches = list(loader)
    assert [len(xb) for xb, _ in batches] == sizes
    start = 0
    for xb, yb in batches:
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert xb.shape == (len(xb), 3) and yb.shape == (len(xb),)
        assert np.array_equal(xb, X[start:start + len(xb)])
        assert np.array_equal(yb, y[start:start + len(xb)])
        start += len(xb)


def test_batches_are_copies():
    X, y = _data(6)
    X0 = X.copy()
    for shuffle in (False, True):
        for xb, yb in DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=shuffle, seed=0):
            xb[...] = -1
            yb[...] = -1
    assert np.array_equal(X, X0) and np.array_equal(y, np.arange(6) * 10)


@pytest.mark.parametrize("generic", [False, True], ids=["arrays", "generic"])
def test_shuffle_is_a_permutation_kept_in_pairs(generic):
    X, y = _data(23)
    ds = ListDataset(X, y) if generic else ArrayDataset(X, y)
    batches = list(DataLoader(ds, batch_size=5, shuffle=True, seed=3))
    xs = np.concatenate([xb for xb, _ in batches])
    ys = np.concatenate([yb for _, yb in batches])
    assert sorted(ys.tolist()) == y.tolist()           # every example exactly once
    assert not np.array_equal(ys, y)                   # in another order
    assert np.array_equal(xs, X[ys // 10])             # each x with its own label


def test_same_seed_same_batches_generic_or_arrays():
    X, y = _data(17)
    a = list(DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=11))
    b = list(DataLoader(ListDataset(X, y), batch_size=4, shuffle=True, seed=11))
    c = list(DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=12))
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(a, b))
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(a, c))


def _epoch_labels(loader):
    return np.concatenate([yb for _, yb in loader])


def test_epochs_differ_and_are_reproducible():
    X, y = _data(50)
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=5)
    epochs = [_epoch_labels(loader) for _ in range(3)]
    assert loader.epoch == 3
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[1], epochs[2])
    again = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=5)
    for e in epochs:
        assert np.array_equal(_epoch_labels(again), e)
    # a resumed run: jump straight to epoch 2
    resumed = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=5)
    resumed.set_epoch(2)
    assert np.array_equal(_epoch_labels(resumed), epochs[2])
    assert np.array_equal(resumed.order(1) * 10, epochs[1])
    # or restore the state of another loader
    other = DataLoader(ArrayDataset(X, y), batch_size=8, shuffle=True, seed=99)
    state = loader.state_dict()
    assert state == {"seed": 5, "epoch": 3}
    other.load_state_dict({"seed": 5, "epoch": 1})
    assert np.array_equal(_epoch_labels(other), epochs[1])


def test_epoch_advances_when_iteration_starts():
    X, y = _data(8)
    loader = DataLoader(ArrayDataset(X, y), batch_size=2, shuffle=True, seed=1)
    it = iter(loader)
    assert loader.epoch == 1
    next(it)  # a partly consumed epoch still counts as one
    full = _epoch_labels(loader)
    loader.set_epoch(1)
    assert np.array_equal(_epoch_labels(loader), full)


def test_seed_none_comes_from_the_default_generator():
    X, y = _data(30)
    fd.manual_seed(123)
    a = DataLoader(ArrayDataset(X, y), batch_size=30, shuffle=True)
    fd.manual_seed(123)
    b = DataLoader(ArrayDataset(X, y), batch_size=30, shuffle=True)
    c = DataLoader(ArrayDataset(X, y), batch_size=30, shuffle=True)
    assert a.seed == b.seed != c.seed
    assert np.array_equal(_epoch_labels(a), _epoch_labels(b))


def test_no_shuffle_is_in_order_every_epoch():
    X, y = _data(7)
    loader = DataLoader(ArrayDataset(X, y), batch_size=3, seed=0)
    for _ in range(2):
        assert np.array_equal(_epoch_labels(loader), y)


def test_transform_applied_per_batch_and_seeded():
    X, y = _data(12)
    seen = []

    def add_noise(xb, generator):
        seen.append(len(xb))
        return xb + generator.standard_normal(xb.shape).astype(xb.dtype)

    def run(seed, epoch=0):
        loader = DataLoader(ArrayDataset(X, y), batch_size=5, shuffle=True, seed=seed,
                            transform=add_noise)
        loader.set_epoch(epoch)
        return [xb - X[yb // 10] for xb, yb in loader]   # the noise added to each batch

    a, b, c, d = run(4), run(4), run(5), run(4, epoch=1)
    assert seen == [5, 5, 2] * 4
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.allclose(a[0], c[0]) and not np.allclose(a[0], d[0])
    assert not np.allclose(a[0], a[1])   # each batch of an epoch draws its own noise

    # a plain function of the batch (no generator) works too
    loader = DataLoader(ArrayDataset(X, y), batch_size=4, transform=lambda xb: xb * 2)
    xb, _ = next(iter(loader))
    assert np.array_equal(xb, X[:4] * 2)


def test_transforms_module_with_loader_is_reproducible():
    rng = np.random.default_rng(0)
    X = rng.random((20, 3, 6, 6), dtype=np.float32)
    y = np.arange(20)
    t = fd.data.Compose([fd.data.RandomCrop(6, padding=2), fd.data.RandomHorizontalFlip()])
    a = [xb for xb, _ in DataLoader(ArrayDataset(X, y), batch_size=8, seed=7, transform=t)]
    b = [xb for xb, _ in DataLoader(ArrayDataset(X, y), batch_size=8, seed=7, transform=t)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], X[:8])


@pytest.mark.parametrize("kwargs,exc,name", [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -2}, ValueError, "batch_size"),
    ({"batch_size": 2.0}, TypeError, "batch_size"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
    ({"drop_last": None}, TypeError, "drop_last"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"seed": "0"}, TypeError, "seed"),
    ({"transform": 3}, TypeError, "transform"),
])
def test_bad_arguments(kwargs, exc, name):
    X, y = _data(4)
    with pytest.raises(exc, match=name):
        DataLoader(ArrayDataset(X, y), **kwargs)


def test_bad_dataset_and_epoch():
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)
    X, y = _data(4)
    loader = DataLoader(ArrayDataset(X, y))
    with pytest.raises(ValueError, match="epoch"):
        loader.set_epoch(-1)
    with pytest.raises(TypeError, match="epoch"):
        loader.set_epoch(1.0)

    class Singles(ListDataset):
        def __getitem__(self, i):
            return self.X[i]

    with pytest.raises(TypeError, match=r"dataset\[i\] must be a pair"):
        next(iter(DataLoader(Singles(X, y), batch_size=2)))
