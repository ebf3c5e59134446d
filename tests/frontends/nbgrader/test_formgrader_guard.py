"""kerasgrade's formgrader guard on nbgrader's own templates and exporter (no server, no browser:
tests/report/test_formgrader_ids.py opens the pages in Chromium)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_markdown_cell, new_notebook
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config

from kerasgrade.frontends.nbgrader import formgrader

LOG = logging.getLogger(__name__)
STUDENT = '<img src=x onerror=kgTag=1>";kgScript=1;"</script><script>kgScript=2</script>'


def nbgrader_settings() -> dict[str, Any]:
    """The tornado settings nbgrader's formgrader extension leaves (formgrader.py)."""
    config = Config()  # FormgradeExtension.build_extra_config's
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    return {formgrader.FORMGRADER: object(), formgrader.BROKEN: False,
            formgrader.ENV: Environment(loader=FileSystemLoader([handlers.template_path])),
            formgrader.EXPORTER: HTMLExporter(config=config)}


def script_of(html: str) -> str:
    """The inline script that names the student."""
    (script,) = re.findall(r"<script>\s*(var student_id.*?)</script>", html, re.S)
    return script


def test_nbgrader_alone_prints_the_id_as_html() -> None:
    html = nbgrader_settings()[formgrader.ENV].get_template(
        "manage_students_assignments.tpl").render(student_id=STUDENT, base_url="")
    assert "<img src=x onerror=kgTag=1>" in html


def test_student_pages_escape_the_id_and_give_the_script_it_as_json() -> None:
    settings = nbgrader_settings()
    assert formgrader.guard(settings, LOG) is True
    for name in ("manage_students_assignments.tpl", "manage_students_notebook_submissions.tpl"):
        html = settings[formgrader.ENV].get_template(name).render(
            student_id=STUDENT, assignment_id="ps1", base_url="/user/t")
        assert "<img" not in html and "kgScript=2</script>" not in html, name
        assert "&lt;img src=x onerror=kgTag=1&gt;&#34;;kgScript=1;&#34;" in html
        script = script_of(html)
        # One JSON string, as JavaScript reads it: the id exactly, no tag, no way out.
        value, end = json.JSONDecoder().raw_decode(script, len("var student_id = "))
        assert value == STUDENT and script[end] == ";" and "<" not in script, script
        assert 'var base_url = "/user/t";' in html  # the plain values as nbgrader wrote them


def test_submission_page_escapes_what_nbgrader_hands_the_exporter() -> None:
    settings = nbgrader_settings()
    formgrader.guard(settings, LOG)
    nb = new_notebook(cells=[new_markdown_cell("My answer.")])
    html, _ = settings[formgrader.EXPORTER].from_notebook_node(nb, resources={
        "assignment_id": "ps1", "notebook_id": "ps1", "submission_id": "abc", "index": 0,
        "total": 1, "base_url": "", "student": STUDENT, "last_name": None,
        "first_name": None, "notebook_path": f"course/autograded/{STUDENT}/ps1/ps1.ipynb"})
    assert "<img" not in html and "kgScript=2</script>" not in html
    assert html.count("&lt;img src=x onerror=kgTag=1&gt;") == 3  # the name, the two links
    assert "My answer." in html


def test_guard_is_idempotent_and_waits_for_the_formgrader() -> None:
    settings = nbgrader_settings()
    formgrader.guard(settings, LOG)
    guarded = dict(settings)
    assert formgrader.guard(settings, LOG) is True and settings == guarded
    assert formgrader.guard({"other": 1}, LOG) is None  # no formgrader (a student's server)


def test_an_unknown_formgrader_is_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    settings = nbgrader_settings()
    settings[formgrader.ENV] = None  # another nbgrader keeps its pages elsewhere
    assert formgrader.guard(settings, LOG) is False
    assert settings[formgrader.BROKEN] is True
    assert "cannot be kept safe from student ids" in caplog.text
