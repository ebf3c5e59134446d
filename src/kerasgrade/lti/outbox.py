"""The durable outbox: every score is written here (.kerasgrade/lti/outbox.db) before it is
sent, and stays until the LMS holds it or refuses it for good.

A score the LMS could not take (away, 5xx, token refused) waits and is tried again, the wait
doubling up to c.KerasgradeLti.retry_max_seconds; one it refuses (a user it does not know,
one who is not a student or never launched) is kept with the LMS's reason and not tried
again. The same score added twice is one row; a newer score for the same student and
assignment replaces one still waiting. A restart finds the rows where they were.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kerasgrade.lti.launches import FOLDER, NEVER_LAUNCHED, never_launched

OUTBOX = FOLDER / "outbox.db"
WAITING, SENT, REFUSED, REPLACED = "waiting", "sent", "refused", "replaced"

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    id INTEGER PRIMARY KEY, student TEXT NOT NULL, assignment TEXT NOT NULL,
    score TEXT NOT NULL, digest TEXT NOT NULL, state TEXT NOT NULL, tries INTEGER DEFAULT 0,
    due REAL NOT NULL, reason TEXT DEFAULT '', added REAL NOT NULL, done REAL);
CREATE INDEX IF NOT EXISTS scores_due ON scores (state, due);
CREATE TABLE IF NOT EXISTS line_items (assignment TEXT PRIMARY KEY, url TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Score:
    """One grade as the LMS takes it (AGS score) and where it goes (the line item)."""

    student: str
    assignment: str
    user: str  # the LMS's user id ('' when the course's roster has none for the student)
    given: float
    maximum: float
    pending_manual: bool  # written answers wait for the formgrader
    comment: str
    timestamp: str  # ISO 8601 with offset: when the grade was given; the LMS keeps the latest
    label: str  # the line item's title in the LMS's gradebook

    def body(self) -> dict[str, Any]:
        return {"userId": self.user, "scoreGiven": self.given, "scoreMaximum": self.maximum,
                "comment": self.comment, "timestamp": self.timestamp,
                "activityProgress": "Completed",
                "gradingProgress": "PendingManual" if self.pending_manual else "FullyGraded"}

    def digest(self) -> str:
        """What makes two scores the same grade: all but the time it was given."""
        body = self.body()
        del body["timestamp"]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Row:
    id: int
    score: Score
    state: str
    tries: int
    due: float
    reason: str


class Outbox:
    """One connection, for the thread that made it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        path = root / OUTBOX
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, score: Score, now: float) -> str:
        """Write a score down: 'added', or 'duplicate' when it is the grade that waits or was
        sent last. A student the LMS has no id for, or who never launched the tool from it, is
        refused at once, with what to do."""
        digest = score.digest()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            # Against the latest only: a grade that comes back to an older one is news.
            latest = self.db.execute(
                "SELECT digest, state FROM scores WHERE student=? AND assignment=? "
                "ORDER BY id DESC LIMIT 1", (score.student, score.assignment)).fetchone()
            if latest is not None and latest[0] == digest and latest[1] in (WAITING, SENT):
                return "duplicate"
            self.db.execute("UPDATE scores SET state=?, done=? WHERE student=? AND "
                            "assignment=? AND state=?",
                            (REPLACED, now, score.student, score.assignment, WAITING))
            state, reason = WAITING, ""
            if not score.user:
                state, reason = REFUSED, (
                    f"the LMS's roster has no user for {score.student}: they are not in the "
                    "LMS course, or the roster was not read (kerasgrade lti roster)")
            elif never_launched(self.root, score.user):
                state, reason = REFUSED, (
                    f"{score.student} {NEVER_LAUNCHED}, and an LMS takes no score for such a "
                    f"user: once they have, `kerasgrade lti sync {score.assignment}` sends it")
            self.db.execute(
                "INSERT INTO scores (student, assignment, score, digest, state, due, reason, "
                "added) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (score.student, score.assignment, json.dumps(asdict(score)), digest, state,
                 now, reason, now))
        return "added" if state == WAITING else REFUSED

    def reason(self, student: str, assignment: str) -> str:
        """Why the latest row of the student's assignment is where it is ('' when sent)."""
        row = self.db.execute("SELECT reason FROM scores WHERE student=? AND assignment=? "
                              "ORDER BY id DESC LIMIT 1", (student, assignment)).fetchone()
        return row[0] if row else ""

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[Row]:
        return [Row(r[0], Score(**json.loads(r[1])), *r[2:]) for r in self.db.execute(
            f"SELECT id, score, state, tries, due, reason FROM scores WHERE {where} "
            "ORDER BY id", args)]

    def due(self, now: float) -> list[Row]:
        return self._rows("state=? AND due<=?", (WAITING, now))

    def listing(self) -> list[Row]:
        """What waits and what the LMS refused (the latest per student and assignment)."""
        return self._rows("state IN (?, ?) AND id IN (SELECT max(id) FROM scores "
                          "GROUP BY student, assignment)", (WAITING, REFUSED))

    def next_due(self) -> float | None:
        row = self.db.execute("SELECT min(due) FROM scores WHERE state=?", (WAITING,)).fetchone()
        return row[0]

    def claim(self, row: Row, until: float) -> bool:
        """Take a due row for one sender until `until`; False when another sender (the
        service's thread, `kerasgrade lti sync`) took it first. A sender that dies holding
        it leaves it due again at `until`."""
        return self.db.execute("UPDATE scores SET due=? WHERE id=? AND state=? AND due=?",
                               (until, row.id, WAITING, row.due)).rowcount == 1

    def sent(self, row: Row, now: float, reason: str = "") -> None:
        self.db.execute("UPDATE scores SET state=?, done=?, reason=? WHERE id=?",
                        (SENT, now, reason, row.id))

    def retry(self, row: Row, due: float, reason: str) -> None:
        self.db.execute("UPDATE scores SET tries=tries+1, due=?, reason=? WHERE id=?",
                        (due, reason, row.id))

    def refuse(self, row: Row, now: float, reason: str) -> None:
        self.db.execute("UPDATE scores SET state=?, done=?, reason=? WHERE id=?",
                        (REFUSED, now, reason, row.id))

    def count(self, state: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM scores WHERE state=?",
                                   (state,)).fetchone()[0])

    def line_item(self, assignment: str) -> str | None:
        row = self.db.execute("SELECT url FROM line_items WHERE assignment=?",
                              (assignment,)).fetchone()
        return row[0] if row else None

    def keep_line_item(self, assignment: str, url: str | None) -> None:
        if url is None:
            self.db.execute("DELETE FROM line_items WHERE assignment=?", (assignment,))
        else:
            self.db.execute("INSERT OR REPLACE INTO line_items VALUES (?, ?)", (assignment, url))
