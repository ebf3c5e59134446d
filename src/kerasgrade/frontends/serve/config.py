"""The course's nbgrader configuration, loaded as nbgrader's apps load it, and the service's own
traits (c.KerasgradeServe.* in nbgrader_config.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nbgrader.apps.baseapp import NbGrader
from traitlets import Bool, Float, Int
from traitlets.config import Configurable

SERVE_DIR = Path(".kerasgrade") / "serve"


class KerasgradeServe(Configurable):
    """Who may submit, limits on graded attempts per student and assignment, and the caps on
    what an inbound entry may hold."""

    trust_inbound_names = Bool(False, help="Take a submission's student from its inbound "
                               "folder's name instead of the folder's Unix owner. Only for "
                               "a hub whose servers all run as one Unix user (Kubernetes with a "
                               "shared volume), where ownership cannot tell students apart: "
                               "then any student can submit as any other (docs/security.md)"
                               ).tag(config=True)
    open_course = Bool(False, help="Grade students who are not on the gradebook's roster "
                       "(nbgrader db student add/import); otherwise their submissions are "
                       "quarantined").tag(config=True)
    max_files = Int(1000, help="Files an inbound entry may hold; more and it is quarantined"
                    ).tag(config=True)
    max_depth = Int(10, help="Folder levels an inbound entry may nest").tag(config=True)

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
