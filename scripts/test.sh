#!/usr/bin/env bash
# Set up and run the project's tests: real TensorFlow training, real nbgrader, real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
python3 -m ruff check .
# Full MNIST (Fashion-MNIST comes from Debian), fetched and checked into data/ as
# scripts/grade.sh does: the tests that grade on the data a course uses (the reference
# solutions through `pytest autograder/`, every demo mistake) take it from --full-data; the
# others train on the 5,000-digit sample.
python3 -m kerasgrade data fetch --dest data
# Two processes, each taking whole files (module fixtures stay shared): most tests wait on a
# single-threaded TensorFlow kernel, so both cores work. xdist hands out files in the order
# tests/conftest.py puts them (longest first) only with --no-loadscope-reorder: by default it
# sorts them by their number of tests, which started the 15-minute full-data file 14th of 58.
# --durations shows where time goes.
python3 -m pytest tests -p no:cacheprovider -ra -n 2 --dist loadfile --no-loadscope-reorder \
  --durations=25 --full-data data "$@"
