"""Step checks of 02-connected-networks: the Sequential model built layer by layer."""

from __future__ import annotations

import math

from kerasgrade.checks import rules
from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import shape_text
from kerasgrade.steps.framework import (
    Namespace,
    Step,
    StepFailure,
    data_source,
    failure,
    model_in,
    need,
    number,
)
from kerasgrade.steps.model import (
    accuracy_bar,
    architecture,
    check_input,
    check_layers,
    compiled,
    diagnosis,
    saved,
    spec_text,
    trained,
)


def _epochs(ns: Namespace, spec: Assignment) -> str:
    epochs = need(ns, "epochs")
    if type(epochs) is not int or epochs != spec.epochs:
        raise StepFailure(
            f"epochs = {spec.epochs}, a whole number",
            f"epochs = {epochs!r}",
            f"write `epochs = {spec.epochs}`.",
        )
    return f"epochs = {epochs}"


def _new_model(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = model_in(ns)
    if not isinstance(model, keras.Sequential):
        raise StepFailure(
            "a Sequential model", type(model).__name__, "write `model = Sequential()`."
        )
    return "model is a Sequential model"


def _input_layer(ns: Namespace, spec: Assignment) -> str:
    model = model_in(ns)
    check_layers(model, spec, 1)
    want = tuple(need(ns, "input_shape"))
    check_input(model, want, spec.names.train_images, "input_shape")
    return f"Flatten turns each {shape_text(want)} image into 784 numbers"


def _hidden_layer(ns: Namespace, spec: Assignment) -> str:
    check_layers(model_in(ns), spec, 2)
    return f"{spec_text(spec.layers[1])}"


def _output_layer(ns: Namespace, spec: Assignment) -> str:
    check_layers(model_in(ns), spec, 3)
    return f"{spec_text(spec.layers[2])}"


def _evaluate(ns: Namespace, spec: Assignment) -> str:
    unpacked = rules.evaluate_outputs({n for n in ("test_loss", "test_acc") if n in ns},
                                      ns.get("test_acc"))
    if unpacked:
        raise failure(unpacked)
    loss, acc = number(ns, "test_loss"), number(ns, "test_acc")
    if not (math.isfinite(loss) and loss >= 0 and 0 <= acc <= 1):
        swapped = 0 <= loss <= 1 and (acc > 1 or not math.isfinite(acc))
        raise StepFailure(
            "test_loss >= 0 and test_acc between 0 and 1",
            f"test_loss = {loss:g}, test_acc = {acc:g}",
            "evaluate returns the loss first: `test_loss, test_acc = model.evaluate(...)`."
            if swapped
            else diagnosis(model_in(ns), spec),
        )
    source = data_source(ns)
    bar = accuracy_bar(spec, source)
    if bar is not None and acc < bar:
        change = diagnosis(model_in(ns), spec)
        if acc < loss <= 1:  # a trained network's loss is rarely below its accuracy
            change = (
                "check the order first: evaluate returns the loss first, `test_loss, "
                f"test_acc = model.evaluate(...)`. If that is right: {change}"
            )
        raise StepFailure(f"a test accuracy of at least {rules.bar_text(bar)} on {source}",
                          f"{acc:.4f}", change)
    graded = f" (the graded bar on {source} is {rules.bar_text(bar)})" if bar is not None else ""
    return f"test accuracy {acc:.4f}{graded}"


STEPS: dict[str, Step] = {
    "epochs": _epochs,
    "model": _new_model,
    "input_layer": _input_layer,
    "hidden_layer": _hidden_layer,
    "output_layer": _output_layer,
    "summary": architecture,
    "compile": compiled,
    "fit": trained,
    "evaluate": _evaluate,
    "save": saved,
}
