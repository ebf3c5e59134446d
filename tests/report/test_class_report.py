"""`kerasgrade report`: the class at a glance, from classes graded for real.

A 01 class from the demo (one correct, two that never scale the pixels), one notebook cut off
mid-upload, and, after the run, one more submission whose folder name is markup: graded by
`kerasgrade grade`, reported by `kerasgrade report`, read as CSV and HTML and opened in
headless Chromium. A 02 class of two (the solution and the tutorial's missing softmax) shows
the measured accuracy against the threshold.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import Page, chromium
from nbfactory import write

from kerasgrade.course.assignments import CONNECTED_NETWORKS, PREPARING_DATA
from kerasgrade.course.demo import MISTAKES, answered, build_class

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.slow  # batches that train; `kerasgrade report` takes seconds

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "<img src=x onerror=alert(document.domain)>"  # a student id: a folder name
NOT_SCALED = "divide by 255 once: `train_images /= 255` (after converting to float32)."


@pytest.fixture(scope="module")
def chromium_context() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1200, "height": 900}) as context:
        yield context


def kerasgrade(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kerasgrade", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def graded_class(root: Path, assignment: str, mistakes: dict[str, str],
                 broken: tuple[str, ...] = ()) -> Path:
    """The demo's correct student01 and, per student in `mistakes`, the demo mistake named
    there, graded by `kerasgrade grade`; each of `broken` hands in a notebook cut off
    mid-upload."""
    build_class(REPO, root, assignment, 1)
    for student, kind in mistakes.items():
        write(answered(REPO, assignment, MISTAKES[assignment][kind]),
              root / "submitted" / student / assignment / f"{assignment}.ipynb")
    for student in broken:
        path = root / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text('{"cells": [')
    proc = kerasgrade("grade", assignment, "--root", root, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def report(root: Path, assignment: str) -> tuple[str, list[dict[str, str]], list[str]]:
    proc = kerasgrade("report", assignment, "--root", root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = root / "class-report"
    html = (out / f"{assignment}.html").read_text(encoding="utf-8")
    lines = (out / f"{assignment}.csv").read_text(encoding="utf-8").splitlines()
    with (out / f"{assignment}.csv").open(newline="") as f:
        return html, list(csv.DictReader(f)), lines


def rows_of(page: Page) -> list[list[str]]:
    """The mistakes table: students, check, what the grader said, who."""
    return [[" ".join(c.split()) for c in r] for r in page.rows
            if r and r[0].isdigit() and len(r) == 4]


@pytest.fixture(scope="module")
def class01(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict[str, str]],
                                                               list[str]]:
    root = graded_class(tmp_path_factory.mktemp("class01"), PREPARING_DATA,
                        {"dave": "not-scaled", "erin": "not-scaled"}, ("carol",))
    # Request in after the run: submitted, no result.
    late = root / "submitted" / HOSTILE / PREPARING_DATA
    late.mkdir(parents=True)
    shutil.copy(root / "submitted" / "student01-correct" / PREPARING_DATA /
                f"{PREPARING_DATA}.ipynb", late)
    return root, *report(root, PREPARING_DATA)


@pytest.fixture(scope="module")
def class02(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict[str, str]],
                                                               list[str]]:
    root = graded_class(tmp_path_factory.mktemp("class02"), CONNECTED_NETWORKS,
                        {"nick": "no-softmax"})
    return root, *report(root, CONNECTED_NETWORKS)


def test_csv_has_one_row_per_check(class01: tuple) -> None:
    _, _, rows, lines = class01
    assert lines[0] == "check,title,points,passed,failed,pass_rate"
    # carol's notebook could not be graded: she is not counted in the pass rates.
    assert [(r["check"], r["points"], r["passed"], r["failed"], r["pass_rate"]) for r in rows] == [
        ("image_shapes", "2", "3", "0", "1.000"),
        ("image_dtype", "2", "3", "0", "1.000"),
        ("pixel_range", "2", "1", "2", "0.333"),
        ("one_hot_labels", "3", "3", "0", "1.000"),
        ("input_shape", "1", "3", "0", "1.000"),
    ]
    assert rows[2]["title"] == "Pixels scaled to [0, 1]"


def test_page_names_the_mistakes_and_who_made_them(class01: tuple) -> None:
    _, html, _, _ = class01
    page = Page(html)
    assert rows_of(page) == [["2", "pixel_range Pixels scaled to [0, 1]", NOT_SCALED,
                         "dave, erin"]]
    assert "3 graded · 1 could not be graded · 1 submitted without a result" in page.text
    assert "median 8, mean 6.5, lowest 0, highest 10 of 10" in page.text
    assert "01-preparing-data trains no network: there is no accuracy to measure." in page.text
    assert not page.external
    assert [i["alt"] for i in page.images] == ["score distribution", "pass rate of every check"]
    assert all((i["src"] or "").startswith("data:image/png;base64,") for i in page.images)


def test_page_lists_what_was_not_graded_and_the_slowest(class01: tuple) -> None:
    _, html, _, _ = class01
    page = Page(html)
    carol = next(r for r in page.rows if r and r[0] == "carol")
    assert carol[1].startswith("the file is not valid notebook JSON")
    assert carol[2] == f"submitted/carol/{PREPARING_DATA}/{PREPARING_DATA}.ipynb"
    # The student id is shown as text, never as markup.
    assert HOSTILE in page.text and HOSTILE not in html
    slowest = [r for r in page.rows if r and r[0] in ("student01-correct", "dave", "erin")]
    assert len(slowest) == 3 and [r[5] for r in slowest].count("8") == 2
    seconds = [float(r[1]) for r in slowest]
    assert seconds == sorted(seconds, reverse=True) and seconds[-1] > 0


def test_accuracy_against_the_threshold(class02: tuple) -> None:
    _, html, rows, _ = class02
    passed = {r["check"]: (r["passed"], r["failed"]) for r in rows}
    assert passed["test_accuracy"] == ("1", "1")  # no softmax trains to chance
    assert passed["activations"] == ("1", "1")
    assert passed["architecture"] == passed["epochs"] == ("2", "0")
    page = Page(html)
    assert [i["alt"] for i in page.images] == [
        "score distribution", "pass rate of every check", "test accuracy against the threshold"]
    assert ("mnist-sample-5k: 1 of 2 below the threshold 0.85 (the reference solution reaches "
            "0.905") in page.text
    # What the grader said to nick: the missing softmax, and why the accuracy is low (the
    # no-softmax diagnosis, not the notebook's own failed step check).
    said = {check: text for _, check, text, who in rows_of(page) if who == "nick"}
    assert list(said) == ["activations relu hidden layer, softmax output",
                          "test_accuracy Test accuracy measured by the grader"], said
    assert "add activation='softmax' to the last Dense layer" in said[list(said)[0]]
    assert ("the output layer has activation 'linear' but loss='categorical_crossentropy' "
            "expects probabilities") in said[list(said)[1]]


@pytest.mark.browser
@pytest.mark.parametrize("which", ["class01", "class02"])
def test_page_in_chromium(request: pytest.FixtureRequest, which: str) -> None:
    root, *_ = request.getfixturevalue(which)
    aid = PREPARING_DATA if which == "class01" else CONNECTED_NETWORKS
    context: BrowserContext = request.getfixturevalue("chromium_context")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.on("dialog", lambda d: (errors.append(f"dialog {d.message}"), d.dismiss()))
    page.goto((root / "class-report" / f"{aid}.html").as_uri(), wait_until="load")
    page.wait_for_timeout(500)
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == (2 if which == "class01" else 3)
    assert all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert errors == []
    page.close()


@pytest.mark.parametrize("args, message", [
    (("09-no-such-assignment",), "kerasgrade report: unknown assignment '09-no-such-assignment'; "
                                 "known: 01-preparing-data, 02-connected-networks, "
                                 "03-fashion-classifier"),
    ((CONNECTED_NETWORKS,), f"kerasgrade report: no graded batch of {CONNECTED_NETWORKS} in "),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, args: tuple[str, ...],
                                           message: str) -> None:
    (tmp_path / "submitted").mkdir()
    proc = kerasgrade("report", *args, "--root", tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "class-report").exists()
