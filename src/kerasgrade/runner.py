"""Execute a notebook with nbclient, cell by cell (runs inside the sandbox).

`python -m kerasgrade.runner IN.ipynb OUT.ipynb RUN.json --cell-timeout S`
Errors in student cells are recorded and execution goes on; a dead kernel or a
timeout ends the run with a reason. Huge outputs are cut so they can't fill the grader.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

MAX_CELL_OUTPUT = 100_000  # characters kept per cell


def _trim(cell: Any) -> None:
    budget = MAX_CELL_OUTPUT
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            if len(text) > budget:
                out["text"] = f"[... {len(text) - budget} characters cut by the grader ...]\n" + (
                    text[-budget:] if budget else "")
            budget = max(0, budget - len(out["text"]))
        for key, value in list(out.get("data", {}).items()):
            if isinstance(value, str) and len(value) > MAX_CELL_OUTPUT:
                out["data"][key] = value[:MAX_CELL_OUTPUT]


def _errors(cell: Any, index: int) -> list[dict[str, Any]]:
    return [
        {
            "cell": index,
            "ename": out.get("ename", ""),
            "evalue": str(out.get("evalue", ""))[:1000],
            "source": cell.source[:400],
        }
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def run(src: Path, dst: Path, report: Path, cell_timeout: float, startup_timeout: float) -> None:
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        startup_timeout=startup_timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(src.parent)}},
    )
    info: dict[str, Any] = {"status": "ok", "reason": "", "errors": [], "cell_seconds": []}
    t0 = time.monotonic()
    try:
        with client.setup_kernel():
            info["kernel_start_seconds"] = time.monotonic() - t0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    info["cell_seconds"].append(0.0)
                    continue
                t = time.monotonic()
                try:
                    client.execute_cell(cell, index)
                finally:
                    info["cell_seconds"].append(time.monotonic() - t)
                    _trim(cell)
                info["errors"].extend(_errors(cell, index))
                if any(e["ename"] == "KeyboardInterrupt" for e in _errors(cell, index)):
                    info["timed_out_cells"] = info.get("timed_out_cells", []) + [index]
    except DeadKernelError:
        index = len(info["cell_seconds"]) - 1
        info.update(status="died", reason=f"the kernel died while running cell {index + 1} "
                    "(the process exited or was killed)", died_cell=index)
    except CellTimeoutError:
        index = len(info["cell_seconds"]) - 1
        info.update(status="timeout",
                    reason=f"cell {index + 1} ran longer than {cell_timeout:.0f} s", cell=index)
    except Exception as exc:  # nbclient failures are reasons, never tracebacks
        info.update(status="error", reason=f"{type(exc).__name__}: {str(exc)[:500]}")
    info["total_seconds"] = time.monotonic() - t0
    nbformat.write(nb, dst)
    report.write_text(json.dumps(info))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("report", type=Path)
    p.add_argument("--cell-timeout", type=float, default=600)
    p.add_argument("--startup-timeout", type=float, default=120)
    a = p.parse_args(argv)
    run(a.src, a.dst, a.report, a.cell_timeout, a.startup_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
