"""Checks of 02-connected-networks."""

from __future__ import annotations

from functools import partial

from kerasgrade import artifacts
from kerasgrade.artifacts import Facts
from kerasgrade.checks import common, rules
from kerasgrade.course.assignments import Assignment, CheckSpec
from kerasgrade.results import CheckResult

AGREEMENT = 0.01  # evaluate() on the same data and model agrees to float noise


def epochs(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    value = ((facts.get("export") or {}).get("variables") or {}).get("epochs")
    hist = artifacts.history(facts)
    trained = len(hist["loss"]) if hist and hist.get("loss") else 0
    if value != spec.epochs:
        found = f"epochs is {value!r}, expected {spec.epochs}."
        if value is None and (never_set := common.stopped_at_limit(facts, cs, found)):
            return never_set
        return CheckResult.fail(cs.name, cs.points, found, f"set epochs = {spec.epochs}",
                                cs.title)
    if trained != spec.epochs:
        found = f"epochs = {spec.epochs}, but the model was trained for {trained} epochs."
        if trained < spec.epochs and (cut_short := common.stopped_at_limit(facts, cs, found)):
            return cut_short
        return CheckResult.fail(
            cs.name, cs.points, found,
            "pass it on: model.fit(train_images, train_labels, epochs=epochs, shuffle=True)",
            cs.title)
    return CheckResult.ok(cs.name, cs.points,
                          f"epochs = {value}, and the model's history has {trained} epochs.",
                          cs.title)


def test_evaluation(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    export = facts.get("export") or {}
    variables = export.get("variables") or {}
    acc, loss = variables.get("test_acc"), variables.get("test_loss")
    unpacked = rules.evaluate_outputs(set(variables), acc)
    if unpacked:
        return CheckResult.fail(cs.name, cs.points, unpacked.sentence(), unpacked.change,
                                cs.title)
    # A loss of nan (training diverged) is the number evaluate() returned, not a missing one.
    diverged = loss is None and "test_loss" in (export.get("non_finite") or ())
    if not isinstance(acc, float) or not (isinstance(loss, float) or diverged):
        found = "test_loss and test_acc are not both numbers."
        return common.stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found,
            "test_loss, test_acc = model.evaluate(test_images, test_labels)", cs.title)
    measured = (facts.get("evaluation") or {}).get("test_accuracy")
    if measured is None:
        return common.no_model(facts, cs) or CheckResult.fail(
            cs.name, cs.points, "the grader could not measure the model", "", cs.title)
    if abs(acc - measured) > AGREEMENT:
        return CheckResult.fail(
            cs.name, cs.points,
            f"test_acc is {acc:.4f}, but your model's test accuracy is {measured:.4f}.",
            "take both numbers from model.evaluate on the trained model, and don't change them",
            cs.title)
    note = " (test_loss is nan: the training diverged)" if diverged else ""
    return CheckResult.ok(cs.name, cs.points,
                          f"test_acc {acc:.4f} matches the grader's measurement{note}.", cs.title)


CHECKS = {
    "epochs": epochs,
    "architecture": common.architecture,
    "activations": common.activations,
    "compile_settings": common.compile_settings,
    "test_accuracy": partial(common.accuracy, key="test_accuracy", split="test"),
    "test_evaluation": test_evaluation,
    "saved_model": common.saved_model,
}
