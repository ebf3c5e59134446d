#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source when it builds the autograder's
# image (Ubuntu). It installs what grading needs, so that grading needs no internet: Python
# 3.11+ in a venv at /autograder/venv with this zip's kerasgrade wheel and its dependencies
# (TensorFlow among them), and bubblewrap and util-linux for the sandbox. Safe to run again:
# what is present is kept (the venv sees the system's packages, so a machine that has
# TensorFlow does not install it twice).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv=/autograder/venv

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python="$(command -v "$candidate")"
    break
  fi
done
packages=(bubblewrap util-linux)
# Ubuntu 22.04's python3 is 3.10; its python3.11 package is new enough.
[[ -z "$python" ]] && packages+=(python3.11 python3.11-venv)
[[ -n "$python" ]] && ! "$python" -c 'import ensurepip' 2>/dev/null \
  && packages+=("$(basename "$python")-venv")
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[[ -z "$python" ]] && python="$(command -v python3.11)"

[[ -x "$venv/bin/python" ]] || "$python" -m venv --system-site-packages "$venv"
wheel=("$here"/kerasgrade-*.whl)
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" --no-deps --force-reinstall "${wheel[0]}"  # this very build of kerasgrade
# Its dependencies, unless all are there already (pip's resolver alone takes seconds).
"$venv/bin/python" - <<'PY' || "${pip[@]}" "${wheel[0]}"
import sys
from importlib.metadata import PackageNotFoundError, requires, version
from packaging.requirements import Requirement
for req in map(Requirement, requires("kerasgrade") or ()):
    if req.marker and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
# Found, not imported: importing TensorFlow alone takes seconds.
"$venv/bin/python" -c 'import importlib.util as u
assert all(map(u.find_spec, ("kerasgrade.frontends.gradescope", "tensorflow", "keras", "nbgrader")))' \
  || { echo "setup.sh: the venv at $venv cannot import the grader" >&2; exit 1; }
