"""Check building blocks shared by the assignments: pure functions of the facts."""

from __future__ import annotations

from typing import Literal

from kerasgrade import artifacts
from kerasgrade.artifacts import Facts
from kerasgrade.checks import rules
from kerasgrade.course.assignments import Assignment, CheckSpec
from kerasgrade.keras_terms import (
    ACCURACY_METRICS,
    CHANCE,
    NEAR_CHANCE,
    layer_matches,
    layer_table_text,
)
from kerasgrade.results import CheckFailed, CheckResult, GraderFault
from kerasgrade.time_limit import overrun


def model_problem(facts: Facts) -> str | None:
    """Why there is no model to check, in words a student can act on (the checks and the pages
    say it alike); None if there is one."""
    model = facts.get("model") or {}
    if model.get("loaded"):
        return None
    stopped = overrun(facts)
    if stopped:
        return stopped.clause()
    execution = facts.get("execution") or {}
    if execution.get("reason"):
        return execution["reason"]
    if model.get("error"):
        return f"the grader could not load your model: {model['error']}"
    export = facts.get("export") or {}
    if export and not export.get("model_variable"):
        return (
            "no Keras model was found: the notebook must leave the network in a variable "
            "named `model` (model = Sequential() ...)"
        )
    return "no model was produced: run every cell from top to bottom without errors"


def no_model(facts: Facts, cs: CheckSpec) -> CheckResult | None:
    """The failure of a check that needs the model, when there is none (and, if a cell was
    stopped at the time limit, what usually makes a cell that slow)."""
    problem = model_problem(facts)
    if problem is None:
        return None
    stopped = overrun(facts)
    return CheckResult.fail(cs.name, cs.points, problem, stopped.change() if stopped else "",
                            cs.title)


def stopped_at_limit(facts: Facts, cs: CheckSpec, found: str) -> CheckResult | None:
    """A finding that a cell stopped at the time limit explains (nothing trained, a variable
    never set): the failure says what happened and what to change there, and no other advice.
    None when every cell finished."""
    stopped = overrun(facts)
    if stopped is None:
        return None
    return CheckResult.fail(cs.name, cs.points, f"{found} {stopped.sentence()}",
                            stopped.change(), cs.title)


def undertrained(facts: Facts, spec: Assignment) -> bool:
    """The model's history is shorter than the epochs asked for, or there is none."""
    losses = (artifacts.history(facts) or {}).get("loss") or []
    return not losses or len(losses) < spec.epochs


def architecture(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    if (missing := no_model(facts, cs)) is not None:
        return missing
    model = facts["model"]
    found = model["layers"]
    table = layer_table_text(spec.layers, found)
    ok = len(found) == len(spec.layers) and all(
        layer_matches(e, g) for e, g in zip(spec.layers, found)
    )
    count = f"{model['params']:,} parameters (expected {spec.total_params:,})"
    input_shape = model.get("input_shape")
    flat = input_shape and rules.model_input(input_shape[1:], None, spec.names.train_images)
    if ok and model["params"] == spec.total_params and not flat:
        return CheckResult.ok(cs.name, cs.points, f"Architecture as expected: {count}.\n{table}",
                              cs.title)
    hints = []
    exp_types = [e.type for e in spec.layers]
    got_types = [g["type"] for g in found]
    if len(found) < len(spec.layers):
        missing = [t for t in exp_types if t not in got_types or exp_types.count(t) >
                   got_types.count(t)]
        hints.append(f"a layer is missing ({', '.join(dict.fromkeys(missing))}); "
                     f"expected {len(spec.layers)} layers, found {len(found)}")
    elif len(found) > len(spec.layers):
        hints.append(f"there is an extra layer: expected {len(spec.layers)} layers, "
                     f"found {len(found)}")
    for e, g in zip(spec.layers, found):
        if e.type == g["type"] == "Dense" and g.get("units") != e.output_shape[-1]:
            hints.append(f"a Dense layer has {g.get('units')} units where {e.output_shape[-1]} "
                         f"are expected (Dense({e.output_shape[-1]}))")
    if flat:
        hints.append(f"{flat.found}, but expected {flat.expected}: {flat.change}")
    if found and found[0]["type"] != "Flatten":
        hints.append("start with a Flatten layer that turns each 28x28 image into 784 numbers")
    return CheckResult.fail(
        cs.name, cs.points, f"The network differs from the one asked for: {count}.\n{table}",
        "; ".join(hints) or "build the layers exactly as in the table's expected column",
        cs.title,
    )


def activations(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    if (missing := no_model(facts, cs)) is not None:
        return missing
    expected = [e.activation for e in spec.layers if e.type == "Dense"]
    found = [g.get("activation") for g in facts["model"]["layers"] if g["type"] == "Dense"]
    pairs = ", ".join(f"{e} (found {f})" for e, f in zip(expected, found))
    if found == expected:
        return CheckResult.ok(cs.name, cs.points, f"Dense activations: {', '.join(found)}.",
                              cs.title)
    hint = []
    if found and found[-1] != "softmax":
        hint.append(
            f"the output layer's activation is {found[-1]!r}: add activation='softmax' to the "
            f"last Dense layer so it outputs probabilities that sum to 1 ({_loss(facts, spec)} "
            "expects probabilities; without softmax the network trains to chance)"
        )
    if any(f != "relu" for f in found[:-1]):
        hint.append("hidden Dense layers should use activation='relu'" + (
            "; a hidden layer without one (linear) adds nothing: stacked Dense layers without "
            "activations compute only a linear function of the pixels"
            if "linear" in found[:-1] else ""))
    if len(found) != len(expected):
        hint.append(f"expected {len(expected)} Dense layers, found {len(found)}")
    return CheckResult.fail(cs.name, cs.points, f"Activations expected: {pairs}.",
                            "; ".join(hint), cs.title)


def compile_settings(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    if (missing := no_model(facts, cs)) is not None:
        return missing
    m = facts["model"]
    if not m.get("compiled"):
        found = "The model was never compiled."
        return stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found, f"call model.compile(loss='{spec.loss[0]}', optimizer="
            f"'{spec.optimizer or 'adam'}', metrics=['accuracy'])", cs.title)
    problems = []
    if m["loss"] not in spec.loss:
        problems.append(f"loss is {m['loss']!r}, expected {' or '.join(map(repr, spec.loss))}")
    if spec.optimizer and m["optimizer"] != spec.optimizer:
        problems.append(f"optimizer is {m['optimizer']!r}, expected {spec.optimizer!r}")
    if not ACCURACY_METRICS & set(m["metrics"]):
        problems.append(f"metrics are {m['metrics']}, expected ['accuracy']")
    found = f"loss={m['loss']!r}, optimizer={m['optimizer']!r}, metrics={m['metrics']}"
    if not problems:
        return CheckResult.ok(cs.name, cs.points, f"Compiled with {found}.", cs.title)
    return CheckResult.fail(cs.name, cs.points, f"Compiled with {found}: {'; '.join(problems)}.",
                            "pass these arguments to model.compile()", cs.title)


def _loss(facts: Facts, spec: Assignment) -> str:
    """The loss the student compiled with, else the assignment's."""
    return (facts.get("model") or {}).get("loss") or spec.loss[0]


def label_mistake(facts: Facts, spec: Assignment) -> str | None:
    """Name a label-encoding mistake from the error that training raised."""
    loss = (facts.get("model") or {}).get("loss")
    summaries = (facts.get("export") or {}).get("array_summaries", {})
    for err in artifacts.failed_cells(facts):
        if err.get("ename") == CheckFailed.__name__:  # a step check the student ran, not fit
            continue
        if err.get("ename") == "KeyboardInterrupt" and overrun(facts):  # the time limit's
            continue
        text = f"{err.get('ename')}: {err.get('evalue')}"
        if ".fit(" not in err.get("source", "") and "fit" not in text:
            continue
        labels = summaries.get(spec.names.train_labels)
        shape = labels["shape"] if labels else None
        if loss == "categorical_crossentropy" and (shape is None or len(shape) == 1):
            return (
                "training failed because the labels are integers (one number per image) while "
                "loss='categorical_crossentropy' expects one-hot rows of 10: convert them with "
                f"keras.utils.to_categorical({spec.names.train_labels}, 10), or compile with "
                "loss='sparse_categorical_crossentropy'"
            )
        if loss == "sparse_categorical_crossentropy" and shape and len(shape) == 2:
            return (
                "training failed because the labels are one-hot rows while "
                "loss='sparse_categorical_crossentropy' expects one integer per image: use "
                "loss='categorical_crossentropy' with one-hot labels"
            )
        return f"training failed: {text[:300]}"
    return None


def accuracy(facts: Facts, spec: Assignment, cs: CheckSpec,
             key: Literal["test_accuracy", "validation_accuracy"], split: str) -> CheckResult:
    if (missing := no_model(facts, cs)) is not None:
        return missing
    ev = facts.get("evaluation") or {}
    source = facts.get("data_source", "")
    if source not in spec.thresholds:  # the course's set-up, not the submission
        raise GraderFault(f"{spec.id} has no accuracy threshold for the data source served, "
                          f"{source!r} (known: {', '.join(sorted(spec.thresholds))}): add one "
                          "to course/assignments.toml", "data")
    bar = spec.threshold(source)
    if ev.get("error"):
        return CheckResult.fail(cs.name, cs.points, f"The grader could not evaluate your model: "
                                f"{ev['error']}", "", cs.title)
    acc = ev[key]
    # The title already says who measured it ("Test accuracy measured by the grader").
    measured = (f"{split} accuracy {acc:.3f} on {source} (needed: "
                f"{rules.bar_text(bar.minimum)}; the reference solution reaches "
                f"{bar.reference:.3f}).")
    if acc >= bar.minimum:
        return CheckResult.ok(cs.name, cs.points, measured, cs.title)
    return low_accuracy(facts, spec, cs, measured, acc)


def low_accuracy(facts: Facts, spec: Assignment, cs: CheckSpec, found: str, acc: float
                 ) -> CheckResult:
    """An accuracy check's failure: training cut short at the time limit, else the usual
    mistake behind the accuracy found."""
    if undertrained(facts, spec) and (cut_short := stopped_at_limit(facts, cs, found)):
        return cut_short
    return CheckResult.fail(cs.name, cs.points, found, diagnose_low_accuracy(facts, spec, acc),
                            cs.title)


def diagnose_low_accuracy(facts: Facts, spec: Assignment, acc: float) -> str:
    """Name the usual mistake behind a low accuracy, most specific first."""
    m = facts["model"]
    ev = facts.get("evaluation") or {}
    dense = [g for g in m["layers"] if g["type"] == "Dense"]
    hist = artifacts.history(facts)
    names = spec.names
    mistake = label_mistake(facts, spec)
    if mistake:
        return mistake
    if not hist or not hist.get("loss"):
        return (f"the model was never trained: call model.fit({names.train_images}, "
                f"{names.train_labels}, epochs=epochs) before evaluating")
    if (dense and dense[-1].get("activation") != "softmax" and (m.get("loss") or "").startswith(
            ("categorical", "sparse")) and not m.get("from_logits")):
        return (
            f"the output layer has activation {dense[-1].get('activation')!r} but "
            f"loss={m['loss']!r} expects probabilities, so training goes nowhere (chance is "
            f"{CHANCE:.0%}). Add activation='softmax' to the output Dense layer (or compile with "
            "from_logits=True)"
        )
    unscaled = ev.get("test_accuracy_unscaled")
    if unscaled is not None and unscaled > acc + 0.15:
        return (
            f"your model does much better on raw pixels 0..255 ({unscaled:.3f}) than on pixels "
            f"scaled to [0, 1]: it was trained without dividing by 255. Convert to float32 and "
            f"divide {names.train_images} and {names.test_images} by 255 before training"
        )
    if acc <= NEAR_CHANCE:
        return "the model is at chance level: check the labels, the loss and the output layer"
    return "train for the number of epochs asked and keep the architecture as specified"


def saved_model(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    saved = facts.get("saved") or []
    if not saved:
        found = "No saved model file (.keras or .h5) was found."
        return stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, model_problem(facts) or found,
            "save the trained model with model.save('my_model.keras')", cs.title,
        )
    good = [s for s in saved if s["loads"] and s["matches"]]
    names = ", ".join(s["name"] for s in saved)
    if good:
        return CheckResult.ok(cs.name, cs.points,
                              f"{good[0]['name']} loads and holds your trained model.", cs.title)
    loads = [s for s in saved if s["loads"]]
    if loads:
        return CheckResult.fail(
            cs.name, cs.points,
            f"{names} loads, but its weights differ from the model you trained.",
            "call model.save(...) after model.fit(...), as the last step", cs.title)
    errors = "; ".join(s["error"] or "" for s in saved)
    return CheckResult.fail(cs.name, cs.points, f"{names} could not be loaded: {errors}",
                            "save with model.save('my_model.keras') using built-in layers only",
                            cs.title)
