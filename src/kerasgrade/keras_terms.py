"""One Keras vocabulary for checks, steps and pages: names, shapes, metrics, chance, weights."""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np

# Ten classes: a network whose accuracy is at or under this has learned (almost) nothing.
CHANCE = 0.2
# The names under which Keras reports the share of right answers (compile and history).
ACCURACY_METRICS = frozenset({"accuracy", "acc", "categorical_accuracy",
                              "sparse_categorical_accuracy"})
# Optimizers whose string name in Keras is their class name lowercased, not snake case.
_LOWERCASED = frozenset({"RMSprop", "AdamW", "ScheduleFreeAdamW"})


def keras_name(name: str) -> str:
    """The name a student would pass to compile() for a Keras class or string:
    'CategoricalCrossentropy' -> 'categorical_crossentropy', 'SGD' -> 'sgd',
    'KLDivergence' -> 'kl_divergence', 'RMSprop' -> 'rmsprop'; strings pass through."""
    if name in _LOWERCASED:
        return name.lower()
    # Acronyms stay whole: SGD -> sgd, not s_g_d.
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def compile_item(item: Any) -> tuple[str | None, dict[str, Any]]:
    """Name and config of a loss, optimizer or metric as a compile config stores it: a string,
    a plain function's name, or a serialized object (named by its class, since its own `name`
    gets a suffix when there are several, adam_2)."""
    if isinstance(item, str):
        return keras_name(item), {}
    if not isinstance(item, dict):
        return None, {}
    cfg = item.get("config")
    if isinstance(cfg, str):  # a plain function, e.g. keras.losses.categorical_crossentropy
        return keras_name(cfg), {}
    cfg = cfg if isinstance(cfg, dict) else {}
    name = item.get("class_name") or cfg.get("name")
    return (keras_name(name) if isinstance(name, str) else None), cfg


def shape_text(shape: Sequence[int | None] | None) -> str:
    """A shape as Keras prints it: (None, 784), (10,); "?" when unknown."""
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")"
    )


def same_weights(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> bool:
    """Two models' weights (get_weights()) are the same, up to float rounding."""
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y) for x, y in zip(a, b, strict=True))


def rows_sum_to_one(probs: Any) -> bool:
    """Every row is a probability distribution (what softmax outputs), to 3 decimals."""
    probs = np.asarray(probs)
    return bool((probs > -1e-6).all() and np.allclose(probs.sum(axis=-1), 1.0, atol=1e-3))


def quiet_tensorflow(env: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """TensorFlow's C++ log lines off (unless set): students read Python's messages only."""
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env
