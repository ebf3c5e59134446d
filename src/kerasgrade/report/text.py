"""Text a student chose (an id is a folder name; an error message is their code's), made safe for
a line of the instructor's terminal or log."""

from __future__ import annotations

import sys


def printable(text: str, limit: int | None = None) -> str:
    """One line a terminal shows as it is: each character that is not printable (control
    characters, so escape sequences and line breaks; bidirectional overrides; bytes that were
    not UTF-8) escaped as in a Python literal; cut at ``limit`` characters, if given."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if limit is None or len(out) <= limit else out[:limit] + "..."


def say(line: str) -> None:
    """One line on stdout, at once (a managed service's log is a pipe), made printable."""
    print(printable(line, limit=2000), file=sys.stdout, flush=True)
