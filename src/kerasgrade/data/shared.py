"""The course's data sets decoded once per machine and mapped, not copied, into every kernel.

The grader (outside any sandbox) calls ``share(names)`` or ``prepare(name)``: each data set is
loaded once with the verified search of search.py (never downloading) and written as four .npy
files and a ``dataset.json`` into ``shared_root()/<name>-<key>/``. ``key`` hashes the path, size
and mtime of every file the search could read, so a changed or new copy gives a new folder, and
a folder that exists is reused without decoding anything.

``KERASGRADE_SHARED_DATA`` lists such folders, separated by ``os.pathsep`` (``share`` returns
that value). While it is set, ``load_mnist()``, ``load_fashion_mnist()``, ``load()`` and the
patched ``keras.datasets.*.load_data()`` serve a listed folder of the data set asked for, when
it was prepared from the same data folder as the call would search (``data_dir``, else
``$KERASGRADE_DATA_DIR``; both unset counts as the same). Each call maps the files anew,
copy-on-write: the caller may write to its arrays, which changes neither the files nor what
another caller sees, and pages nobody wrote stay in the page cache once for all processes.

A listed folder that is damaged is skipped with a ``CorruptDataWarning``, and the normal search
goes on. The root must be owned by the grader's user and writable by nobody else, so another
local user cannot plant data for students; ``prepare`` refuses any other root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kerasgrade import environment
from kerasgrade.data.dataset import (
    DATASETS,
    FASHION_MNIST,
    MNIST,
    MNIST_SIZES,
    SAMPLE_SOURCE,
    CorruptDataWarning,
    Dataset,
    DataUnavailable,
)
from kerasgrade.data.formats import NPZ_KEYS, BadCopy, checked_arrays
from kerasgrade.data.sample import SAMPLE_SIZES, sample_path
from kerasgrade.data.search import (
    Found,
    Trail,
    data_folder,
    env_flag,
    place_files,
    places,
    roots,
    sample_found,
    search,
)

SHARED_DATA_ENV = environment.SHARED_DATA
ROOT_ENV = environment.SHARED_DATA_ROOT
FORMAT = 1  # bump when the folder layout changes, so old folders are not read
META = "dataset.json"
# (train, test) images of each source; a folder claiming a source must have these.
_SIZES = {MNIST: MNIST_SIZES, FASHION_MNIST: MNIST_SIZES, SAMPLE_SOURCE: SAMPLE_SIZES}


def shared_root() -> Path:
    """``$KERASGRADE_SHARED_DATA_ROOT``, else a per-user folder in the temp dir; created 0755."""
    configured = os.environ.get(ROOT_ENV)
    if configured:
        root = Path(configured).expanduser()
    else:
        root = Path(tempfile.gettempdir()) / f"kerasgrade-shared-data-{os.geteuid()}"
    try:
        root.mkdir(mode=0o755)
    except FileExistsError:
        pass
    else:
        root.chmod(0o755)  # the umask may have taken the sandboxed uids' read access
    return root


def root_refusal(root: Path) -> str | None:
    """Why ``root`` must not hold shared data, or None: another user could write there."""
    try:
        st = os.lstat(root)
    except OSError as e:
        return f"{root}: {e.strerror}"
    if not stat.S_ISDIR(st.st_mode):  # lstat: a symlink is refused, whoever owns its target
        return f"{root}: not a directory"
    if st.st_uid != os.geteuid():
        return f"{root}: owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
    if st.st_mode & 0o022:
        return f"{root}: writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def prepare(name: str, data_dir: Path | None = None) -> Path | None:
    """The shared folder of data set ``name`` as found from ``data_dir``, written if missing.

    For the grader, outside any sandbox. None if the data set is not available here without a
    download, or if the root is refused (see ``root_refusal``): callers then load normally.
    """
    name = name.replace("_", "-")
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    try:
        root = shared_root()
    except OSError:
        return None
    if root_refusal(root) is not None:
        return None
    data_key = _data_key(data_dir)
    final = root / f"{name}-{_key(name, data_dir, data_key)}"
    if final.is_dir():
        try:
            open_shared(final)
        except ValueError:
            _discard(final)  # damaged: written again below
        else:
            return final
    found = _find(name, data_dir)
    if found is None:
        return None
    try:
        return _write(root, final, name, found, data_key)
    except OSError:
        return None  # a full disk, say: callers load normally


def share(names: Iterable[str] = DATASETS, data_dir: Path | None = None) -> str | None:
    """A value for ``$KERASGRADE_SHARED_DATA`` serving ``names``, or None if none is available."""
    folders = [folder for name in names if (folder := prepare(name, data_dir)) is not None]
    return os.pathsep.join(str(f) for f in folders) or None


def open_shared(folder: Path) -> Dataset:
    """The data set in a prepared ``folder``, mapped copy-on-write anew on every call.

    The arrays are plain ndarrays viewing a private mapping of the files. Raises ValueError,
    naming the folder and the reason, if the folder is not a valid prepared data set.
    """
    meta = _read_meta(folder)
    arrays = []
    try:
        name, source, origin, shapes = _meta_fields(meta, folder)
        for key in NPZ_KEYS:
            path = folder / f"{key}.npy"
            try:
                mapped = np.load(path, mmap_mode="c", allow_pickle=False)
            except (OSError, ValueError, EOFError) as e:
                raise BadCopy(f"{path}: not a readable .npy file ({e})") from None
            if not isinstance(mapped, np.memmap) or not mapped.flags.c_contiguous:
                raise BadCopy(f"{path}: not a C-ordered array file")
            if mapped.shape != shapes[key]:
                raise BadCopy(f"{path}: shape {mapped.shape}, but {META} says {shapes[key]}")
            # asarray: an ndarray, as Keras returns, that views the same mapping.
            arrays.append(np.asarray(mapped))
        x_train, y_train, x_test, y_test = checked_arrays(tuple(arrays), folder)
        if (len(x_train), len(x_test)) != _SIZES[source]:
            raise BadCopy(f"{folder}: {len(x_train)} + {len(x_test)} images are not {source}")
    except BadCopy as e:
        raise ValueError(str(e)) from None
    return Dataset(name, source, origin, x_train, y_train, x_test, y_test)


def shared_dataset(name: str, data_dir: str | Path | None) -> Dataset | None:
    """The first folder listed in ``$KERASGRADE_SHARED_DATA`` for ``name`` and the data folder
    of ``data_dir``, opened; None if there is none. A damaged one is skipped with a warning."""
    listed = os.environ.get(SHARED_DATA_ENV)
    if not listed:
        return None
    data_key = _data_key(data_dir)
    for entry in listed.split(os.pathsep):
        folder = Path(entry)
        if not entry or not (folder / META).exists():
            continue
        try:
            meta = _read_meta(folder)
            if not isinstance(meta, dict) or meta.get("name") != name:
                continue
            if meta.get("data_dir") != data_key:
                continue  # prepared from another data folder: its search may find other files
            return open_shared(folder)
        except ValueError as e:
            # stacklevel as in search.py's search: the loader, not the student's line.
            warnings.warn(f"skipped {e}", CorruptDataWarning, stacklevel=2)
    return None


def _data_key(data_dir: str | Path | None) -> str | None:
    """The data folder a shared folder was prepared from, as its dataset.json records it."""
    folder = data_folder(data_dir)
    return None if folder is None else str(folder.resolve())


def _read_meta(folder: Path) -> object:
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{folder}: no readable {META} ({e})") from None


def _meta_fields(
    meta: object, folder: Path
) -> tuple[str, str, str, dict[str, tuple[int, ...]]]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BadCopy(f"{folder}: {META} is not of format {FORMAT}")
    name, source, origin = meta.get("name"), meta.get("source"), meta.get("origin")
    sources = {MNIST: (MNIST, SAMPLE_SOURCE), FASHION_MNIST: (FASHION_MNIST,)}
    if name not in sources or source not in sources[name] or not isinstance(origin, str):
        raise BadCopy(f"{folder}: {META} names no known data set and source")
    shapes = meta.get("shapes")
    if not isinstance(shapes, dict) or set(shapes) != set(NPZ_KEYS):
        raise BadCopy(f"{folder}: {META} has no shapes of {', '.join(NPZ_KEYS)}")
    if not all(isinstance(s, list) and all(isinstance(n, int) for n in s)
               for s in shapes.values()):
        raise BadCopy(f"{folder}: {META} has malformed shapes")
    return name, source, origin, {k: tuple(v) for k, v in shapes.items()}


def _key(name: str, data_dir: Path | None, data_key: str | None) -> str:
    """A short hash of every file the search for ``name`` could read: stat only, no reading."""
    files = place_files(name, [folder for folder, _, _ in roots(data_dir)])
    sample_allowed = name == MNIST and not env_flag(environment.NO_SAMPLE)
    if sample_allowed and (sample := sample_path()) is not None:
        files.append(sample)
    stamps = []
    for path in files:
        with contextlib.suppress(OSError):
            st = path.stat()
            stamps.append([str(path.resolve()), st.st_size, st.st_mtime_ns])
    text = json.dumps([FORMAT, name, data_key, sample_allowed, stamps])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _find(name: str, data_dir: Path | None) -> Found | None:
    """What the loaders' search gives here, without downloading: the grader must not wait on it."""
    trail = Trail()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = search(name, places(name, roots(data_dir)), trail)
        except DataUnavailable:
            return None
        if found is None and name == MNIST and not env_flag(environment.NO_SAMPLE):
            found = sample_found(trail)
    return found


def _write(root: Path, final: Path, name: str, found: Found, data_key: str | None) -> Path:
    # Written in a temp folder beside the final one, then renamed: readers never see half.
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        for key, array in zip(NPZ_KEYS, found.arrays, strict=True):
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(array), allow_pickle=False)
        meta = {
            "format": FORMAT, "name": name, "source": found.source, "origin": found.origin,
            "data_dir": data_key,
            "shapes": {k: list(a.shape) for k, a in zip(NPZ_KEYS, found.arrays, strict=True)},
        }
        (tmp / META).write_text(json.dumps(meta, indent=1) + "\n")
        for path in tmp.iterdir():
            path.chmod(0o644)  # sandboxed students run as other uids
        tmp.chmod(0o755)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another process won the race: its folder holds the same data.
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _discard(folder: Path) -> None:
    # Renamed first so no reader finds a half-deleted folder; kernels that mapped it keep it.
    aside = Path(tempfile.mkdtemp(prefix=".discarded-", dir=folder.parent))
    with contextlib.suppress(OSError):
        os.rename(folder, aside / folder.name)
    shutil.rmtree(aside, ignore_errors=True)
