"""nbgrader's exchange for one student at a time: a checked copy of an inbound entry put where
`nbgrader collect` puts it (inbound.py reads the entry), and generate_feedback and
release_feedback through nbgrader's own API."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nbgrader.apps import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader

from kerasgrade.course.layout import REPORTS, graded_dir
from kerasgrade.frontends.serve.inbound import SECRET, TIMESTAMP
from kerasgrade.report.sections import environment


class ExchangeFailure(RuntimeError):
    """An nbgrader step failed: the service's fault, retried, never the student's."""


class Exchange:
    def __init__(self, app: NbGrader) -> None:
        self.api = NbGraderAPI(coursedir=app.coursedir, parent=app)
        self.coursedir = self.api.coursedir
        self.inbound = Path(self.api.exchange_root) / self.api.course_id / "inbound"

    def problem(self) -> str:
        """Why the service cannot serve this course at all, or ""."""
        if not self.api.course_id:
            return "nbgrader_config.py sets no c.CourseDirectory.course_id"
        return ""

    def waiting(self) -> str:
        """Why no submission can arrive yet, or "": a course not released to the exchange
        yet. The service waits for it (a hub starts its services before anyone releases)."""
        if not self.inbound.is_dir():
            return (f"the exchange's inbound folder {self.inbound} does not exist yet (set "
                    "c.Exchange.root and run `nbgrader release_assignment`)")
        return ""

    def submitted(self, student: str, assignment: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.submitted_directory, student,
                                               assignment))

    def feedback(self, student: str, assignment: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.feedback_directory, student,
                                               assignment))

    def collect(self, copy: Path, student: str, assignment: str, arrived: str) -> None:
        """What `nbgrader collect` does for one entry, from the service's checked copy of it
        (no glob on a name, no link followed). timestamp.txt says when it arrived, so every
        later step (late penalties, the formgrader) judges lateness on the service's clock."""
        folder = self.submitted(student, assignment)
        staged = folder.with_name(f".{folder.name}.collecting")
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(copy, staged)
        (staged / TIMESTAMP).write_text(arrived)
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)

    def generate_feedback(self, student: str, assignment: str) -> None:
        """nbgrader's page with the kerasgrade report on top; for a notebook that could not
        run (not a notebook, none handed in) nbgrader has no executed notebook to show, and
        kerasgrade's own page, with the score and the reason, is the feedback."""
        root = Path(self.coursedir.root)
        if not any(graded_dir(root, student, assignment).glob("*.ipynb")):
            own = root / REPORTS / student / assignment / "feedback.html"
            self._page(student, assignment, own.read_text(encoding="utf-8"))
            return
        _check(self.api.generate_feedback(assignment, student), "generate_feedback")

    def release_feedback(self, student: str, assignment: str) -> None:
        _check(self.api.release_feedback(assignment, student), "release_feedback")

    def refusal(self, student: str, assignment: str, max_attempts: int) -> None:
        """The page a submission past the limit gets instead of nbgrader's feedback: received,
        not graded, no score. Beside it, the submission's timestamp and secret, which
        release_feedback needs to address it to this submission."""
        timestamp = (self.submitted(student, assignment) / TIMESTAMP).read_text().strip()
        self._page(student, assignment, environment().get_template(
            "serve_refused.html.j2").render(assignment=assignment, student=student,
                                            timestamp=timestamp, max_attempts=max_attempts))

    def _page(self, student: str, assignment: str, page: str) -> None:
        """A page of kerasgrade's as the feedback of each notebook handed in, where
        release_feedback finds it, with the submission's timestamp and secret beside it (they
        address it to this submission)."""
        submitted = self.submitted(student, assignment)
        out = self.feedback(student, assignment)
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.html"):  # release_feedback would send an older page again
            old.unlink()
        for notebook in sorted(submitted.glob("*.ipynb")):
            (out / f"{notebook.stem}.html").write_text(page, encoding="utf-8")
        for name in (TIMESTAMP, SECRET):
            shutil.copyfile(submitted / name, out / name)


def _check(outcome: dict[str, Any], step: str) -> None:
    if not outcome.get("success"):
        detail = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
        raise ExchangeFailure(f"nbgrader {step} failed: {detail[-1] if detail else 'no reason'}")
