"""fastdl.data.transforms: Normalize, RandomCrop, RandomHorizontalFlip, Compose."""

import numpy as np
import pytest

import fastdl as fd
from fastdl.data import Compose, Normalize, RandomCrop, RandomHorizontalFlip


def _batch(n=6, c=3, h=5, w=7, dtype=np.float32, seed=0):
    # distinct values, so every window of the padded image is recognisable
    x = np.random.default_rng(seed).permutation(n * c * h * w).reshape(n, c, h, w)
    return (x + 1).astype(dtype)


# --------------------------------------------------------------------------- Normalize

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_exact(dtype):
    x = np.random.default_rng(1).random((4, 3, 5, 2)).astype(dtype)
    x0 = x.copy()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    y = Normalize(mean, std)(x)
    assert y.shape == x.shape and y.dtype == dtype and y.flags.c_contiguous
    for c in range(3):
        expected = (x[:, c] - dtype(mean[c])) / dtype(std[c])
        assert np.array_equal(y[:, c], expected)
    assert np.array_equal(x, x0)


def test_normalize_scalar_and_one_channel():
    x = _batch(c=1) / 100
    assert np.array_equal(Normalize(0.5, 0.25)(x), (x - np.float32(0.5)) / np.float32(0.25))
    assert np.array_equal(Normalize([0.5], [0.25])(x), Normalize(0.5, 0.25)(x))


def test_normalize_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).random((3, 3, 4, 4), dtype=np.float32)
    mean, std = [0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]
    # torchvision's Normalize: tensor.sub(mean[:, None, None]).div(std[:, None, None])
    m = torch.as_tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.as_tensor(std, dtype=torch.float32)[:, None, None]
    expected = torch.from_numpy(x).sub(m).div(s).numpy()
    assert np.array_equal(Normalize(mean, std)(x), expected)


def test_normalize_bad_arguments():
    with pytest.raises(ValueError, match="std"):
        Normalize(0.5, 0.0)
    with pytest.raises(ValueError, match="std"):
        Normalize([0.5, 0.5], [0.2, -1.0])
    with pytest.raises(ValueError, match="mean has 2 values but std has 3"):
        Normalize([0.1, 0.2], [1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="mean"):
        Normalize("a", 1.0)
    t = Normalize([0.1, 0.2], [1.0, 1.0])
    with pytest.raises(ValueError, match="mean has 2 values but x has 3 channels"):
        t(_batch(c=3))
    with pytest.raises(TypeError, match="float32 or float64, got dtype uint8"):
        t(_batch(c=2, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        t(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        t([[1.0]])


# --------------------------------------------------------------------------- RandomCrop

def _offsets(x, out, pad, fill=0):
    """The offset of each crop in the padded image (found by search), or fail."""
    (ph, pw), (h, w) = pad, out.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    found = []
    for i in range(len(x)):
        matches = [(a, b) for a in range(xp.shape[2] - h + 1) for b in range(xp.shape[3] - w + 1)
                   if np.array_equal(out[i], xp[i, :, a:a + h, b:b + w])]
        assert matches, f"crop {i} is not a window of its padded image"
        found.append(matches[0])
    return found


@pytest.mark.parametrize("size,padding", [(5, 1), ((5, 7), (2, 3)), (3, 0), ((2, 6), 0),
                                          ((9, 11), 2), (1, 1)])
def test_random_crop_is_a_shifted_window(size, padding):
    x = _batch()
    x0 = x.copy()
    t = RandomCrop(size, padding)
    y = t(x, generator=0)
    h, w = (size, size) if isinstance(size, int) else size
    pad = (padding, padding) if isinstance(padding, int) else padding
    assert y.shape == (6, 3, h, w) and y.dtype == np.float32 and y.flags.c_contiguous
    _offsets(x, y, pad)
    assert np.array_equal(x, x0)


def test_random_crop_each_image_its_own_offset():
    x = _batch(n=200, c=2, h=4, w=4, seed=3)
    y = RandomCrop(4, padding=2)(x, generator=1)
    offsets = _offsets(x, y, (2, 2))
    tops = {a for a, _ in offsets}
    lefts = {b for _, b in offsets}
    # 200 draws over 5 x 5 offsets: every row and column offset occurs
    assert tops == set(range(5)) and lefts == set(range(5))
    assert len(set(offsets)) > 15


def test_random_crop_fill_and_dtypes():
    x = _batch(n=40, dtype=np.float64)
    y = RandomCrop((5, 7), padding=3, fill=-1.5)(x, generator=2)
    assert y.dtype == np.float64
    _offsets(x, y, (3, 3), fill=-1.5)
    assert (y == -1.5).any()
    xi = _batch(n=3, dtype=np.uint8, h=2, w=2, c=1)
    yi = RandomCrop(2, padding=1)(xi, generator=2)
    assert yi.dtype == np.uint8
    _offsets(xi, yi, (1, 1))


def test_random_crop_seeding():
    x = _batch(n=30)
    t = RandomCrop(5, padding=2)
    assert np.array_equal(t(x, generator=4), t(x, generator=4))
    assert not np.array_equal(t(x, generator=4), t(x, generator=5))
    g1, g2 = np.random.default_rng(8), np.random.default_rng(8)
    assert np.array_equal(t(x, generator=g1), t(x, generator=g2))
    assert np.array_equal(t(x, generator=fd.Generator(8)), t(x, generator=fd.Generator(8)))
    fd.manual_seed(9)
    a = t(x)
    fd.manual_seed(9)
    assert np.array_equal(t(x), a)


def test_random_crop_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="padding"):
        RandomCrop(3, padding=-1)
    with pytest.raises(TypeError, match="size"):
        RandomCrop(2.5)
    with pytest.raises(TypeError, match="fill"):
        RandomCrop(2, fill="0")
    with pytest.raises(ValueError, match=r"size \(6, 6\) is larger than the padded image"):
        RandomCrop(6)(_batch(h=5, w=7))
    with pytest.raises(TypeError, match="generator"):
        RandomCrop(2)(_batch(), generator="seed")


# --------------------------------------------------------------------------- flip

def test_flip_is_an_exact_mirror_per_image():
    x = _batch(n=64)
    x0 = x.copy()
    y = RandomHorizontalFlip()(x, generator=0)
    assert y.shape == x.shape and y.dtype == x.dtype and y.flags.c_contiguous
    flipped = []
    for i in range(len(x)):
        if np.array_equal(y[i], x[i]):
            flipped.append(False)
        else:
            assert np.array_equal(y[i], x[i, :, :, ::-1])
            flipped.append(True)
    assert 16 < sum(flipped) < 48
    assert np.array_equal(x, x0)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_flip_probability(p):
    x = np.zeros((4000, 1, 1, 2), np.float32)
    x[..., 1] = 1.0
    y = RandomHorizontalFlip(p)(x, generator=3)
    rate = (y[:, 0, 0, 0] == 1.0).mean()
    assert abs(rate - p) < 0.03


def test_flip_seeding_and_bad_arguments():
    x = _batch(n=40)
    t = RandomHorizontalFlip()
    assert np.array_equal(t(x, generator=1), t(x, generator=1))
    assert not np.array_equal(t(x, generator=1), t(x, generator=2))
    with pytest.raises(ValueError, match="p"):
        RandomHorizontalFlip(1.5)
    with pytest.raises(TypeError, match="p"):
        RandomHorizontalFlip("0.5")


# --------------------------------------------------------------------------- Compose

def test_compose_applies_in_order_with_one_generator():
    x = _batch(n=20)
    crop, flip, norm = RandomCrop(5, padding=1), RandomHorizontalFlip(), Normalize(3.0, 2.0)
    t = Compose([crop, flip, norm, lambda b: b * 2])
    rng = np.random.default_rng(6)
    expected = norm(flip(crop(x, generator=rng), generator=rng)) * 2
    assert np.array_equal(t(x, generator=6), expected)
    with pytest.raises(TypeError, match=r"transforms\[1\]"):
        Compose([crop, 3])
