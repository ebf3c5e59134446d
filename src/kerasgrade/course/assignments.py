"""Every assignment declared once (assignments.toml): checks, layers, thresholds, names, mistakes.

The ids are fixed: tools outside the project refer to them. Adding an assignment takes an entry
in assignments.toml, a checks module and a steps module named by its ``module`` field, and a
master notebook in source/ (docs/architecture.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kerasgrade.keras_terms import LayerSpec

PREPARING_DATA = "01-preparing-data"
CONNECTED_NETWORKS = "02-connected-networks"
FASHION_CLASSIFIER = "03-fashion-classifier"
IMPROVING_NETWORK = "04-improving-your-network"


# When Gradescope shows a check to the student (its results.json "visibility").
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    points: float
    title: str
    visibility: Visibility = "visible"


@dataclass(frozen=True)
class Leaderboard:
    """A measured figure for Gradescope's leaderboard: facts["evaluation"][key]."""

    name: str
    key: str
    order: Literal["asc", "desc"] = "desc"


@dataclass(frozen=True)
class Threshold:
    """An accuracy bar for one data source, written down beside the accuracy measured."""

    minimum: float
    reference: float
    note: str


@dataclass(frozen=True)
class DataNames:
    """The names the lesson gives its data arrays, so that every message uses them."""

    train_images: str = "train_images"
    train_labels: str = "train_labels"
    test_images: str = "test_images"
    test_labels: str = "test_labels"


@dataclass(frozen=True)
class ModelSpec:
    """One of several models a lesson builds, each in its own variable (04's experiments).

    `layers` and `epochs` are exact when given; `max_params` and `max_epochs` bound a model the
    student designs. `row` is its row in the lesson's results table, `check` the check that
    grades it; `below`: its test accuracy must be under that model's (or, when that one cannot
    be measured, under `references` of the data source).
    """

    name: str
    check: str
    row: str
    layers: tuple[LayerSpec, ...] = ()
    epochs: int | None = None
    max_params: int | None = None
    max_epochs: int | None = None
    below: str | None = None
    references: dict[str, float] = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)


@dataclass(frozen=True)
class Mistake:
    """A typical mistake, for the demo class and the tests: text edits to the solution, and
    the checks it fails on the full data set."""

    edits: dict[str, str]
    fails: tuple[str, ...]


DIGITS = tuple(str(d) for d in range(10))
# Label arrays whose (shape, dtype) the grader exports wherever they exist, so that the checks
# can name label-encoding mistakes.
LABEL_SUMMARIES = ("train_labels", "test_labels", "y_train", "y_valid")


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    dataset: str  # "mnist" or "fashion-mnist"
    checks: tuple[CheckSpec, ...]
    layers: tuple[LayerSpec, ...] = ()
    total_params: int = 0
    epochs: int = 0
    loss: tuple[str, ...] = ()
    optimizer: str | None = None
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # Names the grader exports from the student's namespace besides the model.
    variables: tuple[str, ...] = ()
    # Arrays exported whole (or sampled, when large) for the checks beyond the model.
    arrays: tuple[str, ...] = ()
    leaderboard: tuple[Leaderboard, ...] = ()
    module: str = ""  # kerasgrade.checks.<module> and kerasgrade.steps.<module>
    class_names: tuple[str, ...] = DIGITS
    # The tutorial's validation set: the first N training images (0: the test set only).
    validation_images: int = 0
    model_file: str | None = None  # the file the lesson saves the model to
    # Code patterns that tell a notebook of this assignment from the others, when neither its
    # name nor its graded cells do; the assignment matching the most patterns wins.
    markers: tuple[str, ...] = ()
    mistakes: dict[str, Mistake] = field(default_factory=dict)  # fails: on the full data
    names: DataNames = DataNames()
    # Lessons with several models: each exported as <name>.keras and measured on its own.
    models: tuple[ModelSpec, ...] = ()
    # A dict the notebook keeps, one row per model (ModelSpec.row), each with these keys.
    table: str | None = None
    table_fields: tuple[str, ...] = ()
    # nbgrader "manually graded answer" cells: graded in formgrader, never by the grader.
    manual: tuple[CheckSpec, ...] = ()

    def check(self, name: str) -> CheckSpec:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"{self.id} has no check {name!r}; it has {[c.name for c in self.checks]}")

    @property
    def exported(self) -> tuple[str, ...]:
        """Every name exported from the student's namespace besides the model."""
        return tuple(dict.fromkeys(self.variables + LABEL_SUMMARIES))

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name or m.check == name:
                return m
        raise KeyError(f"{self.id} has no model {name!r}; it has {[m.name for m in self.models]}")

    @property
    def max_score(self) -> float:
        """The autograded points (the manual answers' points are manual_score)."""
        return sum(c.points for c in self.checks)

    @property
    def manual_score(self) -> float:
        return sum(c.points for c in self.manual)

    def threshold(self, data_source: str) -> Threshold:
        try:
            return self.thresholds[data_source]
        except KeyError:
            raise KeyError(
                f"no accuracy threshold for {self.id} on data source {data_source!r}; "
                f"known: {sorted(self.thresholds)}"
            ) from None


# The declarations themselves are data: assignments.toml, beside this file.
SPEC_FILE = Path(__file__).with_name("assignments.toml")


def _layer(row: dict[str, Any]) -> LayerSpec:
    # TOML has no null: -1 stands for Keras's batch dimension, None.
    shape = tuple(None if d == -1 else d for d in row["output_shape"])
    return LayerSpec(row["type"], shape, row["params"], row.get("activation"))


def _model(name: str, row: dict[str, Any]) -> ModelSpec:
    return ModelSpec(name=name, **{k: v for k, v in row.items() if k != "layers"},
                     layers=tuple(_layer(r) for r in row.get("layers", ())))


def _assignment(entry: dict[str, Any]) -> Assignment:
    tuples = ("loss", "variables", "arrays", "markers", "class_names", "table_fields")
    return Assignment(
        **{k: v for k, v in entry.items()
           if k not in ("checks", "layers", "thresholds", "leaderboard", "mistakes", "names",
                         "models", "manual", *tuples)},
        **{k: tuple(entry[k]) for k in tuples if k in entry},
        checks=tuple(CheckSpec(**c) for c in entry["checks"]),
        manual=tuple(CheckSpec(**c) for c in entry.get("manual", ())),
        models=tuple(_model(n, m) for n, m in entry.get("models", {}).items()),
        layers=tuple(_layer(r) for r in entry.get("layers", ())),
        thresholds={s: Threshold(**t) for s, t in entry.get("thresholds", {}).items()},
        leaderboard=tuple(Leaderboard(**b) for b in entry.get("leaderboard", ())),
        mistakes={n: Mistake(m["edits"], tuple(m["fails"]))
                  for n, m in entry.get("mistakes", {}).items()},
        names=DataNames(**entry.get("names", {})),
    )


ASSIGNMENTS: dict[str, Assignment] = {
    a.id: a for a in map(_assignment, tomllib.loads(SPEC_FILE.read_text())["assignment"])}


def get(assignment_id: str) -> Assignment:
    try:
        return ASSIGNMENTS[assignment_id]
    except KeyError:
        raise KeyError(
            f"unknown assignment {assignment_id!r}; known: {', '.join(ASSIGNMENTS)}"
        ) from None
