"""The queue with 2,000 submissions of 600 students: each decision the service takes from it
(the order, replacement, one at a time, attempts, cool-off) checked against a reference worked
out here in plain Python, poll after poll (slow: thousands of transactions on disk)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from kerasgrade.frontends.serve.queue import ACTIVE, Queue

STUDENTS, ASSIGNMENTS, SUBMISSIONS = 600, ("01", "02", "03", "04"), 2000
LIMIT, COOLOFF = 2, 5.0  # graded attempts, seconds between them (on the test's clock)


@dataclass
class Sub:
    name: str
    student: str
    assignment: str
    position: int
    state: str = "queued"
    not_before: float = 0.0


class Reference:
    """What the queue should decide, by its documented rules, the slow and obvious way."""

    def __init__(self) -> None:
        self.subs: dict[str, Sub] = {}  # in order of insertion (the queue's rowid)
        self.attempts: dict[tuple[str, str], tuple[int, float]] = {}

    def add(self, name: str, student: str, assignment: str) -> list[str]:
        waiting = sorted((s for s in self.subs.values() if s.state == "queued"
                          and (s.student, s.assignment) == (student, assignment)),
                         key=lambda s: s.position)
        position = (waiting[0].position if waiting
                    else max((s.position for s in self.subs.values()), default=0) + 1)
        for sub in waiting:
            sub.state = "replaced"
        self.subs[name] = Sub(name, student, assignment, position)
        return [s.name for s in waiting]

    def due(self, now: float) -> list[str]:
        busy = {(s.student, s.assignment) for s in self.subs.values()
                if s.state in ("collected", "graded")}
        order = {name: i for i, name in enumerate(self.subs)}
        return [s.name for s in sorted(self.subs.values(),
                                       key=lambda s: (s.position, order[s.name]))
                if s.state in ACTIVE and s.not_before <= now
                and not (s.state == "queued" and (s.student, s.assignment) in busy)]


def step(queue: Queue, ref: Reference, now: float, workers: int) -> int:
    """One poll of a service with this many workers: the due list must be the reference's;
    the first ones are admitted (refused, cooled off or collected) or graded, on both."""
    due = queue.due(now)
    assert [e.name for e in due] == ref.due(now)
    assert len({(e.student, e.assignment) for e in due}) == len(due), "one at a time"
    for entry in due[:workers]:
        sub = ref.subs[entry.name]
        count, last = queue.attempts(entry.student, entry.assignment)
        assert (count, last) == ref.attempts.get((sub.student, sub.assignment), (0, 0.0))
        if entry.state == "collected":
            queue.mark_graded(entry, count + 1, now)
            queue.move(entry.name, "released")
            ref.attempts[sub.student, sub.assignment] = (count + 1, now)
            sub.state = "released"
        elif count >= LIMIT:
            queue.move(entry.name, "refused")
            sub.state = "refused"
        elif count and now < last + COOLOFF:
            queue.defer(entry.name, last + COOLOFF)
            sub.not_before = last + COOLOFF
        else:
            queue.move(entry.name, "collected")
            sub.state = "collected"
    return len(due)


@pytest.mark.slow  # about 8,000 transactions, each synced to disk
def test_two_thousand_submissions_are_decided_as_the_reference_decides(tmp_path: Path) -> None:
    rng = random.Random(34)
    queue, ref = Queue(tmp_path / "queue.db"), Reference()
    # A few keen students hand in again and again (replacements, the limit, cool-offs).
    keen = [f"s{n:03d}" for n in range(20)]
    now, replaced, peak, n = 0.0, 0, 0, 0
    # The deadline burst outpaces the workers, then smaller waves after each drain.
    for wave in (1500, 100, 100, 100, 100, 100):
        for _ in range(wave):
            student = (rng.choice(keen) if rng.random() < 0.3
                       else f"s{rng.randrange(STUDENTS):03d}")
            assignment = rng.choice(ASSIGNMENTS)
            name = f"{student}+{assignment}+{n:05d}+{rng.getrandbits(48):012x}"
            got = queue.add(name, student, assignment, f"t{n}")
            assert got == ref.add(name, student, assignment)
            replaced, n = replaced + len(got), n + 1
            if n % 50 == 0:
                now += 1.0
                peak = max(peak, step(queue, ref, now, workers=4))
        while any(s.state in ACTIVE for s in ref.subs.values()):  # cool-offs end too
            now += 1.0
            step(queue, ref, now, workers=100)
    assert n == SUBMISSIONS
    assert peak > 800, "hundreds waited at once"
    assert replaced > 100
    states = {name: queue.entry(name).state for name in ref.subs}
    assert states == {name: sub.state for name, sub in ref.subs.items()}
    assert set(states.values()) == {"released", "replaced", "refused"}
    for (student, assignment), attempts in ref.attempts.items():
        assert queue.attempts(student, assignment) == attempts
        assert attempts[0] <= LIMIT
    assert any(sub.not_before for sub in ref.subs.values()), "some cooled off"
