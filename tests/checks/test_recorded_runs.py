"""The real checks on the facts of real graded runs: the reference solution and each demo mistake
of every assignment (tests/fixtures/facts/, recorded by scripts/record_facts.py).

Each recorded run must give, in milliseconds and without TensorFlow, the scores and messages the
real run gave; each demo mistake fails exactly the checks it is known to fail; and each failing
check's message says what was expected, what was found and what to change.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from recorded import FIXTURES, SOLUTION, facts, record, recorded_cases, run

from kerasgrade.course import assignments
from kerasgrade.course.demo import EXPECTED_FAILURES, MISTAKES

AID02 = assignments.CONNECTED_NETWORKS

CASES = recorded_cases()

# (assignment, case) -> {failing check: fragments its message (with the hint) must contain}:
# what was expected, what was found, what to change.
FRAGMENTS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    ("01-preparing-data", "not-scaled"): {
        "pixel_range": ("Expected pixels in [0, 1]", "train_images spans 0..255",
                        "test_images spans 0..255", "divide by 255 once"),
    },
    ("02-connected-networks", "dense32"): {
        "architecture": ("25,450 parameters (expected 12,730)",
                         "Dense (None, 16) 12,560, relu  |  Dense (None, 32) 25,120, relu  "
                         "[WRONG]",
                         "a Dense layer has 32 units where 16 are expected (Dense(16))"),
    },
    ("02-connected-networks", "no-softmax"): {
        "activations": ("softmax (found linear)", "the output layer's activation is 'linear'",
                        "add activation='softmax' to the last Dense layer"),
        # The no-softmax diagnosis, not the student's own failed "fit" step check.
        "test_accuracy": ("0.152 on mnist-sample-5k", "(needed: 0.85;",
                          "reference solution reaches 0.905",
                          "loss='categorical_crossentropy' expects probabilities"),
    },
    ("02-connected-networks", "five-epochs"): {
        "epochs": ("epochs is 5, expected 10.", "set epochs = 10"),
    },
    ("02-connected-networks", "not-saved"): {
        "saved_model": ("No saved model file (.keras or .h5) was found.",
                        "model.save('my_model.keras')"),
    },
    ("04-improving-your-network", "one-epoch-trained-ten"): {
        "one_epoch": ("`model_one_epoch` was trained for 10 epoch(s); expected 1",
                      "write epochs=1 in the fit of `model_one_epoch`",
                      "keep epochs = 10 for the ten-epoch experiments"),
        "results_table": ('row "one_epoch" says 1 epoch(s); its model was trained for 10',
                          "record the epochs the model was really trained for"),
    },
    ("04-improving-your-network", "second-layer-linear"): {
        "two_layers": ("`model_two_layers`: Activations expected: relu (found relu), relu "
                       "(found linear), softmax (found softmax).",
                       "hidden Dense layers should use activation='relu'",
                       "compute only a linear function of the pixels"),
    },
    ("04-improving-your-network", "table-from-training-images"): {
        "results_table": ('row "baseline": test_acc 0.9515, but the grader measures 0.9050 on '
                          "the test images",
                          "record() must evaluate test_images, test_labels (not the training "
                          "images)"),
    },
    ("04-improving-your-network", "best-over-budget"): {
        "best_model": ("`model_best` has 407,050 parameters; the budget is 110,000.",
                       "use fewer neurons: one hidden Dense(128) has 101,770 parameters"),
    },
    ("04-improving-your-network", "best-no-softmax"): {
        "best_model": ("The output layer of `model_best` is Dense(10) with activation "
                       "'linear'; expected Dense(10, activation='softmax')",
                       "without softmax the network trains to chance"),
    },
    ("03-fashion-classifier", "no-softmax"): {
        "activations": ("relu (found relu), softmax (found linear)",
                        "add activation='softmax' to the last Dense layer"),
        "validation_accuracy": ("0.100 on fashion-mnist", "(needed: 0.85;",
                                "reference solution reaches 0.892"),
        "probabilities": ("do not sum to 1 per image", "first rows: [86.22905731201172, ",
                          "use activation='softmax' on the output layer"),
        "first_prediction": ("The first test image is an ankle boot (class 9)",
                             "your model predicts Dress (class 3, "),
    },
}


def expected_failures(assignment_id: str, case: str) -> set[str]:
    if case == SOLUTION:
        return set()
    return set(EXPECTED_FAILURES[assignment_id][case])


def test_every_solution_and_demo_mistake_is_recorded() -> None:
    wanted = {(aid, case) for aid in assignments.ASSIGNMENTS
              for case in (SOLUTION, *MISTAKES.get(aid, {}))}
    assert set(CASES) == wanted


def test_fixtures_are_small_and_say_what_data_they_were_measured_on() -> None:
    files = list(FIXTURES.glob("*/*.json"))
    assert sum(p.stat().st_size for p in files) < 2_000_000
    for aid, case in CASES:
        rec = record(aid, case)
        assert (rec["assignment"], rec["case"]) == (aid, case)
        assert rec["data_source"] == rec["facts"]["data_source"]
        assert rec["data_source"] in assignments.get(aid).thresholds or aid == (
            assignments.PREPARING_DATA), (aid, rec["data_source"])
        assert rec["change"] == MISTAKES.get(aid, {}).get(case, {})


@pytest.mark.parametrize("aid,case", CASES)
def test_checks_give_the_recorded_scores(aid: str, case: str) -> None:
    # The fixture's "messages" are what the student read when it was recorded, for reference:
    # a reworded message needs no new recording; FRAGMENTS pins what each must say.
    rec = record(aid, case)
    results = run(aid, rec["facts"])
    assert list(results) == [c.name for c in assignments.get(aid).checks]
    assert {n: r.points for n, r in results.items()} == rec["scores"]
    assert {n: r.passed for n, r in results.items()} == rec["passed"]
    assert round(sum(r.points for r in results.values()), 4) == rec["score"]
    assert rec["status"] == "graded"


@pytest.mark.parametrize("aid", sorted(assignments.ASSIGNMENTS))
def test_the_solution_passes_every_check(aid: str) -> None:
    results = run(aid, facts(aid))
    assert all(r.passed for r in results.values()), [
        r.text() for r in results.values() if not r.passed]
    assert sum(r.points for r in results.values()) == assignments.get(aid).max_score


@pytest.mark.parametrize("aid,case", [c for c in CASES if c[1] != SOLUTION])
def test_each_mistake_fails_exactly_its_checks(aid: str, case: str) -> None:
    rec = record(aid, case)
    results = run(aid, rec["facts"])
    failed = {n for n, r in results.items() if not r.passed}
    assert failed == expected_failures(aid, case), [
        results[n].text() for n in failed]
    spec = assignments.get(aid)
    lost = sum(c.points for c in spec.checks if c.name in failed)
    assert sum(r.points for r in results.values()) == spec.max_score - lost


@pytest.mark.parametrize("aid,case", [c for c in CASES if c[1] != SOLUTION])
def test_failing_messages_say_what_was_expected_found_and_to_change(aid: str, case: str) -> None:
    results = run(aid, facts(aid, case))
    failing = {n for n, r in results.items() if not r.passed}
    fragments = FRAGMENTS[(aid, case)]
    assert set(fragments) == failing  # every failing check's message is pinned
    for name, wanted in fragments.items():
        text = results[name].text()
        for fragment in wanted:
            assert fragment in text, (name, fragment, text)
        assert results[name].hint, name  # a failing check says what to change


@pytest.mark.parametrize("aid,case", CASES)
def test_messages_are_deterministic_and_facts_are_not_changed(aid: str, case: str) -> None:
    f = facts(aid, case)
    before = copy.deepcopy(f)
    first = run(aid, f)
    assert f == before  # checks are pure: they do not edit the facts they read
    assert run(aid, f) == first
    assert run(aid, copy.deepcopy(before)) == first


def test_the_fast_tier_never_imports_tensorflow() -> None:
    """The checks on recorded facts, in a fresh interpreter (this one may hold TensorFlow from
    other tests): no TensorFlow, Keras or kernel machinery is imported."""
    code = (
        "import json, sys\n"
        "from kerasgrade import checks\n"
        "from kerasgrade.course import assignments\n"
        f"recorded = json.load(open({str(FIXTURES / AID02 / 'solution.json')!r}))\n"
        f"results = checks.run_checks(assignments.get({AID02!r}), recorded['facts'])\n"
        "assert all(r.passed for r in results)\n"
        "heavy = {'tensorflow', 'keras', 'nbclient', 'jupyter_client'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert out.strip() == "[]"


# Found by recording the demo mistakes: messages that misled (issue 14).
def test_first_prediction_never_shows_more_than_100_percent() -> None:
    """Without softmax the output is a raw score (31.03), once shown as 'Dress (class 3, 3103%)'."""
    message = run("03-fashion-classifier", facts("03-fashion-classifier", "no-softmax"))[
        "first_prediction"].message
    assert "your model predicts Dress (class 3, raw score 31.03)" in message
    assert "%" not in message


def test_a_missing_softmax_is_not_blamed_on_the_labels_or_the_loss() -> None:
    """label_mistake once took the student's own failed check_step('fit') cell for a failed
    model.fit, and y_proba (3, 10) for the labels."""
    results = run("03-fashion-classifier", facts("03-fashion-classifier", "no-softmax"))
    for name in ("validation_accuracy", "first_prediction"):
        assert "labels are one-hot rows" not in results[name].hint
        assert results[name].hint.startswith("the output layer has activation 'linear' but "
                                              "loss='sparse_categorical_crossentropy' expects "
                                              "probabilities"), results[name].hint


def test_a_missing_softmax_gets_the_no_softmax_hint_in_02() -> None:
    """The hint once quoted the student's failed step check, cut at 300 characters."""
    hint = run("02-connected-networks", facts("02-connected-networks", "no-softmax"))[
        "test_accuracy"].hint
    assert hint.startswith("the output layer has activation 'linear'"), hint
    assert "CheckFailed" not in hint
