"""What the lessons and the README quote is what the course measures: each reference figure of
the spec (the hidden checks' messages) with its data source, the batches fit counts, the dtypes
the recap lists, and the test set measured at the end of 03."""

from __future__ import annotations

import re

import numpy as np
import pytest
from coursefiles import IDS, ROOT, read

from kerasgrade.checks.rules import bar_text
from kerasgrade.course import assignments
from kerasgrade.course.assignments import (
    CONNECTED_NETWORKS,
    FASHION_CLASSIFIER,
    PREPARING_DATA,
)

GRADED = [aid for aid in IDS if assignments.get(aid).thresholds]


def lesson(aid: str) -> str:
    return "\n".join(c.source for c in read("source", aid).cells if c.cell_type == "markdown")


def outputs(aid: str, cell_id: str) -> str:
    [cell] = [c for c in read("solutions", aid).cells if c.get("id") == cell_id]
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def readme_rows(aid: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [line for line in text.splitlines() if line.startswith(f"| {aid[:2]} ")]


@pytest.mark.parametrize("aid", GRADED)
def test_each_reference_figure_is_quoted_with_its_data_source(aid: str) -> None:
    spec = assignments.get(aid)
    for source, bar in spec.thresholds.items():
        rows = [r for r in readme_rows(aid) if f"| `{source}`" in r]
        assert len(rows) == 1, (source, readme_rows(aid))
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        assert cells[2] == bar_text(bar.minimum), rows[0]
        assert cells[3].startswith(f"{bar.reference:g} "), (rows[0], bar.reference)
        # The lesson names the bar or the reference of every source it can be graded on.
        assert f"{bar.reference:g}" in lesson(aid) or bar_text(bar.minimum) in lesson(aid)


def test_02_lesson_quotes_the_references_of_both_sources() -> None:
    spec = assignments.get(CONNECTED_NETWORKS)
    text = lesson(CONNECTED_NETWORKS)
    for source, bar in spec.thresholds.items():
        assert f"{bar.reference:g}" in text, source
    # No other figure for the same run: the tutorial's rounded one only as the tutorial's.
    assert not re.search(r"\b90\.0 ?%|\b0\.900\b", text)


def test_the_batches_the_lesson_explains_are_the_ones_fit_prints() -> None:
    fit = outputs(CONNECTED_NETWORKS, "todo_fit")  # executed on full MNIST
    assert fit.count("1875/1875") == 10, fit[:300]
    assert "60,000 / 32 = 1,875" in lesson(CONNECTED_NETWORKS)


@pytest.mark.slow  # imports Keras
def test_the_01_recap_lists_the_dtypes_the_arrays_have() -> None:
    keras = pytest.importorskip("keras")
    labels = keras.utils.to_categorical(np.array([3, 1]), 10)
    recap = next(c.source for c in read("source", PREPARING_DATA).cells
                 if c.cell_type == "markdown" and c.source.startswith("## Recap"))
    [labels_row] = [r for r in recap.splitlines() if r.startswith("| `train_labels`")]
    assert f"`{labels.dtype}`" in labels_row
    [images_row] = [r for r in recap.splitlines() if r.startswith("| `train_images`")]
    assert "`float32`" in images_row and "✔ dtype: images are float32" in outputs(
        PREPARING_DATA, "check_dtype")


def test_03_measures_the_test_set_once_at_the_end() -> None:
    nb = read("solutions", FASHION_CLASSIFIER)
    uses = [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and "evaluate(X_test" in c.source]
    fits = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and ".fit(" in c.source]
    assert len(uses) == 1 and uses[0] > max(fits)
    printed = outputs(FASHION_CLASSIFIER, "test_set")
    assert re.fullmatch(r"test accuracy: 0\.\d{3} \(last validation accuracy: 0\.\d{3}\)\n",
                        printed), printed
