"""Small datasets that need no download, prepared the way kernel papers do.

Targets are one-hot vectors shifted by ``-1/n_classes`` (so ``-0.1`` / ``0.9``
for ten classes): each target row sums to zero, which makes the zero function,
the mean prediction of an infinitely wide network at initialisation, an
unbiased starting point for regression.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError

DIGITS_SIZE = 1797  # images in scikit-learn's bundled copy of UCI digits


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split with standardized inputs and centred one-hot targets."""

    name: str
    x_train: np.ndarray  # (n_train, n_features) float32
    y_train: np.ndarray  # (n_train, n_classes) float32, rows sum to 0
    x_test: np.ndarray  # (n_test, n_features)
    y_test: np.ndarray  # (n_test, n_classes)
    labels_train: np.ndarray  # (n_train,) int class ids
    labels_test: np.ndarray  # (n_test,) int class ids

    @property
    def n_classes(self) -> int:
        return self.y_train.shape[1]

    def fingerprint(self) -> str:
        """A short hash of the arrays, so caches can tell datasets apart."""
        import hashlib

        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


def centred_one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot rows minus ``1 / n_classes``: 0.9 for the class, -0.1 elsewhere."""
    y = np.full((len(labels), n_classes), -1.0 / n_classes, dtype=np.float32)
    y[np.arange(len(labels)), labels] += 1.0
    return y


def digits(
    train: int = 1000, test: int = 500, seed: int = 0, images: bool = False
) -> Dataset:
    """scikit-learn's bundled 8x8 digits, as 64 standardized features.

    The training examples are ordered by class (kernel heatmaps then show class
    blocks); the test examples keep their shuffled order.

    Args:
      train: number of training images.
      test: number of test images (disjoint from the training ones).
      seed: seed of the shuffle that picks them.
      images: ``True`` gives ``(N, 8, 8, 1)`` images (NHWC, for convolutions)
        instead of ``(N, 64)`` vectors; the values are the same.
    """
    from sklearn.datasets import load_digits

    for arg, value in (("train", train), ("test", test)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise InputError(f"`digits({arg}={value!r})` must be a positive integer.")
    if train + test > DIGITS_SIZE:
        raise InputError(
            f"`digits(train={train}, test={test})` asks for {train + test} images but "
            f"the dataset has {DIGITS_SIZE}. Fix: keep train + test <= {DIGITS_SIZE}."
        )
    bunch = load_digits()
    order = np.random.RandomState(seed).permutation(len(bunch.target))
    x = bunch.data[order].astype(np.float64)
    labels = bunch.target[order].astype(np.int64)
    x_train, x_test = x[:train], x[train : train + test]
    # Standardize with training statistics only; constant pixels (the image
    # border) get unit scale instead of a division by zero.
    mean = x_train.mean(0)
    std = x_train.std(0)
    std[std == 0] = 1.0
    x_train = ((x_train - mean) / std).astype(np.float32)
    x_test = ((x_test - mean) / std).astype(np.float32)
    l_train, l_test = labels[:train], labels[train : train + test]
    # Training order does not change kernel predictions; grouping by class makes
    # kernel heatmaps show the block structure a good kernel should have.
    by_class = np.argsort(l_train, kind="stable")
    x_train, l_train = x_train[by_class], l_train[by_class]
    if images:
        x_train, x_test = x_train.reshape(-1, 8, 8, 1), x_test.reshape(-1, 8, 8, 1)
    return Dataset(
        name=f"digits(train={train}, test={test}{', images=True' if images else ''})",
        x_train=x_train,
        y_train=centred_one_hot(l_train, 10),
        x_test=x_test,
        y_test=centred_one_hot(l_test, 10),
        labels_train=l_train,
        labels_test=l_test,
    )
