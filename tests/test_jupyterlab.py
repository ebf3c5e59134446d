"""A student's view: the released 02 notebook in JupyterLab, in headless Chromium.

JupyterLab runs offline with its home, config, data and settings in a temporary folder. The
released notebook gets the instructor's solutions in its TODO cells (as a student would type
them), then Run > Run All Cells must bring every check cell to its ✔ line.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import psutil
import pytest
from test_feedback import chromium

from kerasgrade.assignments import CONNECTED_NETWORKS
from kerasgrade.demo import answered

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api").expect

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "assignments" / CONNECTED_NETWORKS / f"{CONNECTED_NETWORKS}.ipynb"
STARTUP_SECONDS = 90
RUN_SECONDS = 420  # TensorFlow's import and ten epochs on a busy two-core machine

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    notebook: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_jupyter(home: Path) -> dict[str, str]:
    """Environment and config for a JupyterLab that reads and writes only under ``home``."""
    dirs = {
        "HOME": home,
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    # Offline: no news feed or update check from the server...
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(json.dumps(
        {"LabApp": {"news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}))
    # ...nor from the page, no toast over the screenshot, and every cell kept in the DOM.
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab"
    for plugin, values in {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False,
                                            "doNotDisturbMode": True},
        "notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {k: str(v) for k, v in dirs.items()} | {
        "KERASGRADE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    work = base / "work"
    work.mkdir()
    notebook = work / RELEASED.name
    nbformat.write(answered(ROOT, CONNECTED_NETWORKS), notebook)
    token, port = secrets.token_hex(16), free_port()
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        # Its own process group, so that stop() can end it with all it spawned in it.
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
             "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
             f"--ServerApp.root_dir={work}", *(["--allow-root"] if os.geteuid() == 0 else [])],
            cwd=work, env=os.environ | private_jupyter(base / "home"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/api/status?token={token}", server, log)
        yield Lab(url, token, notebook, log)
    finally:
        stop(server)


def wait_until_up(status_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer in {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """End the server's process group, then any kernel it started that outlived it.

    jupyter_client starts each kernel in a session of its own, out of the server's group:
    they are found by pid before the server goes.
    """
    try:
        kernels = psutil.Process(server.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kernels = []
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
            server.wait(grace)
            break
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
    for kernel in kernels:
        with contextlib.suppress(psutil.NoSuchProcess):
            kernel.kill()
    psutil.wait_procs(kernels, timeout=5)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context.new_page()


def test_released_notebook_runs_in_jupyterlab(lab: Lab, page: Page, tmp_path: Path) -> None:
    page.goto(f"{lab.url}/lab/tree/{lab.notebook.name}?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel-notebook")
    # One check cell per TODO cell; waiting for all ten also waits for the notebook to render.
    expected = 10
    expect(notebook.locator(".jp-CodeCell", has_text="check_step(")).to_have_count(
        expected, timeout=STARTUP_SECONDS * 1000)
    # The status bar names the kernel only once the page is connected to it; the toolbar's
    # indicator says idle earlier, and Run All before the connection runs nothing.
    page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle").wait_for(
        timeout=STARTUP_SECONDS * 1000)

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    ticks = notebook.locator(".jp-OutputArea-output", has_text="✔")
    deadline = time.monotonic() + RUN_SECONDS
    while ticks.count() < expected and time.monotonic() < deadline:
        text = notebook.text_content() or ""
        assert "Traceback" not in text, text[max(0, text.index("Traceback") - 500):][:3000]
        page.wait_for_timeout(1000)
    # The screenshot comes first, so that a failure leaves a picture of where it stopped.
    if ticks.count():
        ticks.last.scroll_into_view_if_needed()
    shot = tmp_path / "jupyterlab-02.png"
    page.screenshot(path=shot)
    print(f"screenshot: {shot}")
    assert ticks.count() == expected, (
        f"{ticks.count()} of {expected} checks passed in {RUN_SECONDS} s; see {shot} and the "
        f"server's log:\n{lab.log.read_text()[-3000:]}")
    assert "✔ save" in ticks.last.text_content()
    assert shot.stat().st_size > 10_000
