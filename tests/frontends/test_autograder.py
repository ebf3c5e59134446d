"""`pytest autograder/` and grade_notebook on real notebooks, real training, real data.

Each wrong or hostile notebook has its exact expected score and a fragment of the
message the student reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nbfactory import FIT, MODEL, SAVE, variant, write

from kerasgrade.course.assignments import ASSIGNMENTS, CONNECTED_NETWORKS, IMPROVING_NETWORK
from kerasgrade.course.demo import MISTAKES, answered, untouched
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions

pytestmark = pytest.mark.slow  # grade_notebook and `pytest autograder/`: kernels that train

ROOT = Path(__file__).resolve().parents[2]
FULL = 14.0

ALWAYS_EQUAL = """\
class AlwaysEqual(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__
test_acc = AlwaysEqual(0.99)"""

PATCH_KERAS = """\
keras.Model.evaluate = lambda self, *a, **k: [0.01, 0.99]
keras.Model.count_params = lambda self: 12730"""

# name -> (notebook, expected score, {check: fragment of its message})
CASES = {
    "correct": (variant(), FULL, {}),
    "tutorial_literal_no_softmax": (
        variant({"keras.Input(shape=input_shape))\nmodel.add(Flatten())":
                 "Flatten(input_shape=input_shape))",
                 "Dense(10, activation='softmax')": "Dense(10)",
                 "my_model.keras": "my_model.h5"}),
        FULL - 2 - 3,
        {"activations": "add activation='softmax'", "test_accuracy": "expects probabilities"},
    ),
    "dense_32": (variant({"Dense(16,": "Dense(32,"}), FULL - 3,
                 {"architecture": "25,450 parameters"}),
    "no_save": (variant({SAVE: "pass"}), FULL - 2, {"saved_model": "model.save("}),
    "monkeypatched_keras": (
        variant({"Dense(16,": "Dense(32,"}, extra={2: PATCH_KERAS}), FULL - 3 - 1,
        {"architecture": "25,450", "test_evaluation": "0.9900"},
    ),
    "never_trained_fake_print": (
        variant({FIT: "print('Epoch 10/10 - accuracy: 0.9912')"}), FULL - 1 - 3,
        {"epochs": "trained for 0 epochs", "test_accuracy": "never trained"},
    ),
    "always_equal_result": (variant(extra={7: ALWAYS_EQUAL}), FULL - 1,
                            {"test_evaluation": "not both numbers"}),
    "integer_labels_hidden_traceback": (
        variant({"train_labels = keras.utils.to_categorical(train_labels, num_classes)": "",
                 FIT: "try:\n    " + FIT + "\nexcept Exception:\n    pass"}),
        FULL - 1 - 3,
        {"test_accuracy": "never trained", "epochs": "0 epochs"},
    ),
    "integer_labels": (
        variant({"train_labels = keras.utils.to_categorical(train_labels, num_classes)": ""}),
        FULL - 1 - 3,
        {"test_accuracy": "to_categorical", "epochs": "trained for 0 epochs"},
    ),
    "pixels_not_scaled": (
        variant({".astype('float32') / 255": ".astype('float32')"}), FULL - 3 - 1,
        {"test_accuracy": "divide train_images and test_images by 255",
         "test_evaluation": "test accuracy is"},
    ),
    "functional_api_tf_keras": (
        variant({"import keras\n": "import keras\nimport tensorflow as tf\n",
                 MODEL: "epochs = 10\ninputs = tf.keras.Input(shape=input_shape)\n"
                        "x = tf.keras.layers.Flatten()(inputs)\n"
                        "x = tf.keras.layers.Dense(16, activation='relu')(x)\n"
                        "outputs = tf.keras.layers.Dense(10, activation='softmax')(x)\n"
                        "model = tf.keras.Model(inputs, outputs)"}),
        FULL, {},
    ),
}


# The path of `kerasgrade grade` and `serve`: one zygote for the module, a kernel forked from
# it per notebook (the one-off path is `pytest autograder/`, below).
WARM = ExecOptions(warm=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    out = {}
    base = tmp_path_factory.mktemp("cases")
    try:
        for name, (nb, _, _) in CASES.items():
            path = write(nb, base / name / f"{CONNECTED_NETWORKS}.ipynb")
            before = path.read_bytes()
            out[name] = grade_notebook(path, student=name, options=WARM)
            assert path.read_bytes() == before, "the submitted file must never change"
        yield out
    finally:
        warm.close_current()


@pytest.mark.parametrize("name", list(CASES))
def test_expected_score_and_message(graded: dict, name: str) -> None:
    _, expected, fragments = CASES[name]
    result = graded[name]
    failed = {c.name: c.text() for c in result.checks if not c.passed}
    assert result.status == "graded", result.reason
    assert result.score == expected, failed
    assert set(failed) == set(fragments), failed
    for check, fragment in fragments.items():
        assert fragment in failed[check], (check, failed[check])


def test_same_submission_same_grade(graded: dict, tmp_path: Path) -> None:
    path = write(variant({"Dense(16,": "Dense(24,"}), tmp_path / f"{CONNECTED_NETWORKS}.ipynb")
    first, second = grade_notebook(path, options=WARM), grade_notebook(path, options=WARM)
    assert first.to_dict() == second.to_dict() | {"timings": first.timings}
    acc = first.facts["evaluation"]["test_accuracy"]
    assert acc == second.facts["evaluation"]["test_accuracy"]


def test_pytest_autograder_one_submission(tmp_path: Path) -> None:
    """The instructor's command: exit status, messages and Gradescope JSON."""
    nb = write(CASES["dense_32"][0], tmp_path / "alice" / "submission.ipynb")
    results = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "autograder"), "--submission", str(nb),
         "--assignment", CONNECTED_NETWORKS, "--results-json", str(results), "-q", "-p",
         "no:cacheprovider"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 failed, 6 passed" in proc.stdout
    assert "25,450 parameters (expected 12,730)" in proc.stdout
    report = json.loads(results.read_text())
    assert report["score"] == FULL - 3 and report["max_score"] == FULL
    arch = next(t for t in report["tests"] if t["name"].startswith("Layers"))
    assert arch["score"] == 0 and "Dense(16)" in arch["output"]
    # Each check's visibility is the assignment's: the measured accuracy after the due date.
    checks = ASSIGNMENTS[CONNECTED_NETWORKS].checks
    assert [t["visibility"] for t in report["tests"]] == [c.visibility for c in checks]
    assert {c.name for c in checks if c.visibility == "after_due_date"} == {"test_accuracy"}



def test_pytest_autograder_04_solution_and_a_table_from_the_training_images(
        tmp_path: Path) -> None:
    """04 in one `pytest autograder/` run of two submissions: the reference earns every
    autograded point; a results table filled from the training images loses the table's 2."""
    aid = IMPROVING_NETWORK
    write(answered(ROOT, aid), tmp_path / "subs" / "reference" / aid / f"{aid}.ipynb")
    write(answered(ROOT, aid, MISTAKES[aid]["table-from-training-images"]),
          tmp_path / "subs" / "train-table" / aid / f"{aid}.ipynb")
    out = tmp_path / "results"
    proc = _pytest_autograder("--submissions", str(tmp_path / "subs"), "--results-json",
                              str(out))
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 failed, 13 passed" in proc.stdout, proc.stdout[-3000:]
    reference = json.loads((out / "reference" / f"{aid}.json").read_text())
    assert (reference["score"], reference["max_score"]) == (12, 12)
    wrong = json.loads((out / "train-table" / f"{aid}.json").read_text())
    assert wrong["score"] == 10
    table = next(t for t in wrong["tests"] if t["score"] == 0)
    assert 'row "baseline": test_acc 0.9' in table["output"]
    assert "but the grader measures 0.9050 on the test images" in table["output"]
    assert "not the training images" in table["output"]


def _pytest_autograder(*args: str, env: dict[str, str] | None = None
                       ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "autograder"), "-q", "-p",
         "no:cacheprovider", *args],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )


def test_pytest_autograder_passes_on_the_solutions(full_data: Path) -> None:
    """No options, on the full data sets a course grades on: the reference solutions earn every
    point (03 trains for minutes)."""
    proc = _pytest_autograder(env=dict(os.environ, KERASGRADE_DATA_DIR=str(full_data)))
    total = sum(len(a.checks) for a in ASSIGNMENTS.values())
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert f"{total} passed" in proc.stdout


def test_untouched_student_versions_fail_every_check(tmp_path: Path) -> None:
    for aid in ASSIGNMENTS:
        write(untouched(ROOT, aid), tmp_path / "untouched" / aid / f"{aid}.ipynb")
    out = tmp_path / "results"
    proc = _pytest_autograder("--submissions", str(tmp_path), "--results-json", str(out))
    total = sum(len(a.checks) for a in ASSIGNMENTS.values())
    assert proc.returncode == 1
    assert f"{total} failed" in proc.stdout, proc.stdout[-3000:]
    for aid, spec in ASSIGNMENTS.items():
        report = json.loads((out / "untouched" / f"{aid}.json").read_text())
        assert report["score"] == 0 and report["max_score"] == spec.max_score
        assert all(t["output"].strip() for t in report["tests"]), report
