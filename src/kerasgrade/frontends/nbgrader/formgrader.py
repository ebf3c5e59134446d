"""A Jupyter server extension that keeps nbgrader's formgrader pages safe from student ids.

nbgrader's formgrader renders its pages with a Jinja environment that does not escape, and puts
the student id of a URL or of the gradebook into them as it is: in the student's page (its
breadcrumb and an inline script), and in a submission's page (the student's name and the path
of the notebook, through nbconvert's exporter). An id such as `<img src=x onerror=...>`, which
a student can give themselves by naming an inbound folder, then runs script in the
instructor's browser. The formgrader's own scripts are partly inline (`var student_id = ...`,
`onclick=` handlers), so a Content-Security-Policy could not forbid inline script without
breaking it; this extension escapes instead:

- the page templates are rendered by an autoescaping copy of nbgrader's environment, where
  each `"{{ name }}"` in an inline script is written as JSON instead (`{{ name|tojson }}`:
  HTML-safe, and the script gets the id as it is, so such a student's submissions still load);
- every text nbgrader hands the submission page's exporter (student, names, notebook path,
  ids) is HTML-escaped first (nbconvert's environment itself must not escape: the notebook's
  HTML is built by its filters).

Enable it next to nbgrader's formgrader (docs/jupyterhub_config.py does for the instructor):
`jupyter server extension enable kerasgrade.frontends.nbgrader.formgrader`. If the formgrader
is there but cannot be guarded (another nbgrader's internals), its pages are switched off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from jinja2 import BaseLoader, Environment
from markupsafe import escape
from nbconvert.exporters import HTMLExporter

ENV = "nbgrader_jinja2_env"  # the formgrader's own pages
EXPORTER = "nbgrader_exporter"  # a submission's page
FORMGRADER = "nbgrader_formgrader"  # present once nbgrader's extension has loaded
BROKEN = "nbgrader_bad_setup"  # nbgrader then answers every page with its error page

_SCRIPT = re.compile(r"(<script>)(.*?)(</script>)", re.S)
_QUOTED = re.compile(r'"\{\{ *(\w+) *\}\}"')


def json_in_scripts(source: str) -> str:
    """A template's source with each `"{{ name }}"` of an inline script as `{{ name|tojson }}`."""
    return _SCRIPT.sub(lambda m: m[1] + _QUOTED.sub(r"{{ \1|tojson }}", m[2]) + m[3], source)


class JsonInScripts(BaseLoader):
    """nbgrader's template loader, its templates passed through json_in_scripts."""

    def __init__(self, loader: BaseLoader) -> None:
        self.loader = loader

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.loader.get_source(environment, template)
        return json_in_scripts(source), filename, uptodate


def escaped(resources: dict[str, Any] | None) -> dict[str, Any] | None:
    """The resources with every text value HTML-escaped (Markup, so never escaped twice)."""
    if resources is None:
        return None
    return {k: escape(v) if isinstance(v, str) else v for k, v in resources.items()}


class EscapingHTMLExporter(HTMLExporter):
    """nbgrader's formgrade exporter, with the texts it is handed for the page escaped."""

    def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None,
                           **kw: Any) -> tuple[str, dict[str, Any]]:
        return super().from_notebook_node(nb, resources=escaped(resources), **kw)


def guard(settings: dict[str, Any], log: logging.Logger) -> bool | None:
    """Make the formgrader in these tornado settings escape what it shows. True: guarded;
    None: no formgrader (yet); False: it could not be guarded, and its pages are switched off
    (logged)."""
    if FORMGRADER not in settings:
        return None
    env, exporter = settings.get(ENV), settings.get(EXPORTER)
    if not (isinstance(env, Environment) and type(exporter) in (HTMLExporter,
                                                                EscapingHTMLExporter)):
        settings[BROKEN] = True
        log.error("kerasgrade: this nbgrader's formgrader cannot be kept safe from student ids "
                  "(%s is %r, %s is %r): its pages are switched off", ENV, type(env).__name__,
                  EXPORTER, type(exporter).__name__)
        return False
    # Whatever autoescape it has: nbgrader's templates end in .tpl, which select_autoescape
    # would not escape.
    if not isinstance(env.loader, JsonInScripts):
        settings[ENV] = env.overlay(autoescape=True, loader=JsonInScripts(env.loader))
    if type(exporter) is HTMLExporter:
        settings[EXPORTER] = EscapingHTMLExporter(config=exporter.config)
    return True


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # Extensions load in the order of their names, so nbgrader's formgrader usually comes
    # after this one; the start hook below then guards it.
    guard(serverapp.web_app.settings, serverapp.log)


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    """Runs once every extension has loaded, when the event loop starts: before the server
    handles its first request."""
    if guard(serverapp.web_app.settings, serverapp.log):
        serverapp.log.info("kerasgrade: the formgrader's pages escape student ids")
