"""Step checks of 01-preparing-data: loading, reshaping, converting, scaling, encoding."""

from __future__ import annotations

import numpy as np

from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import shape_text
from kerasgrade.steps.framework import (
    Namespace,
    Step,
    StepFailure,
    array,
    need,
)


def _images_and_labels(ns: Namespace) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        part: (array(ns, f"{part}_images"), array(ns, f"{part}_labels"))
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
                f"{part}_images {shape_text(images.shape)} and "
                f"{part}_labels {shape_text(labels.shape)}",
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
            raise StepFailure(shape_text(expected), f"{part}_images {shape_text(images.shape)}",
                              change)
    return "images are (N, 28, 28, 1): one grey channel"


def _input_shape(ns: Namespace, spec: Assignment) -> str:
    value = need(ns, "input_shape")
    image = array(ns, "train_images").shape[1:]
    shape = tuple(value) if isinstance(value, tuple | list) else value
    if shape not in ((28, 28, 1), (28, 28)) or shape != image:
        change = "set `input_shape = (img_rows, img_cols, 1)`: the shape of one image."
        if isinstance(shape, tuple) and len(shape) == len(image) + 1:
            change = "leave out the number of images. " + change
        raise StepFailure(
            f"the shape of one image, {shape_text(image)}", f"input_shape = {value!r}", change
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
                f"{part}_labels one-hot, shape {shape_text(expected)}",
                f"{shape_text(labels.shape)}: one class number per image",
                f"encode them: `{part}_labels = keras.utils.to_categorical({part}_labels, "
                "num_classes)`.",
            )
        if labels.shape != expected:
            twice = labels.ndim == 3
            raise StepFailure(
                f"{part}_labels of shape {shape_text(expected)}",
                shape_text(labels.shape),
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


STEPS: dict[str, Step] = {
    "load": _load,
    "reshape": _reshape,
    "input_shape": _input_shape,
    "dtype": _dtype,
    "scale": _scale,
    "one_hot": _one_hot,
}
