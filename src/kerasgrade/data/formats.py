"""Reading a copy of a data set from its files, verified: idx files, Keras's mnist.npz, checksums.

A copy is either Keras's ``mnist.npz`` (keys x_train, y_train, x_test, y_test) or a folder of
the four ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` files. idx files are checked
against the sha256 of their *decompressed* content, which does not depend on how they were
gzipped: Debian recompressed Fashion-MNIST, so the MD5s Zalando publishes for the .gz files do
not match its copies, while the content does. Keras publishes no checksum for Fashion-MNIST.

Whatever is read must be Keras's kind of arrays (uint8 images ``(N, 28, 28)``, uint8 labels
0-9), else ``BadCopy``. Parsed arrays are cached, read-only; callers hand out copies.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zipfile
import zlib
from pathlib import Path

import numpy as np

from kerasgrade.data.dataset import FASHION_MNIST, MNIST, Arrays

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
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class BadCopy(Exception):
    """A copy that exists but cannot be used; the message names the file and the reason."""


def file_stamp(path: Path) -> tuple[int, int]:
    """What keys the caches below besides the path, so that a replaced file is read again."""
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=8)
def read_npz(path: str, stamp: tuple[int, int], sha256: str | None) -> Arrays:
    """The arrays of an mnist.npz; checked against ``sha256`` unless it is None."""
    if sha256 is not None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != sha256:
            raise BadCopy(
                f"{path}: sha256 {digest[:12]}... is not Keras's published {sha256[:12]}..., "
                "so it is damaged or not Keras's mnist.npz"
            )
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise BadCopy(f"{path}: a single .npy array, not an .npz archive")
        with data:
            arrays = tuple(data[key] for key in NPZ_KEYS)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise BadCopy(
            f"{path}: not a readable .npz with keys {', '.join(NPZ_KEYS)} ({e})"
        ) from None
    return validated(arrays, path)


@functools.lru_cache(maxsize=8)
def read_idx(
    folder: str, stamps: tuple[tuple[int, int], ...], sha256s: tuple[str, ...]
) -> Arrays:
    """The arrays of a folder of the four IDX_FILES, each checked against its sha256."""
    arrays = []
    for fname, expected in zip(IDX_FILES, sha256s, strict=True):
        path = Path(folder) / fname
        arrays.append(_parse_idx(checked(gunzip(path), expected, path), path))
    return validated(tuple(arrays), folder)


def checked(raw: bytes, sha256: str, where: str | Path) -> bytes:
    """``raw`` if its sha256 is the published one; raises BadCopy naming ``where`` if not."""
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise BadCopy(
            f"{where}: the sha256 of its content is not the published {sha256[:12]}..., "
            "so it is damaged or another data set"
        )
    return raw


def gunzip(path: Path) -> bytes:
    """The content of a gzip file; raises BadCopy if it is damaged or truncated."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise BadCopy(f"{path}: damaged or truncated gzip file ({e})") from None


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    # idx header: two zero bytes, type 0x08 (unsigned byte), number of dimensions, then each
    # dimension as a big-endian uint32.
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or len(raw) < 4 + 4 * raw[3]:
        raise BadCopy(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(dims):
        raise BadCopy(f"{path}: {data.size} bytes of data but the header says {dims}")
    return data.reshape(dims)


def validated(arrays: tuple[np.ndarray, ...], where: str | Path) -> Arrays:
    """``checked_arrays``, made read-only for the caches that hold them."""
    valid = checked_arrays(arrays, where)
    for a in valid:
        # Cached arrays are shared by all callers, who get copies.
        a.setflags(write=False)
    return valid


def checked_arrays(arrays: tuple[np.ndarray, ...], where: str | Path) -> Arrays:
    """``arrays`` if they are Keras's kind of images and labels; raises BadCopy if not."""
    x_train, y_train, x_test, y_test = arrays
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
            raise BadCopy(f"{where}: x_{split} is {x.dtype} {x.shape}, not uint8 (N, 28, 28)")
        if y.dtype != np.uint8 or y.shape != (len(x),) or y.max() > 9:
            raise BadCopy(
                f"{where}: y_{split} is {y.dtype} {y.shape}, not uint8 labels 0-9 of shape "
                f"({len(x)},)"
            )
    return x_train, y_train, x_test, y_test
