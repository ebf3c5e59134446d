"""The service's events: one line each on stdout and one JSON line in events.jsonl.

The JSON keys and event names are a contract (docs/serve.md): a benchmark reads them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Literal

from kerasgrade.report.text import printable

Event = Literal["queued", "replaced", "deferred", "started", "graded", "released", "refused",
                "fault", "quarantined"]


class EventLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def emit(self, event: Event, student: str, assignment: str, inbound: str,
             attempt: int | None = None, detail: str = "") -> None:
        record: dict[str, object] = {"time": time.time(), "event": event, "student": student,
                                     "assignment": assignment, "inbound": inbound}
        if attempt is not None:
            record["attempt"] = attempt
        if detail:
            record["detail"] = detail
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        say(f"{event} {printable(student)} {printable(assignment)} {printable(inbound)}"
            + (f" attempt {attempt}" if attempt is not None else "")
            + (f": {detail}" if detail else ""))


def say(line: str) -> None:
    """One line on stdout, at once (a managed service's log is a pipe)."""
    print(printable(line, limit=2000), file=sys.stdout, flush=True)
