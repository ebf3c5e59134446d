#!/usr/bin/env bash
# Set up and run the project's tests: real TensorFlow training, real nbgrader, real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
python3 -m ruff check .
python3 -m pytest tests -p no:cacheprovider -ra "$@"
