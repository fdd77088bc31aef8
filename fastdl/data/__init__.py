"""Data for training: datasets as ndarrays, the mini-batch loader and batch transforms.

- :func:`load_digits`: the embedded UCI handwritten digits (1,797 8x8 images, CC BY
  4.0; see ``DIGITS_LICENSE`` in this folder), with a fixed train/test split.
- :func:`load_mnist`, :func:`load_cifar10`: read the user's MNIST/Fashion-MNIST IDX
  files and CIFAR-10 batches (nothing is downloaded).
- :class:`ArrayDataset`, :class:`DataLoader`: seeded, reproducible mini-batches.
- :mod:`fastdl.data.transforms`: ``Normalize``, ``RandomCrop``, ``RandomHorizontalFlip``,
  ``Compose``, vectorised over the batch.
"""

from fastdl.data import transforms
from fastdl.data.datasets import load_cifar10, load_digits, load_mnist
from fastdl.data.loader import ArrayDataset, DataLoader
from fastdl.data.transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip

__all__ = ["ArrayDataset", "Compose", "DataLoader", "Normalize", "RandomCrop",
           "RandomHorizontalFlip", "load_cifar10", "load_digits", "load_mnist", "transforms"]
