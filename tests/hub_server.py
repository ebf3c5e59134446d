"""A real JupyterHub for the browser tests, started from the documented docs/jupyterhub_config.py
with its paths given through the environment variables that file reads.

It listens on free loopback ports only (the proxy, its API and the hub's own), keeps its state
in a folder of the test, and is stopped with every single-user server, kernel and service it
started, even when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lab_server import LAB_SETTINGS, free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "jupyterhub_config.py"


@dataclass(frozen=True)
class Hub:
    url: str
    state: Path
    log: Path


def quiet_lab(venv: Path) -> None:
    """The image's JupyterLab defaults: no news toast over a screenshot, every cell in the DOM
    (overrides.json is where an image sets defaults for every user)."""
    settings = venv / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    overrides = {":".join(plugin.rsplit("/", 1)): values
                 for plugin, values in LAB_SETTINGS.items()}
    (settings / "overrides.json").write_text(json.dumps(overrides))


@contextlib.contextmanager
def jupyterhub(base: Path, venv: Path, course: Path, exchange: Path, instructor: str,
               students: list[str], workers: int = 1, env: dict[str, str] | None = None
               ) -> Iterator[Hub]:
    """The hub, its settings from these arguments and ``env`` (more of the config's variables,
    KERASGRADE_LTI_* for launches from an LMS)."""
    state = base / "hub"
    state.mkdir()
    state.chmod(0o755)  # the servers read their config folders in it
    log = base / "jupyterhub.log"
    url = f"http://127.0.0.1:{free_port()}"
    env = os.environ | {
        "KERASGRADE_HUB_VENV": str(venv), "KERASGRADE_COURSE": str(course),
        "KERASGRADE_EXCHANGE": str(exchange), "KERASGRADE_INSTRUCTOR": instructor,
        "KERASGRADE_STUDENTS": ",".join(students), "KERASGRADE_HUB_STATE": str(state),
        "KERASGRADE_HUB_URL": url, "KERASGRADE_SERVE_WORKERS": str(workers)} | (env or {})
    quiet_lab(venv)
    with log.open("wb") as out:
        hub = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG),
             f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
             f"--JupyterHub.hub_port={free_port()}"],
            cwd=state, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"{url}/hub/health", hub, log, name="JupyterHub")
        yield Hub(url, state, log)
    finally:
        stop(hub)
