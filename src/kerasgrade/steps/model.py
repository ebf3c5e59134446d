"""Step checks shared by the lessons that build a network: layers, compile, fit, save."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from kerasgrade.checks import rules
from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import (
    ACCURACY_METRICS,
    CHANCE,
    NEAR_CHANCE,
    LayerSpec,
    compile_item,
    layer_table_text,
    same_weights,
    shape_text,
)
from kerasgrade.steps.framework import (
    Namespace,
    StepFailure,
    data_source,
    failure,
    model_in,
    need,
)


def spec_text(spec: LayerSpec) -> str:
    if spec.type == "Dense":
        head = f"Dense({spec.output_shape[-1]}, activation='{spec.activation}')"
    else:
        head = spec.type
    return f"{head} with output {shape_text(spec.output_shape)} and {spec.params:,} parameters"


def activation_of(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    return None if act is None else getattr(act, "__name__", type(act).__name__)


def output_shape(layer: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # never called: the model has no input shape
        return None


def layer_text(layer: Any) -> str:
    kind = type(layer).__name__
    head = kind
    if kind == "Dense":
        act = activation_of(layer)
        shown = "no activation" if act == "linear" else f"activation='{act}'"
        head = f"Dense({layer.units}, {shown})"
    out = output_shape(layer)
    if out is None:
        return f"{head}, not built yet (Keras does not know the input shape)"
    return f"{head} with output {shape_text(out)} and {layer.count_params():,} parameters"


def layer_problem(layer: Any, spec: LayerSpec, position: int, loss: str) -> StepFailure | None:
    where = f"layer {position + 1}"
    kind = type(layer).__name__
    if kind != spec.type:
        change = f"make {where} a `{spec.type}` layer."
        if spec.type == "Flatten":
            change = (
                "start the model with the input and a Flatten layer: "
                "`keras.Input(shape=...)`, then `Flatten()`."
            )
        return StepFailure(f"{where}: {spec_text(spec)}", f"{where}: {kind}", change)
    if kind == "Dense" and layer.units != spec.output_shape[-1]:
        return StepFailure(
            f"{where}: {spec_text(spec)}",
            f"{where}: {layer_text(layer)}",
            f"give it {spec.output_shape[-1]} units: `Dense({spec.output_shape[-1]}, ...)`.",
        )
    if output_shape(layer) is None:
        return StepFailure(
            f"{where}: {spec_text(spec)}",
            f"{where}: {layer_text(layer)}",
            "tell the model the shape of one image: begin with `keras.Input(shape=...)` "
            "before `Flatten()` (or write `Flatten(input_shape=...)`).",
        )
    act = activation_of(layer)
    if spec.activation is not None and act != spec.activation:
        return StepFailure(
            f"{where}: {spec_text(spec)}",
            f"{where}: {layer_text(layer)}",
            activation_advice(spec.activation, act, loss),
        )
    if output_shape(layer) != spec.output_shape or layer.count_params() != spec.params:
        return StepFailure(
            f"{where}: {spec_text(spec)}",
            f"{where}: {layer_text(layer)}",
            "check the input shape (one image, without the number of images) and the layers "
            "before this one.",
        )
    return None


def activation_advice(expected: str, found: str | None, loss: str) -> str:
    if expected == "softmax" and found == "linear":
        return rules.softmax_advice(loss)
    if expected == "softmax":
        return (
            f"use activation='softmax' instead of '{found}': softmax makes the 10 outputs "
            "probabilities that add up to 1, one per class."
        )
    if found == "linear":
        return (
            f"your hidden layer has no activation: add activation='{expected}'. Without one, "
            "stacked Dense layers compute only a linear function of the pixels."
        )
    return f"use activation='{expected}' instead of '{found}'."


def loss_of(model: Any, spec: Assignment) -> str:
    """The loss the model was compiled with, else the one the assignment asks for."""
    if getattr(model, "compiled", False):
        loss, _ = compile_item(model.get_compile_config().get("loss"))
        if loss:
            return loss
    return spec.loss[0]


def found_rows(model: Any) -> list[dict[str, Any]]:
    """The model's layers as the grader's facts list them, for keras_terms.layer_table_text."""
    return [
        {"type": type(layer).__name__, "output_shape": output_shape(layer),
         "params": layer.count_params() if layer.built else 0,
         "activation": activation_of(layer)}
        for layer in model.layers
    ]


def check_layers(model: Any, spec: Assignment, upto: int,
                 specs: tuple[LayerSpec, ...] | None = None) -> None:
    """The first `upto` layers must match the spec's (or `specs`, for a lesson with several
    models); say so when one was added twice."""
    specs = spec.layers if specs is None else specs
    layers = model.layers
    for i, layer_spec in enumerate(specs[:upto]):
        if i >= len(layers):
            raise StepFailure(
                f"layer {i + 1}: {spec_text(layer_spec)}",
                f"the model has {len(layers)} layer(s)",
                "add it with `model.add(...)` in the cell above and run that cell once.",
            )
        problem = layer_problem(layers[i], layer_spec, i, loss_of(model, spec))
        if problem is not None:
            table = layer_table_text(specs[: max(upto, len(layers))], found_rows(model))
            change = problem.change
            if len(layers) > upto:  # a corrected cell ran again: it added to the old model
                change = (
                    f"the model still holds the layer from before: {len(layers)} layers where "
                    f"this step expects {upto}. Running a cell with `model.add(...)` again "
                    "adds to the same model, after the old layers. Run again from the cell "
                    "with `model = Sequential()`, then each cell after it once."
                )
            raise StepFailure(problem.expected, f"{problem.found}\n{table}", change)
    if upto == len(specs) and len(layers) > upto:
        raise StepFailure(
            f"{len(specs)} layers",
            f"{len(layers)} layers; layer {upto + 1} is {layer_text(layers[upto])}\n"
            + layer_table_text(specs, found_rows(model)),
            "remove the extra layer(s): run the notebook again from the cell that creates "
            "the model, running each cell once.",
        )
    if len(layers) > upto and type(layers[upto]) is type(layers[upto - 1]) and (
        getattr(layers[upto], "units", None) == getattr(layers[upto - 1], "units", None)
    ):
        raise StepFailure(
            f"layer {upto}: {spec_text(specs[upto - 1])}, once",
            f"the same layer twice, as layers {upto} and {upto + 1}",
            "a cell that adds a layer adds it again each time it runs: run the notebook "
            "again from `model = Sequential()`, running each cell once.",
        )


def check_input(model: Any, image: tuple[int, ...] | None, images_name: str,
                code: str | None = None) -> None:
    """The model reads one whole image (the rule the graded architecture check applies)."""
    try:
        found = tuple(model.input_shape[1:])
    except (AttributeError, ValueError):  # no input yet: check_layers says what to add
        return
    problem = rules.model_input(found, image, images_name, code)
    if problem:
        raise failure(problem)


def image_shape(ns: Namespace, spec: Assignment) -> tuple[int, ...] | None:
    """The shape of one training image in the student's namespace, if there is one."""
    images = ns.get(spec.names.train_images)
    return tuple(images.shape[1:]) if isinstance(images, np.ndarray) else None


def summary_called(ns: Namespace) -> None:
    """`model.summary` without parentheses names the method and prints nothing: found in the
    inputs IPython keeps (`In`), since the model itself cannot tell."""
    cells = [c for c in ns.get("In", []) if isinstance(c, str) and "model.summary" in c]
    if cells and re.search(r"model\.summary\b(?!\s*\()", cells[-1]):
        raise StepFailure(
            "`model.summary()`, which prints the table of layers",
            "`model.summary` without parentheses: that names the method without calling it, "
            "so no table was printed",
            "add the parentheses, `model.summary()`, and run the cell again.",
        )


def architecture(ns: Namespace, spec: Assignment) -> str:
    model = model_in(ns)
    check_input(model, image_shape(ns, spec), spec.names.train_images)
    check_layers(model, spec, len(spec.layers))
    summary_called(ns)
    total = model.count_params()
    if total != spec.total_params:
        raise StepFailure(
            f"{spec.total_params:,} parameters",
            f"{total:,}",
            "compare your layers with the table in the lesson.",
        )
    kinds = " -> ".join(
        type(layer).__name__ + (f"({layer.units})" if hasattr(layer, "units") else "")
        for layer in model.layers
    )
    return f"{kinds}, {total:,} parameters"


def compiled(ns: Namespace, spec: Assignment) -> str:
    model = model_in(ns)
    if not getattr(model, "compiled", False):
        raise StepFailure(
            "a compiled model",
            "the model is not compiled",
            "call `model.compile(loss=..., optimizer=..., metrics=['accuracy'])`.",
        )
    cc = model.get_compile_config()
    loss, loss_cfg = compile_item(cc.get("loss"))
    optimizer, _ = compile_item(cc.get("optimizer"))
    metrics = [compile_item(m)[0] for m in cc.get("metrics") or []]
    wanted = spec.loss[0]
    labels = ns.get(spec.names.train_labels)
    integer_labels = isinstance(labels, np.ndarray) and labels.ndim == 1
    if loss not in spec.loss or (integer_labels and loss == "categorical_crossentropy"):
        why = {
            "categorical_crossentropy": "your labels are one-hot rows of 10 numbers",
            "sparse_categorical_crossentropy": "your labels are class numbers, 0 to 9",
        }[wanted]
        raise StepFailure(
            f"loss='{wanted}' ({why})",
            f"loss={loss!r}",
            f"compile with loss='{wanted}'.",
        )
    output_activation = activation_of(model.layers[-1]) if model.layers else None
    if loss_cfg.get("from_logits") and output_activation == "softmax":
        raise StepFailure(
            "a loss that takes probabilities, as your softmax output gives",
            "from_logits=True, which means raw scores",
            f"drop from_logits=True: loss='{loss}'.",
        )
    if not loss_cfg.get("from_logits") and output_activation == "linear":
        raise StepFailure(
            "an output layer that gives probabilities",
            "an output layer with no activation",
            activation_advice("softmax", "linear", loss or wanted),
        )
    if spec.optimizer is not None and optimizer != spec.optimizer:
        raise StepFailure(
            f"optimizer='{spec.optimizer}'",
            f"optimizer={optimizer!r}",
            f"compile with optimizer='{spec.optimizer}'.",
        )
    if not ACCURACY_METRICS & set(metrics):
        raise StepFailure(
            "metrics=['accuracy']",
            f"metrics={metrics}",
            "add metrics=['accuracy'], so that training reports the share of right answers.",
        )
    return f"loss={loss}, optimizer={optimizer}, metrics={metrics}"


def accuracy_key(history: dict[str, list[float]], prefix: str = "") -> str | None:
    for key in history:
        if key.startswith(prefix) and key[len(prefix) :] in ACCURACY_METRICS:
            return key
    return None


def diagnosis(model: Any, spec: Assignment) -> str:
    if model.layers and activation_of(model.layers[-1]) == "linear":
        return activation_advice("softmax", "linear", loss_of(model, spec))
    return (
        "the network learned little: check that the pixels are scaled to [0, 1], that the "
        "labels match the loss, and that you trained for the number of epochs asked; then "
        "run the notebook again from the top."
    )


def trained(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = model_in(ns)
    history = need(ns, "history")
    if not isinstance(history, keras.callbacks.History):
        raise StepFailure(
            "`history`: what `model.fit(...)` returns",
            f"a {type(history).__name__}",
            "write `history = model.fit(...)`.",
        )
    epochs = need(ns, "epochs")
    asked = history.params.get("epochs")
    if asked != spec.epochs or epochs != spec.epochs:
        raise StepFailure(
            f"training for {spec.epochs} epochs, with `epochs = {spec.epochs}`",
            f"`epochs = {epochs!r}` and fit(..., epochs={asked})",
            f"set `epochs = {spec.epochs}` and pass `epochs=epochs` to fit.",
        )
    if history.model is not model or len(history.epoch) != asked:
        raise StepFailure(
            f"a completed fit of `model` over {asked} epochs",
            f"a history of {len(history.epoch)} epoch(s) "
            + ("of this model" if history.model is model else "of another model"),
            "run the notebook again from the top, and let training finish.",
        )
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if steps != history.params.get("steps", steps) * asked:
        raise StepFailure(
            f"a model trained once: {asked} epochs",
            f"{steps} training steps, more than one fit of {asked} epochs",
            "you ran the training cell more than once: run the notebook again from the "
            "cell that creates the model.",
        )
    key = accuracy_key(history.history)
    if key is None:
        raise StepFailure(
            "an accuracy per epoch", "no accuracy in history", "compile with metrics=['accuracy']."
        )
    acc = history.history[key]
    if acc[-1] < NEAR_CHANCE:
        raise StepFailure(
            f"training accuracy well above chance ({CHANCE:.0%})",
            f"{acc[-1]:.3f} after {asked} epochs",
            diagnosis(model, spec),
        )
    done = f"{asked} epochs, training accuracy {acc[0]:.3f} -> {acc[-1]:.3f}"
    if spec.validation_images:
        done += validation(history.history, spec, data_source(ns), model)
    return done


def validation(
    history: dict[str, list[float]], spec: Assignment, source: str | None, model: Any
) -> str:
    key = accuracy_key(history, "val_")
    if key is None:
        raise StepFailure(
            "val_accuracy reported after each epoch",
            "no validation results",
            "pass `validation_data=(X_valid, y_valid)` to fit.",
        )
    val = history[key][-1]
    bar = accuracy_bar(spec, source)
    if bar is not None and val < bar:
        raise StepFailure(
            f"validation accuracy of at least {bar} on {source}",
            f"{val:.4f}",
            diagnosis(model, spec),
        )
    return f", validation accuracy {val:.4f}" + (f" (the graded bar is {bar})" if bar else "")


def accuracy_bar(spec: Assignment, source: str | None) -> float | None:
    return spec.thresholds[source].minimum if source in spec.thresholds else None


def saved(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = model_in(ns)
    name = spec.model_file
    here = Path.cwd()
    path = here / name
    if not path.exists():
        others = sorted(p.name for p in here.iterdir() if p.suffix in (".keras", ".h5"))
        if not others:
            raise StepFailure(
                f"a saved model, {name}, next to the notebook",
                "no .keras or .h5 file",
                f'save it: `model.save("{name}")`.',
            )
        path = here / others[0]
    loaded = keras.saving.load_model(path, compile=False)  # safe_mode: no code runs
    if not same_weights(loaded.get_weights(), model.get_weights()):
        raise StepFailure(
            f"{path.name} holding your trained model",
            f"{path.name} holds different weights (saved before training, or another model)",
            f'run `model.save("{name}")` again, after training.',
        )
    return f"{path.name} loads and holds your trained model ({path.stat().st_size:,} bytes)"
