"""One rule names LMS users, not two: the hub records the rule it named launches by
(KERASGRADE_LTI_USER_ID) in the course's launch record, and `kerasgrade serve`,
`kerasgrade lti roster` and `kerasgrade lti sync` refuse to run, in one line, while the course's
c.KerasgradeLti.user_id is another; `lti sync` refuses an unknown assignment as plainly. In
process, before anything reaches an LMS: the fast tier."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from kerasgrade.frontends import cli
from kerasgrade.lti.launches import context_path
from kerasgrade.lti.settings import KEY

MISMATCH = ("the hub names LMS users by the rule 'sub' (KERASGRADE_LTI_USER_ID, recorded in "
            "{path}) but nbgrader_config.py has c.KerasgradeLti.user_id = 'email_local': set "
            "both to the same rule")


@pytest.fixture(autouse=True)
def _restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """cli.main puts its scripts first on PATH, serve takes SIGTERM and SIGINT: undone."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def course(tmp_path: Path, recorded: str | None) -> Path:
    """A course registered with an LMS (the default rule, email_local) whose hub recorded a
    launch named by ``recorded``."""
    root = tmp_path / "course"
    root.mkdir()
    key = root / KEY  # where c.KerasgradeLti.private_key has it by default
    key.parent.mkdir(mode=0o700, parents=True)
    key.write_text("-----BEGIN PRIVATE KEY-----\n")  # never read: refused before
    key.chmod(0o600)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.KerasgradeLti.issuer = 'https://lms.example.edu'\n"
        "c.KerasgradeLti.client_id = 'tool'\n"
        "c.KerasgradeLti.token_url = 'https://lms.example.edu/token'\n")
    path = context_path(root)
    record = {"launched": {}} | ({"user_id": recorded} if recorded else {})
    path.write_text(json.dumps(record))
    return root


@pytest.mark.parametrize("argv", [["lti", "--root", "{root}", "roster"],
                                  ["lti", "--root", "{root}", "sync", "02-connected-networks"],
                                  ["serve", "--root", "{root}"]], ids=["roster", "sync", "serve"])
def test_a_rule_other_than_the_hubs_stops_the_service_and_the_commands(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    root = course(tmp_path, "sub")
    assert cli.main([a.format(root=root) for a in argv]) == 2
    said = capsys.readouterr()
    lines = [line for line in (said.out + said.err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].endswith(MISMATCH.format(path=context_path(root))), lines
    assert "Traceback" not in said.out + said.err
    assert not (root / ".kerasgrade" / "serve").exists()  # refused before it began


@pytest.mark.parametrize("recorded", [None, "email_local"], ids=["no-rule-yet", "same-rule"])
def test_the_same_rule_or_none_recorded_yet_goes_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], recorded: str | None) -> None:
    root = course(tmp_path, recorded)
    # Past the rule, roster goes on to the LMS's roster: with no launch's endpoint and no URL
    # set, it says so (a fault of the course, not of the rule).
    assert cli.main(["lti", "--root", str(root), "roster"]) == 2
    said = capsys.readouterr().err
    assert "the hub names LMS users" not in said and said.strip(), said


def test_sync_refuses_an_unknown_assignment_at_the_door(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = course(tmp_path, None)
    assert cli.main(["lti", "--root", str(root), "sync", "02-no-such"]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.startswith("kerasgrade lti sync: unknown assignment '02-no-such'; known: "
                               "01-"), said.err
    assert len(said.err.splitlines()) == 1
    assert not (root / ".kerasgrade" / "lti" / "outbox.db").exists()  # refused before it began
