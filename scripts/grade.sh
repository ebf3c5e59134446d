#!/usr/bin/env bash
# Set up, then grade a batch of submissions on the embedded defaults (SQLite gradebook,
# local data). Usage: scripts/grade.sh [COURSE_DIR] [ASSIGNMENT]. A course folder with no
# submitted/ yet gets a demo class (reference solutions and typical mistakes) first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Full MNIST and Fashion-MNIST, verified, in this folder's data/ (once; later runs find them).
export KERASGRADE_DATA_DIR="${KERASGRADE_DATA_DIR:-$PWD/data}"
python3 -m kerasgrade data fetch
course="${1:-.}"
assignment="${2:-02-connected-networks}"
if [[ ! -d "$course/submitted" ]]; then
  python3 -m kerasgrade demo "$course" --assignment "$assignment"
fi
python3 -m kerasgrade grade "$assignment" --root "$course"
