"""The course's nbgrader configuration, loaded as nbgrader's apps load it, and the service's own
traits (c.KerasgradeServe.* in nbgrader_config.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nbgrader.apps.baseapp import NbGrader
from traitlets import Float, Int
from traitlets.config import Configurable

SERVE_DIR = Path(".kerasgrade") / "serve"


class KerasgradeServe(Configurable):
    """Limits on graded attempts, per student and assignment."""

    max_attempts = Int(0, help="Graded attempts per student and assignment; a submission "
                       "past the limit is collected, not graded (0: no limit)").tag(config=True)
    cooloff_seconds = Float(0.0, help="Seconds between a student's graded attempts at an "
                            "assignment; a submission waits until they pass").tag(config=True)
    poll_seconds = Float(1.0, help="How often the exchange's inbound folder is read"
                         ).tag(config=True)
    fault_retry_seconds = Float(60.0, help="After a grader fault, wait this long before "
                                "grading the submission again").tag(config=True)


def load(root: Path) -> NbGrader:
    """An nbgrader app holding the course's configuration (its coursedir, its config)."""
    app = NbGrader()
    # nbgrader reads nbgrader_config.py from the current folder: the course's, from anywhere.
    with contextlib.chdir(root):
        app.initialize([], root=str(root))
    return app
