"""fastdl.data loaders: the embedded digits, and the IDX / CIFAR-10 readers on small
files written here in those formats."""

import gzip
import importlib.resources
import os
import pickle
import struct

import numpy as np
import pytest

from fastdl.data import load_cifar10, load_digits, load_mnist


# --------------------------------------------------------------------------- digits

def test_digits_shapes_dtypes_ranges():
    (X_train, y_train), (X_test, y_test) = load_digits()
    assert X_train.shape == (1437, 1, 8, 8) and X_test.shape == (360, 1, 8, 8)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.flags.c_contiguous
        assert X.min() == 0.0 and X.max() == 1.0
        # pixels are counts 0..16 divided by 16: exact multiples of 1/16
        assert np.array_equal(X * 16, np.round(X * 16))
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))


def test_digits_split_is_stratified_and_fixed():
    (X_train, y_train), (X_test, y_test) = load_digits()
    assert np.array_equal(np.bincount(y_test), np.full(10, 36))
    # the UCI test part has 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 of each digit
    total = np.array([178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert np.array_equal(np.bincount(y_train), total - 36)
    # a second call gives equal, fresh arrays
    (X_train2, y_train2), (X_test2, y_test2) = load_digits()
    assert np.array_equal(X_train, X_train2) and np.array_equal(y_test, y_test2)
    X_train2[0, 0, 0, 0] = 5.0
    assert load_digits()[0][0][0, 0, 0, 0] != 5.0
    # no image is in both parts (as pixel patterns: the data has a few duplicate images,
    # so compare the index file instead)
    with importlib.resources.files("fastdl.data").joinpath("digits.npz").open("rb") as f:
        test_index = np.load(f)["test_index"]
    assert len(np.unique(test_index)) == 360 and test_index.max() < 1797


def test_digits_match_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    with importlib.resources.files("fastdl.data").joinpath("digits.npz").open("rb") as f:
        test_index = np.load(f)["test_index"]
    is_test = np.zeros(len(digits.target), dtype=bool)
    is_test[test_index] = True
    (X_train, y_train), (X_test, y_test) = load_digits()
    expected = (digits.images / 16.0).astype(np.float32)[:, None]
    assert np.array_equal(X_train, expected[~is_test])
    assert np.array_equal(X_test, expected[is_test])
    assert np.array_equal(y_train, digits.target[~is_test])
    assert np.array_equal(y_test, digits.target[is_test])


def test_digits_file_and_licence_ship_in_the_package():
    folder = importlib.resources.files("fastdl.data")
    assert folder.joinpath("digits.npz").is_file()
    licence = folder.joinpath("DIGITS_LICENSE").read_text()
    assert "CC BY 4.0" in licence and "Alpaydin" in licence
    with folder.joinpath("digits.npz").open("rb") as f:
        size = len(f.read())
    assert size < 100_000  # stored compressed


# --------------------------------------------------------------------------- IDX writers

def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array, written independently of the reader."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write(path, data: bytes, gz: bool):
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _mnist_files(folder, split, n, gz=False, seed=0, hw=(28, 28)):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *hw), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    prefix = "train" if split == "train" else "t10k"
    _write(folder / f"{prefix}-images-idx3-ubyte", _idx_bytes(images), gz)
    _write(folder / f"{prefix}-labels-idx1-ubyte", _idx_bytes(labels), gz)
    return images, labels


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_reads_idx_files(tmp_path, split, gz):
    images, labels = _mnist_files(tmp_path, split, n=7, gz=gz)
    X, y = load_mnist(tmp_path, split=split)
    assert X.shape == (7, 1, 28, 28) and X.dtype == np.float32 and X.flags.c_contiguous
    assert y.shape == (7,) and y.dtype == np.int64
    assert np.array_equal(X[:, 0], images.astype(np.float32) / np.float32(255))
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(y, labels)


def test_mnist_default_split_and_str_path(tmp_path):
    _mnist_files(tmp_path, "test", n=2, seed=1)
    images, labels = _mnist_files(tmp_path, "train", n=3, seed=2)
    X, y = load_mnist(str(tmp_path))
    assert len(X) == 3 and np.array_equal(y, labels)
    assert len(load_mnist(tmp_path, "test")[0]) == 2


def test_mnist_other_image_size(tmp_path):
    images, _ = _mnist_files(tmp_path, "train", n=4, hw=(5, 3))
    X, _ = load_mnist(tmp_path)
    assert X.shape == (4, 1, 5, 3)
    assert np.array_equal(X[:, 0] * 255, images)


def test_mnist_missing_file_names_it(tmp_path):
    _mnist_files(tmp_path, "train", n=3)
    os.remove(tmp_path / "train-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, split="test")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_mnist(tmp_path / "nowhere")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_truncated_file(tmp_path, gz):
    images, labels = _mnist_files(tmp_path, "train", n=3)
    data = _idx_bytes(images)[:-10]
    os.remove(tmp_path / "train-images-idx3-ubyte")
    _write(tmp_path / "train-images-idx3-ubyte", data, gz)
    expected = 16 + 3 * 28 * 28
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte.*truncated.*{expected:,} "
                                         rf"bytes were expected, got {expected - 10:,}"):
        load_mnist(tmp_path)


def test_mnist_truncated_header_and_extra_bytes(tmp_path):
    _mnist_files(tmp_path, "train", n=3)
    for cut in (b"\x00\x00\x08", b"\x00\x00\x08\x01\x00\x00"):
        (tmp_path / "train-labels-idx1-ubyte").write_bytes(cut)
        with pytest.raises(ValueError, match=f"train-labels-idx1-ubyte.*truncated: {len(cut)} "
                                             "bytes, shorter than the 8-byte IDX header"):
            load_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)) + b"x")
    with pytest.raises(ValueError, match="longer than its header says"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("damage", ["cut", "corrupt", "not gzip"])
def test_mnist_damaged_gzip(tmp_path, damage):
    _mnist_files(tmp_path, "train", n=3, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    if damage == "cut":
        data = data[:-20]
    elif damage == "corrupt":
        data[len(data) // 2:len(data) // 2 + 8] = b"\xff" * 8
    else:
        data = bytearray(_idx_bytes(np.zeros((3, 28, 28), np.uint8)))  # raw bytes named .gz
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*not a complete gzip file"):
        load_mnist(tmp_path)


def test_mnist_wrong_magic(tmp_path):
    images, labels = _mnist_files(tmp_path, "train", n=3)
    # images and labels swapped: a 1-D file where a 3-D one is expected
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(labels))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*magic number 2049 "
                                         r"\(0x00000801\), expected 2051 \(0x00000803\)"):
        load_mnist(tmp_path)


def test_mnist_count_mismatch(tmp_path):
    _mnist_files(tmp_path, "train", n=3)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="3 images but .*4 labels"):
        load_mnist(tmp_path)


def test_mnist_bad_arguments(tmp_path):
    _mnist_files(tmp_path, "train", n=1)
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="val")
    with pytest.raises(TypeError, match="dir"):
        load_mnist(3)


# --------------------------------------------------------------------------- CIFAR-10

def _cifar_data(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def _cifar_binary(path, images, labels):
    # each record: the label byte, then the R, G and B planes, row-major
    records = [bytes([int(lab)]) + img.tobytes() for img, lab in zip(images, labels)]
    path.write_bytes(b"".join(records))


def _cifar_python(path, images, labels, numpy1_names=False):
    batch = {b"batch_label": b"testing batch", b"labels": [int(v) for v in labels],
             b"data": images.reshape(len(images), -1), b"filenames": [b"x.png"] * len(images)}
    data = pickle.dumps(batch, protocol=2)
    if numpy1_names:  # as the published files (Python 2, NumPy 1) name the function
        assert b"numpy._core.multiarray" in data
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(data)


def _cifar_folder(folder, fmt, counts=(2, 2, 2, 2, 2), test=3, numpy1_names=False):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".bin" if fmt == "binary" else ""
    parts = {}
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]),
                         ("test", ["test_batch"])):
        sizes = counts if split == "train" else (test,)
        ims, labs = [], []
        for i, (name, n) in enumerate(zip(names, sizes)):
            images, labels = _cifar_data(n, seed=10 * (split == "test") + i)
            if fmt == "binary":
                _cifar_binary(folder / (name + suffix), images, labels)
            else:
                _cifar_python(folder / name, images, labels, numpy1_names)
            ims.append(images)
            labs.append(labels)
        parts[split] = (np.concatenate(ims), np.concatenate(labs))
    return parts


@pytest.mark.parametrize("fmt,subdir", [("binary", ""), ("binary", "cifar-10-batches-bin"),
                                        ("python", ""), ("python", "cifar-10-batches-py")])
def test_cifar10_reads_batches(tmp_path, fmt, subdir):
    counts = (2, 2, 2, 2, 2)
    parts = _cifar_folder(tmp_path / subdir if subdir else tmp_path, fmt, counts=counts)
    for split in ("train", "test"):
        images, labels = parts[split]
        X, y = load_cifar10(tmp_path, split=split)
        assert X.shape == (len(images), 3, 32, 32) and X.dtype == np.float32
        assert X.flags.c_contiguous
        assert y.shape == (len(images),) and y.dtype == np.int64
        assert np.array_equal(X, images.astype(np.float32) / np.float32(255))
        assert np.array_equal(y, labels)
    assert len(load_cifar10(tmp_path)[0]) == 10  # train is the default


def test_cifar10_python_batches_from_numpy1(tmp_path):
    parts = _cifar_folder(tmp_path, "python", counts=(1, 1, 1, 1, 1), numpy1_names=True)
    X, y = load_cifar10(tmp_path, "test")
    assert np.array_equal(X * 255, parts["test"][0]) and np.array_equal(y, parts["test"][1])


def test_cifar10_pickle_cannot_run_code(tmp_path):
    _cifar_folder(tmp_path, "python")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo hacked > " + str(tmp_path / "hacked"),))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="test_batch.*is not allowed"):
        load_cifar10(tmp_path, "test")
    assert not (tmp_path / "hacked").exists()


@pytest.mark.parametrize("name,cut,message", [
    # a cut inside a record
    ("data_batch_3.bin", 100, r"data_batch_3\.bin.*truncated.*9,119 bytes is not a whole "
                              r"number of 3073-byte records"),
    # a cut at a record boundary: the batch is shorter than the others
    ("data_batch_5.bin", 3073, r"data_batch_5\.bin.*holds 2 images but data_batch_1\.bin "
                               r"holds 3"),
])
def test_cifar10_truncated_binary(tmp_path, name, cut, message):
    _cifar_folder(tmp_path, "binary", counts=(3, 3, 3, 3, 3))
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(ValueError, match=message):
        load_cifar10(tmp_path)


def test_cifar10_truncated_pickle(tmp_path):
    _cifar_folder(tmp_path, "python")
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="test_batch.*truncated or not a CIFAR-10 python batch"):
        load_cifar10(tmp_path, "test")


def test_cifar10_python_batch_of_the_wrong_shape(tmp_path):
    _cifar_folder(tmp_path, "python")
    pickle_bytes = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    (tmp_path / "test_batch").write_bytes(pickle_bytes)
    with pytest.raises(ValueError, match=r"test_batch.*expected 'data' uint8 \(N, 3072\)"):
        load_cifar10(tmp_path, "test")
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"labels": [0]}))
    with pytest.raises(ValueError, match="no 'data' entry"):
        load_cifar10(tmp_path, "test")


def test_cifar10_label_out_of_range(tmp_path):
    _cifar_folder(tmp_path, "binary")
    images, labels = _cifar_data(2, seed=5)
    labels[1] = 10
    _cifar_binary(tmp_path / "test_batch.bin", images, labels)
    with pytest.raises(ValueError, match=r"test_batch\.bin.*labels outside 0\.\.9"):
        load_cifar10(tmp_path, "test")


def test_cifar10_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 train batch found.*data_batch_1"):
        load_cifar10(tmp_path)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"extract cifar-10-binary\.tar\.gz first"):
        load_cifar10(tmp_path)
    _cifar_folder(tmp_path, "binary")
    os.remove(tmp_path / "data_batch_4.bin")
    with pytest.raises(FileNotFoundError, match=r"data_batch_4\.bin.*is missing"):
        load_cifar10(tmp_path)
    os.remove(tmp_path / "test_batch.bin")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 test batch found"):
        load_cifar10(tmp_path, "test")


def test_cifar10_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_cifar10(tmp_path, split="validation")
    with pytest.raises(TypeError, match="dir"):
        load_cifar10(None)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_cifar10(tmp_path / "missing")
