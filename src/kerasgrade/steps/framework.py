"""Step checks a student runs in the notebook, in the read-only cell after each TODO cell.

`check_step(assignment_id, step, globals())` prints a ✔ line when the step is right and
raises an AssertionError (results.CheckFailed, shown without a traceback) saying what it
expected, what it found and what to change when it is not. The checks are quick (they
never train) and only help: grades come from the hidden checks, which measure again in a
clean process. Expected layers, epochs, losses and accuracy bars are read from
`kerasgrade.course.assignments`, the one source of truth for both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerasgrade.course import assignments
from kerasgrade.course.assignments import FASHION_CLASS_NAMES, Assignment, LayerSpec
from kerasgrade.report.results import CheckFailed

Namespace = dict[str, Any]

# The accuracy a 10-class network gets by guessing; training that ends below this learned
# nothing, which has a few typical causes worth naming.
NEAR_CHANCE = 0.2
ACCURACY_METRICS = {"accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy"}


class StepFailure(Exception):
    """What a step check found wrong, in the three parts a student reads."""

    def __init__(self, expected: str, found: str, change: str) -> None:
        super().__init__(expected, found, change)
        self.expected = expected
        self.found = found
        self.change = change


def check_step(assignment_id: str, step: str, namespace: Namespace) -> None:
    """Check one step of an assignment against the student's variables (their globals())."""
    message = _problem(assignment_id, step, namespace)
    if message is not None:
        raise CheckFailed(message)


def _problem(assignment_id: str, step: str, namespace: Namespace) -> str | None:
    """Print the ✔ line and return None when the step is right, else the message."""
    spec = assignments.get(assignment_id)
    steps = STEPS[assignment_id]
    if step not in steps:
        raise KeyError(f"{assignment_id} has no step {step!r}; it has {list(steps)}")
    try:
        done = steps[step](namespace, spec)
    except StepFailure as failure:
        return _failure_text(step, failure)
    except Exception as exc:  # an odd value made the check itself stumble: say so plainly
        return (
            f'Step "{step}" could not be checked: {type(exc).__name__}: {exc}\n'
            "What to change: run the notebook again from the top (Kernel > Restart Kernel "
            "and Run All Cells); if this stays, ask your teacher."
        )
    print(f"✔ {step}: {done}")
    return None


def _failure_text(step: str, failure: StepFailure) -> str:
    return (
        f'Step "{step}" is not right yet.\n'
        f"Expected: {failure.expected}\n"
        f"Found:    {failure.found}\n"
        f"What to change: {failure.change}"
    )


# ---------------------------------------------------------------------------------------
# Reading the namespace


def _need(ns: Namespace, name: str) -> Any:
    if name not in ns:
        raise StepFailure(
            f"a variable named `{name}`",
            f"no variable `{name}`",
            f"write `{name} = ...` in the cell above and run it (and the cells before it, "
            "in order).",
        )
    return ns[name]


def _array(ns: Namespace, name: str) -> np.ndarray:
    value = _need(ns, name)
    if not isinstance(value, np.ndarray):
        raise StepFailure(
            f"`{name}` to be a NumPy array",
            f"a {type(value).__name__}",
            "keep the arrays the loader gave you and transform them with NumPy methods "
            "(reshape, astype, division).",
        )
    return value


def _shape(shape: Any) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def _number(ns: Namespace, name: str) -> float:
    value = _need(ns, name)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise StepFailure(
            f"`{name}` to be a number",
            f"a {type(value).__name__}: {value!r}"[:200],
            "`model.evaluate` returns [loss, accuracy]: unpack it into two names, "
            "`test_loss, test_acc = model.evaluate(...)`.",
        )
    return float(value)


def _data_source(ns: Namespace) -> str | None:
    return getattr(ns.get("dataset"), "source", None)


def _model(ns: Namespace) -> Any:
    import keras

    model = _need(ns, "model")
    if model is keras.Sequential:
        raise StepFailure(
            "a Sequential model object",
            "the class `Sequential` itself",
            "call it to make a model: `model = Sequential()` (mind the parentheses).",
        )
    if not isinstance(model, keras.Model):
        raise StepFailure(
            "a Keras model in `model`",
            f"a {type(model).__name__}",
            "create it with `Sequential()`, and do not reuse the name `model` for "
            "anything else.",
        )
    return model


# ---------------------------------------------------------------------------------------
# Layers, compared with the LayerSpec rows of assignments.py


def _spec_text(spec: LayerSpec) -> str:
    if spec.type == "Dense":
        head = f"Dense({spec.output_shape[-1]}, activation='{spec.activation}')"
    else:
        head = spec.type
    return f"{head} with output {_shape(spec.output_shape)} and {spec.params:,} parameters"


def _activation(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    return None if act is None else getattr(act, "__name__", type(act).__name__)


def _output_shape(layer: Any) -> tuple[int | None, ...] | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # never called: the model has no input shape
        return None


def _layer_text(layer: Any) -> str:
    kind = type(layer).__name__
    head = kind
    if kind == "Dense":
        act = _activation(layer)
        shown = "no activation" if act == "linear" else f"activation='{act}'"
        head = f"Dense({layer.units}, {shown})"
    out = _output_shape(layer)
    if out is None:
        return f"{head}, not built yet (Keras does not know the input shape)"
    return f"{head} with output {_shape(out)} and {layer.count_params():,} parameters"


def _layer_problem(layer: Any, spec: LayerSpec, position: int) -> StepFailure | None:
    where = f"layer {position + 1}"
    kind = type(layer).__name__
    if kind != spec.type:
        change = f"make {where} a `{spec.type}` layer."
        if spec.type == "Flatten":
            change = (
                "start the model with the input and a Flatten layer: "
                "`keras.Input(shape=...)`, then `Flatten()`."
            )
        return StepFailure(f"{where}: {_spec_text(spec)}", f"{where}: {kind}", change)
    if kind == "Dense" and layer.units != spec.output_shape[-1]:
        return StepFailure(
            f"{where}: {_spec_text(spec)}",
            f"{where}: {_layer_text(layer)}",
            f"give it {spec.output_shape[-1]} units: `Dense({spec.output_shape[-1]}, ...)`.",
        )
    if _output_shape(layer) is None:
        return StepFailure(
            f"{where}: {_spec_text(spec)}",
            f"{where}: {_layer_text(layer)}",
            "tell the model the shape of one image: begin with `keras.Input(shape=...)` "
            "before `Flatten()` (or write `Flatten(input_shape=...)`).",
        )
    act = _activation(layer)
    if spec.activation is not None and act != spec.activation:
        return StepFailure(
            f"{where}: {_spec_text(spec)}",
            f"{where}: {_layer_text(layer)}",
            _activation_advice(spec.activation, act),
        )
    if _output_shape(layer) != spec.output_shape or layer.count_params() != spec.params:
        return StepFailure(
            f"{where}: {_spec_text(spec)}",
            f"{where}: {_layer_text(layer)}",
            "check the input shape (one image, without the number of images) and the layers "
            "before this one.",
        )
    return None


def _activation_advice(expected: str, found: str | None) -> str:
    if expected == "softmax" and found == "linear":
        return (
            "your output layer has no activation, so it gives raw scores, but "
            "categorical_crossentropy expects probabilities: in Keras 3 such a network "
            "trains to chance level (about 10% accuracy). Add activation='softmax': "
            "`Dense(10, activation='softmax')`."
        )
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


def _check_layers(model: Any, specs: tuple[LayerSpec, ...], upto: int) -> None:
    """The first `upto` layers must match the spec; say so when one was added twice."""
    layers = model.layers
    for i, spec in enumerate(specs[:upto]):
        if i >= len(layers):
            raise StepFailure(
                f"layer {i + 1}: {_spec_text(spec)}",
                f"the model has {len(layers)} layer(s)",
                "add it with `model.add(...)` in the cell above and run that cell once.",
            )
        problem = _layer_problem(layers[i], spec, i)
        if problem is not None:
            raise problem
    if upto == len(specs) and len(layers) > upto:
        raise StepFailure(
            f"{len(specs)} layers",
            f"{len(layers)} layers; layer {upto + 1} is {_layer_text(layers[upto])}",
            "remove the extra layer(s): run the notebook again from the cell that creates "
            "the model, running each cell once.",
        )
    if len(layers) > upto and type(layers[upto]) is type(layers[upto - 1]) and (
        getattr(layers[upto], "units", None) == getattr(layers[upto - 1], "units", None)
    ):
        raise StepFailure(
            f"layer {upto}: {_spec_text(specs[upto - 1])}, once",
            f"the same layer twice, as layers {upto} and {upto + 1}",
            "a cell that adds a layer adds it again each time it runs: run the notebook "
            "again from `model = Sequential()`, running each cell once.",
        )


def _architecture(ns: Namespace, spec: Assignment) -> str:
    model = _model(ns)
    _check_layers(model, spec.layers, len(spec.layers))
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


# ---------------------------------------------------------------------------------------
# Compile, fit, save (02 and 03)


def _config_name(item: Any) -> tuple[str | None, dict[str, Any]]:
    """Name and config of a loss/optimizer/metric as get_compile_config() writes it.

    Objects are named by class: their `name` gets a suffix when there are several
    (adam_2).
    """
    if isinstance(item, str):
        return assignments.keras_name(item), {}
    if isinstance(item, dict):
        cfg = item.get("config")
        if isinstance(cfg, str):  # a plain function, e.g. keras.losses.categorical_crossentropy
            return assignments.keras_name(cfg), {}
        if isinstance(item.get("class_name"), str):
            return assignments.keras_name(item["class_name"]), cfg if isinstance(cfg, dict) else {}
    return None, {}


def _compile(ns: Namespace, spec: Assignment) -> str:
    model = _model(ns)
    if not getattr(model, "compiled", False):
        raise StepFailure(
            "a compiled model",
            "the model is not compiled",
            "call `model.compile(loss=..., optimizer=..., metrics=['accuracy'])`.",
        )
    cc = model.get_compile_config()
    loss, loss_cfg = _config_name(cc.get("loss"))
    optimizer, _ = _config_name(cc.get("optimizer"))
    metrics = [_config_name(m)[0] for m in cc.get("metrics") or []]
    wanted = spec.loss[0]
    labels = ns.get("train_labels", ns.get("y_train"))
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
    output_activation = _activation(model.layers[-1]) if model.layers else None
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
            _activation_advice("softmax", "linear"),
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


def _accuracy_key(history: dict[str, list[float]], prefix: str = "") -> str | None:
    for key in history:
        if key.startswith(prefix) and key[len(prefix) :] in ACCURACY_METRICS:
            return key
    return None


def _diagnosis(model: Any) -> str:
    if model.layers and _activation(model.layers[-1]) == "linear":
        return _activation_advice("softmax", "linear")
    return (
        "the network learned little: check that the pixels are scaled to [0, 1], that the "
        "labels match the loss, and that you trained for the number of epochs asked; then "
        "run the notebook again from the top."
    )


def _fit(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = _model(ns)
    history = _need(ns, "history")
    if not isinstance(history, keras.callbacks.History):
        raise StepFailure(
            "`history`: what `model.fit(...)` returns",
            f"a {type(history).__name__}",
            "write `history = model.fit(...)`.",
        )
    epochs = _need(ns, "epochs")
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
    key = _accuracy_key(history.history)
    if key is None:
        raise StepFailure(
            "an accuracy per epoch", "no accuracy in history", "compile with metrics=['accuracy']."
        )
    acc = history.history[key]
    if acc[-1] < NEAR_CHANCE:
        raise StepFailure(
            "training accuracy well above chance (10%)",
            f"{acc[-1]:.3f} after {asked} epochs",
            _diagnosis(model),
        )
    done = f"{asked} epochs, training accuracy {acc[0]:.3f} -> {acc[-1]:.3f}"
    if spec.id == assignments.FASHION_CLASSIFIER:
        done += _validation(history.history, spec, _data_source(ns), model)
    return done


def _validation(
    history: dict[str, list[float]], spec: Assignment, source: str | None, model: Any
) -> str:
    key = _accuracy_key(history, "val_")
    if key is None:
        raise StepFailure(
            "val_accuracy reported after each epoch",
            "no validation results",
            "pass `validation_data=(X_valid, y_valid)` to fit.",
        )
    val = history[key][-1]
    bar = _bar(spec, source)
    if bar is not None and val < bar:
        raise StepFailure(
            f"validation accuracy of at least {bar} on {source}",
            f"{val:.4f}",
            _diagnosis(model),
        )
    return f", validation accuracy {val:.4f}" + (f" (the graded bar is {bar})" if bar else "")


def _bar(spec: Assignment, source: str | None) -> float | None:
    return spec.thresholds[source].minimum if source in spec.thresholds else None


def _save(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = _model(ns)
    name = SAVE_FILES[spec.id]
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
    saved = keras.saving.load_model(path, compile=False)  # safe_mode: no code runs
    a, b = saved.get_weights(), model.get_weights()
    if len(a) != len(b) or not all(x.shape == y.shape and np.allclose(x, y) for x, y in zip(a, b)):
        raise StepFailure(
            f"{path.name} holding your trained model",
            f"{path.name} holds different weights (saved before training, or another model)",
            f'run `model.save("{name}")` again, after training.',
        )
    return f"{path.name} loads and holds your trained model ({path.stat().st_size:,} bytes)"


# ---------------------------------------------------------------------------------------
# 01-preparing-data


def _images_and_labels(ns: Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        part: (_array(ns, f"{part}_images"), _array(ns, f"{part}_labels"))
        for part in ("train", "test")
    }


def _load(ns: Namespace, spec: Assignment) -> str:
    sets = _images_and_labels(ns)
    for part, (images, labels) in sets.items():
        # Later steps reshape and encode these same arrays: accept their results too, so
        # that this check still passes when it is run again at the end.
        if images.shape[1:3] != (28, 28) or len(images) != len(labels):
            raise StepFailure(
                f"{part}_images of shape (N, 28, 28) and {part}_labels of shape (N,)",
                f"{part}_images {_shape(images.shape)} and {part}_labels {_shape(labels.shape)}",
                "unpack in this order: `(train_images, train_labels), (test_images, "
                "test_labels) = dataset` (and run the notebook again from the top).",
            )
    if len(sets["train"][0]) < len(sets["test"][0]):
        raise StepFailure(
            "more training images than test images",
            f"{len(sets['train'][0])} training and {len(sets['test'][0])} test images",
            "the training pair comes first: `(train_images, train_labels), (test_images, "
            "test_labels) = dataset`.",
        )
    facts = {name: ns.get(name) for name in ("img_rows", "img_cols", "num_classes")}
    if facts != {"img_rows": 28, "img_cols": 28, "num_classes": 10}:
        raise StepFailure(
            "img_rows = 28, img_cols = 28, num_classes = 10",
            ", ".join(f"{k} = {v!r}" for k, v in facts.items()),
            "set `img_rows, img_cols = 28, 28` and `num_classes = 10`.",
        )
    n_train, n_test = len(sets["train"][0]), len(sets["test"][0])
    return f"{n_train:,} training and {n_test:,} test images of 28 x 28 pixels, labels 0-9"


def _reshape(ns: Namespace, spec: Assignment) -> str:
    for part, (images, labels) in _images_and_labels(ns).items():
        expected = (len(labels), 28, 28, 1)
        if images.shape != expected:
            change = (
                f"reshape with the channel axis last: `{part}_images = {part}_images.reshape("
                f"{part}_images.shape[0], img_rows, img_cols, 1)`."
            )
            if images.ndim == 4 and images.shape[1] == 1:
                change = "put the channel axis last: (N, 28, 28, 1), not (N, 1, 28, 28). " + change
            raise StepFailure(_shape(expected), f"{part}_images {_shape(images.shape)}", change)
    return "images are (N, 28, 28, 1): one grey channel"


def _input_shape(ns: Namespace, spec: Assignment) -> str:
    value = _need(ns, "input_shape")
    image = _array(ns, "train_images").shape[1:]
    shape = tuple(value) if isinstance(value, tuple | list) else value
    if shape not in ((28, 28, 1), (28, 28)) or shape != image:
        change = "set `input_shape = (img_rows, img_cols, 1)`: the shape of one image."
        if isinstance(shape, tuple) and len(shape) == len(image) + 1:
            change = "leave out the number of images. " + change
        raise StepFailure(
            f"the shape of one image, {_shape(image)}", f"input_shape = {value!r}", change
        )
    return f"input_shape = {shape!r}"


def _dtype(ns: Namespace, spec: Assignment) -> str:
    for part, (images, _) in _images_and_labels(ns).items():
        if images.dtype != np.float32:
            raise StepFailure(
                f"{part}_images of type float32",
                f"{images.dtype}",
                f'convert with `{part}_images = {part}_images.astype("float32")`'
                + (" (float64 takes twice the memory)." if images.dtype == np.float64 else "."),
            )
    return "images are float32"


def _scale(ns: Namespace, spec: Assignment) -> str:
    for part, (images, _) in _images_and_labels(ns).items():
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 1:
            raise StepFailure(
                f"{part}_images between 0 and 1",
                f"values from {low:g} to {high:g}",
                f"divide by 255: `{part}_images /= 255`.",
            )
        if high <= 1 / 255 + 1e-6:
            raise StepFailure(
                f"{part}_images between 0 and 1, the brightest pixels near 1",
                f"the largest value is {high:g}",
                "the images were divided by 255 more than once (the cell ran twice): run "
                "the notebook again from the top, running each cell once.",
            )
    return "pixels lie in [0, 1]"


def _one_hot(ns: Namespace, spec: Assignment) -> str:
    num_classes = ns.get("num_classes", 10)
    for part, (images, labels) in _images_and_labels(ns).items():
        expected = (len(images), num_classes)
        if labels.ndim == 1:
            raise StepFailure(
                f"{part}_labels one-hot, shape {_shape(expected)}",
                f"{_shape(labels.shape)}: one class number per image",
                f"encode them: `{part}_labels = keras.utils.to_categorical({part}_labels, "
                "num_classes)`.",
            )
        if labels.shape != expected:
            twice = labels.ndim == 3
            raise StepFailure(
                f"{part}_labels of shape {_shape(expected)}",
                _shape(labels.shape),
                "the labels were encoded twice (the cell ran twice): run the notebook again "
                "from the top, running each cell once."
                if twice
                else f"use `keras.utils.to_categorical({part}_labels, num_classes)`.",
            )
        if not (np.isin(labels, (0, 1)).all() and np.allclose(labels.sum(axis=1), 1)):
            raise StepFailure(
                f"{part}_labels rows with a single 1 and nine 0s",
                "other values",
                f"use `keras.utils.to_categorical({part}_labels, num_classes)` on the labels "
                "as loaded.",
            )
    return "labels are one-hot rows of 10"


# ---------------------------------------------------------------------------------------
# 02-connected-networks


def _epochs(ns: Namespace, spec: Assignment) -> str:
    epochs = _need(ns, "epochs")
    if type(epochs) is not int or epochs != spec.epochs:
        raise StepFailure(
            f"epochs = {spec.epochs}, a whole number",
            f"epochs = {epochs!r}",
            f"write `epochs = {spec.epochs}`.",
        )
    return f"epochs = {epochs}"


def _new_model(ns: Namespace, spec: Assignment) -> str:
    import keras

    model = _model(ns)
    if not isinstance(model, keras.Sequential):
        raise StepFailure(
            "a Sequential model", type(model).__name__, "write `model = Sequential()`."
        )
    return "model is a Sequential model"


def _input_layer(ns: Namespace, spec: Assignment) -> str:
    model = _model(ns)
    _check_layers(model, spec.layers, 1)
    want = tuple(_need(ns, "input_shape"))
    got = tuple(model.input_shape[1:])
    if got != want:
        raise StepFailure(
            f"a model that reads images of shape input_shape = {_shape(want)}",
            f"the model reads {_shape(got)}",
            "use `keras.Input(shape=input_shape)`.",
        )
    return f"Flatten turns each {_shape(want)} image into 784 numbers"


def _hidden_layer(ns: Namespace, spec: Assignment) -> str:
    _check_layers(_model(ns), spec.layers, 2)
    return f"{_spec_text(spec.layers[1])}"


def _output_layer(ns: Namespace, spec: Assignment) -> str:
    _check_layers(_model(ns), spec.layers, 3)
    return f"{_spec_text(spec.layers[2])}"


def _evaluate(ns: Namespace, spec: Assignment) -> str:
    loss, acc = _number(ns, "test_loss"), _number(ns, "test_acc")
    if not (math.isfinite(loss) and loss >= 0 and 0 <= acc <= 1):
        swapped = 0 <= loss <= 1 and (acc > 1 or not math.isfinite(acc))
        raise StepFailure(
            "test_loss >= 0 and test_acc between 0 and 1",
            f"test_loss = {loss:g}, test_acc = {acc:g}",
            "evaluate returns the loss first: `test_loss, test_acc = model.evaluate(...)`."
            if swapped
            else _diagnosis(_model(ns)),
        )
    source = _data_source(ns)
    bar = _bar(spec, source)
    if bar is not None and acc < bar:
        change = _diagnosis(_model(ns))
        if acc < loss <= 1:  # a trained network's loss is rarely below its accuracy
            change = (
                "check the order first: evaluate returns the loss first, `test_loss, "
                f"test_acc = model.evaluate(...)`. If that is right: {change}"
            )
        raise StepFailure(f"a test accuracy of at least {bar} on {source}", f"{acc:.4f}", change)
    graded = f" (the graded bar on {source} is {bar})" if bar is not None else ""
    return f"test accuracy {acc:.4f}{graded}"


# ---------------------------------------------------------------------------------------
# 03-fashion-classifier


def _split(ns: Namespace, spec: Assignment) -> str:
    full = ns.get("X_train_full")
    n_full = len(full) if isinstance(full, np.ndarray) else 60_000
    sizes = {"X_valid": 5_000, "X_train": n_full - 5_000, "X_test": None}
    for name, n in sizes.items():
        images = _array(ns, name)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or (n and len(images) != n):
            raise StepFailure(
                f"{name} of shape ({n or 'N'}, 28, 28)",
                f"{name} {_shape(images.shape)}",
                "the first 5,000 training images are the validation set, the others the "
                "training set: `X_valid, X_train = X_train_full[:5000] / 255.0, "
                "X_train_full[5000:] / 255.0`.",
            )
        if images.dtype.kind != "f" or images.min() < 0 or not 0.5 < images.max() <= 1:
            raise StepFailure(
                f"{name} scaled to [0, 1]",
                f"{images.dtype} values from {images.min():g} to {images.max():g}",
                f"divide by 255.0 once (if you ran the cell twice, run the notebook again "
                f"from the top): `{name} = ... / 255.0`.",
            )
    for name, images in (("y_valid", "X_valid"), ("y_train", "X_train")):
        labels = _array(ns, name)
        if labels.shape != (len(ns[images]),):
            raise StepFailure(
                f"{name} of shape ({len(ns[images])},), one class number per image",
                _shape(labels.shape),
                "split the labels like the images: `y_valid, y_train = y_train_full[:5000], "
                "y_train_full[5000:]`.",
            )
    labels_full = ns.get("y_train_full")
    if isinstance(full, np.ndarray) and isinstance(labels_full, np.ndarray) and not (
        np.allclose(ns["X_valid"][:10], full[:10] / 255.0)
        and np.array_equal(ns["y_valid"], labels_full[:5000])
    ):
        raise StepFailure(
            "X_valid, y_valid: the first 5,000 training images and labels",
            "other images or labels",
            "take the validation set from the start: `X_train_full[:5000]`, "
            "`y_train_full[:5000]`.",
        )
    return (
        f"{len(ns['X_train']):,} training, {len(ns['X_valid']):,} validation and "
        f"{len(ns['X_test']):,} test images, scaled to [0, 1]"
    )


def _class_names(ns: Namespace, spec: Assignment) -> str:
    names = _need(ns, "class_names")
    if not isinstance(names, list | tuple) or len(names) != len(FASHION_CLASS_NAMES):
        raise StepFailure(
            f"a list of {len(FASHION_CLASS_NAMES)} names",
            repr(names)[:200],
            "write `class_names = [\"T-shirt/top\", \"Trouser\", ...]` with all 10 names.",
        )
    for i, (got, want) in enumerate(zip(names, FASHION_CLASS_NAMES, strict=True)):
        if got != want:
            raise StepFailure(
                f"class_names[{i}] == {want!r}",
                f"{got!r}",
                "use the names, order and spelling of the lesson.",
            )
    return ", ".join(names)


def _predict(ns: Namespace, spec: Assignment) -> str:
    x_new = _array(ns, "X_new")
    x_test = _array(ns, "X_test")
    if x_new.shape != (3, 28, 28) or not np.array_equal(x_new, x_test[:3]):
        raise StepFailure(
            "X_new = X_test[:3], the first three (scaled) test images",
            f"X_new {_shape(x_new.shape)}",
            "write `X_new = X_test[:3]`.",
        )
    proba = _array(ns, "y_proba")
    if proba.shape != (3, 10):
        raise StepFailure(
            "y_proba of shape (3, 10): 10 class probabilities per image",
            f"y_proba {_shape(proba.shape)}",
            "write `y_proba = model.predict(X_new)`.",
        )
    if not (np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1, atol=1e-3)):
        raise StepFailure(
            "rows of probabilities that add up to 1",
            f"row sums {np.round(proba.sum(axis=1), 3).tolist()}",
            "the output layer needs activation='softmax'; then train and predict again.",
        )
    y_pred = _array(ns, "y_pred")
    if not np.array_equal(y_pred, proba.argmax(axis=-1)):
        raise StepFailure(
            "y_pred: the class with the highest probability, per image",
            f"y_pred = {y_pred!r}"[:200],
            "write `y_pred = y_proba.argmax(axis=-1)`.",
        )
    first = int(y_pred[0])
    boot = FASHION_CLASS_NAMES.index("Ankle boot")
    if first != boot:
        raise StepFailure(
            f"the first test image predicted as class {boot}, Ankle boot (it is one)",
            f"class {first}, {FASHION_CLASS_NAMES[first]}",
            _diagnosis(_model(ns)),
        )
    top = np.argsort(proba[0])[::-1][:3]
    return "first image: " + ", ".join(
        f"{FASHION_CLASS_NAMES[k]} {proba[0, k]:.0%}" for k in top
    )


# ---------------------------------------------------------------------------------------

Step = Callable[[Namespace, Assignment], str]

STEPS: dict[str, dict[str, Step]] = {
    assignments.PREPARING_DATA: {
        "load": _load,
        "reshape": _reshape,
        "input_shape": _input_shape,
        "dtype": _dtype,
        "scale": _scale,
        "one_hot": _one_hot,
    },
    assignments.CONNECTED_NETWORKS: {
        "epochs": _epochs,
        "model": _new_model,
        "input_layer": _input_layer,
        "hidden_layer": _hidden_layer,
        "output_layer": _output_layer,
        "summary": _architecture,
        "compile": _compile,
        "fit": _fit,
        "evaluate": _evaluate,
        "save": _save,
    },
    assignments.FASHION_CLASSIFIER: {
        "split": _split,
        "class_names": _class_names,
        "architecture": _architecture,
        "compile": _compile,
        "fit": _fit,
        "predict": _predict,
        "save": _save,
    },
}

# The file each lesson tells the student to save to (any .keras or .h5 file is accepted).
SAVE_FILES = {
    assignments.CONNECTED_NETWORKS: "my_model.keras",
    assignments.FASHION_CLASSIFIER: "fashion_model.keras",
}
