"""`kerasgrade report ASSIGNMENT`: the class at a glance, one page and one CSV for the instructor.

Reads what `kerasgrade grade` stored for each submission, COURSE/.kerasgrade/results/
<assignment>/<student>.json (the SubmissionResult with its facts and timings), and the
submitted/ folders, and writes
  COURSE/class-report/<assignment>.html  one self-contained page: plots are PNGs in data: URIs,
                                         the style is inline, nothing is fetched
  COURSE/class-report/<assignment>.csv   check,title,points,passed,failed,pass_rate: a row
                                         per check, in the assignment's order

How the page counts:
- Pass rates are over the submissions the grader graded (status "graded"). A notebook it
  could not grade (status "error": not JSON, no notebook, nothing the checks can measure)
  scores 0 on every check for one reason; it is listed with that reason instead of adding
  a failure to every check.
- The mistakes the grader named: a failed check's diagnosis is its "What to change" hint,
  or, when it has none, the first sentence of its message. Failures are grouped by check
  and diagnosis with the numbers in it masked, so that "a Dense layer has 32 units" and
  "... 64 units" are one mistake. Each group shows the wording most of its students got,
  how many students made it and who, most frequent first.
- Measured accuracy: the figure the assignment's leaderboard names (facts["evaluation"],
  measured by the grader's clean process on the grader's test set, never the student's
  printout), per data source, against that source's threshold and the reference solution.
- Not graded: results with status "error" and their reason, and submissions in submitted/
  with no stored result (the grader itself failed on them, which records nothing, or they
  came in after the last run): the next `kerasgrade grade` grades them.
- The slowest submissions: by the grader's total seconds, with where the time went.

Everything a student wrote (names, messages quoting their code or errors) reaches the page
only through the template's autoescaping.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import CLASS_REPORT, SUBMITTED, discover
from kerasgrade.keras_terms import CHANCE
from kerasgrade.report import feedback, plots, sections
from kerasgrade.report.sections import environment
from kerasgrade.report.store import STATE_DIR
from kerasgrade.results import PHASES, CheckResult, SubmissionResult

CSV_HEADER = ("check", "title", "points", "passed", "failed", "pass_rate")
SLOWEST = 10  # submissions in the slowest table
ERROR_COLOR = "#8c959f"
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


class ReportError(RuntimeError):
    """No report can be written: the message says why, in one line."""


@dataclass
class Stored:
    """One submission's stored result, as the batch left it."""

    result: SubmissionResult
    seconds: float | None  # the grader's total time, when it ran the notebook


@dataclass
class FailureGroup:
    """One check failed for the same reason (numbers masked) by one or more students."""

    check: str
    title: str
    wordings: Counter[str] = field(default_factory=Counter)
    students: list[str] = field(default_factory=list)

    @property
    def wording(self) -> str:
        return self.wordings.most_common(1)[0][0]


@dataclass
class Class:
    """Everything the report shows about one assignment's batch."""

    root: Path
    spec: Assignment
    stored: list[Stored]
    unreadable: list[str]  # stored results that cannot be read: their file names
    missing: list[str]  # students in submitted/ with no stored result

    @property
    def graded(self) -> list[SubmissionResult]:
        return [s.result for s in self.stored if s.result.status == "graded"]

    @property
    def errors(self) -> list[SubmissionResult]:
        return [s.result for s in self.stored if s.result.status != "graded"]


# --- reading -----------------------------------------------------------------------------------


def load(root: Path, spec: Assignment) -> Class:
    """The stored batch of one assignment, or a ReportError that says what is missing."""
    assignment_id = spec.id
    folder = root / STATE_DIR / assignment_id
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise ReportError(f"no graded batch of {assignment_id} in {root} (nothing in {folder}): "
                          f"run `kerasgrade grade {assignment_id} --root {root}` first")
    stored, unreadable = [], []
    for path in paths:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            result = SubmissionResult.from_dict(state["result"])
        except (OSError, ValueError, KeyError, TypeError):
            unreadable.append(path.name)
            continue
        seconds = result.timings.get("total")
        stored.append(Stored(result, float(seconds) if seconds else None))
    have = {s.result.student for s in stored}
    submitted = discover(root, assignment_id)[0] if (root / SUBMITTED).is_dir() else []
    missing = sorted(s.student for s in submitted if s.student not in have)
    return Class(root, spec, stored, unreadable, missing)


# --- counting ----------------------------------------------------------------------------------


def check_rows(klass: Class) -> list[dict[str, Any]]:
    """One row per check of the assignment: passed and failed among graded submissions."""
    rows = []
    for cs in klass.spec.checks:
        verdicts = [c.passed for r in klass.graded for c in r.checks if c.name == cs.name]
        passed = sum(verdicts)
        rows.append({"check": cs.name, "title": cs.title, "points": f"{cs.points:g}",
                     "passed": passed, "failed": len(verdicts) - passed,
                     "pass_rate": f"{passed / len(verdicts):.3f}" if verdicts else ""})
    return rows


def said_wrong(check: CheckResult) -> str:
    """What the grader said was wrong: the hint, else the message's first sentence."""
    text = check.hint or _SENTENCE_END.split(check.message.strip().split("\n")[0], 1)[0]
    return " ".join(text.split())


def failure_groups(klass: Class) -> list[FailureGroup]:
    """The graded submissions' failed checks grouped by check and masked diagnosis, most
    students first (then in the assignment's check order)."""
    order = {cs.name: i for i, cs in enumerate(klass.spec.checks)}
    groups: dict[tuple[str, str], FailureGroup] = {}
    for result in klass.graded:
        for check in result.checks:
            if check.passed:
                continue
            said = said_wrong(check)
            key = (check.name, _NUMBER.sub("#", said))
            group = groups.setdefault(key, FailureGroup(check.name, check.title or check.name))
            group.wordings[said] += 1
            group.students.append(result.student)
    return sorted(groups.values(),
                  key=lambda m: (-len(m.students), order.get(m.check, len(order)), m.wording))


def accuracies(klass: Class) -> tuple[str, dict[str, list[tuple[str, float]]], list[str]]:
    """(the measured figure's name, {data source: [(student, value)]}, graded students with
    no measurement); ("", {}, []) for an assignment that measures no accuracy."""
    spec = klass.spec
    if not spec.thresholds or not spec.leaderboard:
        return "", {}, []
    key = spec.leaderboard[0].key
    found: dict[str, list[tuple[str, float]]] = defaultdict(list)
    unmeasured = []
    for result in klass.graded:
        value = (result.facts.get("evaluation") or {}).get(key)
        if isinstance(value, int | float):
            found[result.data_source or "?"].append((result.student, float(value)))
        else:
            unmeasured.append(result.student)
    return spec.leaderboard[0].name, dict(found), unmeasured


# --- plots -------------------------------------------------------------------------------------


def _plot(fig: Figure, alt: str, caption: str) -> sections.Figure:
    """The page's kind of figure, the one the feedback page's sections hold."""
    return sections.Figure(plots.png(fig), alt, caption)


def score_plot(klass: Class) -> sections.Figure | None:
    if not klass.stored:
        return None
    top = klass.spec.max_score
    step = 1.0 if top <= 30 else top / 20
    edges = np.arange(-step / 2, top + step, step)  # a bar centred on each whole score
    fig = Figure(figsize=(7, 2.8), layout="constrained")
    ax = fig.subplots()
    graded = [r.score for r in klass.graded]
    errors = [r.score for r in klass.errors]
    ax.hist([graded, errors], bins=edges, stacked=True, color=[plots.TRAIN_COLOR, ERROR_COLOR],
            label=["graded", "could not be graded"], edgecolor="white")
    ax.set_xlabel(f"score (of {top:g} points)")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    if errors:
        ax.legend(fontsize=8)
    scores = graded + errors
    caption = (f"{len(scores)} submissions: median {statistics.median(scores):g}, mean "
               f"{statistics.fmean(scores):.1f}, lowest {min(scores):g}, highest "
               f"{max(scores):g} of {top:g} (late penalties taken off).")
    return _plot(fig, "score distribution", caption)


def pass_rate_plot(klass: Class, rows: list[dict[str, Any]]) -> sections.Figure | None:
    rated = [r for r in rows if r["pass_rate"]]
    if not rated:
        return None
    fig = Figure(figsize=(7, 0.45 * len(rated) + 0.9), layout="constrained")
    ax = fig.subplots()
    rates = [float(r["pass_rate"]) for r in rated]
    colors = [plots.TRAIN_COLOR if rate >= 0.5 else plots.MISTAKE_COLOR for rate in rates]
    ax.barh(range(len(rated)), rates, color=colors)
    for i, r in enumerate(rated):
        ax.text(rates[i] + 0.01, i, f"{r['passed']}/{r['passed'] + r['failed']}", va="center",
                fontsize=8)
    ax.set_yticks(range(len(rated)), [r["check"] for r in rated], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
    ax.grid(axis="x", alpha=0.3)
    return _plot(fig, "pass rate of every check",
                 f"Share of the {len(klass.graded)} graded submissions that passed each check; "
                 "red: fewer than half.")


def accuracy_plot(klass: Class, name: str,
                  found: dict[str, list[tuple[str, float]]]) -> sections.Figure | None:
    if not found:
        return None
    sources = sorted(found)
    fig = Figure(figsize=(8.5, 1.1 * len(sources) + 1.2), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # the same jitter on every run
    notes = []
    for i, source in enumerate(sources):
        values = np.array([v for _, v in found[source]])
        bar = klass.spec.thresholds.get(source)
        below = values < bar.minimum if bar else np.zeros(len(values), bool)
        y = i + rng.uniform(-0.18, 0.18, len(values))
        ax.scatter(values[~below], y[~below], s=22, color=plots.TRAIN_COLOR, zorder=3,
                   label="at or above the threshold" if i == 0 else None)
        ax.scatter(values[below], y[below], s=22, color=plots.MISTAKE_COLOR, zorder=3,
                   label="below the threshold" if i == 0 else None)
        if bar:
            ax.vlines(bar.minimum, i - 0.35, i + 0.35, color=plots.MISTAKE_COLOR, lw=2,
                      label="threshold" if i == 0 else None)
            ax.vlines(bar.reference, i - 0.35, i + 0.35, color="grey", ls="--", lw=1.5,
                      label="reference solution" if i == 0 else None)
            notes.append(f"{source}: {int(below.sum())} of {len(values)} below the threshold "
                         f"{bar.minimum:.2f} (the reference solution reaches "
                         f"{bar.reference:.3f}; {bar.note})")
        else:
            notes.append(f"{source}: no threshold is set for this data source")
    ax.axvline(CHANCE, color="grey", ls=":", lw=1, label=f"chance ({CHANCE:.0%})")
    ax.set_yticks(range(len(sources)), sources)
    ax.set_ylim(len(sources) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{name.lower()} measured by the grader")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # clear of the dots
    return _plot(fig, f"{name.lower()} against the threshold",
                 "One dot per graded submission. " + "; ".join(notes) + ".")


# --- writing -----------------------------------------------------------------------------------


def csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _slowest(klass: Class) -> list[dict[str, Any]]:
    timed = sorted((s for s in klass.stored if s.seconds), key=lambda s: -(s.seconds or 0))
    rows = []
    for s in timed[:SLOWEST]:
        t = s.result.timings
        stage = max((k for k in PHASES if t.get(k)), key=lambda k: t[k], default="")
        rows.append({"student": s.result.student, "seconds": f"{s.seconds:.1f}",
                     "training": f"{t.get('training', 0):.1f}",
                     "measure": f"{t.get('measure', 0):.1f}",
                     "stage": f"{stage.replace('_', ' ')} {t[stage]:.1f} s" if stage else "",
                     "score": f"{s.result.score:g}", "status": s.result.status})
    return rows


def render(klass: Class, rows: list[dict[str, Any]]) -> str:
    """The whole page; rows: check_rows(klass)."""
    name, found, unmeasured = accuracies(klass)
    return environment().get_template("class_report.html.j2").render(
        spec=klass.spec, klass=klass, rows=rows, failure_groups=failure_groups(klass),
        score_plot=score_plot(klass), pass_plot=pass_rate_plot(klass, rows),
        accuracy_name=name, accuracy_plot=accuracy_plot(klass, name, found),
        unmeasured=unmeasured, slowest=_slowest(klass),
        sources=sorted({r.data_source for r in klass.graded if r.data_source}),
        # The report's own stylesheet (trusted, from the package), as the student's page has it.
        style=feedback.style())


def write(root: Path, spec: Assignment) -> tuple[Path, Path]:
    """Write the page and the CSV; return their paths."""
    klass = load(root, spec)
    out = root / CLASS_REPORT
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"{spec.id}.html"
    table = out / f"{spec.id}.csv"
    rows = check_rows(klass)
    page.write_text(render(klass, rows), encoding="utf-8")
    table.write_text(csv_text(rows), encoding="utf-8")
    return page, table


def report_course(root: Path, spec: Assignment) -> int:
    """`kerasgrade report`, for the assignment its front end looked up."""
    try:
        page, table = write(root, spec)
    except ReportError as exc:
        print(f"kerasgrade report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {page} and {table}")
    return 0
