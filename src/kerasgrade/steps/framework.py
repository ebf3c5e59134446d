"""The step-check framework: check_step, the three-part message, reading the namespace.

Step checks are what a student runs in the notebook, in the read-only cell after each TODO cell.

`check_step(assignment_id, step, globals())` prints a ✔ line when the step is right and
raises an AssertionError (results.CheckFailed, shown without a traceback) saying what it
expected, what it found and what to change when it is not. The checks are quick (they
never train) and only help: grades come from the hidden checks, which measure again in a
clean process. Expected layers, epochs, losses and accuracy bars are read from
`kerasgrade.course.assignments`, the one source of truth for both.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from kerasgrade.checks.rules import Problem
from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment
from kerasgrade.results import CheckFailed

Namespace = dict[str, Any]
Step = Callable[[Namespace, Assignment], str]  # a step check: its ✔ line, or StepFailure


class StepFailure(Exception):
    """What a step check found wrong, in the three parts a student reads."""

    def __init__(self, expected: str, found: str, change: str) -> None:
        super().__init__(expected, found, change)
        self.expected = expected
        self.found = found
        self.change = change


def failure(problem: Problem, more: str = "") -> StepFailure:
    """A shared rule's problem (kerasgrade.checks.rules) as a step failure."""
    return StepFailure(problem.expected, problem.found, problem.change + more)


def check_step(assignment_id: str, step: str, namespace: Namespace) -> None:
    """Check one step of an assignment against the student's variables (their globals()).
    The notebook names its assignment by id: looked up here, once."""
    message = _problem(assignments.get(assignment_id), step, namespace)
    if message is not None:
        raise CheckFailed(message)


def steps_for(spec: Assignment) -> dict[str, Step]:
    """The assignment's steps module (named in its spec): step name -> check, in lesson order."""
    return importlib.import_module(f"kerasgrade.steps.{spec.module}").STEPS


def _problem(spec: Assignment, step: str, namespace: Namespace) -> str | None:
    """Print the ✔ line and return None when the step is right, else the message."""
    steps = steps_for(spec)
    if step not in steps:
        raise KeyError(f"{spec.id} has no step {step!r}; it has {list(steps)}")
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


# Reading the namespace


def need(ns: Namespace, name: str) -> Any:
    if name not in ns:
        raise StepFailure(
            f"a variable named `{name}`",
            f"no variable `{name}`",
            f"write `{name} = ...` in the cell above and run it (and the cells before it, "
            "in order).",
        )
    return ns[name]


def array(ns: Namespace, name: str) -> np.ndarray:
    value = need(ns, name)
    if not isinstance(value, np.ndarray):
        raise StepFailure(
            f"`{name}` to be a NumPy array",
            f"a {type(value).__name__}",
            "keep the arrays the loader gave you and transform them with NumPy methods "
            "(reshape, astype, division).",
        )
    return value


def number(ns: Namespace, name: str) -> float:
    value = need(ns, name)
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise StepFailure(
            f"`{name}` to be a number",
            f"a {type(value).__name__}: {value!r}"[:200],
            "`model.evaluate` returns [loss, accuracy]: unpack it into two names, "
            "`test_loss, test_acc = model.evaluate(...)`.",
        )
    return float(value)


def data_source(ns: Namespace) -> str | None:
    return getattr(ns.get("dataset"), "source", None)


def model_in(ns: Namespace) -> Any:
    import keras

    model = need(ns, "model")
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
