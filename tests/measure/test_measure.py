"""Measuring in a job forked from a batch worker's zygote gives exactly what a fresh process
measures, survives the zygote's death and a job over its limit, and never copies what a
submission's links point at."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.execute.kernel.export_cell import export_namespace
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import runner_for
from kerasgrade.measure import client
from kerasgrade.results import GraderFault

AID = assignments.CONNECTED_NETWORKS


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 02 model (12,730 parameters, compiled, untrained) exported as the kernel would."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    out = tmp_path_factory.mktemp("exported") / "artifacts"
    export_namespace({"model": model, "epochs": 10}, out, variables=("epochs",))
    return out


@pytest.fixture
def zygote() -> Iterator[None]:
    yield
    if getattr(warm._LOCAL, "zygote", None) is not None:  # each test starts afresh
        warm._LOCAL.zygote.close()
        warm._LOCAL.zygote = None


def place(artifacts: Path, scratch: Path) -> Path:
    """A copy of the artifacts where the kernel would have left them."""
    job = scratch / "artifacts"
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(artifacts, job, symlinks=True)
    return job


def measure(job: Path, options: ExecOptions) -> tuple[client.Measurement, str]:
    """The measurement, and the grader fault it raised ("" if none)."""
    runner = runner_for(with_limits(options, assignments.get(AID)), job.parent)
    try:
        return client.measurement(job, assignments.get(AID), runner), ""
    except GraderFault as fault:
        return client.Measurement(), f"{fault.stage}: {fault}"


@pytest.mark.slow
def test_forked_measurement_is_what_a_fresh_process_measures(
        artifacts: Path, tmp_path: Path, zygote: None) -> None:
    one_shot, fault = measure(place(artifacts, tmp_path), ExecOptions())
    assert fault == "" and one_shot.run is not None and one_shot.run.status == "ok"
    options = ExecOptions(warm=True)
    first, _ = measure(place(artifacts, tmp_path), options)
    pid = warm._LOCAL.zygote.proc.pid
    second, fault = measure(place(artifacts, tmp_path), options)
    assert fault == "" and second.run is not None and second.run.status == "ok"
    assert one_shot.facts["model"]["params"] == 12_730
    # Forked per request: nothing carries over.
    assert first.facts == one_shot.facts and second.facts == one_shot.facts
    assert warm._LOCAL.zygote.proc.pid == pid  # one TensorFlow import served both
    assert 0 < second.run.peak_rss_mb < 4096


@pytest.mark.slow
def test_zygote_restarted_after_it_died(artifacts: Path, tmp_path: Path,
                                          zygote: None) -> None:
    options = ExecOptions(warm=True)
    assert measure(place(artifacts, tmp_path), options)[0].facts["model"]["params"] == 12_730
    dead = warm._LOCAL.zygote.proc
    os.killpg(dead.pid, 9)
    dead.wait()
    measured, fault = measure(place(artifacts, tmp_path), options)
    assert fault == "" and measured.facts["model"]["params"] == 12_730
    assert warm._LOCAL.zygote.proc.pid != dead.pid


@pytest.mark.slow
def test_measurement_over_its_limit_is_a_grader_fault(artifacts: Path, tmp_path: Path,
                                                      zygote: None) -> None:
    # Loading and evaluating the model alone takes several times this limit (about 0.3 s in a
    # warm fork: a limit of 0.3 s was a race with the watchdog's own sampling).
    options = ExecOptions(warm=True, limits=sandbox.Limits(wall_seconds=0.05))
    measured, fault = measure(place(artifacts, tmp_path), options)
    assert fault.startswith("measure: the measuring process failed (stopped after 0.05 s")
    assert measured.facts == {}
    pid = warm._LOCAL.zygote.proc.pid  # only the job was stopped: the zygote serves the next
    measured, fault = measure(place(artifacts, tmp_path), ExecOptions(warm=True))
    assert fault == "" and measured.facts["model"]["params"] == 12_730
    assert warm._LOCAL.zygote.proc.pid == pid


@pytest.mark.slow
@pytest.mark.parametrize("warm_", [False, True], ids=["cold", "warm"])
def test_links_and_pipes_in_artifacts(artifacts: Path, tmp_path: Path, zygote: None,
                                      warm_: bool) -> None:
    options = ExecOptions(warm=warm_)
    # A model only root may read: a grader that followed the link would measure it.
    secret = tmp_path / "secret.keras"
    shutil.copyfile(artifacts / "model.keras", secret)
    secret.chmod(0o600)
    job = place(artifacts, tmp_path)
    (job / "model.keras").unlink()
    (job / "model.keras").symlink_to(secret)  # resolved in the sandbox, as its own uid
    measured, fault = measure(job, options)
    assert fault == "" and measured.facts["model"]["loaded"] is False, measured.facts["model"]

    job = place(artifacts, tmp_path)
    os.mkfifo(job / "pipe")  # opening it would wait for a writer: copying must refuse it
    measured, fault = measure(job, options)
    assert fault == "" and "could not be copied" in measured.refused
    assert measured.facts == {} and measured.run is None


@pytest.mark.slow
def test_threads_of_a_dask_worker_get_a_zygote_each(artifacts: Path, tmp_path: Path) -> None:
    options = ExecOptions(warm=True)
    both = threading.Barrier(2)

    def task(scratch: Path) -> tuple[str, int, int]:
        both.wait()  # two tasks at once, as in a worker with --nthreads 2
        measured, fault = measure(place(artifacts, scratch), options)
        zygote = warm._LOCAL.zygote
        pid = zygote.proc.pid
        zygote.close()
        return fault, measured.facts["model"]["params"], pid

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(task, [tmp_path / "a", tmp_path / "b"]))
    assert [r[:2] for r in results] == [("", 12_730)] * 2
    assert results[0][2] != results[1][2]


def test_lesson_models_the_students_kernel_lied_about_are_facts_not_crashes(
        tmp_path: Path) -> None:
    """04's export record is the student's kernel's: an id that is no number is no model, a
    model whose file is missing says why, a file that is not a model is an error, and only
    the spec's variables are read."""
    from kerasgrade.artifacts import MODELS_DIR
    from kerasgrade.measure.process import lesson_model_facts

    spec = assignments.get(assignments.IMPROVING_NETWORK)
    (tmp_path / MODELS_DIR).mkdir()
    (tmp_path / MODELS_DIR / "model_narrow.keras").write_text("not a zip")
    export = {"models": {
        "model_best": {"type": "Sequential", "id": "12"},
        "model_wide": {"type": "Sequential", "id": 7, "error": "ValueError: unbuilt"},
        "model_narrow": {"type": "Sequential", "id": 8, "iterations": -3},
        "model_other": {"type": "Sequential", "id": 9},
    }}
    facts = lesson_model_facts(tmp_path, spec, export, data=None)
    assert set(facts) == {"model_best", "model_wide", "model_narrow"}
    assert facts["model_best"]["id"] is None and not facts["model_best"]["loaded"]
    assert facts["model_wide"]["error"] == "ValueError: unbuilt"
    assert facts["model_narrow"]["iterations"] is None
    assert not facts["model_narrow"]["loaded"] and facts["model_narrow"]["error"]
