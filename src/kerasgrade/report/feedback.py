"""The student's feedback page: one self-contained HTML file with the checks and the plots.

Everything on the page comes from a SubmissionResult and the facts a clean process measured,
rendered by Jinja2 templates (templates/feedback*.html.j2) with autoescaping: what a student's
code printed reaches the page as text only. Plots (report/plots.py) are embedded as base64 PNGs
and the style inline, so the page opens offline, as one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kerasgrade import artifacts
from kerasgrade.checks.common import model_problem
from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import layer_rows
from kerasgrade.report import plots
from kerasgrade.report.sections import Section, environment, note
from kerasgrade.results import CheckResult, SubmissionResult
from kerasgrade.time_limit import overrun


@dataclass(frozen=True)
class Report:
    """What the report element shows, ready for the template."""

    title: str
    meta: tuple[str, ...]
    score: str
    max_score: str
    late: str
    attempt: str
    reason: str
    sanitize_notes: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    sections: tuple[Section, ...]


def write_page(result: SubmissionResult, spec: Assignment | None, path: Path) -> Path:
    """Write the feedback page for one submission to ``path`` and return it. spec: the
    result's assignment (None: one nobody could tell)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, spec), encoding="utf-8")
    return path


def render(result: SubmissionResult, spec: Assignment | None) -> str:
    """The whole page."""
    return environment().get_template("feedback.html.j2").render(
        report=report(result, spec), style=style())


def fragment(result: SubmissionResult, spec: Assignment | None) -> str:
    """The report alone, with its style, for a place inside another page (nbgrader's
    feedback): its CSS is scoped to the report's element."""
    body = environment().get_template("feedback_report.html.j2").render(
        report=report(result, spec))
    return f"<style>\n{style()}</style>\n{body}"


def style() -> str:
    """The report's stylesheet (trusted: from the package), scoped to its element."""
    return resources.files("kerasgrade").joinpath("templates/feedback.css").read_text()


def report(result: SubmissionResult, spec: Assignment | None) -> Report:
    sections = [s for s in (_time_limit(result), _cell_errors(result)) if s]
    if spec is not None and spec.manual:  # the score shown is the autograded part only
        sections.append(note("Written answers, graded by your teacher", manual_note(spec)))
    if spec is not None and spec.layers:  # 01 prepares data: there is no network to draw
        names = spec.class_names
        sections += [
            _architecture(spec, result),
            plots.training(result.facts),
            plots.confusion(result.facts, names),
            plots.mistakes(result.facts, names, spec),
        ]
        if "y_proba" in spec.arrays:
            sections.append(plots.probabilities(result.facts, names, spec))
    meta = [f"Assignment {result.assignment or '?'}"]
    if result.student:
        meta.append(f"student {result.student}")
    source = result.data_source or result.facts.get("data_source")
    if source:
        sizes = result.facts.get("data_sizes") or {}
        count = (f" ({sizes['train']:,} training / {sizes['test']:,} test images)"
                 if {"train", "test"} <= sizes.keys() else "")
        meta.append(f"graded on data source {source}{count}")
    return Report(
        title=spec.title if spec else "Unrecognised assignment",
        meta=tuple(meta),
        score=f"{result.score:g}",
        max_score=f"{result.max_score:g}",
        late=result.late_note(),
        attempt=result.attempt_note(),
        reason=(result.reason or "no reason was recorded") if result.status == "error" else "",
        # What the grader put back before running: the student should know, and not again.
        sanitize_notes=tuple(result.facts.get("sanitize_notes") or ()),
        checks=tuple(result.checks),
        sections=tuple(sections),
    )


def manual_note(spec: Assignment) -> str:
    """What the autograded score leaves out: the written answers' points."""
    answers = ", ".join(f"{c.title} ({c.points:g})" for c in spec.manual)
    return (f"The score above is the autograded part, {spec.max_score:g} points. Your "
            f"written answers, {spec.manual_score:g} points more, are graded by your teacher: "
            f"{answers}.")


def _time_limit(result: SubmissionResult) -> Section | None:
    """The cells stopped at the time limit, first: the checks below may follow from them."""
    stopped = overrun(result.facts)
    if stopped is None:
        return None
    return Section("Stopped at the time limit",
                   paragraphs=(stopped.sentence(), f"What to change: {stopped.change()}."))


def _cell_errors(result: SubmissionResult) -> Section | None:
    errors = artifacts.failed_cells(result.facts)
    if not errors:
        return None
    return Section(
        "Cells that raised an error",
        notes=("When the grader ran your notebook from the top, these cells stopped with an "
               "error (the cell's code is shown).",),
        errors=tuple((str(e.get("ename", "Error")), str(e.get("evalue", "")),
                      str(e.get("source", ""))) for e in errors))


def _architecture(spec: Assignment, result: SubmissionResult) -> Section:
    title = "Your network, layer by layer"
    problem = model_problem(result.facts)
    if problem:
        return note(title, f"No layers to show: {problem}.")
    model = result.facts["model"]
    rows = layer_rows(spec.layers, model.get("layers") or [])
    count = f"{model.get('params', 0):,} parameters in all (expected {spec.total_params:,})."
    return Section(
        title,
        notes=("Each row: type, output shape, parameters and activation.",),
        table=(("Expected", "Found", ""), *((e, f, m) for e, f, m in rows)),
        marks=tuple("ok" if m == "ok" else "bad" for _, _, m in rows),
        paragraphs=(count,))
