"""One Keras vocabulary: the names, shapes and comparisons every stage uses."""

from __future__ import annotations

import numpy as np
import pytest

from kerasgrade.keras_terms import (
    compile_item,
    keras_name,
    rows_sum_to_one,
    same_weights,
    shape_text,
)


@pytest.mark.parametrize("name,expected", [
    ("RMSprop", "rmsprop"), ("SGD", "sgd"), ("Adam", "adam"), ("AdamW", "adamw"),
    ("KLDivergence", "kl_divergence"), ("CategoricalCrossentropy", "categorical_crossentropy"),
    ("categorical_crossentropy", "categorical_crossentropy"), ("adam_2", "adam_2"),
])
def test_keras_name(name: str, expected: str) -> None:
    assert keras_name(name) == expected


@pytest.mark.parametrize("item,expected", [
    ("adam", ("adam", {})),
    # A plain function passed as the loss: its name is the config.
    ({"module": "keras.losses", "class_name": "function",
      "config": "categorical_crossentropy"}, ("categorical_crossentropy", {})),
    # An object: named by its class, with its config (from_logits decides a check).
    ({"class_name": "SparseCategoricalCrossentropy", "config": {"name": "scc_2",
      "from_logits": True}},
     ("sparse_categorical_crossentropy", {"name": "scc_2", "from_logits": True})),
    ({"config": {"name": "Adam"}}, ("adam", {"name": "Adam"})),
    (None, (None, {})), (42, (None, {})), ({"config": ["odd"]}, (None, {})),
])
def test_compile_item(item: object, expected: tuple) -> None:
    assert compile_item(item) == expected


def test_shapes_are_written_as_keras_prints_them() -> None:
    assert shape_text((None, 784)) == "(None, 784)"
    assert shape_text((10,)) == "(10,)"
    assert shape_text([60000, 28, 28, 1]) == "(60000, 28, 28, 1)"
    assert shape_text(None) == "?"


def test_weights_compare_by_shape_and_value() -> None:
    a = [np.ones((2, 3)), np.zeros(3)]
    assert same_weights(a, [np.ones((2, 3)), np.zeros(3) + 1e-9])
    assert not same_weights(a, [np.ones((2, 3)), np.ones(3)])
    assert not same_weights(a, [np.ones((3, 2)), np.zeros(3)])
    assert not same_weights(a, a[:1])
    # Training that diverged leaves nan in the model and the same nan in its saved copy.
    diverged = [np.full((2, 3), np.nan), np.zeros(3)]
    assert same_weights(diverged, [np.full((2, 3), np.nan), np.zeros(3)])
    assert not same_weights(diverged, a)


def test_probability_rows() -> None:
    assert rows_sum_to_one([[0.25, 0.75], [1.0, 0.0]])
    assert not rows_sum_to_one([[0.5, 0.6]])  # does not add up to 1
    assert not rows_sum_to_one([[1.5, -0.5]])  # adds up, but negative: raw scores
    # y_proba.round(2), as the lesson prints it: ten values rounded may sum to 0.99
    rounded = np.array([[0.02, 0.01, 0.0, 0.0, 0.0, 0.17, 0.0, 0.11, 0.0, 0.68]], "float32")
    assert rows_sum_to_one(rounded) and not rows_sum_to_one(rounded * 1.1)
