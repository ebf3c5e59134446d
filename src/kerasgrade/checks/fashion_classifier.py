"""Checks of 03-fashion-classifier."""

from __future__ import annotations

from functools import partial

from kerasgrade.artifacts import Facts
from kerasgrade.checks import common
from kerasgrade.course.assignments import Assignment, CheckSpec
from kerasgrade.keras_terms import shape_text
from kerasgrade.results import CheckResult

ANKLE_BOOT = 9


def probabilities(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    if (missing := common.no_model(facts, cs)) is not None:
        return missing
    ev = facts.get("evaluation") or {}
    if not ev.get("all_rows_sum_to_one"):
        return CheckResult.fail(
            cs.name, cs.points,
            f"Your model's outputs do not sum to 1 per image (first rows: "
            f"{ev.get('first_row_sums')}).",
            "use activation='softmax' on the output layer", cs.title)
    y_proba = (facts.get("arrays") or {}).get("y_proba")
    if not y_proba:
        found = "y_proba is not an array of class probabilities."
        return common.stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found, "y_proba = model.predict(X_new) with X_new = X_test[:3]",
            cs.title)
    if len(y_proba["shape"]) != 2 or y_proba["shape"][1] != 10 or not y_proba["rows_sum_to_one"]:
        return CheckResult.fail(
            cs.name, cs.points,
            f"y_proba has shape {shape_text(y_proba['shape'])} and rows summing to "
            f"{y_proba.get('row_sums_first')}; expected (3, 10) rows that each sum to 1.",
            "y_proba = model.predict(X_new) on the trained model, without rounding it in place",
            cs.title)
    return CheckResult.ok(cs.name, cs.points,
                          f"y_proba holds {y_proba['shape'][0]} rows of 10 probabilities "
                          "summing to 1.", cs.title)


def first_prediction(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    if (missing := common.no_model(facts, cs)) is not None:
        return missing
    ev = facts.get("evaluation") or {}
    if ev.get("error"):
        return CheckResult.fail(cs.name, cs.points, f"The grader could not run your model: "
                                f"{ev['error']}", "", cs.title)
    first = ev["first_predicted"][0]
    p = ev["first_probabilities"][0][first]
    # Without softmax the outputs are raw scores, not probabilities: no percentage then.
    share = f"{p:.0%}" if ev.get("all_rows_sum_to_one") else f"raw score {p:.2f}"
    found = f"{spec.class_names[first]} (class {first}, {share})"
    if first == ANKLE_BOOT:
        return CheckResult.ok(cs.name, cs.points,
                              f"The first test image is predicted as {found}.", cs.title)
    wrong = f"The first test image is an ankle boot (class 9); your model predicts {found}."
    return common.low_accuracy(facts, spec, cs, wrong, ev.get("test_accuracy", 0.0))


CHECKS = {
    "architecture": common.architecture,
    "activations": common.activations,
    "compile_settings": common.compile_settings,
    "validation_accuracy": partial(common.accuracy, key="validation_accuracy",
                                   split="validation"),
    "probabilities": probabilities,
    "first_prediction": first_prediction,
}
