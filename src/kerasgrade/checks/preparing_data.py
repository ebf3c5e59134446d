"""Checks of 01-preparing-data: the prepared arrays, measured from what the notebook left."""

from __future__ import annotations

import functools
from collections.abc import Callable

from kerasgrade.artifacts import Facts
from kerasgrade.checks import CheckFn, common, rules
from kerasgrade.course.assignments import Assignment, CheckSpec
from kerasgrade.keras_terms import shape_text
from kerasgrade.results import CheckResult

IMAGES = ("train_images", "test_images")
LABELS = ("train_labels", "test_labels")


def _missing(facts: Facts, names: tuple[str, ...], cs: CheckSpec) -> CheckResult | None:
    arrays = facts.get("arrays") or {}
    absent = [n for n in names if n not in arrays]
    if not absent:
        return None
    reason = (facts.get("execution") or {}).get("reason")
    msg = f"{' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} not a NumPy array."
    return common.stopped_at_limit(facts, cs, msg) or CheckResult.fail(
        cs.name, cs.points, f"{reason}. {msg}" if reason else msg,
        "keep the names train_images, train_labels, test_images, test_labels from the loading "
        "step", cs.title)


def _needs(names: tuple[str, ...]) -> Callable[[CheckFn], CheckFn]:
    """A check of these arrays: when one is missing, the failure that names it instead."""
    def wrap(check: CheckFn) -> CheckFn:
        @functools.wraps(check)
        def checked(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
            missing = _missing(facts, names, cs)
            return missing if missing is not None else check(facts, spec, cs)
        return checked
    return wrap


@_needs(IMAGES)
def image_shapes(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    sizes = facts["data_sizes"]
    problems = [p for name, n in zip(IMAGES, (sizes["train"], sizes["test"]))
                if (p := rules.image_shape(name, facts["arrays"][name]["shape"], n))]
    if not problems:
        found = shape_text(facts["arrays"]["train_images"]["shape"])
        return CheckResult.ok(cs.name, cs.points, f"Images have shape {found}.", cs.title)
    return CheckResult.fail(cs.name, cs.points, " ".join(p.sentence() for p in problems),
                            " ".join(p.change for p in problems), cs.title)


@_needs(IMAGES)
def image_dtype(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    dtypes = {n: facts["arrays"][n]["dtype"] for n in IMAGES}
    if all(d == "float32" for d in dtypes.values()):
        return CheckResult.ok(cs.name, cs.points, "Images are float32.", cs.title)
    found = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
    return CheckResult.fail(cs.name, cs.points, f"Expected float32 images: {found}.",
                            "convert with train_images.astype('float32') (same for test_images);"
                            " float64 doubles the memory for no gain", cs.title)


@_needs(IMAGES)
def pixel_range(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    arrays = facts["arrays"]
    found = ", ".join(f"{n} spans {arrays[n].get('min', 0.0):g}..{arrays[n].get('max', 0.0):g}"
                      for n in IMAGES)
    problems = [p for n in IMAGES if (p := rules.pixel_scale(
        n, arrays[n].get("min", 0.0), arrays[n].get("max", 0.0), arrays[n].get("whole_numbers")))]
    if not problems:
        return CheckResult.ok(cs.name, cs.points, f"Pixels lie in [0, 1]: {found}.", cs.title)
    return CheckResult.fail(cs.name, cs.points, f"Expected pixels in [0, 1]: {found}.",
                            problems[0].change, cs.title)


@_needs(LABELS)
def one_hot_labels(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    problems = []
    for name in LABELS:
        a = facts["arrays"][name]
        if len(a["shape"]) != 2 or a["shape"][1] != 10:
            problems.append(f"{name} has shape {shape_text(a['shape'])}, expected "
                            f"({a.get('expected_rows', 'N')}, 10)")
        elif not a.get("one_hot"):
            problems.append(f"{name} rows are not one-hot (a single 1 and nine 0s)")
        elif not a.get("agrees_with_labels"):
            problems.append(f"{name} does not match the original labels in order")
    if not problems:
        return CheckResult.ok(cs.name, cs.points,
                              "Labels are one-hot rows of 10 that match the digits.", cs.title)
    return CheckResult.fail(cs.name, cs.points, "; ".join(problems) + ".",
                            "use keras.utils.to_categorical(train_labels, num_classes) once, on "
                            "the original integer labels, and keep their order", cs.title)


def input_shape(facts: Facts, spec: Assignment, cs: CheckSpec) -> CheckResult:
    value = ((facts.get("export") or {}).get("variables") or {}).get("input_shape")
    if value is None:
        found = "input_shape is not set to a tuple of ints."
        return common.stopped_at_limit(facts, cs, found) or CheckResult.fail(
            cs.name, cs.points, found, "set input_shape = (img_rows, img_cols, 1)", cs.title)
    problem = rules.input_shape(tuple(value) if isinstance(value, list) else value)
    if problem:
        return CheckResult.fail(cs.name, cs.points, problem.sentence(), problem.change, cs.title)
    return CheckResult.ok(cs.name, cs.points, f"input_shape is {shape_text(value)}.", cs.title)


CHECKS = {
    "image_shapes": image_shapes,
    "image_dtype": image_dtype,
    "pixel_range": pixel_range,
    "one_hot_labels": one_hot_labels,
    "input_shape": input_shape,
}
