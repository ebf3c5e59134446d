"""Reading the committed course notebooks in tests: paths, cells, outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from kerasgrade.course import build as course

ROOT = Path(__file__).resolve().parents[1]  # the checkout
IDS = course.assignment_ids()
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
CHECK_CELL = re.compile(r'^check_step\("([\w-]+)", "(\w+)", globals\(\)\)$')
Namespace = dict[str, Any]


def read(folder: str, aid: str) -> NotebookNode:
    return nbformat.read(course.notebook_path(ROOT / folder, aid), as_version=4)


def nbgrader(cell: NotebookNode) -> dict[str, Any]:
    return cell.metadata.get("nbgrader", {})


def stdout(cell: NotebookNode) -> str:
    outputs = cell.get("outputs", [])
    return "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")


def cell_by_id(nb: NotebookNode, cell_id: str) -> NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


