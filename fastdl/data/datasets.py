"""Datasets as ndarrays: the embedded digits, MNIST-style IDX files, CIFAR-10 batches.

Every loader returns images as float32 ``(N, C, H, W)`` in [0, 1] (a pixel ``p`` of
``B`` levels becomes ``float32(p) / float32(B - 1)``, the division torchvision's
``ToTensor`` does) and labels as int64 ``(N,)``.

``load_digits`` needs nothing but the package. ``load_mnist`` and ``load_cifar10`` read
files the user already has (fastdl downloads nothing); a missing, truncated or
malformed file is a ``FileNotFoundError`` or ``ValueError`` naming the file and what
was expected.
"""

from __future__ import annotations

import codecs
import gzip
import importlib.resources
import os
import pathlib
import pickle
import zlib

import numpy as np

__all__ = ["load_digits", "load_mnist", "load_cifar10"]


def _split(fn: str, split) -> str:
    if split not in ("train", "test"):
        raise ValueError(f'{fn}: split must be "train" or "test", got {split!r}')
    return split


def _directory(fn: str, root) -> pathlib.Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{fn}: dir must be a str or os.PathLike, got {type(root).__name__}")
    path = pathlib.Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"{fn}: dir {str(path)!r} is not a directory")
    return path


def _to_unit_float(pixels: np.ndarray, shape: tuple, levels: int) -> np.ndarray:
    """uint8 pixels -> float32 ``shape`` in [0, 1], without a float64 temporary."""
    out = np.empty(shape, dtype=np.float32)
    np.divide(pixels.reshape(shape), np.float32(levels - 1), out=out, dtype=np.float32)
    return out


# --------------------------------------------------------------------------- digits

def load_digits():
    """The embedded handwritten digits: 1,797 images of 8x8 pixels, classes 0..9.

    The test part of the UCI "Optical Recognition of Handwritten Digits" data set
    (E. Alpaydin and C. Kaynak, 1998; https://doi.org/10.24432/C50P49; CC BY 4.0), the
    copy scikit-learn ships as ``sklearn.datasets.load_digits``, stored in the package
    (``fastdl/data/digits.npz``, written by ``scripts/make_digits.py``; see
    ``fastdl/data/DIGITS_LICENSE``). Each pixel is a count 0..16 of the ink in a 4x4
    block of a 32x32 bitmap.

    The split is fixed and stratified: 36 images of each digit (360) are the test set,
    drawn once with ``numpy.random.default_rng(0)`` and stored in the file, so it never
    changes; the other 1,437 are the training set. Both keep scikit-learn's order.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        X float32 ``(N, 1, 8, 8)`` in [0, 1] (``count / 16``), y int64 ``(N,)``;
        N = 1437 and 360. Fresh arrays on every call.
    """
    resource = importlib.resources.files("fastdl.data").joinpath("digits.npz")
    with resource.open("rb") as f, np.load(f) as npz:
        images, target, test_index = npz["images"], npz["target"], npz["test_index"]
    is_test = np.zeros(len(target), dtype=bool)
    is_test[test_index] = True

    def part(mask):
        X = _to_unit_float(images[mask], (int(mask.sum()), 1, 8, 8), levels=17)
        return X, target[mask].astype(np.int64)

    return part(~is_test), part(is_test)


# --------------------------------------------------------------------------- MNIST

_IDX_UBYTE = 0x08
_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _find(fn: str, folder: pathlib.Path, name: str) -> pathlib.Path:
    """``folder/name`` or ``folder/name.gz``, the raw file first."""
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{fn}: neither {str(folder / name)!r} nor its .gz was found")


def _read_bytes(fn: str, path: pathlib.Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    with gzip.open(path, "rb") as f:  # errors opening the file itself propagate as they are
        try:
            return f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{fn}: {str(path)!r} is not a complete gzip file "
                             f"({type(exc).__name__}: {exc})") from exc


def _read_idx(fn: str, path: pathlib.Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions, as a uint8 array.

    The format (http://yann.lecun.com/exdb/mnist/): a big-endian header of two zero
    bytes, the type code (0x08 = unsigned byte), the number of dimensions, then one
    int32 per dimension; then the data, row-major.
    """
    data = _read_bytes(fn, path)
    header = 4 + 4 * ndim
    expected_magic = (_IDX_UBYTE << 8) | ndim       # 2049 for labels, 2051 for images
    magic = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and magic != expected_magic:
        raise ValueError(f"{fn}: {str(path)!r} is not an IDX file of unsigned bytes with "
                         f"{ndim} dimension(s): magic number {magic} (0x{magic:08x}), "
                         f"expected {expected_magic} (0x{expected_magic:08x})")
    if len(data) < header:
        raise ValueError(f"{fn}: {str(path)!r} is truncated: {len(data)} bytes, shorter "
                         f"than the {header}-byte IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(f"{fn}: {str(path)!r} is {what}: its header declares shape {dims}, "
                         f"so {expected:,} bytes were expected, got {len(data):,}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(dir, split: str = "train"):
    """MNIST or Fashion-MNIST (or any IDX set of that layout) from the user's files.

    Reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (split="train")
    or ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (split="test") from
    ``dir``, each raw or gzip'd (the same name plus ``.gz``), as published on
    yann.lecun.com and by Zalando for Fashion-MNIST.

    Parameters
    ----------
    dir : str or os.PathLike
        The folder holding the files.
    split : {"train", "test"}

    Returns
    -------
    X : float32 ``(N, 1, H, W)`` in [0, 1] (``pixel / 255``); H = W = 28 for MNIST.
    y : int64 ``(N,)``.

    Raises
    ------
    FileNotFoundError
        A file is missing (the message names it).
    ValueError
        A bad split; a file with the wrong magic number, truncated, or whose size
        disagrees with its header; image and label counts that differ.
    """
    fn = "load_mnist"
    images_name, labels_name = _MNIST_FILES[_split(fn, split)]
    folder = _directory(fn, dir)
    images_path = _find(fn, folder, images_name)
    labels_path = _find(fn, folder, labels_name)
    images = _read_idx(fn, images_path, ndim=3)
    labels = _read_idx(fn, labels_path, ndim=1)
    if len(images) != len(labels):
        raise ValueError(f"{fn}: {str(images_path)!r} holds {len(images)} images but "
                         f"{str(labels_path)!r} holds {len(labels)} labels")
    n, h, w = images.shape
    return _to_unit_float(images, (n, 1, h, w), levels=256), labels.astype(np.int64)


# --------------------------------------------------------------------------- CIFAR-10

_CIFAR_PIXELS = 3 * 32 * 32
_CIFAR_RECORD = 1 + _CIFAR_PIXELS             # binary version: label byte, then R, G, B planes
_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and NumPy arrays, and nothing else.

    A pickle can run arbitrary code when loaded; CIFAR's python batches need only the
    NumPy globals below, so any other global is refused. The batches were pickled
    by Python 2 and NumPy 1 (``numpy.core.multiarray``); NumPy 2 pickles name
    ``numpy._core.multiarray``: both resolve to this NumPy's function. Python 3 writes
    bytes into a protocol-2 pickle as a call of ``_codecs.encode``, allowed too.
    """

    def find_class(self, module, name):
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"),
                              ("numpy._core.multiarray", "_reconstruct")):
            return _numpy_function("multiarray", "_reconstruct")
        if (module, name) in (("numpy.core.numeric", "_frombuffer"),
                              ("numpy._core.numeric", "_frombuffer")):   # pickle protocol 5
            return _numpy_function("numeric", "_frombuffer")
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # bytes in Python 3's protocol-2 pickles
            return codecs.encode
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _numpy_function(module: str, name: str):
    import importlib

    try:
        mod = importlib.import_module(f"numpy._core.{module}")  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        mod = importlib.import_module(f"numpy.core.{module}")
    return getattr(mod, name)


def _cifar_binary(fn: str, path: pathlib.Path):
    data = path.read_bytes()
    if len(data) == 0 or len(data) % _CIFAR_RECORD:
        raise ValueError(f"{fn}: {str(path)!r} is truncated or not a CIFAR-10 binary batch: "
                         f"{len(data):,} bytes is not a whole number of {_CIFAR_RECORD}-byte "
                         f"records (1 label byte + 3x32x32 pixels; 10,000 records, "
                         f"{10000 * _CIFAR_RECORD:,} bytes, in a published batch)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    return records[:, 1:], records[:, 0]


def _cifar_python(fn: str, path: pathlib.Path):
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - any failure to parse untrusted bytes
        raise ValueError(f"{fn}: {str(path)!r} is truncated or not a CIFAR-10 python batch "
                         f"(a pickled dict with 'data' and 'labels'): {exc}") from exc

    def get(key):
        if isinstance(batch, dict):
            for k in (key.encode(), key):
                if k in batch:
                    return batch[k]
        raise ValueError(f"{fn}: {str(path)!r} is not a CIFAR-10 python batch: no {key!r} "
                         "entry in a pickled dict")

    pixels, labels = get("data"), np.asarray(get("labels"))
    if not (isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 2
            and pixels.shape[1] == _CIFAR_PIXELS and labels.shape == (len(pixels),)):
        shape = getattr(pixels, "shape", None)
        dtype = getattr(pixels, "dtype", type(pixels).__name__)
        raise ValueError(f"{fn}: {str(path)!r}: expected 'data' uint8 (N, {_CIFAR_PIXELS}) and "
                         f"N 'labels', got 'data' {dtype} {shape} and labels {labels.shape}")
    return pixels, labels


def load_cifar10(dir, split: str = "train"):
    """CIFAR-10 from the user's copy of the binary or the python version.

    The binary version (``cifar-10-binary.tar.gz``, extracted): ``data_batch_1.bin`` ..
    ``data_batch_5.bin`` (train) and ``test_batch.bin`` (test), each record a label
    byte then 3072 pixel bytes (R, G, B planes of 32x32). The python version
    (``cifar-10-python.tar.gz``, extracted): the same names without ``.bin``, pickled
    dicts; they are unpickled with only NumPy's array globals allowed, so a tampered
    file cannot run code. The files are looked for in ``dir``, then in
    ``dir/cifar-10-batches-bin`` and ``dir/cifar-10-batches-py`` (the folders the
    archives extract to); the binary version first.

    Parameters
    ----------
    dir : str or os.PathLike
    split : {"train", "test"}

    Returns
    -------
    X : float32 ``(N, 3, 32, 32)`` in [0, 1] (``pixel / 255``); N = 50000 or 10000.
    y : int64 ``(N,)`` in 0..9, in the order of the batches.

    Raises
    ------
    FileNotFoundError
        No batch of the split is found, or one of the five training batches is missing
        (the message names it).
    ValueError
        A bad split; a binary batch whose size is not a whole number of 3073-byte
        records, or training batches of different lengths (each published batch has
        10,000 records, so a batch cut at a record boundary shows up this way); a
        python batch that does not unpickle to the expected dict; a label outside 0..9.
    """
    fn = "load_cifar10"
    names = _CIFAR_BATCHES[_split(fn, split)]
    folder = _directory(fn, dir)
    layouts = [(folder, ".bin", _cifar_binary),
               (folder / "cifar-10-batches-bin", ".bin", _cifar_binary),
               (folder, "", _cifar_python),
               (folder / "cifar-10-batches-py", "", _cifar_python)]
    for where, suffix, read in layouts:
        if (where / (names[0] + suffix)).is_file():
            break
    else:
        searched = ", ".join(repr(str(w / (names[0] + s))) for w, s, _ in layouts)
        hint = ""
        archives = [a for a in ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz")
                    if (folder / a).is_file()]
        if archives:
            hint = f"; extract {archives[0]} first (tar xzf {archives[0]})"
        raise FileNotFoundError(f"{fn}: no CIFAR-10 {split} batch found: looked for {searched}"
                                f"{hint}")

    pixels, labels = [], []
    for name in names:
        path = where / (name + suffix)
        if not path.is_file():
            raise FileNotFoundError(f"{fn}: {str(path)!r} is missing (the {split} split needs "
                                    f"{', '.join(n + suffix for n in names)} in {str(where)!r})")
        p, lab = read(fn, path)
        if pixels and len(p) != len(pixels[0]):
            raise ValueError(f"{fn}: {str(path)!r} holds {len(p):,} images but "
                             f"{names[0] + suffix} holds {len(pixels[0]):,}: a truncated batch? "
                             "(each published batch holds 10,000)")
        if len(lab) and (lab.min() < 0 or lab.max() > 9):
            raise ValueError(f"{fn}: {str(path)!r} has labels outside 0..9 (min {lab.min()}, "
                             f"max {lab.max()}): not a CIFAR-10 batch")
        pixels.append(p)
        labels.append(lab)
    pixels = np.concatenate(pixels) if len(pixels) > 1 else pixels[0]
    X = _to_unit_float(pixels, (len(pixels), 3, 32, 32), levels=256)
    return X, np.concatenate(labels).astype(np.int64)
