"""The feedback page, from real grades of real notebooks, read as HTML and in Chromium.

02 is graded for real (a correct notebook and the tutorial's softmax trap). 03 trains for
minutes, so its page is built from facts shaped like the clean process's, with the real
Fashion-MNIST test labels and images and the real checks run on them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from browser import Page, chromium
from nbfactory import FIT, variant, write

from kerasgrade import checks, data
from kerasgrade.course import assignments
from kerasgrade.course.assignments import CONNECTED_NETWORKS, FASHION_CLASSIFIER
from kerasgrade.grade import failed_result, grade_notebook
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.report.feedback import write_page
from kerasgrade.results import SubmissionResult

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

ROOT = Path(__file__).resolve().parents[2]
SOFTMAX_TRAP = {"Dense(10, activation='softmax')": "Dense(10)"}
CONNECTED = assignments.get(CONNECTED_NETWORKS)
FASHION = assignments.get(FASHION_CLASSIFIER)


# Above the slots batch workers claim (1-64), so tests running in parallel never share a uid.
TEST_SLOT = 700


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SubmissionResult]:
    """Both 02 notebooks, graded side by side (one sandbox slot and one thread each)."""
    base = tmp_path_factory.mktemp("graded")
    notebooks = {"correct": variant(), "softmax_trap": variant(SOFTMAX_TRAP)}
    with ThreadPoolExecutor(len(notebooks)) as pool:
        futures = {
            name: pool.submit(
                grade_notebook, write(nb, base / name / f"{CONNECTED_NETWORKS}.ipynb"),
                student=name, options=ExecOptions(slot=TEST_SLOT + i, threads=1))
            for i, (name, nb) in enumerate(notebooks.items())
        }
    return {name: f.result() for name, f in futures.items()}


@pytest.fixture(scope="module")
def fashion() -> SubmissionResult:
    return fashion_result()


@pytest.fixture(scope="module")
def pages(graded: dict[str, SubmissionResult], fashion: SubmissionResult,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pages")
    pages = {name: write_page(r, CONNECTED, out / f"{name}.html") for name, r in graded.items()}
    return dict(pages, fashion=write_page(fashion, FASHION, out / "fashion.html"))


def read(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def fashion_result() -> SubmissionResult:
    """A correct 03 submission as the grader reports it, on the real test set.

    The network's answers are the true labels with the mistakes the tutorial's network makes
    most (shirts, pullovers and coats mixed up, about 89% right), so the confusion matrix,
    the misclassified grid and the probabilities of the first three images are real ones.
    """
    spec = FASHION
    test = data.load("fashion-mnist")
    predicted = test.y_test.copy()
    for true, guess, count in ((6, 0, 450), (4, 2, 250), (2, 4, 200), (0, 6, 150), (3, 4, 60)):
        predicted[np.flatnonzero(test.y_test == true)[:count]] = guess
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (test.y_test, predicted), 1)
    wrong = np.flatnonzero(predicted != test.y_test)[:24]
    first = [[0, 0, 0, 0, 0, 0.01, 0, 0.03, 0, 0.96], [0, 0, 0.98, 0, 0.02, 0, 0, 0, 0, 0],
             [0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0]]
    epochs = np.arange(1, spec.epochs + 1)
    layers = [{"name": f"layer_{i}", "type": s.type, "output_shape": list(s.output_shape),
               "params": s.params, "activation": s.activation,
               "units": s.output_shape[-1] if s.type == "Dense" else None}
              for i, s in enumerate(spec.layers)]
    facts = {
        "assignment": FASHION_CLASSIFIER,
        "data_source": test.source,
        "data_sizes": {"train": len(test.x_train), "test": len(test.x_test)},
        "export": {"model_variable": "model", "history": {
            "loss": (0.72 * np.exp(-epochs / 6) + 0.22).tolist(),
            "accuracy": (0.93 - 0.17 * np.exp(-epochs / 6)).tolist(),
            "val_loss": (0.55 * np.exp(-epochs / 5) + 0.31).tolist(),
            "val_accuracy": (0.889 - 0.1 * np.exp(-epochs / 5)).tolist(),
        }},
        "arrays": {"y_proba": {"shape": [3, 10], "dtype": "float32", "rows_sum_to_one": True,
                               "row_sums_first": [1.0, 1.0, 1.0]}},
        "model": {"loaded": True, "layers": layers, "params": spec.total_params,
                  "input_shape": [None, 28, 28], "compiled": True, "optimizer": "sgd",
                  "loss": "sparse_categorical_crossentropy", "from_logits": False,
                  "metrics": ["accuracy"]},
        "evaluation": {
            "error": None, "test_accuracy": float(np.mean(predicted == test.y_test)),
            "validation_accuracy": 0.889, "confusion": confusion.tolist(),
            "misclassified": wrong.tolist(), "misclassified_predicted": predicted[wrong].tolist(),
            "first_probabilities": first, "first_predicted": [9, 2, 1],
            "first_row_sums": [1.0, 1.0, 1.0], "all_rows_sum_to_one": True,
        },
    }
    return SubmissionResult(FASHION_CLASSIFIER, "carol", "03-fashion-classifier.ipynb", "graded",
                            checks=checks.run_checks(FASHION, facts),
                            data_source=test.source, facts=facts)


@pytest.mark.slow
def test_correct_02_page(graded: dict[str, SubmissionResult], pages: dict[str, Path]) -> None:
    page = read(pages["correct"])
    assert graded["correct"].score == 14
    assert "14 / 14 points" in page.text
    assert "What to change" not in page.text
    assert page.check_states == ["passed"] * len(graded["correct"].checks)
    assert page.rows == [
        ["Expected", "Found", ""],
        ["Flatten (None, 784) 0", "Flatten (None, 784) 0", "ok"],
        ["Dense (None, 16) 12,560, relu", "Dense (None, 16) 12,560, relu", "ok"],
        ["Dense (None, 10) 170, softmax", "Dense (None, 10) 170, softmax", "ok"],
    ]
    # Training curves, confusion matrix and misclassified digits.
    assert len(page.images) == 3
    assert all(img["src"].startswith("data:image/png;base64,") for img in page.images)
    assert page.external == []


@pytest.mark.slow
def test_softmax_trap_page(graded: dict[str, SubmissionResult], pages: dict[str, Path]) -> None:
    page = read(pages["softmax_trap"])
    assert "9 / 14 points" in page.text
    assert page.check_states == ["passed", "passed", "failed", "passed", "failed", "passed",
                                 "passed"]
    assert "What to change: the output layer's activation is 'linear': add " \
           "activation='softmax' to the last Dense layer" in page.text
    assert "loss='categorical_crossentropy' expects probabilities" in page.text
    assert page.rows[-1] == ["Dense (None, 10) 170, softmax", "Dense (None, 10) 170, linear",
                             "activation differs"]
    assert len(page.images) == 3
    assert "→ your network's answer" in page.text


@pytest.mark.slow
def test_fashion_page_names_the_classes(pages: dict[str, Path]) -> None:
    page = read(pages["fashion"])
    assert "12 / 12 points" in page.text
    assert "carol" in page.text
    assert "predicted as Ankle boot (class 9, 96%)" in page.text
    assert "The most frequent mistake: Shirt taken for T-shirt/top (450 times)" in page.text
    # Curves, confusion matrix, misclassified clothes, probability bars.
    assert len(page.images) == 4
    assert "not probabilities" not in page.text


@pytest.mark.slow
def test_fashion_raw_scores_are_called_out(graded: dict[str, SubmissionResult],
                                           fashion: SubmissionResult, tmp_path: Path) -> None:
    """Bars of outputs that are not probabilities say so (the softmax trap's real outputs)."""
    facts = copy.deepcopy(fashion.facts)
    trap = graded["softmax_trap"].facts["evaluation"]
    facts["evaluation"]["first_probabilities"] = trap["first_probabilities"]
    raw = dataclasses.replace(fashion, facts=facts)
    page = read(write_page(raw, FASHION, tmp_path / "raw.html"))
    assert len(page.images) == 4
    assert "These outputs are not probabilities (each row sums to " in page.text
    assert "needs activation='softmax'" in page.text


@pytest.mark.slow
def test_missing_facts_give_sentences_not_plots(graded: dict[str, SubmissionResult],
                                                tmp_path: Path) -> None:
    facts = copy.deepcopy(graded["correct"].facts)
    facts["export"]["history"] = None
    facts["evaluation"] = {"error": "ValueError: the model outputs shape (16,), expected (10,)"}
    facts["execution"]["errors"] = [{"cell": 5, "ename": "ValueError", "source": FIT,
                                     "evalue": "Arguments `target` and `output` must have the "
                                               "same rank (ndim). Received: target.shape=(None,)"}]
    untrained = dataclasses.replace(graded["correct"], facts=facts)
    page = read(write_page(untrained, CONNECTED, tmp_path / "untrained.html"))
    assert page.images == []
    assert "No examples: the grader could not run your model" in page.text
    assert "No training history was recorded" in page.text
    assert "No confusion matrix: the grader could not run your model" in page.text
    assert "the model outputs shape (16,), expected (10,)" in page.text
    assert len(page.rows) == 4  # the layer table needs no evaluation
    assert "Cells that raised an error" in page.text
    assert "ValueError: Arguments `target` and `output` must have the same rank" in page.text
    assert FIT in page.text


@pytest.mark.slow
def test_images_only_from_the_data_source_graded_on(graded: dict[str, SubmissionResult],
                                                    tmp_path: Path) -> None:
    """Test indices into one data source would show the wrong digits from another."""
    here = graded["correct"].facts["data_source"]
    elsewhere = "mnist" if here == data.SAMPLE_SOURCE else data.SAMPLE_SOURCE
    facts = dict(graded["correct"].facts, data_source=elsewhere)
    result = dataclasses.replace(graded["correct"], facts=facts, data_source=elsewhere)
    page = read(write_page(result, CONNECTED, tmp_path / "elsewhere.html"))
    assert len(page.images) == 2  # curves and confusion matrix: no images needed
    assert f"graded on '{elsewhere}', but this machine has '{here}'" in page.text


def test_error_result_escapes_student_text(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script>"
    result = failed_result(CONNECTED, hostile, "nb.ipynb", f"cell 3 printed {hostile}")
    source = write_page(result, CONNECTED, tmp_path / "error.html").read_text(encoding="utf-8")
    page = Page(source)
    assert "<script" not in source
    assert f"The notebook could not be graded: cell 3 printed {hostile}" in page.text
    assert "0 / 14 points" in page.text
    assert page.images == []
    assert "No layers to show" in page.text


@pytest.mark.slow
def test_page_is_fast(graded: dict[str, SubmissionResult], pages: dict[str, Path],
                      tmp_path: Path) -> None:
    # CPU time, so a busy machine does not fail it; the data are cached by the first pages.
    started = time.process_time()
    write_page(graded["softmax_trap"], CONNECTED, tmp_path / "again.html")
    assert time.process_time() - started < 2.0


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1000, "height": 900}) as context:
        yield context


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("name", ["softmax_trap", "fashion"])
def test_page_in_chromium(browser: BrowserContext, pages: dict[str, Path], name: str,
                          tmp_path: Path) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(pages[name].as_uri(), wait_until="load")
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert sizes and all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert "points" in page.inner_text("header")
    shot = page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
    page.close()
    assert errors == []
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if name == "softmax_trap" and os.environ.get("KERASGRADE_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "feedback-example.png").write_bytes(shot)



def test_04_page_shows_the_autograded_score_and_the_written_answers_apart(
        tmp_path: Path) -> None:
    """The score is the autograded 12; the 5 points of written answers are named as the
    teacher's (a recorded real run: the best model without softmax)."""
    import json

    aid = assignments.IMPROVING_NETWORK
    spec = assignments.get(aid)
    recorded = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "facts" / aid /
                           "best-no-softmax.json").read_text())
    result = SubmissionResult(aid, "ann", f"{aid}.ipynb", "graded", "",
                              checks.run_checks(spec, recorded["facts"]),
                              data_source=recorded["data_source"], facts=recorded["facts"])
    html = write_page(result, spec, tmp_path / "feedback.html").read_text()
    assert (result.score, result.max_score) == (9, 12)
    assert ("The score above is the autograded part, 12 points. Your written answers, 5 "
            "points more, are graded by your teacher: Question 1: did the second layer help? "
            "(2)") in html
    assert "The output layer of `model_best` is Dense(10) with activation" in html
