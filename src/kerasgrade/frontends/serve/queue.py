"""The durable queue: every inbound submission the service has seen, its step, and each
student's graded attempts, in SQLite. Each step is one transaction, so a service killed at any
moment resumes every submission at the step it had reached.

A submission goes queued -> collected -> graded -> released, or queued -> replaced (a newer one
of the same student and assignment arrived while it waited) or queued -> refused (past the
attempt limit), or to quarantined (the service failed on it: never graded, never counted).
An inbound entry the service could not trust is never queued: it is in the quarantine table.
A submission's position in the queue is its arrival; a replacement keeps the position of the
submission it replaces, so a resubmission neither jumps ahead nor falls behind.

Each step the queue records is also told, after its transaction, as an event: one line on
stdout and one JSON line in the journal, events.jsonl. The JSON keys and event names are a
contract (docs/serve.md): a benchmark reads them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kerasgrade.report.text import printable, say

Event = Literal["queued", "replaced", "deferred", "started", "retried", "graded", "released",
                "refused", "fault", "quarantined"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    name TEXT PRIMARY KEY,           -- the exchange's inbound folder name
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    timestamp TEXT NOT NULL,         -- its arrival, as nbgrader writes timestamp.txt
    position INTEGER NOT NULL,       -- arrival order; kept by a replacement
    state TEXT NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,  -- cool-off or fault retry
    deferred INTEGER NOT NULL DEFAULT 0, -- the deferral was announced
    attempt INTEGER                  -- its graded attempt, once graded
);
CREATE TABLE IF NOT EXISTS quarantine (
    name TEXT PRIMARY KEY,           -- the inbound folder's name (bytes not UTF-8 escaped)
    student TEXT NOT NULL,           -- the id it claims, unverified
    reason TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_graded REAL NOT NULL,
    PRIMARY KEY (student, assignment)
);
-- Finished submissions pile up over a course; these keep each step's cost to the waiting ones
-- and one student's own (due() without them reads the whole table once per waiting row).
CREATE INDEX IF NOT EXISTS inbound_state ON inbound (state, position);
CREATE INDEX IF NOT EXISTS inbound_turn ON inbound (student, assignment, state, position);
CREATE INDEX IF NOT EXISTS inbound_position ON inbound (position);
"""

WAITING = "queued"
ACTIVE = ("queued", "collected", "graded")  # not yet finished


@dataclass(frozen=True)
class Entry:
    name: str
    student: str
    assignment: str
    timestamp: str
    state: str
    not_before: float
    deferred: bool
    attempt: int | None


class Queue:
    def __init__(self, path: Path, journal: Path | None = None) -> None:
        """journal: where the steps are told (None: they are not, as for a listing)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = journal
        # isolation_level=None: transactions are explicit (_transaction).
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def known(self, names: Iterable[str]) -> set[str]:
        """Those of these inbound names already read: queued, finished or quarantined. One
        lookup a name: a poll asks about its new names, not about the whole course."""
        return {name for name in names if self.db.execute(
            "SELECT 1 FROM inbound WHERE name=? UNION ALL SELECT 1 FROM quarantine WHERE name=?",
            (name, name)).fetchone()}

    def emit(self, event: Event, student: str, assignment: str, inbound: str,
             attempt: int | None = None, detail: str = "") -> None:
        """Tell a step: a line on stdout and a JSON line in the journal."""
        record: dict[str, object] = {"time": time.time(), "event": event, "student": student,
                                     "assignment": assignment, "inbound": inbound}
        if attempt is not None:
            record["attempt"] = attempt
        if detail:
            record["detail"] = detail
        if self.journal is not None:
            with self.journal.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        say(f"{event} {printable(student)} {printable(assignment)} {printable(inbound)}"
            + (f" attempt {attempt}" if attempt is not None else "")
            + (f": {detail}" if detail else ""))

    def add(self, name: str, student: str, assignment: str, timestamp: str,
            detail: str = "") -> list[str]:
        """Queue a new submission; return the names of the waiting ones it replaces."""
        with self._transaction() as db:
            waiting = db.execute(
                "SELECT name, position FROM inbound WHERE student=? AND assignment=? AND "
                "state=? ORDER BY position", (student, assignment, WAITING)).fetchall()
            position = waiting[0][1] if waiting else self._next_position(db)
            db.executemany("UPDATE inbound SET state='replaced' WHERE name=?",
                           [(n,) for n, _ in waiting])
            db.execute("INSERT INTO inbound (name, student, assignment, timestamp, position, "
                       "state) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, student, assignment, timestamp, position, WAITING))
        for old, _ in waiting:
            self.emit("replaced", student, assignment, old, detail=f"by {name}")
        self.emit("queued", student, assignment, name, detail=detail)
        return [n for n, _ in waiting]

    def quarantine(self, name: str, student: str, reason: str, now: float) -> None:
        """Keep an entry out of grading for good, with its reason (a queued one leaves the
        queue)."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO quarantine (name, student, reason, time) "
                       "VALUES (?, ?, ?, ?)", (name, student, reason, now))
            db.execute("UPDATE inbound SET state='quarantined' WHERE name=?", (name,))
        self.emit("quarantined", student, "", name, detail=reason)

    def quarantined(self) -> list[tuple[float, str, str, str]]:
        """(time, name, claimed student, reason) of each quarantined entry, oldest first."""
        return [(float(t), n, s, r) for t, n, s, r in self.db.execute(
            "SELECT time, name, student, reason FROM quarantine ORDER BY time, name")]

    @staticmethod
    def _next_position(db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM inbound"
                              ).fetchone()[0])

    def due(self, now: float) -> list[Entry]:
        """Unfinished submissions whose time has come, in order of arrival. A waiting one
        stays behind its student's submission that is already collected (one at a time)."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM inbound AS i WHERE state IN (?, ?, ?) AND not_before <= ? "
            "AND NOT (state=? AND EXISTS (SELECT 1 FROM inbound AS o WHERE "
            "o.student=i.student AND o.assignment=i.assignment AND o.state IN (?, ?))) "
            "ORDER BY position, rowid", (*ACTIVE, now, WAITING, *ACTIVE[1:])).fetchall()
        return [_entry(row) for row in rows]

    def entry(self, name: str) -> Entry:
        return _entry(self.db.execute(f"SELECT {_COLUMNS} FROM inbound WHERE name=?",
                                      (name,)).fetchone())

    def attempts(self, student: str, assignment: str) -> tuple[int, float]:
        """Graded attempts so far, and when the last one was graded (unix time)."""
        row = self.db.execute("SELECT count, last_graded FROM attempts WHERE student=? AND "
                              "assignment=?", (student, assignment)).fetchone()
        return (int(row[0]), float(row[1])) if row else (0, 0.0)

    def move(self, name: str, state: str, detail: str = "") -> None:
        """The next step; refused and released are told (collected is not)."""
        with self._transaction() as db:
            db.execute("UPDATE inbound SET state=?, not_before=0 WHERE name=?", (state, name))
        if state in ("refused", "released"):
            entry = self.entry(name)
            self.emit(state, entry.student, entry.assignment, name, detail=detail,
                      attempt=entry.attempt if state == "released" else None)

    def defer(self, name: str, until: float, event: Event | None = None,
              detail: str = "") -> None:
        """Not before `until` (a cool-off, a fault's retry), told as `event` if given."""
        with self._transaction() as db:
            db.execute("UPDATE inbound SET not_before=?, deferred=1 WHERE name=?",
                       (until, name))
        if event is not None:
            entry = self.entry(name)
            self.emit(event, entry.student, entry.assignment, name, detail=detail)

    def mark_graded(self, entry: Entry, attempt: int, now: float, detail: str = "") -> None:
        """The submission is graded: its attempt counts, in the same transaction."""
        with self._transaction() as db:
            db.execute("UPDATE inbound SET state='graded', attempt=?, not_before=0 WHERE name=?",
                       (attempt, entry.name))
            db.execute("INSERT INTO attempts (student, assignment, count, last_graded) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (student, assignment) DO UPDATE SET "
                       "count=excluded.count, last_graded=excluded.last_graded",
                       (entry.student, entry.assignment, attempt, now))
        self.emit("graded", entry.student, entry.assignment, entry.name, attempt=attempt,
                  detail=detail)

    def close(self) -> None:
        self.db.close()


_COLUMNS = "name, student, assignment, timestamp, state, not_before, deferred, attempt"


def _entry(row: tuple) -> Entry:  # type: ignore[type-arg]
    name, student, assignment, timestamp, state, not_before, deferred, attempt = row
    return Entry(name, student, assignment, timestamp, state, float(not_before), bool(deferred),
                 attempt)
