"""The result store: each graded submission's result and the fingerprints that make it
reusable, ROOT/.kerasgrade/results/<assignment>/<student>.json.

The batch and the service both read it before grading (an unchanged notebook is not graded
again) and the Publisher writes it last, so a killed run redoes a submission rather than
losing it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kerasgrade.results import SubmissionResult

STATE_DIR = Path(".kerasgrade") / "results"


def state_path(root: Path, assignment_id: str, student: str) -> Path:
    return root / STATE_DIR / assignment_id / f"{student}.json"


def stored_state(root: Path, assignment_id: str, student: str) -> dict[str, Any] | None:
    """The resume state of a graded submission (its result, the fingerprints), if any."""
    try:
        return json.loads(state_path(root, assignment_id, student).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def reusable(stored: dict[str, Any] | None, notebook: bytes, version: str) -> bool:
    """A stored grade stands while the notebook and the grader are what they were."""
    return bool(stored) and stored.get("notebook_sha256") == hashlib.sha256(
        notebook).hexdigest() and stored.get("grader") == version


def result_state(version: str, result: SubmissionResult, notebook: bytes | None,
                 worker: dict[str, Any]) -> dict[str, Any]:
    """The state stored with a result: what makes it reusable (reusable above). notebook:
    the graded bytes (None: nothing ran, nothing to reuse)."""
    digest = hashlib.sha256(notebook).hexdigest() if notebook is not None else ""
    return {"notebook_sha256": digest, "grader": version,
            "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "worker": worker, "result": result.to_dict(with_facts=True)}
