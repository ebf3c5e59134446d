"""What a sandboxed student process sees: the paths shown to it and its environment (what is
hidden from it: kerasgrade.course.layout.private_paths)."""

from __future__ import annotations

import os
from pathlib import Path

import kerasgrade
from kerasgrade import environment
from kerasgrade.data.dataset import DATASETS
from kerasgrade.data.search import DEBIAN_ROOT, place_files
from kerasgrade.keras_terms import quiet_tensorflow


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
        environment.OFFLINE: "1",
        "PYTHONPATH": str(Path(kerasgrade.__file__).resolve().parent.parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    for key in (environment.DATA_DIR, environment.NO_SAMPLE):
        if key in os.environ:
            env[key] = os.environ[key]
    if data_dir:
        env[environment.DATA_DIR] = str(data_dir)
    shared_data = shared_data or os.environ.get(environment.SHARED_DATA)
    if shared_data:
        # Resolved: the sandbox binds a path's target, so a symlink itself is not shown there.
        env[environment.SHARED_DATA] = os.pathsep.join(
            str(Path(entry).resolve()) for entry in shared_data.split(os.pathsep) if entry)
    quiet_tensorflow(env)
    return env


def shown_paths(env: dict[str, str]) -> tuple[Path, ...]:
    """What the sandbox shows read-only for the student process of ``env``, besides the
    interpreter and the system (bwrap.py): the package, the data sets where the loaders look
    (the data folder, Debian's, and each file the search may read in them, so a place that
    links elsewhere still leads somewhere) and the shared data folders. Shown even where they
    sit under the sandbox's private /tmp (a clone in /tmp, the shared data's root) or a hidden
    folder."""
    paths = [Path(env["PYTHONPATH"])] if "PYTHONPATH" in env else []
    folders = [Path(env[environment.DATA_DIR])] if environment.DATA_DIR in env else []
    folders.append(DEBIAN_ROOT)
    paths += folders + [file for name in DATASETS for file in place_files(name, folders)]
    paths += [Path(e) for e in env.get(environment.SHARED_DATA, "").split(os.pathsep) if e]
    # A missing one is skipped (bwrap would refuse to start): loading the data then fails
    # with the loaders' own message, or falls back to the normal search.
    return tuple(p for p in paths if p.exists())
