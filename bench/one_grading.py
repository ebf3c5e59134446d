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
from pathlib import Path

import nbformat
import psutil

from kerasgrade.course import assignments
from kerasgrade.course.demo import answered
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions

REPO = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.5
MIB = 2**20


class TreePeak:
    """The peak PSS of this process and its descendants, sampled in a thread."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.samples = self.fallbacks = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreePeak:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()

    def _sample(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            me = psutil.Process()
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_full_info().pss
                except psutil.AccessDenied:
                    self.fallbacks += 1
                    total += proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue  # ended between the listing and the read
            self.peak_mb = max(self.peak_mb, total / MIB)
            self.samples += 1


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
        with TreePeak() as tree:
            result = grade_notebook(path, spec, "solution", options, root=REPO)
        warm.close_current()
    t = result.timings
    grading = t.get("total", 0.0) - t.get("worker_start", 0.0)
    print(f"{spec.id} on {args.threads} thread(s), data: {result.data_source}")
    print("phases, s: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    print(f"worker tree: peak {tree.peak_mb:.0f} MB PSS over {tree.samples} samples"
          + (f", RSS in {tree.fallbacks} process reads where PSS was denied"
             if tree.fallbacks else ""))
    print(f"assignment: {spec.id} score: {result.score:g}/{spec.max_score:g} "
          f"grading_s: {grading:.1f} training_s: {t.get('training', 0.0):.1f} "
          f"worker_peak_gb: {tree.peak_mb / 1024:.2f}")
    if result.score != spec.max_score:
        print(f"the solution got {result.score:g} of {spec.max_score:g}: "
              f"{result.reason or 'see the checks'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
