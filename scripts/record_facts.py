"""Record the facts of real graded runs as the fast tier's fixtures (tests/checks/).

Grades, with the real grader (sandbox, student kernel, clean measuring process), each
assignment's reference solution and every demo mistake (kerasgrade.course.demo.MISTAKES), and
writes tests/fixtures/facts/<assignment>/<case>.json: the facts the checks consume, the data
source they were measured on, the scores the real run gave (tests/checks/ asserts them) and
the messages the student read then (for reference; tests/checks/ pins fragments of them).

    PYTHONPATH=$PWD/src python3 scripts/record_facts.py [ASSIGNMENT[/CASE] ...]

With no argument every case is recorded (03-fashion-classifier trains for minutes). The data
is what the grader finds: the 5,000-digit MNIST sample unless KERASGRADE_DATA_DIR names full
data; Fashion-MNIST from the Debian package.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from kerasgrade.course import assignments, demo
from kerasgrade.grade import grade_notebook

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "facts"
SOLUTION = "solution"

# Facts that change from run to run on the same machine and data, and that no check reads:
# dropped from the fixtures so that re-recording shows only real changes.
VOLATILE = ("timings",)
# Nothing else is cut: the measuring process already bounds what it reports (3 rows of
# probabilities, 24 misclassified indices, array summaries rather than arrays), so a fixture
# is a few kilobytes (tests/checks/test_recorded_runs.py keeps them under a limit).


def cases(assignment_id: str) -> dict[str, dict[str, str] | None]:
    return {SOLUTION: None, **demo.MISTAKES.get(assignment_id, {})}


def record(assignment_id: str, case: str, change: dict[str, str] | None,
           work: Path) -> dict[str, Any]:
    path = work / case / assignment_id / f"{assignment_id}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(demo.answered(ROOT, assignment_id, change), path)
    started = time.monotonic()
    result = grade_notebook(path, assignments.get(assignment_id), student=case)
    seconds = time.monotonic() - started
    facts = {k: v for k, v in result.facts.items() if k not in VOLATILE}
    return {
        "assignment": assignment_id,
        "case": case,
        "change": change or {},
        "data_source": result.data_source,
        "recorded_with": "scripts/record_facts.py (grade_notebook: sandboxed kernel, clean "
                         "measuring process)",
        "seconds": round(seconds, 1),
        "status": result.status,
        "reason": result.reason,
        "score": result.score,
        "max_score": result.max_score,
        "scores": {c.name: c.points for c in result.checks},
        "passed": {c.name: c.passed for c in result.checks},
        "messages": {c.name: c.text() for c in result.checks},
        "facts": json.loads(json.dumps(facts, default=str)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", help="ASSIGNMENT or ASSIGNMENT/CASE (default: all)")
    parser.add_argument("--dest", type=Path, default=FIXTURES)
    args = parser.parse_args(argv)
    wanted = args.which or list(assignments.ASSIGNMENTS)
    with tempfile.TemporaryDirectory(prefix="record-facts-") as tmp:
        for item in wanted:
            aid, _, only = item.partition("/")
            for case, change in cases(aid).items():
                if only and case != only:
                    continue
                out = record(aid, case, change, Path(tmp))
                dest = args.dest / aid / f"{case}.json"
                dest.parent.mkdir(parents=True, exist_ok=True)
                # The facts keep the order they were measured in: a check may take the first array
                # of a kind (checks.common.label_mistake), so sorting keys could change a result.
                dest.write_text(json.dumps(out, indent=1) + "\n")
                print(f"{aid}/{case}: {out['data_source']} {out['status']} "
                      f"{out['score']:g}/{out['max_score']:g} in {out['seconds']}s -> "
                      f"{dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
