"""Which names in the exchange's inbound folder are still to be read, at a cost per poll that
does not grow with the course's old submissions.

The folder is listed only when its change time (ctime) moved: adding, removing or renaming an
entry sets it to the kernel's clock, and nobody can set it back (utime moves it to now), so a
student can make the service list again but never hide an entry from it. Two changes in one
tick of the file system's clock leave the same time, so the folder is listed once more a tick
after its time was first seen; and every RELIST_SECONDS whatever its time says (a clock
stepped back, a network file system's stale cache). A listing is compared with the names
already read in one set operation; only the rest is looked up in the queue, one name at a time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from kerasgrade.frontends.serve.inbound import key
from kerasgrade.frontends.serve.queue import Queue

TICK_SECONDS = 2.0  # the coarsest file system clock in use (FAT: 2 s; ext3, HFS+: 1 s)
RELIST_SECONDS = 30.0


class Inbox:
    def __init__(self, folder: Path, queue: Queue) -> None:
        self.folder = os.fsencode(folder)  # bytes: a name need not be UTF-8
        self.queue = queue
        self.read: set[bytes] = set()  # names the queue knows: never read again
        self.left: set[bytes] = set()  # listed, not yet known to the queue (unfinished ones)
        self.stamp: tuple[int, int, int] | None = None
        self.seen_at = 0.0  # when the stamp was first seen (monotonic)
        self.listed_at = -RELIST_SECONDS  # when the last listing began (monotonic)
        self.listings = 0

    def new(self) -> list[bytes]:
        """The names not yet queued nor quarantined: new entries and unfinished ones."""
        info = os.stat(self.folder)
        stamp = (info.st_dev, info.st_ino, info.st_ctime_ns)
        now = time.monotonic()
        changed = stamp != self.stamp
        if changed:
            self.stamp, self.seen_at = stamp, now
        # Once a listing began a tick after the time was first seen, it held that tick's
        # changes.
        if (changed or self.listed_at - self.seen_at <= TICK_SECONDS < now - self.seen_at
                or now - self.listed_at >= RELIST_SECONDS):
            self.listed_at = now  # before the listing: it holds every change made until now
            self.left = set(os.listdir(self.folder)) - self.read
            self.listings += 1
        known = self.queue.known(key(raw) for raw in self.left)
        done = {raw for raw in self.left if key(raw) in known}
        self.read |= done
        self.left -= done
        return sorted(self.left)
