"""A student's path through the notebooks in a real Jupyter kernel (issue 14): each typical
mistake is typed as a student types it, cell by cell, and the step check run after it must name
the real cause, judge the kernel's present state, use the assignment's own names, and agree with
the graded check that scores the same thing.

The graded verdict comes from the real checks on facts: a recorded run's facts (the fast tier's
fixtures) with the part this case changes measured in the kernel by the grader's own code
(measure/process.py: array_facts, layer_facts). On the 5,000-digit MNIST sample; nothing is
trained except where the check needs a trained model (03's prediction: two short epochs).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from coursefiles import ROOT, read

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))
from recorded import facts as recorded_facts  # noqa: E402

import kerasgrade  # noqa: E402
from kerasgrade import checks  # noqa: E402
from kerasgrade.course import assignments  # noqa: E402
from kerasgrade.course import build as course  # noqa: E402
from kerasgrade.course.assignments import (  # noqa: E402
    CONNECTED_NETWORKS,
    FASHION_CLASSIFIER,
    PREPARING_DATA,
)

pytestmark = pytest.mark.slow  # a Jupyter kernel that imports TensorFlow, 03 trains

# Run in the kernel: the grader's facts about the kernel's arrays and model, by its own code.
FACTS_CODE = """
import json as _json, tempfile as _tempfile, types as _types
from pathlib import Path as _Path
import numpy as _np
from kerasgrade.artifacts import ARRAYS_FILE as _ARRAYS_FILE
from kerasgrade.measure import process as _process

def _graded_facts(arrays=(), with_model=False):
    out = {}
    if arrays:
        folder = _Path(_tempfile.mkdtemp())
        _np.savez(folder / _ARRAYS_FILE, **{n: globals()[n] for n in arrays})
        (_, y_train), (_, y_test) = dataset
        out["arrays"] = _process.array_facts(
            folder, _types.SimpleNamespace(y_train=y_train, y_test=y_test), {})
    if with_model:
        out["model"] = {"input_shape": list(model.inputs[0].shape),
                        "layers": _process.layer_facts(model),
                        "params": int(model.count_params())}
    print(_json.dumps(out))
"""


class Kernel:
    """A Jupyter kernel running this checkout's kerasgrade, with IPython's input history."""

    def __init__(self, workdir: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        env = dict(os.environ)
        env["PYTHONPATH"] = str(Path(kerasgrade.__file__).parents[1])  # the code under test
        env.pop("KERASGRADE_DATA_DIR", None)  # the 5,000-digit sample
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(workdir),
                                                     env=env, startup_timeout=120)

    def run(self, code: str) -> tuple[str, str | None]:
        """Run one cell: (its stdout, the error's value or None)."""
        out: list[str] = []
        error: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                error.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

        self.client.execute_interactive(code, timeout=600, output_hook=hook)
        return "".join(out), (error[0] if error else None)

    def ok(self, code: str) -> str:
        out, error = self.run(code)
        assert error is None, error
        return out

    def step(self, aid: str, step: str) -> str | None:
        """The step check's failure message, or None when it passes."""
        out, error = self.run(f'check_step("{aid}", "{step}", globals())')
        if error is None:
            assert out.startswith(f"✔ {step}: "), out
            return None
        assert error.startswith("CheckFailed: "), error
        return error.removeprefix("CheckFailed: ")

    def graded(self, aid: str, check: str, **kw: Any) -> tuple[bool, str]:
        """The graded check on a recorded run's facts, with what the kernel holds measured."""
        measured = json.loads(self.ok(f"_graded_facts(**{kw!r})").strip().splitlines()[-1])
        facts = recorded_facts(aid)
        for key, value in measured.items():
            facts[key].update(value)
        result = checks.run_one(assignments.get(aid), check, facts)
        return result.passed, result.text()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def solution_cells(aid: str) -> dict[str, str]:
    """The solution's code cells by id."""
    nb = course.solution_notebook(read("source", aid))
    return {c.id: c.source for c in nb.cells if c.cell_type == "code"}


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel(tmp_path_factory.mktemp("kernel"))
    k.ok("import matplotlib; matplotlib.use('Agg')")  # the lessons plot: no window
    k.ok(FACTS_CODE)
    yield k
    k.close()


def start_01(k: Kernel) -> None:
    cells = solution_cells(PREPARING_DATA)
    for cell in ("setup", "load_data", "todo_load"):
        k.ok(cells[cell])


RESHAPE = """\
train_images = train_images.reshape(train_images.shape[0], img_rows, img_cols, 1)
test_images = test_images.reshape(test_images.shape[0], img_rows, img_cols, 1)
input_shape = (img_rows, img_cols, 1)"""


def both_fail(k: Kernel, aid: str, step: str, check: str, fragment: str) -> None:
    """The step check and the graded check fail, each saying `fragment`: one rule, one verdict."""
    message = k.step(aid, step)
    assert message and fragment in message, message
    passed, text = k.graded(aid, check, arrays=("train_images", "test_images"))
    assert not passed and fragment in text, text


# 01 ------------------------------------------------------------------------------------


def test_01_images_without_the_channel_axis_fail_the_step_and_the_grade(kernel: Kernel) -> None:
    start_01(kernel)
    kernel.ok("input_shape = (img_rows, img_cols, 1)")  # the reshape cell skipped
    both_fail(kernel, PREPARING_DATA, "reshape", "image_shapes",
              "the images still lack the channel axis (one grey channel)")


def test_01_integer_division_loses_the_scaling_points_in_both(kernel: Kernel) -> None:
    start_01(kernel)
    kernel.ok(RESHAPE)
    kernel.ok('train_images = train_images.astype("float32")\n'
              'test_images = test_images.astype("float32")')
    kernel.ok("train_images //= 255\ntest_images //= 255")
    both_fail(kernel, PREPARING_DATA, "scale", "pixel_range",
              "`//` is integer division: it rounds every pixel down to 0 or 1")
    # the README's student path quotes this message: it must be the real one
    readme = (ROOT / "README.md").read_text()
    assert kernel.step(PREPARING_DATA, "scale").replace("\n", "\n   ") in readme


def test_01_scaled_in_the_dtype_cell_and_again_names_both_divisions(kernel: Kernel) -> None:
    """The float32 conversion written with a division, then the scaling cell: "the cell ran
    twice" would be wrong, and running again from the top gives the same message."""
    dtype_cell = ('train_images = train_images.astype("float32") / 255\n'
                  'test_images = test_images.astype("float32") / 255')
    for _ in range(2):  # the second time: the notebook run again from the top
        start_01(kernel)
        kernel.ok(RESHAPE)
        kernel.ok(dtype_cell)
        kernel.ok("train_images /= 255\ntest_images /= 255")
        message = kernel.step(PREPARING_DATA, "scale")
        assert message, "scaled twice must fail"
        assert "ran twice" not in message
        assert ('the images were divided by 255 more than once: in `train_images = '
                'train_images.astype("float32") / 255` and in `train_images /= 255`.') in message
    passed, text = kernel.graded(PREPARING_DATA, "pixel_range",
                                 arrays=("train_images", "test_images"))
    assert not passed and "divided by 255 more than once" in text


# 02 ------------------------------------------------------------------------------------


def start_02(k: Kernel) -> None:
    cells = solution_cells(CONNECTED_NETWORKS)
    for cell in ("setup", "prepare_data", "todo_epochs", "todo_model", "todo_input_layer"):
        k.ok(cells[cell])


def test_02_a_fixed_layer_cell_run_again_says_to_rerun_from_sequential(kernel: Kernel) -> None:
    start_02(kernel)
    kernel.ok('model.add(Dense(32, activation="relu"))')
    first = kernel.step(CONNECTED_NETWORKS, "hidden_layer")
    assert first and "give it 16 units" in first
    # the whole layer table at once, expected against found, as the graded check shows it
    assert "Dense (None, 16) 12,560, relu  |  Dense (None, 32) 25,120, relu  [WRONG]" in first
    kernel.ok('model.add(Dense(16, activation="relu"))')  # fixed, and only this cell rerun
    second = kernel.step(CONNECTED_NETWORKS, "hidden_layer")
    assert second and "Run again from the cell with `model = Sequential()`" in second
    assert "give it 16 units" not in second
    kernel.ok('model.add(Dense(10, activation="softmax"))')
    passed, text = kernel.graded(CONNECTED_NETWORKS, "architecture", with_model=True)
    assert not passed and "there is an extra layer" in text


def test_02_summary_without_parentheses_is_caught(kernel: Kernel) -> None:
    start_02(kernel)
    cells = solution_cells(CONNECTED_NETWORKS)
    kernel.ok(cells["todo_hidden_layer"])
    kernel.ok(cells["todo_output_layer"])
    kernel.ok("model.summary")
    message = kernel.step(CONNECTED_NETWORKS, "summary")
    assert message and "`model.summary` without parentheses" in message
    kernel.ok("model.summary()")
    assert kernel.step(CONNECTED_NETWORKS, "summary") is None
    # Not scored: the graded architecture check judges the model, which is right.
    assert kernel.graded(CONNECTED_NETWORKS, "architecture", with_model=True)[0]


def test_02_evaluate_into_one_name_says_it_returns_two_numbers(kernel: Kernel) -> None:
    start_02(kernel)
    cells = solution_cells(CONNECTED_NETWORKS)
    for cell in ("todo_hidden_layer", "todo_output_layer", "todo_compile"):
        kernel.ok(cells[cell])
    kernel.ok("test_acc = model.evaluate(test_images, test_labels, verbose=0)")  # not trained
    message = kernel.step(CONNECTED_NETWORKS, "evaluate")
    assert message and ("evaluate returns two numbers, the loss and the accuracy: unpack them, "
                        "`test_loss, test_acc = model.evaluate(...)`") in message
    assert "no variable `test_loss`" not in message
    variables = json.loads(kernel.ok("import json; print(json.dumps({'test_acc': test_acc}))"))
    facts = recorded_facts(CONNECTED_NETWORKS)
    facts["export"]["variables"] = {"epochs": 10, "input_shape": [28, 28, 1], **variables}
    result = checks.run_one(assignments.get(CONNECTED_NETWORKS), "test_evaluation", facts)
    assert not result.passed and "evaluate returns two numbers" in result.text()


# 03 ------------------------------------------------------------------------------------


def start_03(k: Kernel) -> dict[str, str]:
    cells = solution_cells(FASHION_CLASSIFIER)
    for cell in ("setup", "load_data", "todo_split", "todo_class_names"):
        k.ok(cells[cell])
    return cells


def test_03_a_flat_input_fails_the_architecture_step_and_the_grade(kernel: Kernel) -> None:
    cells = start_03(kernel)
    kernel.ok(cells["todo_architecture"].replace("keras.Input(shape=[28, 28])",
                                                 "keras.Input(shape=(784,))"))
    message = kernel.step(FASHION_CLASSIFIER, "architecture")
    assert message and "the model reads (784,)" in message
    assert "use `keras.Input(shape=(28, 28))`, the shape of one image of X_train" in message
    passed, text = kernel.graded(FASHION_CLASSIFIER, "architecture", with_model=True)
    assert not passed and "the model reads (784,)" in text


def test_03_speaks_of_its_own_names_loss_and_float64(kernel: Kernel) -> None:
    cells = start_03(kernel)
    out = kernel.ok('check_step("03-fashion-classifier", "split", globals())')
    assert "They are float64: dividing by 255.0 gives float64" in out
    assert 'float32 of lesson 01' in out
    kernel.ok(cells["todo_architecture"].replace('Dense(10, activation="softmax")', "Dense(10)"))
    kernel.ok(cells["todo_compile"])
    message = kernel.step(FASHION_CLASSIFIER, "compile")
    assert message and "sparse_categorical_crossentropy expects probabilities" in message
    assert "but categorical_crossentropy" not in message
    for name in ("validation_accuracy", "first_prediction"):
        hint = checks.run_one(assignments.get(FASHION_CLASSIFIER), name, recorded_facts(
            FASHION_CLASSIFIER, "no-softmax")).hint
        assert "loss='sparse_categorical_crossentropy' expects probabilities" in hint
    facts = recorded_facts(FASHION_CLASSIFIER)
    facts["export"]["history"] = None
    facts["evaluation"]["validation_accuracy"] = 0.1
    hint = checks.run_one(assignments.get(FASHION_CLASSIFIER), "validation_accuracy", facts).hint
    assert "model.fit(X_train, y_train, epochs=epochs)" in hint
    assert "train_images" not in hint


def test_03_rounded_probabilities_are_probabilities_in_both(kernel: Kernel) -> None:
    cells = start_03(kernel)
    kernel.ok(cells["todo_architecture"])
    kernel.ok(cells["todo_compile"])
    kernel.ok("history = model.fit(X_train[:10000], y_train[:10000], epochs=2, verbose=0)")
    kernel.ok("X_new = X_test[:3]\n"
              "y_proba = model.predict(X_new, verbose=0).round(2)\n"
              "y_pred = y_proba.argmax(axis=-1)")
    assert kernel.step(FASHION_CLASSIFIER, "predict") is None
    passed, text = kernel.graded(FASHION_CLASSIFIER, "probabilities", arrays=("y_proba",))
    assert passed, text
