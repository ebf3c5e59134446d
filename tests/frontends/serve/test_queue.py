"""The durable queue on its own (fast): replacement, order of arrival, one step at a time."""

from __future__ import annotations

from pathlib import Path

from kerasgrade.frontends.serve.queue import Queue


def names(queue: Queue) -> list[str]:
    return [e.name for e in queue.due(now=1e12)]


def test_replacement_keeps_the_place_and_a_kill_keeps_everything(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "q.db")
    assert queue.add("a1", "alice", "02", "t1") == []
    queue.add("b1", "bob", "02", "t2")
    assert queue.add("a2", "alice", "02", "t3") == ["a1"]
    assert names(queue) == ["a2", "b1"]  # alice arrived first, her latest is graded
    queue.move("a2", "collected")
    queue.add("a3", "alice", "02", "t4")  # waits behind her submission being graded
    assert names(queue) == ["a2", "b1"]
    queue.mark_graded(queue.entry("a2"), 1, now=100.0)
    queue.close()

    reopened = Queue(tmp_path / "q.db")  # as after SIGKILL: every step committed is there
    assert reopened.entry("a1").state == "replaced"
    assert reopened.entry("a2").state == "graded" and reopened.entry("a2").attempt == 1
    assert reopened.attempts("alice", "02") == (1, 100.0)
    assert names(reopened) == ["a2", "b1"]  # a2 still to release, a3 waits for that
    reopened.move("a2", "released")
    assert names(reopened) == ["b1", "a3"]  # a3 behind bob, who arrived before it
    reopened.defer("b1", until=2e12)  # cool-off: others pass
    assert names(reopened) == ["a3"]
