"""Text a student chose, as a line of the instructor's terminal."""

from __future__ import annotations

import os

from kerasgrade.report.text import printable


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("alice") == "alice"
    assert printable("Zoë O'Brien <z@x>") == "Zoë O'Brien <z@x>"  # printable: as it is
    assert printable("m\x1b]0;pwned\x07\nbob\r\t") == "m\\x1b]0;pwned\\x07\\nbob\\r\\t"
    assert printable("abc\u202egnp.exe") == "abc\\u202egnp.exe"  # a right-to-left override
    not_utf8 = os.fsdecode(b"caf\xe9")  # a folder name that is not UTF-8
    assert printable(not_utf8) == "caf\\udce9"
    printable(not_utf8).encode("utf-8")  # a terminal can take it


def test_printable_cuts_at_the_limit() -> None:
    assert printable("x" * 10, limit=4) == "xxxx..."
    assert printable("\x1b" * 2, limit=4) == "\\x1b..."
    assert printable("x" * 10, limit=10) == "x" * 10
