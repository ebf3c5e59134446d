"""The course as built: master notebooks, released notebooks and executed solutions match
source/ and the spec (03 trains for minutes: its committed solution is inspected)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from coursefiles import (
    CHECK_CELL,
    IDS,
    ROOT,
    STUB,
    cell_by_id,
    nbgrader,
    read,
    stdout,
)
from nbformat import NotebookNode

from kerasgrade.course import assignments
from kerasgrade.course import build as course
from kerasgrade.course.assignments import CONNECTED_NETWORKS, FASHION_CLASSIFIER, PREPARING_DATA
from kerasgrade.steps import framework as student

# ---------------------------------------------------------------------------------------
# Built files match source/


@pytest.mark.slow  # nbgrader generate_assignment per assignment
def test_committed_course_is_up_to_date() -> None:
    assert course.check_up_to_date(ROOT) == []


@pytest.mark.slow  # nbgrader generate_assignment per assignment
def test_check_up_to_date_notices_an_edited_source(tmp_path: Path) -> None:
    for name in ("source", "assignments", "solutions"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    path = course.notebook_path(tmp_path / "source", CONNECTED_NETWORKS)
    nb = nbformat.read(path, as_version=4)
    cell_by_id(nb, "setup").source += "\nimport numpy as np"
    nbformat.write(nb, path)

    diffs = course.check_up_to_date(tmp_path)

    assert any(d.startswith("assignments/02-") and "(setup) differs in source" in d for d in diffs)
    assert any(d.startswith("solutions/02-") and "(setup) differs in source" in d for d in diffs)
    assert all("02-connected-networks.ipynb: cell 1 (setup) differs" in d for d in diffs), diffs


# ---------------------------------------------------------------------------------------
# Master notebooks follow the specs


@pytest.mark.parametrize("aid", IDS)
def test_grading_cells_match_the_spec(aid: str) -> None:
    nb = read("source", aid)
    grade_cells = [c for c in nb.cells if nbgrader(c).get("grade") and c.cell_type == "code"]
    spec = assignments.get(aid)
    assert [(nbgrader(c)["grade_id"], nbgrader(c)["points"]) for c in grade_cells] == [
        (c.name, c.points) for c in spec.checks
    ]
    # Written answers: nbgrader "manually graded answer" cells, the spec's manual points.
    answers = [c for c in nb.cells if nbgrader(c).get("grade") and c.cell_type == "markdown"]
    assert [(nbgrader(c)["grade_id"], nbgrader(c)["points"]) for c in answers] == [
        (c.name, c.points) for c in spec.manual
    ]
    for cell in answers:
        assert nbgrader(cell)["solution"] and not nbgrader(cell)["locked"]
        assert "### BEGIN SOLUTION" in cell.source and "Rubric for the grader" in cell.source
    for cell, check in zip(grade_cells, spec.checks):
        visible, hidden = cell.source.split("### BEGIN HIDDEN TESTS\n")
        assert visible.startswith("#") and visible.count("\n") == 1, "one visible comment line"
        assert hidden.endswith("### END HIDDEN TESTS")
        assert f'run_check("{aid}", "{check.name}", globals())' in hidden
        assert nbgrader(cell)["locked"] and not nbgrader(cell)["solution"]


@pytest.mark.parametrize("aid", IDS)
def test_every_todo_is_followed_by_its_check_cell(aid: str) -> None:
    nb = read("source", aid)
    steps = []
    for i, cell in enumerate(nb.cells):
        if nbgrader(cell).get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            check = nb.cells[i + 1]
            match = CHECK_CELL.match(check.source)
            assert match and match.group(1) == aid, check.source
            assert nbgrader(check)["locked"] and not nbgrader(check)["grade"]
            steps.append(match.group(2))
    assert steps == list(student.steps_for(assignments.get(aid)))


@pytest.mark.parametrize("aid", IDS)
def test_master_notebooks_are_clean(aid: str) -> None:
    nb = read("source", aid)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    ids = [nbgrader(c)["grade_id"] for c in code]
    assert len(ids) == len(code) == len(set(ids)), "every code cell has a unique grade_id"


# ---------------------------------------------------------------------------------------
# Released notebooks give nothing away


def solution_lines(nb: NotebookNode) -> set[str]:
    """The lines of the solutions, except those the notebook gives in its own locked cells
    (04 seeds in its setup cell and asks for the same line atop each experiment)."""
    lines, given = set(), set()
    for cell in nb.cells:
        if nbgrader(cell).get("solution"):
            body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
            lines |= {line.strip() for line in body.splitlines() if line.strip()}
        elif cell.cell_type == "code":
            given |= {line.strip() for line in cell.source.splitlines()}
    return lines - given


@pytest.mark.parametrize("aid", IDS)
def test_released_notebook_has_no_solutions_or_hidden_tests(aid: str) -> None:
    released = read("assignments", aid)
    secrets = solution_lines(read("source", aid))
    for cell in released.cells:
        if cell.cell_type != "code":  # a written answer's model answer and rubric stay out
            assert "Rubric" not in cell.source and "Model answer" not in cell.source
            continue
        for marker in course.MARKERS:
            assert marker not in cell.source
        assert "run_check" not in cell.source and "nbgrader_bridge" not in cell.source
        leaked = secrets & {line.strip() for line in cell.source.splitlines()}
        assert not leaked, f"{cell.id} shows solution code: {leaked}"
        if nbgrader(cell).get("solution"):
            assert cell.source == STUB
        if nbgrader(cell).get("grade"):
            assert all(line.startswith("#") for line in cell.source.splitlines())


# ---------------------------------------------------------------------------------------
# Solutions: nbgrader accepts them, and their executed outputs show every check passing


def validate(aid: str, tmp_path: Path) -> str:
    """`nbgrader validate` on a copy (it runs the notebook next to it), from the root."""
    copy = tmp_path / f"{aid}.ipynb"
    shutil.copy(course.notebook_path(ROOT / "solutions", aid), copy)
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", str(copy)],
        cwd=ROOT, env=course.kernel_env(), capture_output=True, text=True, timeout=3600,
    )
    return proc.stdout + proc.stderr


@pytest.mark.slow  # nbgrader validate: a kernel that trains
@pytest.mark.parametrize("aid", [PREPARING_DATA, CONNECTED_NETWORKS, FASHION_CLASSIFIER])
def test_nbgrader_validate_accepts_the_solution(aid: str, tmp_path: Path) -> None:
    out = validate(aid, tmp_path)
    assert "Success! Your notebook passes all the tests." in out, out


@pytest.mark.parametrize("aid", IDS)
def test_executed_solution_passes_every_check(aid: str) -> None:
    nb = read("solutions", aid)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.id
        if CHECK_CELL.match(cell.source) or nbgrader(cell).get("grade"):
            assert stdout(cell).startswith("✔"), (cell.id, stdout(cell))
        if nbgrader(cell).get("grade"):
            assert not [o for o in cell.outputs if getattr(o, "name", "") == "stderr"], cell.id


def measured(nb: NotebookNode, step: str, pattern: str) -> float:
    match = re.search(pattern, stdout(cell_by_id(nb, f"check_{step}")))
    assert match, stdout(cell_by_id(nb, f"check_{step}"))
    return float(match.group(1))


@pytest.mark.parametrize(
    ("aid", "step", "pattern"),
    [
        (CONNECTED_NETWORKS, "evaluate", r"test accuracy ([0-9.]+)"),
        (FASHION_CLASSIFIER, "fit", r"validation accuracy ([0-9.]+)"),
    ],
)
def test_reference_accuracy_clears_the_bar(aid: str, step: str, pattern: str) -> None:
    nb = read("solutions", aid)
    source = re.search(r"data source: ([\w-]+)", "".join(map(stdout, nb.cells))).group(1)
    assert measured(nb, step, pattern) >= assignments.get(aid).threshold(source).minimum


def test_fashion_solution_predicts_an_ankle_boot_first() -> None:
    out = stdout(cell_by_id(read("solutions", FASHION_CLASSIFIER), "check_predict"))
    assert out.startswith("✔ predict: first image: Ankle boot")


