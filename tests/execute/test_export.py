"""01's prepared arrays on full MNIST: the grader gets what its checks need, not 215 MiB."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kerasgrade.execute.kernel.export_cell import SAMPLE_ROWS, export_namespace
from kerasgrade.measure.process import array_facts

MIB = 1024 * 1024


@pytest.mark.slow  # export_namespace imports Keras
def test_large_images_leave_as_a_sample_with_their_shape_and_range(tmp_path: Path) -> None:
    labels = np.arange(60_000) % 10
    data = SimpleNamespace(y_train=labels, y_test=labels[:10_000])
    images = np.zeros((60_000, 28, 28, 1), dtype="float32")  # 188 MB, as full MNIST prepared
    images[-1, 0, 0, 0] = 1.0  # the brightest pixel in the last image only
    one_hot = np.eye(10, dtype="float32")[labels]
    one_hot[-1] = np.roll(one_hot[-1], 1)  # the last row's label is wrong
    export_namespace({"train_images": images, "train_labels": one_hot}, tmp_path,
                     arrays=("train_images", "train_labels"))
    assert (tmp_path / "arrays.npz").stat().st_size < 4 * MIB
    summaries = json.loads((tmp_path / "export.json").read_text())["arrays"]
    assert len(summaries["train_images"]["rows"]) == SAMPLE_ROWS
    assert "rows" not in summaries["train_labels"]  # labels go whole
    facts = array_facts(tmp_path, data, summaries)
    assert facts["train_images"] == {"shape": [60_000, 28, 28, 1], "dtype": "float32",
                                     "min": 0.0, "max": 1.0, "whole_numbers": True}
    assert facts["train_labels"]["one_hot"] and not facts["train_labels"]["agrees_with_labels"]


def test_an_arrays_file_the_student_broke_is_no_arrays_not_a_crash(tmp_path: Path) -> None:
    """The student's kernel writes arrays.npz: whatever it leaves there is the notebook's
    fault (the checks then say the arrays are missing), never a crash of the measurement,
    which would be reported as the grader's own failure on every run."""
    data = SimpleNamespace(y_train=np.arange(10), y_test=np.arange(10))
    path = tmp_path / "arrays.npz"
    elsewhere = tmp_path / "elsewhere.npz"
    np.savez(elsewhere, train_labels=np.eye(10, dtype="float32"))
    np.savez(tmp_path / "objects.npz", train_labels=np.array([{"a": 1}], dtype=object))
    broken = {
        "garbage": lambda: path.write_bytes(b"PK\x03\x04 not really a zip"),
        "pickled objects": lambda: (tmp_path / "objects.npz").rename(path),
        "a symlink": lambda: path.symlink_to(elsewhere),
        "a FIFO": lambda: os.mkfifo(path),
    }
    for what, make in broken.items():
        make()
        assert array_facts(tmp_path, data, None) == {}, what
        path.unlink()
    elsewhere.rename(path)  # the same arrays in a regular file are read
    assert array_facts(tmp_path, data, None)["train_labels"]["one_hot"]


@pytest.mark.slow  # export_namespace imports Keras
def test_a_results_table_leaves_as_bounded_plain_data(tmp_path: Path) -> None:
    """04's table: a dict of rows of numbers goes as JSON; what is not plain data (objects,
    subclasses that could lie, containers too large or too deep) goes as None, uncalled."""

    class Lying(dict):
        def items(self):  # never called: only exact dicts pass
            raise AssertionError("called")

    row = {"params": 12_730, "epochs": 10, "test_acc": np.float32(0.5), "test_loss": 0.25,
           "seconds": 3.5}
    deep: list = []
    for _ in range(10):
        deep = [deep]
    namespace = {
        "results": {"baseline": row, "odd": {"seconds": object()}},
        "lying": Lying(a=1),
        "big": {str(i): i for i in range(65)},
        "deep": deep,
        "int_keys": {1: 2},
    }
    report = export_namespace(namespace, tmp_path / "out",
                              variables=("results", "lying", "big", "deep", "int_keys"))
    variables = report["variables"]
    assert variables["results"] == {"baseline": row | {"test_acc": 0.5},
                                    "odd": {"seconds": None}}
    assert variables["lying"] is variables["big"] is variables["deep"] is None
    assert variables["int_keys"] is None
    stored = json.loads((tmp_path / "out" / "export.json").read_text())
    assert stored["variables"] == variables


@pytest.mark.slow  # trains a Keras model
def test_each_model_variable_leaves_with_its_training_and_identity(tmp_path: Path) -> None:
    """04's variables: each model saved as <name>.keras with its last fit's epochs and all its
    training steps; two names of one model share an id; a non-model is only named."""
    import keras

    from kerasgrade.artifacts import MODELS_DIR

    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    x, y = np.zeros((64, 4), "float32"), np.zeros((64, 2), "float32")
    for _ in range(2):  # a training cell run twice
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    namespace = {"model_a": model, "model_b": model, "model_c": 3}
    report = export_namespace(namespace, tmp_path, models=("model_a", "model_b", "model_c",
                                                           "model_missing"))
    a, b = report["models"]["model_a"], report["models"]["model_b"]
    assert (a["history_epochs"], a["steps_per_epoch"], a["iterations"]) == (1, 2, 4)
    assert a["id"] == b["id"] and a["error"] is None
    assert report["models"]["model_c"] == {"type": "int"}
    assert "model_missing" not in report["models"]
    assert sorted(p.name for p in (tmp_path / MODELS_DIR).iterdir()) == [
        "model_a.keras", "model_b.keras"]
    assert export_namespace({}, tmp_path / "plain").keys() == {  # 01-03: no models key
        "model_variable", "model_error", "variables", "array_summaries", "arrays",
        "saved_files"}


@pytest.mark.slow  # export_namespace imports Keras
def test_a_loss_of_nan_leaves_as_none_and_is_named(tmp_path: Path) -> None:
    """A diverged training's evaluate() gives nan: not JSON, so None, and named as non-finite so
    that the check can tell it from a value that is missing or not a number."""
    namespace = {"test_loss": np.float32("nan"), "test_acc": 0.098, "epochs": float("inf"),
                 "name": None}
    report = export_namespace(namespace, tmp_path, variables=("test_loss", "test_acc", "epochs",
                                                              "name", "absent"))
    assert report["variables"] == {"test_loss": None, "test_acc": 0.098, "epochs": None,
                                   "name": None}
    assert report["non_finite"] == ["test_loss", "epochs"]
    finite = export_namespace({"test_loss": 0.25}, tmp_path / "finite", variables=("test_loss",))
    assert "non_finite" not in finite
