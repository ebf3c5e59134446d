"""Execute a notebook with nbclient, cell by cell (runs inside the sandbox).

`python -m kerasgrade.execute.kernel.notebook_run IN.ipynb OUT.ipynb RUN.json --cell-timeout S`
Errors in student cells are recorded and execution goes on; a cell over the time limit is
interrupted and named in the reason (a student's cell also in "timed_out", a fact for the
checks); a dead kernel ends the run with a reason. Huge outputs are cut so they can't fill
the grader. Cells marked with GRADER_CELL metadata are the grader's own (setup, export): the
per-cell limit, meant for student code, does not apply to them and reasons do not count
them, so "cell 3" is the student's third cell.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.paths import jupyter_runtime_dir
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from kerasgrade import time_limit
from kerasgrade.execute.kernel import forked

MAX_CELL_OUTPUT = 100_000  # characters kept per cell
GRADER_CELL = "kerasgrade"  # cell metadata key: the value names the grader's cell ("setup")
# The runner's stdout says how far the grader got before any student code ran; nothing the
# student's code prints later can come before these lines (the sandbox keeps stdout's head).
STARTED = "kerasgrade-runner: started"  # the sandbox ran the interpreter with the package
READY = "kerasgrade-runner: kernel ready"  # the kernel started and the setup cell ran cleanly


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


def _number(nb: Any, index: int) -> int:
    """A student's cell's position among their cells, as they count them."""
    return sum(1 for c in nb.cells[: index + 1] if not c.metadata.get(GRADER_CELL))


def _describe(nb: Any, index: int) -> str:
    """A cell as the student finds it: its position among their cells and its first line."""
    cell = nb.cells[index]
    role = cell.metadata.get(GRADER_CELL)
    if role:
        return f"the grader's {role} cell"
    return time_limit.cell_name(_number(nb, index), time_limit.first_line(cell.source))


def _stopped(nb: Any, index: int, limit: float, info: dict[str, Any]) -> str:
    """The reason that names a cell over its limit; a student's cell is also kept as a fact."""
    cell = nb.cells[index]
    if not cell.metadata.get(GRADER_CELL):
        info["timed_out"].append(time_limit.timed_out_cell(_number(nb, index), cell.source,
                                                           limit))
    return time_limit.stopped(_describe(nb, index), limit)


def run(src: Path, dst: Path, report: Path, cell_timeout: float, startup_timeout: float,
        warm: bool = False) -> None:
    print(STARTED, flush=True)
    nb = nbformat.read(src, as_version=4)
    t0 = time.monotonic()
    km = None
    if warm:  # this process already holds TensorFlow: the kernel is a fork of it
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        km = forked.start(runtime / "kernel-kerasgrade.json", src.parent)

    def timeout(cell: Any) -> float:
        # The setup cell imports TensorFlow: on a busy machine that can outlast a short limit.
        return startup_timeout if cell.metadata.get(GRADER_CELL) else cell_timeout

    client = NotebookClient(
        nb,
        km=km,
        timeout_func=timeout,
        startup_timeout=startup_timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        # The export cell has written everything: a graceful shutdown would only add ~3.5 s.
        shutdown_kernel="immediate",
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(src.parent)}},
    )
    info: dict[str, Any] = {"status": "ok", "reason": "", "errors": [], "cell_seconds": [],
                            "timed_out": []}
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
                if cell.metadata.get(GRADER_CELL) == "setup":
                    if info["errors"]:  # no student code runs on a kernel the grader broke
                        first = info["errors"][0]
                        info.update(status="error", reason=f"the grader's setup cell failed: "
                                    f"{first['ename']}: {first['evalue']}")
                        break
                    print(READY, flush=True)
                # nbclient interrupts a cell over its limit: KeyboardInterrupt, then the next cell.
                if (info["cell_seconds"][-1] >= timeout(cell) and
                        any(e["ename"] == "KeyboardInterrupt" for e in _errors(cell, index))):
                    reason = _stopped(nb, index, timeout(cell), info)
                    info["reason"] = info["reason"] or reason
    except DeadKernelError:
        index = len(info["cell_seconds"]) - 1
        where = f"while running {_describe(nb, index)}" if index >= 0 else "while starting"
        info.update(status="died", reason=f"the kernel died {where}: the process exited or was "
                    "killed")
    except CellTimeoutError:
        index = len(info["cell_seconds"]) - 1
        info.update(status="timeout", reason=_stopped(nb, index, timeout(nb.cells[index]), info))
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
    p.add_argument("--warm", action="store_true",
                   help="fork the kernel from this process (kerasgrade.jobs.warm)")
    a = p.parse_args(argv)
    run(a.src, a.dst, a.report, a.cell_timeout, a.startup_timeout, a.warm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
