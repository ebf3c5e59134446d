"""Warm kernels: jobs forked from one zygote see nothing of the job before them, a zygote that
dies mid-batch costs nothing, and warm grades are the cold grades.

Real zygotes (TensorFlow imported once, in the bubblewrap sandbox), real kernels forked from
them, real `kerasgrade grade` batches and real `kerasgrade check` runs on the MNIST sample.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from classroom import AID, EXPECTED, grade, gradebook_scores, make_course, state
from nbfactory import notebook, write

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.course.assignments import PREPARING_DATA
from kerasgrade.course.demo import MISTAKES, answered
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions

pytestmark = pytest.mark.slow  # zygotes import TensorFlow, batches train

REPO = Path(__file__).resolve().parents[2]
ZYGOTE = "kerasgrade.jobs.warm.zygote"

# Paths the planting job writes to; the job after it looks for each.
PLACES = ["/tmp/planted", "/dev/shm/planted", "~/planted", "planted", "../planted",
          "../../planted", "../../home/planted"]

PLANT = f"""\
import builtins, json, os, pathlib, subprocess, sys, threading, time
import numpy, keras
numpy.mean = lambda *args, **kwargs: 42.0              # a library patched
builtins.PLANTED = "global"                            # a global for everyone
sys.modules["planted_module"] = type(sys)("planted_module")
os.environ["PLANTED"] = "environment"
keras.config.set_floatx("float16")                     # Keras's global configuration
threading.Thread(target=time.sleep, args=(600,), name="planted-thread", daemon=True).start()
subprocess.Popen(["sleep", "607"], start_new_session=True)
written = {{}}
for place in {PLACES!r}:
    try:
        pathlib.Path(os.path.expanduser(place)).write_text("planted")
        written[place] = "written"
    except OSError as exc:
        written[place] = type(exc).__name__
print("PLANTED " + json.dumps(written))
print("SEEN " + json.dumps(float(numpy.mean([1.0, 3.0]))))"""

LOOK = f"""\
import builtins, glob, json, os, sys, threading
import numpy, keras
sleepers = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{{pid}}/cmdline", "rb").read().startswith(b"sleep\\x00607"):
            sleepers.append(pid)
    except OSError:
        pass
found = {{
    "numpy.mean": float(numpy.mean([1.0, 3.0])),
    "builtins": hasattr(builtins, "PLANTED"),
    "module": "planted_module" in sys.modules,
    "environment": os.environ.get("PLANTED"),
    "floatx": keras.config.floatx(),
    "threads": [t.name for t in threading.enumerate() if t.name == "planted-thread"],
    "files": [p for p in {PLACES!r} if os.path.exists(os.path.expanduser(p))]
             + glob.glob("../*/planted"),
    "sleepers": sleepers,
}}
print("FOUND " + json.dumps(found))"""


def _printed(executed: Path, marker: str) -> object:
    nb = nbformat.read(executed, 4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(marker + " "):
                    return json.loads(line[len(marker) + 1:])
    raise AssertionError(f"no {marker} line in the executed notebook")


@pytest.fixture
def fresh_zygote() -> Iterator[None]:
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    warm.close_current()  # one left by an earlier test in this process
    yield
    warm.close_current()


def _grade_warm(path: Path, tmp: Path, name: str) -> Path:
    executed = tmp / f"{name}-executed.ipynb"
    grade_notebook(path, assignments.get(PREPARING_DATA), name,
                   ExecOptions(warm=True, threads=1), workdir=tmp / name, executed_to=executed)
    return executed


def test_nothing_planted_reaches_the_next_job(tmp_path: Path, fresh_zygote: None) -> None:
    plant, look = tmp_path / "plant.ipynb", tmp_path / "look.ipynb"
    write(notebook([PLANT]), plant)
    write(notebook([LOOK]), look)
    planted = _printed(_grade_warm(plant, tmp_path, "plant"), "PLANTED")
    zygote = warm._LOCAL.zygote.proc.pid
    # The plants took where a job may write (its own /tmp, /dev/shm, home and folder), and
    # the patched library answered 42 in the planting kernel itself.
    assert _printed(tmp_path / "plant-executed.ipynb", "SEEN") == 42.0
    assert all(planted[p] == "written" for p in ("/tmp/planted", "/dev/shm/planted",
                                                 "~/planted", "planted")), planted
    # The folders around its own (other jobs, the zygote's home) are read-only.
    assert all(planted[p] in ("OSError", "PermissionError")
               for p in ("../planted", "../../planted", "../../home/planted")), planted

    found = _printed(_grade_warm(look, tmp_path, "look"), "FOUND")
    assert warm._LOCAL.zygote.proc.pid == zygote, "both jobs were forks of one zygote"
    assert found == {"numpy.mean": 2.0, "builtins": False, "module": False,
                     "environment": None, "floatx": "float32", "threads": [], "files": [],
                     "sleepers": []}


def _zygote_with_a_job(batch: psutil.Process, deadline: float) -> psutil.Process:
    """A pool worker's zygote (not the self-test's, in the batch process itself) while it
    runs a student's kernel: forks three deep (job leader, the job's runner, its kernel),
    which nothing the zygote does while starting makes."""
    def command(proc: psutil.Process) -> str:
        try:
            return " ".join(proc.cmdline())
        except psutil.Error:  # gone, or a zombie not yet reaped, between listing and asking
            return ""

    while time.monotonic() < deadline:
        try:
            workers = [p for p in batch.children() if "spawn_main" in command(p)]
            for proc in (d for w in workers for d in w.children(recursive=True)):
                if (ZYGOTE in command(proc) and ZYGOTE not in command(proc.parent())
                        and sum(ZYGOTE in command(c)
                                for c in proc.children(recursive=True)) >= 3):
                    return proc
        except psutil.Error:  # a process ended while the tree was walked: look again
            pass
        time.sleep(0.2)
    raise AssertionError("no zygote ran a job")


def test_zygote_killed_mid_batch_is_restarted_and_the_job_retried(tmp_path: Path) -> None:
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    root = make_course(tmp_path, ("alice", "bob", "carol"))
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                                str(root), "--workers", "1"], stdout=out,
                               stderr=subprocess.STDOUT)
        try:
            victim = _zygote_with_a_job(psutil.Process(run.pid), time.monotonic() + 600)
            victim.send_signal(signal.SIGKILL)
            assert run.wait(timeout=900) == 0, log.read_text()
        finally:
            run.kill()
    text = log.read_text()
    assert "the warm kernel process stopped answering" in text and "retrying" in text, text
    assert "graded 2, failed 1, skipped 0, grader failures 0" in text, text
    assert gradebook_scores(root) == EXPECTED
    assert all(state(root, s).exists() for s in EXPECTED)


def _check_cold(path: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "kerasgrade", "check", str(path), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: not full marks
    return json.loads(done.stdout)


def test_warm_batch_grades_as_a_cold_check(tmp_path: Path) -> None:
    """The same notebooks: `kerasgrade grade` (warm, forked kernels) and `kerasgrade check`
    (cold: a new sandboxed interpreter per process) give the same points, check by check."""
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    root = make_course(tmp_path, ("alice", "bob"))
    folder = root / "submitted" / "dave" / AID
    write(answered(REPO, AID, MISTAKES[AID]["no-softmax"]), folder / f"{AID}.ipynb")
    batch = grade(root, "--workers", "1")
    assert batch.returncode == 0, batch.stdout + batch.stderr
    for student in ("alice", "bob", "dave"):
        warm_result = json.loads(state(root, student).read_text())["result"]
        cold = _check_cold(root / "submitted" / student / AID / f"{AID}.ipynb")
        assert cold["score"] == warm_result["score"], student
        assert [(c["name"], c["points"], c["passed"]) for c in cold["checks"]] == [
            (c["name"], c["points"], c["passed"]) for c in warm_result["checks"]], student


# Measured by the clock or the kernel's memory, not by the student's model.
VOLATILE = {"kernel_start_seconds", "peak_rss_mb", "total_seconds"}
# Appended to the notebook: the threads it trained on, the batches per call of a fit and of
# an evaluate, and the batches a per-batch callback saw (20 of 32 in 640 examples an epoch,
# however the fit runs; its evaluate between the two epochs must leave the fit able to go on).
PROBE = """\
import json, numpy as np, tensorflow as tf
class Seen(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.steps = self.model.steps_per_execution
    def on_test_end(self, logs=None):
        self.steps = self.model.steps_per_execution
class Batches(keras.callbacks.Callback):
    count = 0
    def on_train_batch_end(self, batch, logs=None):
        Batches.count += 1
    def on_epoch_end(self, epoch, logs=None):
        self.model.evaluate(np.zeros((64, 4)), np.zeros((64, 2)), verbose=0)
probe = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2)])
probe.compile(loss="mse", optimizer="sgd")
seen, evaluated = Seen(), Seen()
probe.fit(np.zeros((640, 4)), np.zeros((640, 2)), epochs=1, verbose=0, callbacks=[seen])
probe.evaluate(np.zeros((640, 4)), np.zeros((640, 2)), verbose=0, callbacks=[evaluated])
probe.fit(np.zeros((640, 4)), np.zeros((640, 2)), epochs=2, verbose=0, callbacks=[Batches()])
print("PROBE " + json.dumps([tf.config.threading.get_intra_op_parallelism_threads(),
                             seen.steps, evaluated.steps, Batches.count]))"""


def test_a_grade_does_not_depend_on_the_thread_count_or_the_batches_per_call(
        tmp_path: Path, fresh_zygote: None) -> None:
    """A lone submission on an idle service trains on every core, one in a burst on its
    worker's share, and the student's fit runs 64 batches per call into TensorFlow: the same
    notebook gets the same points and the same measured facts (training history, predictions,
    accuracy) with 1 and 2 TensorFlow threads and with Keras's own one batch per call, all
    forked from one zygote (the facts hold what the student's evaluate returned). A fit with
    a per-batch callback runs one batch per call."""
    spec = assignments.get(assignments.CONNECTED_NETWORKS)
    nb = answered(REPO, spec.id)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    path = tmp_path / f"{spec.id}.ipynb"
    write(nb, path)
    results, zygotes, started = {}, set(), []
    for threads, steps in ((1, 64), (2, 64), (1, 1)):
        executed = tmp_path / f"executed-{threads}-{steps}.ipynb"
        result = grade_notebook(path, spec, "s",
                                ExecOptions(warm=True, threads=threads, fit_steps=steps),
                                workdir=tmp_path / f"{threads}-{steps}", executed_to=executed)
        assert _printed(executed, "PROBE") == [threads, steps, steps, 40]
        zygotes.add(warm._LOCAL.zygote.proc.pid)
        started.append(result.timings.get("worker_start", 0.0))
        facts = result.to_dict(with_facts=True)["facts"]
        facts["execution"] = {k: v for k, v in facts["execution"].items() if k not in VOLATILE}
        results[threads, steps] = ([(c.name, c.points, c.message) for c in result.checks],
                                   result.score, facts)
    assert len(zygotes) == 1, "a job's thread count must not restart the zygote"
    # The zygote's start is the first submission's wait, told apart from its own phases.
    assert started[0] > 1 and started[1:] == [0.0, 0.0], started
    assert results[1, 64][1] == spec.max_score
    assert results[1, 64] == results[2, 64] == results[1, 1]
