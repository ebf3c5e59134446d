"""01's prepared arrays on full MNIST: the grader gets what its checks need, not 215 MiB."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from kerasgrade.export import SAMPLE_ROWS, export_namespace
from kerasgrade.inspect_model import array_facts

MIB = 1024 * 1024


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
                                     "min": 0.0, "max": 1.0}
    assert facts["train_labels"]["one_hot"] and not facts["train_labels"]["agrees_with_labels"]
