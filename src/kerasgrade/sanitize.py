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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested thousands deep ([[[[...) is valid but not a notebook.
        raise BadNotebook(f"the file is not valid notebook JSON ({type(exc).__name__}: "
                          f"{str(exc)[:200]}); open it in Jupyter, save it again and "
                          "resubmit") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise BadNotebook("the file is JSON but not a Jupyter notebook (no nbformat field)")
    notes = []
    major = data.get("nbformat")
    if major != 4:
        if major != 3:
            raise BadNotebook(f"notebook format {major!r} is not supported; save it with a "
                              "current Jupyter (format 4)")
        notes.append("converted from notebook format 3 to 4")
    # Renamed here, before nbformat would repair them itself with a warning on stderr.
    seen: set[str] = set()
    renamed = False
    for cell in data.get("cells") if isinstance(data.get("cells"), list) else []:
        cid = cell.get("id") if isinstance(cell, dict) else None
        if not isinstance(cid, str):
            continue
        if cid in seen:
            cell["id"], renamed = f"{cid[:50]}-dup{len(seen)}", True
            notes.append(f"duplicated cell id {cid!r} renamed")
        seen.add(cell["id"])
    if renamed:
        text = json.dumps(data)
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validator.normalize(nb)
    except Exception as exc:  # nbformat raises many types for malformed content
        raise BadNotebook(f"the notebook's structure is broken ({type(exc).__name__}: "
                          f"{str(exc)[:300]})") from None
    for cell in nb.cells:
        if "source" not in cell or not isinstance(cell.source, str):
            raise BadNotebook("a cell has no source text")
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is not None and not (isinstance(meta, dict)
                                     and isinstance(meta.get("grade_id", ""), str)):
            del cell.metadata["nbgrader"]  # matching cells needs a dict with a text grade_id
            notes.append("malformed nbgrader metadata removed from a cell")
    return Sanitized(nb, notes)


def grade_id(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _locked(cell: Any) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked")) or (bool(meta.get("grade")) and not meta.get("solution"))


def restore(submitted: Sanitized, release: Any) -> Sanitized:
    """Merge the student's answers into the released notebook's order and locked cells.

    Answer cells are matched by nbgrader grade_id (the first cell with a release's grade_id);
    cells the student added stay after the cell they followed; locked and test cells always
    come from the release. A copy of a cell (pasted with its grade_id) or a grade_id the
    release does not have counts as added: it runs where the student put it, as in Jupyter.
    """
    release_ids = {gid for ref in release.cells if (gid := grade_id(ref))}
    by_id: dict[str, Any] = {}
    for cell in submitted.nb.cells:
        gid = grade_id(cell)
        if gid in release_ids and gid not in by_id:
            by_id[gid] = cell
    notes = list(submitted.notes)
    added_after: dict[str | None, list[Any]] = {}
    last: str | None = None
    for cell in submitted.nb.cells:
        gid = grade_id(cell)
        if gid is not None and by_id.get(gid) is cell:
            last = gid
            continue
        if gid is not None:
            notes.append(f"a second cell with grade_id {gid!r} was run as an added cell"
                         if gid in by_id else f"unknown grade_id {gid!r}: run as an added cell")
            # An ordinary cell now: the restored notebook keeps each grade_id once.
            cell = nbformat.from_dict({**cell, "metadata": {
                k: v for k, v in cell.metadata.items() if k != "nbgrader"}})
        added_after.setdefault(last, []).append(cell)
    cells = list(added_after.get(None, []))
    for ref in release.cells:
        gid = grade_id(ref)
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
    return any(grade_id(c) for c in nb.cells)
