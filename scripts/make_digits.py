"""Write fastdl/data/digits.npz, the embedded dataset behind fastdl.data.load_digits().

Run once, from the repository root, with scikit-learn installed (fastdl itself never
needs scikit-learn; the file this writes is committed and shipped in the package):

    python scripts/make_digits.py

Source: the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin,
C. Kaynak, 1998), https://doi.org/10.24432/C50P49, licensed CC BY 4.0; the copy used
is the one scikit-learn ships (sklearn.datasets.load_digits: the 1,797 test-set
images of the UCI data, 8x8 blocks of counts 0..16).

The file holds the images in scikit-learn's order as uint8 counts 0..16 (the loader
divides by 16), the labels, and the fixed test split: 36 images of each digit (360 in
all), drawn without replacement with numpy.random.default_rng(0) from that digit's
images. The other 1,437 images are the training set. The split is stored rather than
recomputed at load time, so it never changes with the NumPy version.
"""

from __future__ import annotations

import pathlib

import numpy as np
from sklearn.datasets import load_digits

OUT = pathlib.Path(__file__).resolve().parents[1] / "fastdl" / "data" / "digits.npz"
TEST_PER_CLASS = 36
SEED = 0


def main() -> None:
    digits = load_digits()
    images = digits.images
    assert images.shape == (1797, 8, 8)
    assert np.array_equal(images, np.round(images)) and images.min() == 0 and images.max() == 16
    images = images.astype(np.uint8)
    target = digits.target.astype(np.uint8)

    rng = np.random.default_rng(SEED)
    test = [rng.choice(np.flatnonzero(target == c), TEST_PER_CLASS, replace=False)
            for c in range(10)]
    test_index = np.sort(np.concatenate(test)).astype(np.uint16)

    np.savez_compressed(OUT, images=images, target=target, test_index=test_index)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {len(target)} images, "
          f"{len(test_index)} in the test split")


if __name__ == "__main__":
    main()
