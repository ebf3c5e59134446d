"""The data tests run offline: an empty Keras cache, no data folder, no downloads, the
sample allowed, and a shared-data root of each test's own with nothing shared yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerasgrade.data import shared


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("KERASGRADE_OFFLINE", "1")
    monkeypatch.setenv(shared.ROOT_ENV, str(tmp_path / "shared-root"))
    for key in ("KERASGRADE_DATA_DIR", "KERASGRADE_NO_SAMPLE", shared.SHARED_DATA_ENV):
        monkeypatch.delenv(key, raising=False)
    return keras_home
