"""Step checks of 03-fashion-classifier: validation split, class names, predictions."""

from __future__ import annotations

import numpy as np

from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import rows_sum_to_one, shape_text
from kerasgrade.steps.framework import (
    Namespace,
    Step,
    StepFailure,
    array,
    model_in,
    need,
)
from kerasgrade.steps.model import architecture, compiled, diagnosis, saved, trained


def _split(ns: Namespace, spec: Assignment) -> str:
    full = ns.get("X_train_full")
    n_full = len(full) if isinstance(full, np.ndarray) else 60_000
    sizes = {"X_valid": 5_000, "X_train": n_full - 5_000, "X_test": None}
    for name, n in sizes.items():
        images = array(ns, name)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or (n and len(images) != n):
            raise StepFailure(
                f"{name} of shape ({n or 'N'}, 28, 28)",
                f"{name} {shape_text(images.shape)}",
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
        labels = array(ns, name)
        if labels.shape != (len(ns[images]),):
            raise StepFailure(
                f"{name} of shape ({len(ns[images])},), one class number per image",
                shape_text(labels.shape),
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
    names = need(ns, "class_names")
    if not isinstance(names, list | tuple) or len(names) != len(spec.class_names):
        raise StepFailure(
            f"a list of {len(spec.class_names)} names",
            repr(names)[:200],
            "write `class_names = [\"T-shirt/top\", \"Trouser\", ...]` with all 10 names.",
        )
    for i, (got, want) in enumerate(zip(names, spec.class_names, strict=True)):
        if got != want:
            raise StepFailure(
                f"class_names[{i}] == {want!r}",
                f"{got!r}",
                "use the names, order and spelling of the lesson.",
            )
    return ", ".join(names)


def _predict(ns: Namespace, spec: Assignment) -> str:
    x_new = array(ns, "X_new")
    x_test = array(ns, "X_test")
    if x_new.shape != (3, 28, 28) or not np.array_equal(x_new, x_test[:3]):
        raise StepFailure(
            "X_new = X_test[:3], the first three (scaled) test images",
            f"X_new {shape_text(x_new.shape)}",
            "write `X_new = X_test[:3]`.",
        )
    proba = array(ns, "y_proba")
    if proba.shape != (3, 10):
        raise StepFailure(
            "y_proba of shape (3, 10): 10 class probabilities per image",
            f"y_proba {shape_text(proba.shape)}",
            "write `y_proba = model.predict(X_new)`.",
        )
    if not rows_sum_to_one(proba):
        raise StepFailure(
            "rows of probabilities that add up to 1",
            f"row sums {np.round(proba.sum(axis=1), 3).tolist()}",
            "the output layer needs activation='softmax'; then train and predict again.",
        )
    y_pred = array(ns, "y_pred")
    if not np.array_equal(y_pred, proba.argmax(axis=-1)):
        raise StepFailure(
            "y_pred: the class with the highest probability, per image",
            f"y_pred = {y_pred!r}"[:200],
            "write `y_pred = y_proba.argmax(axis=-1)`.",
        )
    first = int(y_pred[0])
    boot = spec.class_names.index("Ankle boot")
    if first != boot:
        raise StepFailure(
            f"the first test image predicted as class {boot}, Ankle boot (it is one)",
            f"class {first}, {spec.class_names[first]}",
            diagnosis(model_in(ns)),
        )
    top = np.argsort(proba[0])[::-1][:3]
    return "first image: " + ", ".join(
        f"{spec.class_names[k]} {proba[0, k]:.0%}" for k in top
    )


STEPS: dict[str, Step] = {
    "split": _split,
    "class_names": _class_names,
    "architecture": architecture,
    "compile": compiled,
    "fit": trained,
    "predict": _predict,
    "save": saved,
}
