"""The hand-over between stages: file names, the facts schema (Facts), and readers of facts.

Stage 2 leaves files in a scratch folder; nothing the student's kernel wrote there is trusted.
Stage 3 (the clean measuring process) reads them as data and writes FACTS_FILE; the checks
(stage 4) and the pages (stage 5) read only the facts.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, TypedDict

# The scratch folder of one run (the runner's files; the student's code can write there too).
SUBMISSION = "submission.ipynb"  # the sanitized notebook with the grader's cells
EXECUTED = "executed.ipynb"
RUN_REPORT = "run.json"  # the runner's report; read only when the runner finished
ARTIFACTS = "artifacts"  # what the export cell wrote, inside the scratch folder:
MODEL_FILE = "model.keras"  # the student's `model`
SAVED_DIR = "saved"  # copies of the model files the notebook saved
MODELS_DIR = "models"  # lessons with several models: <variable>.keras for each
ARRAYS_FILE = "arrays.npz"  # the spec's arrays (sampled when large)
EXPORT_FILE = "export.json"  # history, variables, array summaries, saved files
# Written by the measuring process only.
FACTS_FILE = "facts.json"
MAX_JSON_BYTES = 20 * 1024 * 1024
# nbgrader autograde: the facts travel in the first hidden test cell's output, as this type;
# no renderer knows it, so nbconvert and Jupyter show the text/plain next to it.
FACTS_MIME = "application/vnd.kerasgrade.facts+json"


class ModelFacts(TypedDict, total=False):
    loaded: bool
    error: str | None
    model_class: str
    input_shape: list[int | None]
    layers: list[dict[str, Any]]  # type, output_shape, params, activation, units
    params: int
    compiled: bool
    loss: str | None
    from_logits: bool | None
    optimizer: str | None
    metrics: list[str]


class EvaluationFacts(TypedDict, total=False):
    error: str | None
    test_accuracy: float
    test_accuracy_unscaled: float  # the same model on unscaled pixels: names a scaling mistake
    validation_accuracy: float  # assignments with a validation split (spec.validation_images)
    confusion: list[list[int]]
    misclassified: list[int]
    misclassified_predicted: list[int]
    first_probabilities: list[list[float]]
    first_row_sums: list[float]
    all_rows_sum_to_one: bool
    first_predicted: list[int]


class TimedOutCell(TypedDict):
    """A student's cell stopped at the time limit (kerasgrade.time_limit words it)."""

    cell: int  # its place in the student's notebook, from 1 (the grader's own cells aside)
    first_line: str  # its first line that is not blank, cut to time_limit.FIRST_LINE characters
    limit_seconds: float  # the limit it ran past


class ReferenceTime(TypedDict):
    """Beside the stopped cells: the reference solution's time to compare (course.time_limits)."""

    seconds: float  # the reference solution's slowest cell
    data_source: str  # the data it was measured on


class ExecutionFacts(TypedDict, total=False):
    """The runner's report (execute/driver.py reads it), and what the grader adds to it."""

    status: str  # "ok", "error", "died", "timeout", or the sandbox's own status
    reason: str  # why the run failed or a cell was stopped, for the student to read
    errors: list[dict[str, Any]]  # per failed cell: cell, ename, evalue, source
    timed_out: list[TimedOutCell]  # the student's cells stopped at the time limit
    reference: ReferenceTime  # beside timed_out: the reference solution's slowest cell
    kernel_start_seconds: float
    total_seconds: float
    peak_rss_mb: float


class Facts(TypedDict, total=False):
    """Everything the checks and pages know about one submission."""

    assignment: str
    export: dict[str, Any] | None  # EXPORT_FILE as read (untrusted: only summaries are used)
    data_source: str  # "mnist", "mnist-sample-5k", "fashion-mnist": picks the thresholds
    data_sizes: dict[str, int]
    arrays: dict[str, dict[str, Any]]  # per exported array: shape, dtype, range, comparisons
    model: ModelFacts
    evaluation: EvaluationFacts
    # Lessons with several models (spec.models): per variable, ModelFacts and how it was
    # trained (id, type, iterations, steps_per_epoch, history_epochs, test accuracy and loss).
    models: dict[str, dict[str, Any]]
    saved: list[dict[str, Any]]  # per saved file: name, loads, matches the trained model
    execution: ExecutionFacts
    sanitize_notes: list[str]  # what sanitizing changed, for the student to read


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object written inside the sandbox, or {}: student code can replace such a file.

    Never a symlink (the grader must not read what the student points at), never a FIFO.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_JSON_BYTES + 1) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    try:
        data = json.loads(raw) if 0 < len(raw) <= MAX_JSON_BYTES else None
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def failed_cells(facts: Facts) -> list[dict[str, Any]]:
    return list((facts.get("execution") or {}).get("errors", []))


def history(facts: Facts) -> dict[str, list[float]] | None:
    return (facts.get("export") or {}).get("history")


def facts_bundle(assignment_id: str, facts: Facts,
                 attempt: tuple[int, int] | None = None) -> dict[str, Any]:
    """The output data that carries the facts (also written by `kerasgrade grade`), and for
    `kerasgrade serve` the attempt and the limit, which the feedback report shows."""
    # As JSON text: a diverged network's NaN is a fact, and Jupyter messages carry no NaN.
    payload: dict[str, Any] = {"assignment": assignment_id, "facts": json.dumps(facts)}
    if attempt is not None:
        payload["attempt"] = list(attempt)
    return {FACTS_MIME: payload,
            "text/plain": "kerasgrade measured this submission: nbgrader generate_feedback "
                          "shows the report."}
