#!/usr/bin/env bash
# Set up and run the project's tests: real TensorFlow training, real nbgrader, real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
python3 -m ruff check .
python3 -m pytest tests -p no:cacheprovider -ra "$@"
# The data courses use: the reference solutions (pytest autograder/) and every demo mistake
# (tests/test_full_data.py) on full MNIST and Fashion-MNIST, fetched and checked into data/
# as scripts/grade.sh does. The tests above train on the 5,000-digit sample.
python3 -m kerasgrade data fetch --dest data
KERASGRADE_DATA_DIR="$PWD/data" python3 -m pytest autograder/ -p no:cacheprovider -q
KERASGRADE_DATA_DIR="$PWD/data" python3 -m pytest tests/test_full_data.py -p no:cacheprovider -ra
