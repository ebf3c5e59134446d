"""What a sandboxed student process sees: hidden course paths, shown paths, its environment."""

from __future__ import annotations

import os
from pathlib import Path

import kerasgrade
from kerasgrade.course.layout import COURSE_DIRS
from kerasgrade.keras_terms import quiet_tensorflow


def private_paths(root: Path, extra: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """What a student's code must never read: the course's private folders and files.

    /run holds the machine's service sockets, which stay connectable on a read-only mount.
    """
    return tuple(root / d for d in COURSE_DIRS) + (Path("/run"),) + extra


def sandbox_env(scratch: Path, threads: int | None = None, data_dir: Path | None = None,
                shared_data: str | None = None) -> dict[str, str]:
    """The whole environment of a sandboxed student process: none of the grader's own.

    ``shared_data``: a value of KERASGRADE_SHARED_DATA (``kerasgrade.data.share()``'s).
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(scratch),
        "KERAS_HOME": str(scratch / ".keras"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(scratch / ".matplotlib"),
        "IPYTHONDIR": str(scratch / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(scratch / ".jupyter"),
        "JUPYTER_DATA_DIR": str(scratch / ".jupyter"),
        "KERASGRADE_OFFLINE": "1",
        "PYTHONPATH": str(Path(kerasgrade.__file__).resolve().parent.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    for key in ("KERASGRADE_DATA_DIR", "KERASGRADE_NO_SAMPLE", "KERASGRADE_SHARED_DATA"):
        if key in os.environ:
            env[key] = os.environ[key]
    if data_dir:
        env["KERASGRADE_DATA_DIR"] = str(data_dir)
    if shared_data:
        env["KERASGRADE_SHARED_DATA"] = shared_data
    quiet_tensorflow(env)
    return env


def shown_paths(env: dict[str, str]) -> tuple[Path, ...]:
    """The package, the data folder and the shared data folders, which the sandbox must show
    read-only even where they sit under its private /tmp (a clone in /tmp, a data folder there,
    the shared data's root) or a hidden folder."""
    paths = [Path(env[k]) for k in ("PYTHONPATH", "KERASGRADE_DATA_DIR") if k in env]
    for entry in env.get("KERASGRADE_SHARED_DATA", "").split(os.pathsep):
        if entry:
            # A symlinked entry is only readable with its target shown too.
            paths += dict.fromkeys([Path(entry), Path(entry).resolve()])
    # A missing one is skipped (bwrap would refuse to start): loading the data then fails
    # with the loaders' own message, or falls back to the normal search.
    return tuple(p for p in paths if p.exists())
