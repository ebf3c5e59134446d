"""The course's data sets by name, and what the loaders return, raise and warn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

# What the package kerasgrade.data gives out of this module, named once.
__all__ = ["DATASETS", "FASHION_MNIST", "MNIST", "MNIST_SIZES", "SAMPLE_SOURCE",
           "CorruptDataWarning", "Dataset", "DataUnavailable", "SampleDataWarning"]

MNIST = "mnist"
FASHION_MNIST = "fashion-mnist"
DATASETS = (MNIST, FASHION_MNIST)
SAMPLE_SOURCE = "mnist-sample-5k"
MNIST_SIZES = (60_000, 10_000)  # train, test images of full MNIST

# x_train, y_train, x_test, y_test, in this order everywhere.
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class DataUnavailable(RuntimeError):
    """No acceptable copy of a data set was found; the message says where we looked and the fix."""


class SampleDataWarning(UserWarning):
    """Full MNIST was not found and the 5,000-digit sample is used instead."""


class CorruptDataWarning(UserWarning):
    """A copy of a data set was damaged or failed its checksum and was skipped."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays with == is ambiguous
class Dataset:
    name: str  # "mnist" or "fashion-mnist"
    source: str  # key of the accuracy thresholds: "mnist", "mnist-sample-5k", "fashion-mnist"
    origin: str  # where the arrays came from, for people
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)

    @property
    def full(self) -> bool:
        return self.source != SAMPLE_SOURCE

    def as_tuple(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``((x_train, y_train), (x_test, y_test))``, like ``load_data()``."""
        return (self.x_train, self.y_train), (self.x_test, self.y_test)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return iter(self.as_tuple())
