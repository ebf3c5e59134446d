"""Checks of 04-improving-your-network: six models, each in its own variable, and the results
table the notebook keeps.

Each model check grades one variable (facts["models"][name], measured in the clean process)
and never the table; results_table compares the table with those measurements, so that one
mistake costs in one place where it can.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kerasgrade.artifacts import Facts
from kerasgrade.checks import common
from kerasgrade.course.assignments import Assignment, CheckSpec, ModelSpec
from kerasgrade.results import CheckResult, GraderFault

# evaluate() in the notebook and the grader's measurement of the same model on the same test
# images agreed to 4 decimals in every reference run; 0.002 is 2 digits of the sample's 1,000.
ACC_AGREEMENT = 0.002
LOSS_AGREEMENT = 0.002  # plus LOSS_RELATIVE of the measured loss
LOSS_RELATIVE = 0.01


def _model(facts: Facts, m: ModelSpec, cs: CheckSpec) -> dict[str, Any] | CheckResult:
    """The measured facts of one model variable, or the failure that says why there are none
    (in the student's words: the variable and the experiment's row)."""
    found = (facts.get("models") or {}).get(m.name)
    if found is None:
        missing = f"No model named `{m.name}` was found."
        if stopped := common.stopped_at_limit(facts, cs, missing):
            return stopped
        reason = (facts.get("execution") or {}).get("reason")
        return _failed(cs, (
            f"No model named `{m.name}` was found"
            + (f" ({reason})" if reason else "")
            + f": run the cell of the experiment \"{m.row}\" (the variable must be named "
            f"exactly `{m.name}`)."
        ))
    if found.get("id") is None:
        return _failed(cs, f"`{m.name}` is a {found.get('type')}, not a Keras model: keep "
                       f"the name `{m.name}` for the network of the experiment \"{m.row}\".")
    if not found.get("loaded") or found.get("error"):
        return _failed(cs, f"The grader could not load or measure `{m.name}`: "
                       f"{found.get('error')}")
    return found


def _failed(cs: CheckSpec, message: str) -> CheckResult:
    return CheckResult.fail(cs.name, cs.points, message, "", cs.title)


def trained_epochs(model: dict[str, Any]) -> int:
    """Epochs the model was trained in all: its training steps over the steps of one epoch
    (a fit split over several calls counts whole), else the length of its last fit."""
    steps, per_epoch = model.get("iterations"), model.get("steps_per_epoch")
    if steps is not None and per_epoch:
        return steps // per_epoch
    return model.get("history_epochs") or 0


def _prefixed(result: CheckResult, name: str, cs: CheckSpec) -> CheckResult:
    """A shared check's failure, said of one of this lesson's variables."""
    return CheckResult.fail(cs.name, cs.points, f"`{name}`: {result.message}", result.hint,
                            cs.title)


def _shape_problem(model: dict[str, Any], m: ModelSpec, spec: Assignment,
                   cs: CheckSpec) -> CheckResult | None:
    """Layers, activations and compile settings as 02's checks say them, or None when right."""
    # Any: a lesson model's facts hold ModelFacts and more, and no TypedDict names them all.
    view_facts: Any = {"model": model}
    view_spec = dataclasses.replace(spec, layers=m.layers, total_params=m.total_params)
    for shared in (common.architecture, common.activations, common.compile_settings):
        result = shared(view_facts, view_spec, cs)
        if not result.passed:
            return _prefixed(result, m.name, cs)
    return None


def _epochs_problem(facts: Facts, model: dict[str, Any], m: ModelSpec, cs: CheckSpec
                    ) -> CheckResult | None:
    trained = trained_epochs(model)
    if trained == m.epochs:
        return None
    why = {1: ", so that it compares with the others trained for one epoch"}.get(m.epochs, "")
    found = f"`{m.name}` was trained for {trained} epoch(s); expected {m.epochs}{why}."
    if trained < (m.epochs or 0) and (cut_short := common.stopped_at_limit(facts, cs, found)):
        return cut_short
    if m.epochs == 1 and trained > 1:
        hint = (f"write epochs=1 in the fit of `{m.name}` (and keep epochs = 10 for the "
                "ten-epoch experiments); then run the notebook again from the top")
    elif trained > m.epochs:
        hint = (f"train `{m.name}` once, with epochs=epochs: a training cell run twice trains "
                "the same model further; run the notebook again from the top")
    else:
        hint = f"train `{m.name}` with model.fit(..., epochs={m.epochs}) before recording it"
    return CheckResult.fail(cs.name, cs.points, found, hint, cs.title)


def fixed_model(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    """One of the lesson's given networks: layers, activations, compile settings, epochs."""
    m = spec.model(cs.name)
    model = _model(facts, m, cs)
    if isinstance(model, CheckResult):
        return model
    other = spec.model(m.below) if m.below else None  # the model it must stay below
    # An alias first: its epochs and accuracy are the other model's, and that is the mistake.
    failed = ((_alias_problem(facts, model, m, other, cs) if other else None)
              or _shape_problem(model, m, spec, cs) or _epochs_problem(facts, model, m, cs)
              or (_below_problem(facts, model, m, other, spec, cs) if other else None))
    if failed:
        return failed
    return CheckResult.ok(
        cs.name, cs.points,
        f"`{m.name}`: {m.total_params:,} parameters, trained for {m.epochs} epoch(s), test "
        f"accuracy {model['test_accuracy']:.4f} (measured by the grader).", cs.title)


def _alias_problem(facts: Facts, model: dict[str, Any], m: ModelSpec, other: ModelSpec,
                   cs: CheckSpec) -> CheckResult | None:
    """The model it is compared with, under a second name (export records each id())."""
    found = (facts.get("models") or {}).get(other.name) or {}
    if found.get("id") is None or found.get("id") != model.get("id"):
        return None
    return CheckResult.fail(
        cs.name, cs.points,
        f"`{m.name}` is the same model as `{other.name}` (one object under two names): "
        f"fitting it trained `{other.name}` further.",
        f"build a new network for `{m.name}` with Sequential([...]) instead of "
        f"`{m.name} = {other.name}`", cs.title)


def _below_problem(facts: Facts, model: dict[str, Any], m: ModelSpec, other: ModelSpec,
                   spec: Assignment, cs: CheckSpec) -> CheckResult | None:
    """Less accurate than the longer-trained model it is compared with."""
    compared = _model(facts, other, cs)
    source = facts.get("data_source", "")
    if isinstance(compared, dict) and trained_epochs(compared) == other.epochs and not (
            _shape_problem(compared, other, spec, cs)):
        bar, whose = compared["test_accuracy"], f"`{other.name}` ({other.epochs} epochs)"
    elif source in other.references:
        bar = other.references[source]
        whose = f"the reference {other.epochs}-epoch network on {source}"
    else:  # the course's set-up, not the submission
        raise GraderFault(f"{spec.id}: no reference accuracy of {other.name} for the data "
                          f"source served, {source!r}: add it to course/assignments.toml", "data")
    acc = model["test_accuracy"]
    if acc < bar:
        return None
    return CheckResult.fail(
        cs.name, cs.points,
        f"`{m.name}` reaches {acc:.4f} test accuracy after {m.epochs} epoch(s), not below "
        f"{whose}: {bar:.4f}.",
        f"train `{m.name}` from new weights for exactly {m.epochs} epoch(s): build it anew "
        "with Sequential([...]) and fit it once", cs.title)


def best_model(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    """The student's own design: a softmax output, within the budget, above the bar."""
    m = spec.model(cs.name)
    model = _model(facts, m, cs)
    if isinstance(model, CheckResult):
        return model
    dense = [g for g in model["layers"] if g["type"] == "Dense"]
    if not dense or dense[-1].get("units") != 10 or dense[-1].get("activation") != "softmax":
        last = dense[-1] if dense else None
        found = (f"Dense({last.get('units')}) with activation {last.get('activation')!r}"
                 if last else "no Dense layer")
        return CheckResult.fail(
            cs.name, cs.points,
            f"The output layer of `{m.name}` is {found}; expected Dense(10, "
            "activation='softmax'): one probability per digit.",
            "end the network with Dense(10, activation='softmax'): categorical_crossentropy "
            "expects probabilities, and without softmax the network trains to chance",
            cs.title)
    if model["params"] > (m.max_params or 0):
        return CheckResult.fail(
            cs.name, cs.points,
            f"`{m.name}` has {model['params']:,} parameters; the budget is "
            f"{m.max_params:,}.",
            "use fewer neurons: one hidden Dense(128) has 101,770 parameters", cs.title)
    trained = trained_epochs(model)
    if trained > (m.max_epochs or 0):
        return CheckResult.fail(
            cs.name, cs.points,
            f"`{m.name}` was trained for {trained} epochs; at most {m.max_epochs} are allowed.",
            f"set best_epochs = {m.max_epochs} or fewer, fit once, and run the notebook again "
            "from the top", cs.title)
    if trained == 0:
        found = f"`{m.name}` was never trained."
        return common.stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found, f"call {m.name}.fit(train_images, train_labels, "
            "epochs=best_epochs) before recording it", cs.title)
    # 02's accuracy check on this model; its diagnosis reads a history, here only its length.
    # Any: the lesson model's facts stand in for ModelFacts and EvaluationFacts alike.
    view: Any = {**facts, "model": model, "evaluation": model,
                 "export": {**(facts.get("export") or {}), "history": {"loss": [0.0] * trained}}}
    return common.accuracy(view, spec, cs, "test_accuracy", f"`{m.name}`: test")


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _row_problem(name: str, row: Any, fields: tuple[str, ...], model: dict[str, Any] | None
                 ) -> tuple[str, str] | None:
    """(what was found against what was expected, what to change) for one table row."""
    if not isinstance(row, dict):
        return (f"row \"{name}\" is {row!r:.80}, not a dictionary of {', '.join(fields)}",
                f"store the row as results[name] = {{{', '.join(map(repr, fields))}: ...}}")
    if sorted(row) != sorted(fields):
        return (f"row \"{name}\" has the keys {', '.join(row) or 'none'}; expected "
                f"{', '.join(fields)}", "use the key names of the table exactly, in record()")
    # A loss of nan (training diverged, as without softmax) is what evaluate() returned: the
    # export writes it as None, and the grader's own measure of that model is no number either.
    diverged = (row.get("test_loss") is None and model is not None
                and model.get("test_accuracy") is not None and model.get("test_loss") is None)
    bad = [k for k in fields if not _number(row[k]) and not (k == "test_loss" and diverged)]
    if bad:
        return (f"row \"{name}\": {', '.join(bad)} is not a number ({row[bad[0]]!r:.60})",
                "record plain numbers: model.count_params(), the epochs, evaluate()'s results "
                "and the seconds")
    if row["seconds"] <= 0:
        return (f"row \"{name}\": seconds is {row['seconds']:g}",
                "time the fit: start = time.perf_counter() before it, "
                "seconds = time.perf_counter() - start after it")
    if model is None:
        return None  # the model's own check says why it could not be measured
    if row["params"] != model["params"]:
        return (f"row \"{name}\": params {row['params']:,}, but its model has "
                f"{model['params']:,}", "record model.count_params() of the model you trained")
    trained = trained_epochs(model)
    if row["epochs"] != trained:
        return (f"row \"{name}\" says {row['epochs']} epoch(s); its model was trained for "
                f"{trained}", "record the epochs the model was really trained for")
    measured = model["test_accuracy"], model.get("test_loss")
    for key, value, tolerance, hint in (
        ("test_acc", measured[0], ACC_AGREEMENT,
         "record() must evaluate test_images, test_labels (not the training images), right "
         "after the model's training, and store the accuracy as test_acc"),
        ("test_loss", measured[1], LOSS_AGREEMENT + LOSS_RELATIVE * (measured[1] or 0),
         "store evaluate()'s first result, the loss, as test_loss"),
    ):
        if value is not None and row[key] is not None and abs(row[key] - value) > tolerance:
            return (f"row \"{name}\": {key} {row[key]:.4f}, but the grader measures "
                    f"{value:.4f} on the test images", hint)
    return None


def results_table(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    """Every experiment's row, agreeing with the grader's measurement of its model."""
    variables = (facts.get("export") or {}).get("variables") or {}
    table = variables.get(spec.table or "")
    rows = [m.row for m in spec.models]
    if not isinstance(table, dict):
        found = ("no variable `results`" if spec.table not in variables
                 else f"`results` is {table!r:.80} (or holds values that are not plain data)")
        return CheckResult.fail(
            cs.name, cs.points,
            f"Expected the results table: a dictionary with the rows {', '.join(rows)}; "
            f"found {found}.",
            "keep `results = {}` from the table cell and let record() store each row as "
            "results[name] = {...}", cs.title)
    missing = [r for r in rows if r not in table]
    if missing:
        found = (f"The results table has the rows {', '.join(table) or 'none'}; missing: "
                 f"{', '.join(missing)}.")
        return common.stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found,
            "end each experiment's cell with record(\"ROW\", model, epochs, seconds), with the "
            "row names of the lesson", cs.title)
    for m in spec.models:
        model = _model(facts, m, cs)
        problem = _row_problem(m.row, table[m.row], spec.table_fields,
                               model if isinstance(model, dict) else None)
        if problem:
            return CheckResult.fail(cs.name, cs.points, f"Results table: {problem[0]}.",
                                    problem[1], cs.title)
    return CheckResult.ok(cs.name, cs.points,
                          f"All {len(rows)} rows agree with the grader's measurements.", cs.title)


CHECKS = {
    "baseline": fixed_model,
    "two_layers": fixed_model,
    "one_epoch": fixed_model,
    "wide": fixed_model,
    "narrow": fixed_model,
    "best_model": best_model,
    "results_table": results_table,
}
