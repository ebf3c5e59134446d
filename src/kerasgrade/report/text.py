"""Text a student chose (an id is a folder name; an error message is their code's), made safe for
a line of the instructor's terminal or log, and for a cell of the spreadsheet a CSV opens in."""

from __future__ import annotations

import sys
import traceback


def printable(text: str, limit: int | None = None) -> str:
    """One line a terminal shows as it is: each character that is not printable (control
    characters, so escape sequences and line breaks; bidirectional overrides; bytes that were
    not UTF-8) escaped as in a Python literal; cut at ``limit`` characters, if given."""
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if limit is None or len(out) <= limit else out[:limit] + "..."


def say(line: str) -> None:
    """One line on stdout, at once (a managed service's log is a pipe), made printable."""
    print(printable(line, limit=2000), file=sys.stdout, flush=True)


# What a spreadsheet reads as the start of a formula in a cell of a CSV it opens.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe on a cell that would begin a
    formula, so that a name or reason a student wrote never runs on the instructor's machine
    (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def failure_line(exc: BaseException) -> str:
    """The last line of an exception, as logs quote the grader's own failures."""
    return traceback.format_exception_only(exc)[-1].strip()
