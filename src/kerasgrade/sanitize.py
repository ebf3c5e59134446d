"""Read a submission safely and put the course's locked cells back.

The file on disk is only ever read. Whatever the student did to locked or test cells
(edited, deleted, retyped, duplicated), the grader runs the released version of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class BadNotebook(ValueError):
    """The file cannot be graded as a notebook; the message says why, for the student."""


@dataclass
class Sanitized:
    nb: Any
    notes: list[str] = field(default_factory=list)


def read(path: Path) -> Sanitized:
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise BadNotebook(f"the notebook is {size / 1e6:.0f} MB; clear its outputs and resubmit "
                          f"(limit {MAX_NOTEBOOK_BYTES // 2**20} MB)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadNotebook(f"the file is not valid notebook JSON ({exc}); open it in Jupyter, "
                          "save it again and resubmit") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise BadNotebook("the file is JSON but not a Jupyter notebook (no nbformat field)")
    notes = []
    major = data.get("nbformat")
    if major != 4:
        if major != 3:
            raise BadNotebook(f"notebook format {major} is not supported; save it with a "
                              "current Jupyter (format 4)")
        notes.append("converted from notebook format 3 to 4")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validator.normalize(nb)
    except Exception as exc:  # nbformat raises many types for malformed content
        raise BadNotebook(f"the notebook's structure is broken ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None
    seen: set[str] = set()
    for cell in nb.cells:
        if "source" not in cell or not isinstance(cell.source, str):
            raise BadNotebook("a cell has no source text")
        cid = cell.get("id")
        if cid in seen:
            cell["id"] = f"{cid}-dup{len(seen)}"
            notes.append(f"duplicated cell id {cid!r} renamed")
        if cid:
            seen.add(cell["id"])
    return Sanitized(nb, notes)


def _grade_id(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _locked(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked")) or (bool(meta.get("grade")) and not meta.get("solution"))


def restore(submitted: Sanitized, release: Any) -> Sanitized:
    """Merge the student's answers into the released notebook's order and locked cells.

    Answer cells are matched by nbgrader grade_id; cells the student added stay after the
    cell they followed; locked and test cells always come from the release.
    """
    by_id: dict[str, Any] = {}
    for cell in submitted.nb.cells:
        gid = _grade_id(cell)
        if gid and gid not in by_id:
            by_id[gid] = cell
    added_after: dict[str | None, list[Any]] = {}
    last: str | None = None
    for cell in submitted.nb.cells:
        gid = _grade_id(cell)
        if gid:
            last = gid
        else:
            added_after.setdefault(last, []).append(cell)
    notes = list(submitted.notes)
    cells = list(added_after.get(None, []))
    for ref in release.cells:
        gid = _grade_id(ref)
        mine = by_id.get(gid) if gid else None
        if gid is None:
            continue  # unlocked prose or code: the student's copy comes through added_after
        if _locked(ref):
            if mine is None:
                notes.append(f"locked cell {gid!r} was deleted; the grader restored it")
            elif mine.source != ref.source or mine.cell_type != ref.cell_type:
                notes.append(f"locked cell {gid!r} was edited; the grader used the original")
            cells.append(ref)
        elif mine is None:
            notes.append(f"answer cell {gid!r} was deleted; it counts as unanswered")
            cells.append(ref)
        elif mine.cell_type != ref.cell_type:
            notes.append(f"answer cell {gid!r} was changed to {mine.cell_type}; the grader "
                         f"ran it as {ref.cell_type}")
            cells.append(nbformat.from_dict({**ref, "source": mine.source}))
        else:
            cells.append(mine)
        cells.extend(added_after.get(gid, []))
    nb = nbformat.from_dict({**submitted.nb, "cells": cells})
    return Sanitized(nb, notes)


def is_nbgrader_notebook(nb: Any) -> bool:
    return any(_grade_id(c) for c in nb.cells)
