"""The single-user image of the course's JupyterHub: Debian's python3 in a venv every user can
read, with kerasgrade and its lti extra (a wheel built from this checkout, as a hub image gets
it), TensorFlow,
JupyterLab, nbgrader and jupyterhub-singleuser, at the versions the tests' own Python has.
The Dask cluster's workers (tests/frontends/serve/test_serve_dask.py) get one of their own,
with the dask extra.

A venv is kept under /var/cache, named after the project's dependencies and those versions,
so that a second run reuses it; only kerasgrade itself is reinstalled from the fresh wheel.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from unix_users import cached_venv

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path("/var/cache/kerasgrade-hub")
# The hub and the single-user servers must speak the same JupyterHub API: same versions.
PINNED = [f"{name}=={version(name)}" for name in ("jupyterhub", "jupyterlab", "nbgrader")]
# A Dask client and its cluster must agree on these; TensorFlow's version fixes the scores.
DASK_PINNED = [f"{name}=={version(name)}" for name in (
    "dask", "distributed", "cloudpickle", "msgpack", "tensorflow-cpu", "keras", "numpy")]


def build_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--disable-pip-version-check", "-w", str(dest), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = dest.glob("kerasgrade-*.whl")
    return wheel


def hub_venv(extra: str = "lti", pinned: list[str] = PINNED) -> tuple[Path, float, float]:
    """(the venv, seconds spent building it (0 when cached), seconds installing kerasgrade)."""
    with tempfile.TemporaryDirectory(prefix="kerasgrade-wheel-") as tmp:
        start = time.monotonic()
        wheel = build_wheel(Path(tmp))
        key = "\n".join([(ROOT / "pyproject.toml").read_text(), *pinned])  # pins differ by extra
        # With the lti extra: the service posts grades to an LMS where a course sets it up.
        venv, built = cached_venv(CACHE, [f"{wheel}[{extra}]", *pinned], key)
        # The cached venv has kerasgrade's dependencies; the code may be newer than its copy.
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "--no-deps", "--force-reinstall",
                        str(wheel)], check=True, capture_output=True)
        assert (venv / "bin" / "kerasgrade").is_file(), f"no kerasgrade in {venv}"
        return venv, built, time.monotonic() - start - built


if __name__ == "__main__":  # prepare the cache ahead of the tests, and time it
    path, cold, warm = hub_venv()
    print(f"{path}: built in {cold:.0f} s, kerasgrade installed in {warm:.0f} s")
