"""Inside the student's kernel: keras.datasets.*.load_data() served from the course's data."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable

from kerasgrade.data.dataset import FASHION_MNIST, MNIST
from kerasgrade.data.load import load_fashion_mnist, load_mnist_with_stacklevel
from kerasgrade.data.search import KERAS_MODULE, ORIGINAL_LOADERS


def patch_keras_datasets() -> None:
    """Make ``keras.datasets.{mnist,fashion_mnist}.load_data()`` return this module's arrays.

    For the grader, inside a student's kernel, so that notebooks work offline. Replaces
    ``load_data`` in ``keras.src.datasets.*`` (where later imports such as
    ``from tensorflow.keras.datasets import mnist`` take it from) and in every already imported
    re-export (``keras.datasets.*``, tf.keras's ``keras._tf_keras.keras.datasets.*``,
    ``tensorflow.keras.datasets.*``). Imports keras, which with the TensorFlow backend imports
    TensorFlow. Calling it again changes nothing.
    """
    for name, short in KERAS_MODULE.items():
        source = importlib.import_module(f"keras.src.datasets.{short}")
        original = ORIGINAL_LOADERS.setdefault(name, source.load_data)
        replacement = _REPLACEMENT_LOADERS[name]
        with contextlib.suppress(ImportError):
            importlib.import_module(f"keras._tf_keras.keras.datasets.{short}")
        for module_name, module in list(sys.modules.items()):
            # Look in __dict__ rather than getattr so lazy modules are not loaded.
            namespace = getattr(module, "__dict__", {})
            if module_name.endswith(f"datasets.{short}") and namespace.get("load_data") is original:
                module.load_data = replacement


def _keras_mnist_load_data(path: str = "mnist.npz") -> tuple:
    """kerasgrade's offline stand-in for ``keras.datasets.mnist.load_data`` (``path`` is unused)."""
    return load_mnist_with_stacklevel(None, None, stacklevel=3).as_tuple()


def _keras_fashion_mnist_load_data() -> tuple:
    """kerasgrade's offline stand-in for ``keras.datasets.fashion_mnist.load_data``."""
    return load_fashion_mnist().as_tuple()


_REPLACEMENT_LOADERS: dict[str, Callable[..., tuple]] = {
    MNIST: _keras_mnist_load_data,
    FASHION_MNIST: _keras_fashion_mnist_load_data,
}
