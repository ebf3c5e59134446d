"""One Keras vocabulary for checks, steps and pages: names, shapes, layers, metrics, chance."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerSpec:
    """A layer as an assignment states it and Keras's summary shows it."""

    type: str
    output_shape: tuple[int | None, ...]
    params: int
    activation: str | None = None


# Ten classes: guessing is right one time in ten.
CHANCE = 0.1
# An accuracy at or under this (twice guessing) means the network learned (almost) nothing.
NEAR_CHANCE = 2 * CHANCE
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
    """Two models' weights (get_weights()) are the same, up to float rounding; a model whose
    training diverged holds nan, and its saved copy the same nan."""
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))


def rows_sum_to_one(probs: Any) -> bool:
    """Every row is a probability distribution (what softmax outputs), to 3 decimals, or to
    the rounding of its values: `model.predict(X).round(2)` still holds probabilities, whose
    10 rounded values may sum to 1 +- 10 x 0.005."""
    probs = np.asarray(probs, dtype=np.float64)
    tolerance = 1e-3
    # Values on a grid of 0.01 (float32's 1e-6 aside): allow each one's rounding.
    if probs.ndim and probs.size and np.allclose(probs, probs.round(2), rtol=0, atol=1e-6):
        tolerance = max(tolerance, probs.shape[-1] * 0.005)
    return bool((probs > -1e-6).all()
                and np.allclose(probs.sum(axis=-1), 1.0, rtol=0, atol=tolerance))


def quiet_tensorflow(env: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """TensorFlow's C++ log lines off (unless set): students read Python's messages only."""
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def layer_spec_text(layer: LayerSpec) -> str:
    act = f", {layer.activation}" if layer.activation else ""
    return f"{layer.type} {shape_text(layer.output_shape)} {layer.params:,}{act}"


def layer_found_text(row: dict[str, Any]) -> str:
    act = row.get("activation")
    act_txt = f", {act}" if act and row["type"] == "Dense" else ""
    return f"{row['type']} {shape_text(row['output_shape'])} {row['params']:,}{act_txt}"


def layer_rows(expected: tuple[LayerSpec, ...], found: list[dict[str, Any]]
               ) -> list[tuple[str, str, str]]:
    """(expected, found, mark) per layer, aligned so a missing or extra layer shows.

    Marks: ok, activation differs, WRONG, MISSING, EXTRA.
    """
    exp_keys = [(e.type, e.output_shape[-1]) for e in expected]
    got_keys = [(r["type"], (r["output_shape"] or [None])[-1]) for r in found]
    rows: list[tuple[str, str, str]] = []
    matcher = difflib.SequenceMatcher(a=exp_keys, b=got_keys, autojunk=False)
    for _op, i1, i2, j1, j2 in matcher.get_opcodes():
        exp_part, got_part = expected[i1:i2], found[j1:j2]
        for k in range(max(len(exp_part), len(got_part))):
            e = exp_part[k] if k < len(exp_part) else None
            g = got_part[k] if k < len(got_part) else None
            if e is None:
                mark = "EXTRA"
            elif g is None:
                mark = "MISSING"
            elif not layer_matches(e, g):
                mark = "WRONG"
            elif e.activation and g.get("activation") != e.activation:
                mark = "activation differs"
            else:
                mark = "ok"
            rows.append((layer_spec_text(e) if e else "-", layer_found_text(g) if g else "-", mark))
    return rows


def layer_table_text(expected: tuple[LayerSpec, ...], found: list[dict[str, Any]]) -> str:
    """layer_rows as fixed-width text, for messages."""
    rows = layer_rows(expected, found)
    width = max(len(r[0]) for r in rows + [("expected", "", "")])
    lines = [f"  {'expected':<{width}}  |  found"]
    lines += [f"  {e:<{width}}  |  {g}  [{m}]" for e, g, m in rows]
    return "\n".join(lines)


def layer_matches(e: LayerSpec, g: dict[str, Any]) -> bool:
    """A measured layer (a facts row) is the expected one: type, output shape, parameters."""
    return (
        e.type == g["type"]
        and tuple(g["output_shape"] or ()) == e.output_shape
        and e.params == g["params"]
    )
