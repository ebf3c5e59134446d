"""One settings class: nbgrader_config.py sets it, a flag overrides it, docs/config.md lists it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kerasgrade import settings
from kerasgrade.lti import settings as lti_settings

ROOT = Path(__file__).resolve().parents[1]


def test_docs_config_lists_every_setting() -> None:
    listed = settings.reference(lti_settings.reference())
    assert (ROOT / "docs" / "config.md").read_text() == listed, (
        "docs/config.md is out of date: python -m kerasgrade settings > docs/config.md")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    settings.add_flags(parser, "workers", "scheduler", "poll_seconds", "sandbox", "force")
    return parser.parse_args(argv)


def test_flags_override_the_course_config_and_defaults_stay(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.Kerasgrade.workers = 3\nc.Kerasgrade.max_attempts = 2\n"
        "c.Kerasgrade.poll_seconds = 5.0\n")
    given = settings.from_command_line(vars(_parse("--poll", "0.5", "--no-sandbox")))
    loaded, _ = settings.load(tmp_path, given)
    assert (loaded.workers, loaded.max_attempts, loaded.poll_seconds) == (3, 2, 0.5)
    assert loaded.sandbox is False and loaded.force is False
    plain, _ = settings.load(tmp_path, settings.from_command_line(vars(_parse())))
    assert (plain.poll_seconds, plain.sandbox, plain.cooloff_seconds) == (5.0, True, 0.0)


def test_a_course_configured_with_the_old_section_keeps_its_settings(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.KerasgradeServe.max_attempts = 4\n"
        "c.KerasgradeServe.open_course = True\n")
    loaded, _ = settings.load(tmp_path)
    assert (loaded.max_attempts, loaded.open_course) == (4, True)


@pytest.mark.parametrize("flag", sorted(settings.flags()))
def test_each_flag_names_its_trait_in_its_help(flag: str) -> None:
    name, _ = settings.flags()[flag]
    parser = argparse.ArgumentParser()
    settings.add_flags(parser, name)
    assert f"c.Kerasgrade.{name}" in " ".join(parser.format_help().split())
