"""One warm grading of an assignment's reference solution, as a serve or batch worker grades it,
with the peak memory of the worker's whole tree: the sizing inputs of docs/scale.md for an
assignment that bench/submit_latency.py does not grade (03).

    python bench/one_grading.py [--assignment 03-fashion-classifier] [--threads 1]
                                [--data-dir DIR]

This process is the worker: it grades the released notebook with the master's solutions typed
in (`kerasgrade.course.demo.answered`), on the warm path (a zygote that imports TensorFlow,
a kernel forked from it, the measuring process), sandboxed, on --threads TensorFlow threads.
Every 0.5 s it sums the PSS of itself and every process below it (RSS where PSS cannot be
read, counted and said). The worker's start (its zygote importing TensorFlow) is its own
phase, and left out of the grading's seconds. The last line:
    assignment: ID score: X/Y grading_s: X training_s: X worker_peak_gb: X.XX
The benchmark exits 1 when the solution does not get full marks: a figure from a grading that
failed would measure nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import psutil
from grade_throughput import MIB, Sampler

from kerasgrade.course import assignments
from kerasgrade.course.demo import answered
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.5


@contextmanager
def sampled_tree() -> Iterator[Sampler]:
    """grade_throughput's Sampler on this process's tree, every SAMPLE_SECONDS, for the block."""
    sampler, done = Sampler(), threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            sampler.tree(psutil.Process())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        done.set()
        thread.join()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", default=assignments.FASHION_CLASSIFIER,
                   choices=list(assignments.ASSIGNMENTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", type=Path,
                   default=Path(os.environ.get("KERASGRADE_DATA_DIR") or REPO / "data"))
    args = p.parse_args()
    spec = assignments.get(args.assignment)
    with tempfile.TemporaryDirectory(prefix="kerasgrade-one-") as tmp:
        path = Path(tmp) / f"{spec.id}.ipynb"
        nbformat.write(answered(REPO, spec.id), path)
        options = ExecOptions(warm=True, threads=args.threads, data_dir=args.data_dir)
        with sampled_tree() as tree:
            result = grade_notebook(path, spec, "solution", options, root=REPO)
        warm.close_current()
    t = result.timings
    grading = t.get("total", 0.0) - t.get("worker_start", 0.0)
    print(f"{spec.id} on {args.threads} thread(s), data: {result.data_source}")
    print("phases, s: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    print(f"worker tree: peak {tree.peak / MIB:.0f} MB PSS over {tree.reads} process reads"
          + (f", RSS in {tree.fallbacks} where PSS was denied" if tree.fallbacks else ""))
    print(f"assignment: {spec.id} score: {result.score:g}/{spec.max_score:g} "
          f"grading_s: {grading:.1f} training_s: {t.get('training', 0.0):.1f} "
          f"worker_peak_gb: {tree.peak / 2**30:.2f}")
    if result.score != spec.max_score:
        print(f"the solution got {result.score:g} of {spec.max_score:g}: "
              f"{result.reason or 'see the checks'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
