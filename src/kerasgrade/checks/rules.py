"""Rules that a visible step check and a graded check both judge, written once.

Each rule takes plain values (shapes, numbers, names), which a step check reads from the
student's namespace and a graded check from the facts, and returns None when they are right or a
Problem: what was expected, what was found and what to change. So the check a student runs in
the notebook and the one that scores the same thing cannot disagree. Pure: no Keras, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kerasgrade.keras_terms import shape_text

IMAGE = (28, 28)  # rows and columns of one MNIST or Fashion-MNIST image


@dataclass(frozen=True)
class Problem:
    expected: str
    found: str
    change: str

    def sentence(self) -> str:
        """One line for a graded check's message."""
        return f"Expected {self.expected}; found {self.found}."


def bar_text(minimum: float) -> str:
    """A threshold as written in the spec: 0.85, 0.90, 0.915 (never rounded to 0.92)."""
    return f"{minimum:.2f}" if round(minimum, 2) == minimum else f"{minimum:.3f}"


def image_shape(name: str, shape: Sequence[int], n: int) -> Problem | None:
    """01's prepared images: (N, 28, 28, 1), the channel axis last. Images without the channel
    axis are not accepted: adding it is the lesson's step (the convolutional networks that come
    later need it)."""
    expected = (n, *IMAGE, 1)
    if tuple(shape) == expected:
        return None
    change = (f"reshape with the channel axis last: `{name} = {name}.reshape({name}.shape[0], "
              "img_rows, img_cols, 1)`.")
    if tuple(shape) == (n, *IMAGE):
        change = "the images still lack the channel axis (one grey channel). " + change
    elif len(shape) == 4 and shape[1] == 1:
        change = "put the channel axis last: (N, 28, 28, 1), not (N, 1, 28, 28). " + change
    return Problem(f"{name} of shape {shape_text(expected)}", f"{name} {shape_text(shape)}",
                   change)


def input_shape(value: object) -> Problem | None:
    """01's input_shape: one prepared image, (28, 28, 1). Only the value is judged: whether the
    images have that shape is image_shape's rule, so one mistake costs points once."""
    shape = tuple(value) if isinstance(value, tuple | list) else value
    expected = (*IMAGE, 1)
    if shape == expected:
        return None
    change = "set `input_shape = (img_rows, img_cols, 1)`: the shape of one image."
    if isinstance(shape, tuple) and len(shape) == len(expected) + 1:
        change = "leave out the number of images. " + change
    elif shape == IMAGE:
        change = "keep the channel axis, as the images have it. " + change
    return Problem(f"input_shape = {shape_text(expected)}, the shape of one image",
                   f"input_shape = {value!r}"[:200], change)


def pixel_scale(name: str, low: float, high: float, whole: bool | None) -> Problem | None:
    """Pixels scaled to [0, 1] by one division by 255. `whole`: every value is a whole number
    (None when unknown), which in [0, 1] means an integer division (`//= 255`) made 0s and 1s."""
    expected = f"{name} between 0 and 1, the brightest pixels near 1"
    found = f"values from {low:g} to {high:g}"
    if low < 0 or high > 1:
        return Problem(expected, found, f"divide by 255 once: `{name} /= 255` (after "
                       "converting to float32).")
    if whole and high == 1:
        return Problem(expected, f"{found}, whole numbers only: every pixel is 0 or 1",
                       f"`//` is integer division: it rounds every pixel down to 0 or 1 and the "
                       f"shades of grey are lost. Divide with `/`: `{name} /= 255`.")
    if high <= 1 / 255 + 1e-6:
        return Problem(expected, f"the largest value is {high:g}, that is 1/255 or less",
                       "the images were divided by 255 more than once, and the arrays alone "
                       "cannot tell where: look for another `/ 255` (in the float32 "
                       f"conversion, say) or a cell run twice. `{name} /= 255` must be the only "
                       "division; then run the notebook again from the top.")
    if high <= 0.5:
        return Problem(expected, found, f"divide by 255 exactly once: `{name} /= 255`.")
    return None


def model_input(found: Sequence[int | None], image: Sequence[int] | None, images_name: str,
                code: str | None = None) -> Problem | None:
    """The model reads one whole image (the Flatten layer makes it a row of 784 numbers).
    `image`: the shape of one image in the student's data, or None when only the rule is known:
    28 x 28, with or without the channel axis. `code`: the lesson's name for that shape."""
    found = tuple(found)
    if image is not None:
        ok = found == tuple(image)
        want = shape_text(tuple(image))
    else:
        ok = found in (IMAGE, (*IMAGE, 1))
        want = f"{shape_text(IMAGE)} or {shape_text((*IMAGE, 1))}"
    if ok:
        return None
    shape = code or (want if image is not None else shape_text(IMAGE))
    change = f"use `keras.Input(shape={shape})`, the shape of one image of {images_name}"
    if len(found) == 1:
        change += (": the model takes whole images and its Flatten layer turns each into "
                   f"{IMAGE[0] * IMAGE[1]} numbers, so its input is not flat.")
    else:
        change += ", without the number of images."
    return Problem(f"a model that reads images of shape {want}",
                   f"the model reads {shape_text(found)}", change)


def evaluate_outputs(names: set[str], test_acc: object) -> Problem | None:
    """`test_loss, test_acc = model.evaluate(...)`: evaluate returns two numbers. `names`: the
    names among test_loss and test_acc that are set."""
    pair = isinstance(test_acc, list | tuple) and len(test_acc) == 2
    if "test_loss" not in names and pair:
        return Problem("two numbers, test_loss and test_acc",
                       f"only test_acc, holding both: {list(test_acc)!r}"[:200],
                       "evaluate returns two numbers, the loss and the accuracy: unpack them, "
                       "`test_loss, test_acc = model.evaluate(...)`.")
    return None


def softmax_advice(loss: str) -> str:
    """What to change when the output layer has no activation but the loss wants probabilities."""
    return (
        f"your output layer has no activation, so it gives raw scores, but {loss} expects "
        "probabilities: in Keras 3 such a network trains to chance level (about 10% accuracy). "
        "Add activation='softmax': `Dense(10, activation='softmax')`."
    )
