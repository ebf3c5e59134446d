"""Untrusted submissions of 02: broken files, tampered nbgrader cells, hostile code.

Every case is graded once, in one loop without try/except, so an exception escaping
grade_notebook fails the whole module: the batch goes on whatever a notebook does. Each case
then has its exact status and score, and a fragment of the reason a student reads. Most cases
fail before training; the few that need a trained model share the module-scoped fixture.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import nbformat.v3
import psutil
import pytest
from nbfactory import COMPILE, CONNECTED, IMPORTS, MODEL, PREPARE, SAVE, notebook, variant

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.course.assignments import CONNECTED_NETWORKS, Assignment
from kerasgrade.course.demo import answered, untouched
from kerasgrade.course.time_limits import time_limits
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.report import feedback
from kerasgrade.results import SubmissionResult
from kerasgrade.sandbox import Limits

pytestmark = pytest.mark.slow  # every case runs in a sandboxed kernel; some train

ROOT = Path(__file__).resolve().parents[2]
AID = CONNECTED_NETWORKS
SPEC = assignments.get(AID)
FULL = 14.0
LIMITS = time_limits(AID)  # from the reference solution's measured time, on the data served
# A short wall clock for notebooks that never end. It must outlast the kernel's start and
# TensorFlow's import on a busy machine: a run stopped before its setup cell finished is the
# grader's failure, not the student's, and is never scored.
SHORT_WALL = 75
# Files of the course a student's code must neither read nor change.
PRIVATE = (ROOT / "autograder" / "test_hidden_checks.py", ROOT / "autograder" / "conftest.py",
           ROOT / "source" / AID / f"{AID}.ipynb")
# A sandbox uid of our own: RLIMIT_NPROC counts per uid, and the fork bomb fills it to the brim.
SLOT = 800
MIB = 1024 * 1024
NO_MODEL = "no Keras model was found"
AUTOGRADED = "autograded.ipynb"  # the executed notebook, as the formgrader would show it


@dataclass
class Context:
    base: Path  # pytest's folder for this module
    course: Path  # a course folder outside /tmp (the sandbox's own /tmp hides the real one)
    decoy: Path  # another grading's folder in the host's /tmp
    server: socket.socket  # a TCP server of this test on the host's loopback


@dataclass(frozen=True)
class Case:
    build: Callable[[Context], Any]  # the submission: a notebook, or raw bytes
    status: str
    score: float
    expect: dict[str, str]  # "reason", "notes" or a check's name -> a fragment of its text
    options: dict[str, Any] = field(default_factory=dict)  # ExecOptions fields
    spec: Assignment | None = SPEC  # None: the grader must recognise it
    in_course: bool = False  # submitted as course/submitted/alice/, graded with root=course


# ----------------------------------------------------------------------------------------
# Notebooks


def cells(*sources: str) -> Callable[[Context], Any]:
    return lambda ctx: notebook(list(sources))


def probe(*attempts: str) -> Callable[[Context], Any]:
    """IMPORTS, then a cell that tries each `name: expression` and writes the outcomes."""

    def build(ctx: Context) -> Any:
        lines = [
            "import json, os, socket",
            "outcomes = {}",
            "def attempt(name, action):",
            "    try:",
            "        outcomes[name] = f'ok: {action()!r}'[:300]",
            "    except Exception as exc:",
            "        outcomes[name] = f'{type(exc).__name__}: {exc}'[:300]",
        ]
        for line in attempts:
            name, expression = line.split(": ", 1)
            expression = expression.format(root=ROOT, course=ctx.course, decoy=ctx.decoy,
                                           port=ctx.server.getsockname()[1])
            lines.append(f"attempt({name!r}, lambda: {expression})")
        lines.append("json.dump(outcomes, open('probe.json', 'w'))")
        return notebook([IMPORTS, "\n".join(lines)])

    return build


def v3_notebook(ctx: Context) -> bytes:
    code = [nbformat.v3.new_code_cell(input=source, language="python") for source in CONNECTED]
    worksheet = nbformat.v3.new_worksheet(cells=code)
    return nbformat.v3.nbjson.writes(nbformat.v3.new_notebook(worksheets=[worksheet])).encode()


def raw(data: bytes) -> Callable[[Context], bytes]:
    return lambda ctx: data


def released(edit: Callable[[Any], None], solved: bool = True) -> Callable[[Context], Any]:
    """The released nbgrader notebook, with the solutions pasted in if `solved`, `edit`ed."""

    def build(ctx: Context) -> Any:
        nb = answered(ROOT, AID) if solved else untouched(ROOT, AID)
        edit(nb)
        return nb

    return build


def grade_id(cell: Any) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def index(nb: Any, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == gid)


def retype(nb: Any, i: int, cell_type: str) -> None:
    old = nb.cells[i]
    new = (nbformat.v4.new_markdown_cell if cell_type == "markdown"
           else nbformat.v4.new_code_cell)(old.source, metadata=old.metadata)
    new["id"] = old["id"]
    nb.cells[i] = new


def edit_locked_and_tests(nb: Any) -> None:
    # Run as written, each of these would wreck the grade; the grader runs the release's.
    nb.cells[index(nb, "setup")].source = "import os\nos._exit(0)"
    nb.cells[index(nb, "prepare_data")].source += "\ntrain_labels = train_labels[:, :5]"
    nb.cells[index(nb, "check_fit")].source = "pass"
    nb.cells[index(nb, "test_accuracy")].source = "print('test_accuracy: 3/3 points')"
    retype(nb, index(nb, "epochs"), "markdown")


def delete_cells(nb: Any) -> None:
    for gid in ("check_epochs", "saved_model", "todo_save"):
        del nb.cells[index(nb, gid)]


def add_and_retype_cells(nb: Any) -> None:
    retype(nb, index(nb, "todo_fit"), "markdown")  # the answer: still run as code
    prose = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## 1. Epochs"))
    retype(nb, prose, "code")  # prose as code: a SyntaxError, and the run goes on
    at = index(nb, "todo_summary") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell("print('my own experiment:', model.name)"))
    nb.cells.insert(at, nbformat.v4.new_markdown_cell("My notes"))


def duplicate_answer(nb: Any) -> None:
    # Pasted with its metadata and id; the answer went into the copy, the original still raises.
    at = index(nb, "todo_save")
    nb.cells.insert(at + 1, copy.deepcopy(nb.cells[at]))
    nb.cells[at].source = "# YOUR CODE HERE\nraise NotImplementedError()"


def garble_nbgrader_metadata(nb: Any) -> None:
    setup, prepare = index(nb, "setup"), index(nb, "prepare_data")
    nb.cells[setup].metadata["nbgrader"] = "locked"
    nb.cells[prepare].metadata["nbgrader"]["grade_id"] = ["prepare_data"]


FORGE_FACTS = """\
import json, pathlib
import kerasgrade.execute.kernel.export_cell

FACTS = {"data_source": "mnist-sample-5k", "evaluation": {"test_accuracy": 0.99},
         "export": {"model_variable": "model", "history": {"loss": [0.1] * 10},
                    "variables": {"epochs": 10, "test_acc": 0.99, "test_loss": 0.01}},
         "model": {"loaded": True, "input_shape": [None, 28, 28, 1], "params": 12730,
                   "compiled": True, "loss": "categorical_crossentropy", "optimizer": "adam",
                   "metrics": ["accuracy"],
                   "layers": [{"type": "Flatten", "output_shape": [None, 784], "params": 0},
                              {"type": "Dense", "output_shape": [None, 16], "params": 12560,
                               "activation": "relu", "units": 16},
                              {"type": "Dense", "output_shape": [None, 10], "params": 170,
                               "activation": "softmax", "units": 10}]},
         "saved": [{"name": "my_model.keras", "loads": True, "matches": True}]}

def export_namespace(namespace, out_dir, **kwargs):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "facts.json").write_text(json.dumps(FACTS))  # full marks, if the grader believed it
    (out / "export.json").write_text("{")  # and a measuring process that crashes on its input

kerasgrade.execute.kernel.export_cell.export_namespace = export_namespace"""

MONKEYPATCH_SAVE = """\
def save(model, filepath, *args, **kwargs):
    pathlib.Path(filepath).write_text('{"test_accuracy": 0.99}')

import pathlib
keras.saving.save_model = save
keras.Model.save = save"""

EVIL_H5 = """\
# Its Lambda writes a marker file wherever it runs: here, when Keras builds the model, and in
# the grader, were it ever loaded there.
mark = lambda x: (__import__("pathlib").Path(__import__("os").environ["HOME"], "lambda-ran-in-" + (
    "kernel" if "ipykernel" in __import__("sys").modules else "grader")).touch(), x)[1]
evil = Sequential([keras.Input(shape=input_shape), keras.layers.Lambda(mark), Flatten(),
                   Dense(10, activation='softmax')])
evil.save("my_model.h5")"""

MEMORY_BOMB = """\
import os, time
for _ in range(10):
    if os.fork() == 0:
        hog = b"x" * (300 * 2**20)  # each process stays well under the per-process limit
        time.sleep(600)
time.sleep(600)"""

FORK_BOMB = """\
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.5)"""

DEAF_LOOP = """\
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # deaf to the grader's interrupt
while True:
    time.sleep(1)"""

BIG_OUTPUT = "for _ in range(400):\n    print('x' * 50_000)"  # 20 MB

# Script in every place a notebook can carry it; each would set the title of the page that
# shows the graded notebook (tests/report/test_inert_pages.py opens such pages in Chromium).
HOSTILE_OUTPUTS = """\
from IPython.display import HTML, Javascript, display
display(HTML('<img src=x onerror="document.title=1">'))
display(Javascript('document.title=2'))
display({'image/png': '" onerror="document.title=3', 'text/html': '<script>4</script>'}, raw=True)
raise ValueError('<script>document.title=5</script>')"""
HOSTILE_MARKDOWN = "<script>document.title=6</script> [more](javascript:document.title=7)"

# Keras's safe mode imports the module a config names before it looks at the class: a
# module outside Keras, nested in a layer's initializer, is refused before Keras reads it.
FOREIGN_MODULE = """\
import json, zipfile
with zipfile.ZipFile('my_model.keras') as z:
    files = {n: z.read(n) for n in z.namelist()}
config = json.loads(files['config.json'])
config['config']['layers'][-1]['config']['kernel_initializer'] = {
    'module': 'os', 'class_name': 'system', 'config': {}, 'registered_name': None}
files['config.json'] = json.dumps(config).encode()
with zipfile.ZipFile('my_model.keras', 'w') as z:
    for name, content in files.items():
        z.writestr(name, content)"""

LAMBDA_LAYER = ("model.add(Flatten())",
                "model.add(keras.layers.Lambda(lambda x: x * 1.0))\nmodel.add(Flatten())")
LAMBDA_ACTIVATION = ("Dense(10, activation='softmax')",
                     "Dense(10, activation=lambda x: keras.activations.softmax(x))")
SUBCLASS = ("model = Sequential()", "class MyModel(Sequential):\n    pass\nmodel = MyModel()")


def hostile_page(ctx: Context) -> Any:
    nb = notebook([IMPORTS, HOSTILE_OUTPUTS])
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    return nb


def model_cells(*replacement: str) -> Callable[[Context], Any]:
    """An untrained model, compiled and saved, with one replacement in the model cell."""
    return cells(IMPORTS, PREPARE, MODEL.replace(*replacement), COMPILE, SAVE)


CASES: dict[str, Case] = {
    # Files that are not notebooks: refused before anything runs.
    "invalid_json": Case(raw(b'{"cells": [{"cell_type": "code", "source": "model ='), "error",
                         0, {"reason": "not valid notebook JSON"}),
    "deeply_nested_json": Case(raw(b"[" * 100_000 + b"]" * 100_000), "error", 0,
                               {"reason": "not valid notebook JSON (RecursionError"}),
    "json_without_nbformat": Case(raw(b'{"cells": []}'), "error", 0,
                                  {"reason": "not a Jupyter notebook (no nbformat field)"}),
    "nbformat_2": Case(raw(json.dumps({"nbformat": 2, "metadata": {"name": ""},
                                       "worksheets": [{"cells": []}]}).encode()),
                       "error", 0, {"reason": "notebook format 2 is not supported"}),
    "too_large": Case(raw(json.dumps({"nbformat": 4, "padding": "x" * (21 * MIB)}).encode()),
                      "error", 0, {"reason": "clear its outputs and resubmit"}),
    "unrecognised": Case(lambda ctx: nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("My homework")]), "error", 0,
        {"reason": "cannot tell which assignment"}, spec=None),
    "nbformat_3": Case(v3_notebook, "graded", FULL, {"notes": "converted from notebook format 3"}),
    # nbgrader cells edited, deleted, added, retyped, duplicated.
    "nb_edited_locked_and_test_cells": Case(
        released(edit_locked_and_tests), "graded", FULL,
        {"notes": "locked cell 'setup' was edited; the grader used the original"}),
    "nb_deleted_cells": Case(
        released(delete_cells), "graded", FULL - 2,
        {"saved_model": "No saved model file", "notes": "answer cell 'todo_save' was deleted"}),
    "nb_added_and_retyped_cells": Case(
        released(add_and_retype_cells), "graded", FULL,
        {"notes": "answer cell 'todo_fit' was changed to markdown; the grader ran it as code"}),
    "nb_duplicated_cells": Case(
        released(duplicate_answer), "graded", FULL,
        {"notes": "a second cell with grade_id 'todo_save' was run as an added cell"}),
    "nb_garbled_metadata": Case(
        released(garble_nbgrader_metadata, solved=False), "graded", 0,
        {"notes": "malformed nbgrader metadata removed", "architecture": NO_MODEL}),
    # Code that leaves nothing to grade, runs forever, or takes the machine.
    "no_model_variable": Case(cells(IMPORTS, PREPARE, """\
epochs = 10
net = Sequential([keras.Input(shape=input_shape), Flatten(), Dense(10, activation='softmax')])
baseline = Sequential([keras.Input(shape=input_shape), Flatten(), Dense(10)])"""),
        "graded", 0, {"architecture": "variable named `model`"}),
    "endless_loop": Case(cells(IMPORTS, "while True:\n    pass", "epochs = 10"), "graded", 0,
                         {"architecture": "cell 2 (`while True:`) ran longer than 3 s and was "
                          "stopped", "epochs": "trained for 0 epochs"},
                         options={"cell_timeout": 3}),
    # The assignment's own limit, measured from its reference solution: no option given.
    "endless_loop_own_limit": Case(
        cells(IMPORTS, "while True:\n    pass", "epochs = 10"), "graded", 0,
        {"architecture": f"cell 2 (`while True:`) ran longer than {LIMITS.cell:g} s and was "
         "stopped", "epochs": "trained for 0 epochs"}),
    "endless_loop_deaf_to_interrupt": Case(
        cells(IMPORTS, DEAF_LOOP), "error", 0,
        {"reason": f"stopped after {SHORT_WALL:g} s (the notebook's time limit)"},
        options={"cell_timeout": 3, "limits": Limits(wall_seconds=SHORT_WALL)}),
    "memory_bomb": Case(cells(IMPORTS, MEMORY_BOMB), "error", 0,
                        {"reason": "used more than 2560 MB of memory"},
                        # The wall clock only bounds the test, should the watchdog miss it.
                        options={"limits": Limits(memory_mb=2560, wall_seconds=60)}),
    "fork_bomb": Case(cells(IMPORTS, FORK_BOMB), "error", 0,
                      {"reason": f"stopped after {SHORT_WALL:g} s (the notebook's time limit)"},
                      # Fewer processes than the default 512: the bomb needs only to hit the
                      # ceiling, and sharing the machine's cores with 500 of them slows all.
                      options={"limits": Limits(wall_seconds=SHORT_WALL, max_processes=128)}),
    "sys_exit_after_training": Case(lambda ctx: variant(extra={7: "import sys\nsys.exit(1)"}),
                                    "graded", FULL, {}),
    "os_exit": Case(cells(IMPORTS, PREPARE, MODEL, "import os; os._exit(0)"), "error", 0,
                    {"reason": "the kernel died while running cell 4 (`import os; os._exit(0)`)"}),
    "kill_own_kernel": Case(cells(IMPORTS, "import os; os.kill(os.getpid(), 9)"), "error", 0,
                            {"reason": "the kernel died while running cell 2"}),
    # Pushing the runner's first lines out of the output kept, then killing it, must not pass
    # for a grader failure (which would never be scored): the head of stdout is kept too.
    "flood_stdout_kill_runner": Case(
        cells(IMPORTS, "import os\nos.write(1, b'kerasgrade-runner: started\\n' * 200_000)\n"
              "os.kill(os.getppid(), 9)"),
        "error", 0, {"reason": "was killed by signal SIGKILL"}),
    "kill_runner_forge_report": Case(
        cells(IMPORTS, "import os\nopen('run.json', 'w').write('{')\nos.kill(os.getppid(), 9)"),
        "error", 0, {"reason": "was killed by signal SIGKILL"}),
    "big_output": Case(cells(IMPORTS, BIG_OUTPUT, "epochs = 10"), "graded", 0,
                       {"epochs": "trained for 0 epochs", "architecture": NO_MODEL}),
    # Reaching out of the sandbox.
    "tamper_hidden_tests": Case(probe(
        "append to hidden tests: open('{root}/autograder/test_hidden_checks.py', 'a').write('#')",
        "read hidden tests: open('{root}/autograder/test_hidden_checks.py').read()",
        "add a conftest: open('{root}/autograder/conftest.py', 'w').write('#')",
        "list hidden tests: os.listdir('{root}/autograder') or 1/0",
        "read source: open('{root}/source/02-connected-networks/02-connected-networks.ipynb')"
        ".read()",
        "write source: open('{root}/source/02-connected-networks/x.py', 'w').write('#')",
        "read solutions: open('{root}/solutions/02-connected-networks/02-connected-networks.ipynb')"
        ".read()",
        "patch the checks: open('{root}/src/kerasgrade/checks/common.py', 'a').write('#')",
        # The package stays readable wherever the course lives (even under /tmp).
        "control, read the package: len(open('{root}/src/kerasgrade/__init__.py').read())",
    ), "graded", 0, {"architecture": NO_MODEL}),
    "network": Case(probe(
        "tcp to 1.1.1.1:53: socket.create_connection(('1.1.1.1', 53), timeout=3)",
        "udp to 1.1.1.1:53: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
        ".sendto(b'x', ('1.1.1.1', 53))",
        "dns: socket.getaddrinfo('example.com', 80)",
        "tcp to the test's server: socket.create_connection(('127.0.0.1', {port}), timeout=3)",
    ), "graded", 0, {"architecture": NO_MODEL}),
    "other_student": Case(probe(
        "read bob's notebook: open('{course}/submitted/bob/02-connected-networks.ipynb').read()",
        "list submissions: os.listdir('{course}/submitted') or 1/0",
        "read the gradebook: open('{course}/gradebook.db').read()",
        "read the course's hidden tests: open('{course}/autograder/test_x.py').read()",
        "read another grading's copy: open('{decoy}/submitted.ipynb').read()",
        # Readable by all on the host, but not on the sandbox's allowlist.
        "read the course's public notes: open('{course}/public/notes.txt').read()",
        "control, read the standard library: len(open(os.__file__).read()) > 0",
    ), "graded", 0, {"architecture": NO_MODEL}, in_course=True),
    # Model files: too large, code inside, custom classes, a sabotaged export.
    "save_500mb": Case(cells(IMPORTS, "import numpy as np\n"
                             "np.zeros(500 * 2**20, dtype=np.uint8).tofile('my_model.h5')"),
                       "graded", 0, {"saved_model": "my_model.h5 is 210 MB, too large to load"}),
    "lambda_layer": Case(model_cells(*LAMBDA_LAYER), "graded", 0,
                         {"architecture": "contains a Lambda layer",
                          "saved_model": "contains a Lambda layer"}),
    "lambda_activation": Case(model_cells(*LAMBDA_ACTIVATION), "graded", 0,
                              {"architecture": "a lambda function (code inside a model file)"}),
    "h5_lambda_payload": Case(lambda ctx: variant({SAVE: EVIL_H5}), "graded", FULL - 2,
                              {"saved_model": "my_model.h5 contains a Lambda layer"}),
    "custom_model_class": Case(model_cells(*SUBCLASS), "graded", 0,
                               {"architecture": "custom model class 'MyModel'"}),
    "foreign_module_in_saved_model": Case(
        # Untrained, so epochs, accuracy and evaluation fail too (7 of 14 points lost).
        cells(IMPORTS, PREPARE, MODEL, COMPILE, SAVE, FOREIGN_MODULE), "graded", FULL - 7,
        {"saved_model": "my_model.keras refers to code outside Keras (module 'os')"}),
    # Script for the pages that show the graded notebook.
    "script_in_outputs_and_markdown": Case(hostile_page, "graded", 0,
                                           {"architecture": NO_MODEL}),
    "monkeypatched_save": Case(cells(IMPORTS, PREPARE, MODEL, COMPILE, MONKEYPATCH_SAVE, SAVE),
                               "graded", 0, {"architecture": "is not a Keras 3 model file"}),
    # A broken export.json counts as no export: the measuring process must not crash on it
    # (its crash would be the grader's failure, never scored).
    "forged_facts": Case(cells(IMPORTS, FORGE_FACTS), "graded", 0,
                         {"architecture": "no model was produced: run every cell"}),
}


# ----------------------------------------------------------------------------------------
# Grading them all


@dataclass
class Batch:
    ctx: Context
    results: dict[str, SubmissionResult]
    submitted_unchanged: dict[str, bool]
    private_unchanged: dict[str, bool]
    leftover_processes: dict[str, int]

    def scratch(self, name: str) -> Path:
        return self.ctx.base / name / "work" / "notebook"

    def probe(self, name: str) -> dict[str, str]:
        return json.loads((self.scratch(name) / "probe.json").read_text())


def _digest(paths: tuple[Path, ...]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes() if path.exists() else b"missing")
    return h.hexdigest()


def _sandbox_processes() -> int:
    """Processes of our sandbox uid still alive once the killed ones had time to exit."""
    if os.geteuid() != 0:  # without root everything runs as us: nothing to tell apart
        return 0
    uid = sandbox.SANDBOX_UID + SLOT
    mine = [p for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] and p.info["uids"].real == uid
            and p.info["status"] != psutil.STATUS_ZOMBIE]
    # A process killed with 400 MB to free can take a moment to go.
    _, alive = psutil.wait_procs(mine, timeout=10)
    return len(alive)


def _readable_by_all(folder: str, files: dict[str, str]) -> Path:
    """A new folder in `folder` holding `files`, which anyone on the host may read."""
    root = Path(tempfile.mkdtemp(prefix="kerasgrade-", dir=folder))
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def grade_all(cases: dict[str, Case], ctx: Context) -> Batch:
    """Grade every case in one loop, as a batch does: nothing here catches an exception."""
    out = Batch(ctx, {}, {}, {}, {})
    for name, case in cases.items():
        path = _write(case, ctx, name)
        before, private = path.read_bytes(), _digest(PRIVATE)
        out.results[name] = grade_notebook(
            path, case.spec, student=name, workdir=ctx.base / name / "work",
            options=ExecOptions(slot=SLOT, **case.options),
            root=ctx.course if case.in_course else None,
            executed_to=ctx.base / name / "work" / AUTOGRADED)
        out.submitted_unchanged[name] = path.read_bytes() == before
        out.private_unchanged[name] = _digest(PRIVATE) == private
        out.leftover_processes[name] = _sandbox_processes()
    return out


def _write(case: Case, ctx: Context, name: str) -> Path:
    folder = ctx.course / "submitted" / "alice" if case.in_course else ctx.base / name
    path = folder / (f"{AID}.ipynb" if case.spec or case.in_course else "homework.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    content = case.build(ctx)
    # json.dumps, not nbformat.write: it would repair what these notebooks break on purpose.
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    ctx = Context(
        tmp_path_factory.mktemp("hostile"),
        # Outside /tmp, which the sandbox replaces with its own: only the allowlist protects it.
        _readable_by_all("/var/tmp", {"submitted/bob/02-connected-networks.ipynb": "answers",
                                      "gradebook.db": "grades", "autograder/test_x.py": "hidden",
                                      "public/notes.txt": "public notes"}),
        _readable_by_all("/tmp", {"submitted.ipynb": "another student's notebook"}),
        server,
    )
    try:
        yield grade_all(CASES, ctx)
    finally:
        server.close()
        for folder in (ctx.course, ctx.decoy, ctx.base):
            shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------------------
# Outcomes


def _texts(result: SubmissionResult) -> dict[str, str]:
    texts = {c.name: c.text() for c in result.checks if not c.passed}
    texts["reason"] = result.reason
    texts["notes"] = "\n".join(result.facts.get("sanitize_notes", []))
    return texts


@pytest.mark.parametrize("name", list(CASES))
def test_outcome(batch: Batch, name: str) -> None:
    case, result = CASES[name], batch.results[name]
    texts = _texts(result)
    assert (result.status, result.score) == (case.status, case.score), texts
    for key, fragment in case.expect.items():
        assert fragment in texts[key], (key, texts[key])
    if "notes" in case.expect:  # what sanitizing changed is on the student's page
        assert case.expect["notes"] in html.unescape(feedback.render(result, case.spec))
    for key, text in texts.items():
        # What a student reads: sentences, never a traceback wall.
        assert "Traceback" not in text and len(text) < 2000, (key, text)


@pytest.mark.parametrize("name", list(CASES))
def test_nothing_outlives_or_changes(batch: Batch, name: str) -> None:
    assert batch.submitted_unchanged[name], "the submitted file must never change"
    assert batch.private_unchanged[name], "the course's private files must never change"
    assert batch.leftover_processes[name] == 0, "every process of the sandbox must be gone"


def test_hidden_tests_neither_readable_nor_writable(batch: Batch) -> None:
    outcomes = batch.probe("tamper_hidden_tests")
    control = outcomes.pop("control, read the package")
    assert control.startswith("ok"), control
    assert not [name for name, outcome in outcomes.items() if outcome.startswith("ok")], outcomes


def test_no_network(batch: Batch) -> None:
    outcomes = batch.probe("network")
    assert not [name for name, outcome in outcomes.items() if outcome.startswith("ok")], outcomes
    assert "Network is unreachable" in outcomes["tcp to 1.1.1.1:53"]
    # The sandbox's loopback is its own: nothing listens there.
    assert "ConnectionRefusedError" in outcomes["tcp to the test's server"]
    with pytest.raises(BlockingIOError):  # a connection that got through would wait here
        batch.ctx.server.accept()


def test_other_students_and_private_files_hidden(batch: Batch) -> None:
    outcomes = batch.probe("other_student")
    control = outcomes.pop("control, read the standard library")
    assert control == "ok: True", control
    assert not [name for name, outcome in outcomes.items() if outcome.startswith("ok")], outcomes


def test_saved_model_cut_at_file_size_limit(batch: Batch) -> None:
    cut = batch.scratch("save_500mb") / "my_model.h5"
    assert cut.stat().st_size == Limits().max_file_mb * MIB
    errors = batch.results["save_500mb"].facts["execution"]["errors"]
    assert [e["ename"] for e in errors] == ["OSError"], errors  # numpy's write failed, in the cell


def test_h5_payload_never_ran_in_the_grader(batch: Batch) -> None:
    scratch = batch.scratch("h5_lambda_payload")
    assert (scratch / "lambda-ran-in-kernel").exists(), "the payload works where Keras builds it"
    assert not (scratch / "lambda-ran-in-grader").exists()


def test_big_output_trimmed(batch: Batch) -> None:
    executed = batch.scratch("big_output") / "executed.ipynb"
    assert executed.stat().st_size < 1 * MIB
    assert "characters cut by the grader" in executed.read_text()


def test_endless_loop_costs_its_limit_not_minutes(batch: Batch) -> None:
    """Issue 12: an endless loop in 02 is graded in well under 3 minutes (it took 616 s)."""
    seconds = batch.results["endless_loop_own_limit"].timings["total"]
    assert LIMITS.cell <= seconds < 180, seconds


def test_sys_exit_is_an_error_in_its_cell(batch: Batch) -> None:
    errors = batch.results["sys_exit_after_training"].facts["execution"]["errors"]
    assert [e["ename"] for e in errors] == ["SystemExit"]


def test_autograded_notebook_keeps_no_script(batch: Batch) -> None:
    nb = nbformat.read(batch.scratch("script_in_outputs_and_markdown").parent / AUTOGRADED, 4)
    outputs = next(c.outputs for c in nb.cells if c.source == HOSTILE_OUTPUTS)
    kinds = [sorted(o.get("data", {})) or o.output_type for o in outputs]
    # HTML and Javascript gone (their text/plain stays), the forged PNG and its HTML replaced
    # by a line of text, the error's message kept as text (pages escape it).
    assert kinds == [["text/plain"]] * 3 + ["error"], kinds
    assert outputs[2].data["text/plain"].startswith("[output of type image/png, text/html not ")
    assert "<script>document.title=5</script>" in outputs[3].evalue
    markdown = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert markdown == ("&lt;script>document.title=6&lt;/script> "
                        "[more](java\u200bscript:document.title=7)")
