"""A private Jupyter server for the browser tests (JupyterLab with nbgrader's extensions).

It reads and writes only under a temporary home, never checks for news or updates, listens on a
free loopback port with a random token, and is stopped with every kernel it started.
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

import psutil
import pytest

STARTUP_SECONDS = 90
# Offline: no news feed or update check from the server...
OFFLINE_SERVER = {"LabApp": {"news_url": None,
                             "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}
# ...nor from the page, no toast over the screenshot, and every cell kept in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_jupyter(home: Path, extensions: tuple[str, ...] = ()) -> dict[str, str]:
    """Environment and config for a JupyterLab that reads and writes only under ``home``, with
    these server extensions enabled too."""
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
    enabled = {"ServerApp": {"jpserver_extensions": dict.fromkeys(extensions, True)}}
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(
        json.dumps(OFFLINE_SERVER | (enabled if extensions else {})))
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"]
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {k: str(v) for k, v in dirs.items()} | {
        "KERASGRADE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}


@contextlib.contextmanager
def jupyterlab(root: Path, base: Path, extensions: tuple[str, ...] = ()) -> Iterator[Server]:
    """JupyterLab serving ``root`` (also its working folder, where nbgrader looks for the
    course), with its home and log under ``base`` and these server extensions enabled."""
    token, port = secrets.token_hex(16), free_port()
    log = base / "jupyterlab.log"
    with log.open("wb") as out:
        # Its own process group, so that stop() can end it with all it spawned in it.
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
             "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
             f"--ServerApp.root_dir={root}", *(["--allow-root"] if os.geteuid() == 0 else [])],
            cwd=root, env=os.environ | private_jupyter(base / "home", extensions), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/api/status?token={token}", server, log)
        yield Server(url, token, log)
    finally:
        stop(server)


def wait_until_up(status_url: str, server: subprocess.Popen, log: Path,
                  name: str = "JupyterLab") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{name} exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{name} did not answer in {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


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
