"""A cell stopped at the time limit is named, with the limit, the reference solution's time and
what usually causes it, by the checks whose finding it explains, and by no other advice.

On the facts of the recorded real runs, changed as a run with a stopped cell measures them:
`stopped_fit` is what grade_notebook measured on 02's solution with `while True: pass` before
its model.fit (tests/frontends/test_time_limit_named.py grades that notebook on every path).
"""

from __future__ import annotations

import pytest
from recorded import facts, record, recorded_cases, run

from kerasgrade import time_limit
from kerasgrade.artifacts import Facts
from kerasgrade.course import assignments, time_limits
from kerasgrade.grade import result_from_facts
from kerasgrade.report import feedback

AID01, AID02, AID03, AID04 = (assignments.PREPARING_DATA, assignments.CONNECTED_NETWORKS,
                              assignments.FASHION_CLASSIFIER, assignments.IMPROVING_NETWORK)
LIMIT = 60.0
LOOP = "while True:\n    pass\n"
FIT = "history = model.fit(train_images, train_labels, epochs=epochs, shuffle=True, verbose=2)"
CAUSES = ("a loop that never ends", "far more epochs than asked", "builds a huge layer")
# The advice a check gives when nothing stopped the cell, which a stopped cell makes wrong.
UNRELATED = ("pass it on", "KeyboardInterrupt", "never trained",
             "variable named `model`", "training failed")


def stopped(facts_: Facts, cell: int, source: str) -> Facts:
    """The facts of a run whose student cell `cell` was stopped at LIMIT, as grade.py records
    them: the runner's fact, then the reference solution's time."""
    facts_["execution"]["timed_out"] = [time_limit.timed_out_cell(cell, source, LIMIT)]
    facts_ = time_limits.note_reference(facts_, assignments.get(facts_["assignment"]))
    return facts_


def stopped_fit() -> Facts:
    """02's solution run with an endless loop before model.fit in cell 27: the fit never
    started (no history), the untrained model's accuracy, which evaluate() gave too, and the
    interrupt in that cell."""
    f = facts(AID02)
    f["export"]["history"] = None
    f["export"]["variables"] |= {"test_acc": 0.096, "test_loss": 2.4122}
    f["evaluation"]["test_accuracy"] = 0.096
    f["execution"]["errors"] = [{"cell": 27, "ename": "KeyboardInterrupt", "evalue": "",
                                 "source": LOOP + FIT}]
    f["execution"]["reason"] = "cell 27 (`while True:`) ran longer than 60 s and was stopped"
    return stopped(f, 27, LOOP + FIT)


def reference_words(aid: str, source: str) -> str:
    """The reference's slowest cell on the data served, from time_limits.json."""
    seconds = time_limits.recorded_times()[aid]["measured"][source]["cell"]
    return f"the reference solution's slowest cell takes {seconds:g} s on {source}"


def assert_named(text: str, cell: str, aid: str, source: str) -> None:
    """The cell, the limit, the reference's time on `source` and the causes; no other advice."""
    for fragment in (f"{cell} ran longer than 60 s and was stopped",
                     "60 s is the time limit per cell", reference_words(aid, source), *CAUSES):
        assert fragment in text, (fragment, text)
    for advice in UNRELATED:
        assert advice not in text, (advice, text)


def test_the_stopped_training_cell_is_named_with_the_limit_the_reference_and_the_causes(
        ) -> None:
    f = stopped_fit()
    results = run(AID02, f)
    failed = {n: r.text() for n, r in results.items() if not r.passed}
    assert set(failed) == {"epochs", "test_accuracy"}
    for text in failed.values():
        assert_named(text, "Cell 27 (`while True:`)", AID02, f["data_source"])
        assert "find which it is in cell 27, make it finish well within 60 s" in text
    # What each check found stays said, before what happened.
    assert failed["epochs"].startswith("epochs = 10, but the model was trained for 0 epochs. "
                                       "Cell 27")
    assert failed["test_accuracy"].startswith("test accuracy 0.096 on mnist-sample-5k")


def test_without_the_fact_the_same_run_got_unrelated_advice() -> None:
    """The fact is what changes the messages: the run as graded before it was recorded."""
    f = stopped_fit()
    del f["execution"]["timed_out"], f["execution"]["reference"]
    results = run(AID02, f)
    assert "pass it on: model.fit(" in results["epochs"].hint
    assert results["test_accuracy"].hint == "training failed: KeyboardInterrupt: "


@pytest.mark.parametrize("aid,case", recorded_cases())
def test_a_stopped_cell_changes_messages_never_scores(aid: str, case: str) -> None:
    """Every recorded run, with a cell stopped: the same points as the run recorded."""
    rec = record(aid, case)
    results = run(aid, stopped(rec["facts"], 3, LOOP))
    assert {n: r.points for n, r in results.items()} == rec["scores"]


@pytest.mark.parametrize("case,kept", [
    ("no-softmax", {"activations": "add activation='softmax' to the last Dense layer",
                    "test_accuracy": "loss='categorical_crossentropy' expects probabilities"}),
    ("five-epochs", {"epochs": "set epochs = 10"}),
    ("dense32", {"architecture": "a Dense layer has 32 units where 16 are expected"}),
])
def test_a_finding_the_stopped_cell_does_not_explain_keeps_its_own_advice(
        case: str, kept: dict[str, str]) -> None:
    """Trained in full, then a cell stopped (a loop after training): the mistake is still the
    mistake, and the page still names the stopped cell."""
    results = run(AID02, stopped(facts(AID02, case), 33, LOOP))
    for name, advice in kept.items():
        assert advice in results[name].text()
        assert "time limit" not in results[name].text()


def test_no_model_at_all_is_put_down_to_the_stopped_cell() -> None:
    """A loop in the cell that builds the model: none is left to check, and every check that
    needs it says why, with what to change there rather than how to name a model."""
    f = stopped(facts(AID02), 8, LOOP + "model = Sequential()")
    f["model"] = {"loaded": False, "error": None}
    f["export"]["model_variable"] = None
    results = run(AID02, f)
    for name in ("architecture", "activations", "compile_settings", "test_accuracy"):
        assert not results[name].passed
        assert_named(results[name].text(), "cell 8 (`while True:`)", AID02, f["data_source"])


def test_03_training_cut_short_after_a_few_epochs() -> None:
    """The limit stopped 03's fit after 3 of its 30 epochs (the history keeps those): the
    accuracy checks put the low accuracy down to that; the missing softmax is still named by
    the check of the activations."""
    f = stopped(facts(AID03, "no-softmax"), 21, "history = model.fit(X_train, y_train)")
    f["export"]["history"] = {k: v[:3] for k, v in f["export"]["history"].items()}
    results = run(AID03, f)
    for name in ("validation_accuracy", "first_prediction"):
        assert_named(results[name].text(), "Cell 21 (`history = model.fit(X_train, y_train)`)",
                     AID03, "fashion-mnist")
    assert "add activation='softmax'" in results["activations"].text()


def test_04_a_model_never_trained_or_never_made_and_its_missing_row() -> None:
    f = stopped(facts(AID04), 20, LOOP)
    f["models"]["model_wide"] |= {"iterations": 0, "history_epochs": 0}
    del f["models"]["model_narrow"]
    del f["export"]["variables"]["results"]["narrow"]
    results = run(AID04, f)
    # Graded on the sample, but 04's reference was only timed on full MNIST: that time.
    assert f["data_source"] == "mnist-sample-5k"
    for name, found in (("wide", "`model_wide` was trained for 0 epoch(s); expected 1"),
                        ("narrow", "No model named `model_narrow` was found. Cell 20"),
                        ("results_table", "missing: narrow. Cell 20")):
        assert found in results[name].text(), results[name].text()
        assert_named(results[name].text(), "Cell 20 (`while True:`)", AID04, "mnist")


def test_01_arrays_never_made() -> None:
    f = stopped(facts(AID01), 4, LOOP)
    del f["arrays"]["train_images"]
    text = run(AID01, f)["image_shapes"].text()
    assert text.startswith("train_images is not a NumPy array. Cell 4 (`while True:`)")
    assert "keep the names" not in text


def test_the_feedback_page_names_the_stopped_cell_first() -> None:
    f = stopped_fit()
    spec = assignments.get(AID02)
    page = feedback.report(result_from_facts(spec, "ann", "nb.ipynb", f), spec)
    section = page.sections[0]
    assert section.title == "Stopped at the time limit"
    assert_named(" ".join(section.paragraphs), "Cell 27 (`while True:`)", AID02,
                 f["data_source"])


def test_a_run_that_never_met_the_limit_has_no_such_fact() -> None:
    assert time_limit.overrun(facts(AID02)) is None
    spec = assignments.get(AID02)
    result = result_from_facts(spec, "ann", "nb.ipynb", facts(AID02))
    assert feedback.report(result, spec).sections[0].title != "Stopped at the time limit"
