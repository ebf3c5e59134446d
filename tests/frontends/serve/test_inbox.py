"""Which inbound names a poll reads (fast): the folder's listing against the queue, listed
again only when the folder changed, and never trusting what a student can set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerasgrade.frontends.serve import inbox as inbox_module
from kerasgrade.frontends.serve.inbox import Inbox
from kerasgrade.frontends.serve.queue import Queue

AID = "02-connected-networks"


def submit(box: Path, name: str | bytes) -> bytes:
    raw = os.fsencode(name)
    os.mkdir(os.path.join(os.fsencode(box), raw))
    return raw


@pytest.fixture
def box(tmp_path: Path) -> Path:
    folder = tmp_path / "inbound"
    folder.mkdir()
    return folder


@pytest.fixture
def queue(tmp_path: Path) -> Queue:
    return Queue(tmp_path / "queue.db")


def test_only_names_the_queue_does_not_know_are_read_and_an_unfinished_one_again(
        box: Path, queue: Queue) -> None:
    old = submit(box, f"alice+{AID}+t1+a")
    bad = submit(box, b"\xffmallory+x+t+m")  # not UTF-8: quarantined under its escaped key
    queue.add(old.decode(), "alice", AID, "t1")
    queue.quarantine("\\xffmallory+x+t+m", "", "not UTF-8", 0.0)
    reader = Inbox(box, queue)
    assert reader.new() == []
    new = submit(box, f"bob+{AID}+t2+b")
    assert reader.new() == [new]
    assert reader.new() == [new], "unfinished (not queued yet): read again on the next poll"
    queue.add(new.decode(), "bob", AID, "t2")
    assert reader.new() == []
    # A valid name that reads as the quarantined one's key is no second entry for the queue
    # (its insert would clash with the key and pause the service).
    submit(box, "\\xffmallory+x+t+m")
    assert reader.new() == []
    assert bad in reader.read


def test_an_unchanged_folder_is_not_listed_and_any_change_is(
        box: Path, queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_module, "TICK_SECONDS", 0.0)  # as if its clock's tick had passed
    reader = Inbox(box, queue)
    reader.new()
    reader.new()  # the listing that began after the tick in which the folder last changed
    listed = reader.listings
    for _ in range(5):
        assert reader.new() == []
    assert reader.listings == listed, "nothing changed: the folder is not listed again"
    first = submit(box, f"alice+{AID}+t1+a")
    assert reader.new() == [first]
    queue.quarantine(first.decode(), "alice", "refused", 0.0)
    os.rmdir(box / first.decode())  # a removal changes the folder too
    second = submit(box, f"bob+{AID}+t2+b")
    assert reader.new() == [second]
    os.utime(box)  # what a student may do to the folder: its times set to now
    before = reader.listings
    reader.new()
    assert reader.listings == before + 1, "a student can make it list again, never hide"


def test_a_tick_after_a_change_and_every_so_often_the_folder_is_listed_again(
        box: Path, queue: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second change in the tick of the first leaves the folder's time as it was: so it is
    listed once more a tick after that time was first seen, and after RELIST_SECONDS anyway."""
    reader = Inbox(box, queue)
    reader.new()
    reader.new()
    assert reader.listings == 1, "within the tick of the change: not yet"
    monkeypatch.setattr(inbox_module, "TICK_SECONDS", 0.0)  # as if the tick had passed
    reader.new()
    assert reader.listings == 2
    reader.new()
    assert reader.listings == 2, "once is enough"
    monkeypatch.setattr(inbox_module, "RELIST_SECONDS", 0.0)
    reader.new()
    assert reader.listings == 3
