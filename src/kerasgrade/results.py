"""The one result schema every front end reads (pytest, nbgrader, Gradescope, CSV, HTML).

Beside artifacts.py, below the stages: the checks make CheckResults, execute and the checks
raise GraderFault, the step checks raise CheckFailed; none of them needs report/ (stage 5),
which only renders these results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kerasgrade.artifacts import Facts

Status = Literal["graded", "error"]
# Where a submission's time went (SubmissionResult.timings): a warm worker's start (its zygote
# importing TensorFlow, on the first submission it grades), the kernel's start, its cells by
# what they do (the grader's setup cell is "imports", its export cell "export"), stage 3.
PHASES = ("worker_start", "kernel_start", "imports", "data", "training", "student_other",
          "export", "measure")


class CheckFailed(AssertionError):
    """A check that did not pass, as a notebook shows it: the message, no traceback.

    IPython displays the lines _render_traceback_ returns in place of the traceback, whose
    frames (kerasgrade's) would only bury the message. The cell still ends in an error, which
    is how nbgrader scores a test cell 0.
    """

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class GraderFault(RuntimeError):
    """The grader's own machinery failed: never a student's score. The message names the
    fault for the instructor; stage says where: "sandbox" (the runner did not start),
    "kernel" (it did not start or its setup failed), "data" (the grader's data cannot be
    loaded), "measure" (the measuring process)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: what was expected, what was found, what to change."""

    name: str
    points: float
    max_points: float
    passed: bool
    message: str
    hint: str = ""
    title: str = ""

    @classmethod
    def ok(cls, name: str, max_points: float, message: str, title: str = "") -> CheckResult:
        return cls(name, max_points, max_points, True, message, "", title)

    @classmethod
    def fail(
        cls, name: str, max_points: float, message: str, hint: str = "", title: str = ""
    ) -> CheckResult:
        return cls(name, 0.0, max_points, False, message, hint, title)

    def line(self) -> str:
        """What a graded notebook cell shows: printed when it passed, raised when not."""
        if self.passed:
            return f"✔ {self.title or self.name}: {self.message}"
        return f"✘ {self.title or self.name}: {self.text()}"

    def text(self) -> str:
        """The message a student reads, with the hint when the check failed."""
        if self.passed or not self.hint:
            return self.message
        return f"{self.message}\nWhat to change: {self.hint}"


@dataclass(frozen=True)  # complete when made: a change is a new result (replace)
class SubmissionResult:
    """Everything a grade is: per-check results plus how the submission was run."""

    assignment: str
    student: str
    notebook: str
    status: Status
    reason: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    data_source: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds: PHASES, and total
    facts: Facts = field(default_factory=Facts)
    # Set from nbgrader's gradebook (due date, extension, timestamp.txt) and its
    # LateSubmissionPlugin: the points taken off the checks' sum.
    late_penalty: float = 0.0
    seconds_late: float = 0.0
    # `kerasgrade serve`'s: which graded attempt this is, and the limit (0: none).
    attempt: int = 0
    max_attempts: int = 0

    @property
    def raw_score(self) -> float:
        return round(sum(c.points for c in self.checks), 4)

    @property
    def score(self) -> float:
        return round(max(0.0, self.raw_score - self.late_penalty), 4)

    def late_note(self) -> str:
        """One sentence on lateness for the student, or "" for work on time."""
        if self.seconds_late <= 0:
            return ""
        late = f"Submitted {_duration(self.seconds_late)} after the due date"
        if not self.late_penalty:
            return f"{late}: no late penalty."
        return f"{late}: late penalty {self.late_penalty:g} of {self.raw_score:g} points."

    def attempt_note(self) -> str:
        """Which graded attempt this is and how many are left, or "" outside the service."""
        if not self.attempt:
            return ""
        if not self.max_attempts:
            return f"Graded attempt {self.attempt} (no limit on attempts)."
        left = max(0, self.max_attempts - self.attempt)
        return (f"Graded attempt {self.attempt} of {self.max_attempts}: "
                f"{left or 'no'} attempt{'' if left == 1 else 's'} left.")

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks), 4)

    def to_dict(self, with_facts: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_facts:
            d.pop("facts")
        d["score"] = self.score
        d["raw_score"] = self.raw_score
        d["max_score"] = self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubmissionResult:
        d = dict(d)
        for derived in ("score", "raw_score", "max_score"):
            d.pop(derived, None)
        d["checks"] = [CheckResult(**c) for c in d.get("checks", [])]
        return cls(**d)


def _duration(seconds: float) -> str:
    """Coarse enough to read, exact enough to check: "2 days 3 hours", "5 minutes"."""
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count:.0f} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or f"{seconds:.0f} seconds"
