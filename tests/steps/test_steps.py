"""The visible step checks on real objects: the solutions pass every step, and each typical
mistake fails its step with a message that says what to change.

01 and 02 run in this process (02 trains for seconds on the MNIST sample); 03 stops before its
training, which takes minutes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pytest
from coursefiles import (
    IDS,
    Namespace,
    nbgrader,
    read,
)

from kerasgrade.course import build as course
from kerasgrade.course.assignments import (
    CONNECTED_NETWORKS,
    FASHION_CLASSIFIER,
    IMPROVING_NETWORK,
    PREPARING_DATA,
    get,
)
from kerasgrade.steps import framework as student
from kerasgrade.steps.framework import check_step

if TYPE_CHECKING:
    import keras

pytestmark = pytest.mark.slow  # real Keras objects, and 02 and 04 train in this process


@pytest.fixture(scope="module", autouse=True)
def _keras() -> None:
    """Keras for the helpers below, imported when the first test runs: collecting this file,
    as `pytest -m "not slow"` does, must not import TensorFlow."""
    global keras
    import keras



# ---------------------------------------------------------------------------------------
# Visible step checks on real objects: the solution passes them...


def run_solution(aid: str, workdir: Path, until: str | None = None) -> Namespace:
    """Execute the solution's code cells here, check cells included (they raise if wrong)."""
    matplotlib.use("Agg")  # the notebooks call plt.show(): no window in tests
    nb = course.solution_notebook(read("source", aid))
    ns: Namespace = {"__name__": "__main__"}
    cwd = Path.cwd()
    os.chdir(workdir)  # the notebooks save models next to themselves
    try:
        for cell in nb.cells:
            if cell.get("id") == until:
                break
            if cell.cell_type == "code" and not nbgrader(cell).get("grade"):
                exec(compile(cell.source, cell.id, "exec"), ns)
    finally:
        os.chdir(cwd)
    return ns


@pytest.fixture(scope="module")
def ns01(tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    return run_solution(PREPARING_DATA, tmp_path_factory.mktemp("ns01"))


@pytest.fixture(scope="module")
def ns02(tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    workdir = tmp_path_factory.mktemp("ns02")
    ns = run_solution(CONNECTED_NETWORKS, workdir)
    ns["__workdir__"] = workdir
    return ns


@pytest.fixture(scope="module")
def ns03(tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    """03 up to training: the data, class names, model and compile steps."""
    return run_solution(FASHION_CLASSIFIER, tmp_path_factory.mktemp("ns03"), until="todo_fit")


@pytest.fixture(scope="module")
def ns04(tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    """04's six experiments on the sample (about 20 s of training on one core)."""
    return run_solution(IMPROVING_NETWORK, tmp_path_factory.mktemp("ns04"))


FIXTURES = {PREPARING_DATA: "ns01", CONNECTED_NETWORKS: "ns02", FASHION_CLASSIFIER: "ns03",
            IMPROVING_NETWORK: "ns04"}


@pytest.mark.parametrize("aid", IDS)
def test_solution_passes_every_step(
    aid: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    ns = request.getfixturevalue(FIXTURES[aid])
    steps = list(student.steps_for(get(aid)))
    if aid == FASHION_CLASSIFIER:  # the rest needs 30 epochs: the committed outputs show it
        steps = steps[: steps.index("fit")]
    if "__workdir__" in ns:
        os.chdir(ns["__workdir__"])
    capsys.readouterr()  # drop what the fixture printed
    for step in steps:
        check_step(aid, step, ns)
        assert capsys.readouterr().out.startswith(f"✔ {step}: ")


# ---------------------------------------------------------------------------------------
# ...and a wrong step fails with a message that says what to change.


def failure(aid: str, step: str, ns: Namespace) -> str:
    with pytest.raises(AssertionError) as raised:
        check_step(aid, step, ns)
    message = str(raised.value)
    for part in ("Expected: ", "Found:    ", "What to change: "):
        assert part in message, message
    return message


def mnist_model(*layers: keras.layers.Layer, shape: tuple[int, ...] = (28, 28, 1)) -> keras.Model:
    model = keras.Sequential()
    model.add(keras.Input(shape=shape))
    model.add(keras.layers.Flatten())
    for layer in layers:
        model.add(layer)
    return model


def dense(units: int, activation: str | None = None) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation=activation)


def compiled(model: keras.Model, **kw: Any) -> keras.Model:
    args = {"loss": "categorical_crossentropy", "optimizer": "adam", "metrics": ["accuracy"]}
    model.compile(**(args | kw))
    return model


def trained(ns: Namespace, model: keras.Model, epochs: int, times: int = 1) -> Namespace:
    """ns with `model` and the history of its last fit, on the first 500 training images."""
    for _ in range(times):
        history = model.fit(ns["train_images"][:500], ns["train_labels"][:500], epochs=epochs,
                            verbose=0)
    return ns | {"model": model, "history": history}


def good_02(ns: Namespace) -> keras.Model:
    return mnist_model(dense(16, "relu"), dense(10, "softmax"))


Case = tuple[str, str, Callable[[Namespace], Namespace], tuple[str, ...]]

CASES_01: dict[str, Case] = {
    "not_loaded": ("load", lambda ns: {k: v for k, v in ns.items() if k != "train_images"},
                   ("no variable `train_images`",)),
    "train_test_swapped": ("load", lambda ns: ns | {
        "train_images": ns["test_images"][:, :, :, 0], "train_labels": np.arange(1000) % 10,
        "test_images": ns["train_images"][:, :, :, 0], "test_labels": np.arange(4000) % 10,
    }, ("training pair comes first",)),
    "no_channel_axis": ("reshape", lambda ns: ns | {"train_images": ns["train_images"][..., 0]},
                        ("(4000, 28, 28, 1)", "img_rows, img_cols, 1")),
    "channels_first": ("reshape", lambda ns: ns | {
        "train_images": np.moveaxis(ns["train_images"], 3, 1)}, ("channel axis last",)),
    "input_shape_with_count": ("input_shape", lambda ns: ns | {"input_shape": (4000, 28, 28, 1)},
                               ("leave out the number of images",)),
    "float64": ("dtype", lambda ns: ns | {"test_images": ns["test_images"].astype("float64")},
                ("float32", "twice the memory")),
    "not_scaled": ("scale", lambda ns: ns | {"train_images": ns["train_images"] * 255},
                   ("divide by 255",)),
    "scaled_twice": ("scale", lambda ns: ns | {"test_images": ns["test_images"] / 255},
                     ("more than once",)),
    "labels_not_encoded": ("one_hot", lambda ns: ns | {
        "train_labels": ns["train_labels"].argmax(axis=1)}, ("to_categorical",)),
    "labels_encoded_twice": ("one_hot", lambda ns: ns | {
        "test_labels": keras.utils.to_categorical(ns["test_labels"], 10)}, ("encoded twice",)),
}

CASES_02: dict[str, Case] = {
    "epochs_float": ("epochs", lambda ns: ns | {"epochs": 10.0}, ("a whole number",)),
    "no_parentheses": ("model", lambda ns: ns | {"model": keras.Sequential},
                       ("mind the parentheses",)),
    "no_input_shape": ("input_layer", lambda ns: ns | {
        "model": keras.Sequential([keras.layers.Flatten()])}, ("keras.Input(shape=...)",)),
    "flatten_twice": ("input_layer", lambda ns: ns | {
        "model": mnist_model(keras.layers.Flatten())}, ("run the notebook again from",)),
    "wrong_input_shape": ("input_layer", lambda ns: ns | {"model": mnist_model(shape=(28, 28))},
                          ("keras.Input(shape=input_shape)",)),
    "hidden_32": ("hidden_layer", lambda ns: ns | {"model": mnist_model(dense(32, "relu"))},
                  ("give it 16 units",)),
    "hidden_no_activation": ("hidden_layer", lambda ns: ns | {"model": mnist_model(dense(16))},
                             ("add activation='relu'",)),
    "hidden_twice": ("hidden_layer", lambda ns: ns | {
        "model": mnist_model(dense(16, "relu"), dense(16, "relu"))}, ("adds it again",)),
    "output_no_activation": ("output_layer", lambda ns: ns | {
        "model": mnist_model(dense(16, "relu"), dense(10))},
        ("no activation", "categorical_crossentropy expects probabilities",
         "activation='softmax'")),
    "output_sigmoid": ("output_layer", lambda ns: ns | {
        "model": mnist_model(dense(16, "relu"), dense(10, "sigmoid"))}, ("add up to 1",)),
    "extra_layer": ("summary", lambda ns: ns | {
        "model": mnist_model(dense(16, "relu"), dense(10, "softmax"), dense(10, "softmax"))},
        ("remove the extra layer",)),
    "not_compiled": ("compile", lambda ns: ns | {"model": good_02(ns)}, ("model.compile(",)),
    "sparse_loss": ("compile", lambda ns: ns | {
        "model": compiled(good_02(ns), loss="sparse_categorical_crossentropy")},
        ("one-hot rows", "loss='categorical_crossentropy'")),
    "sgd": ("compile", lambda ns: ns | {"model": compiled(good_02(ns), optimizer="sgd")},
            ("optimizer='adam'",)),
    "no_metrics": ("compile", lambda ns: ns | {"model": compiled(good_02(ns), metrics=[])},
                   ("metrics=['accuracy']",)),
    "from_logits_with_softmax": ("compile", lambda ns: ns | {"model": compiled(
        good_02(ns), loss=keras.losses.CategoricalCrossentropy(from_logits=True))},
        ("drop from_logits=True",)),
    "one_epoch": ("fit", lambda ns: trained(ns, compiled(good_02(ns)), 1),
                  ("pass `epochs=epochs` to fit",)),
    "trained_twice": ("fit", lambda ns: trained(ns, compiled(good_02(ns)), 10, times=2),
                      ("more than once",)),
    "history_not_kept": ("fit", lambda ns: ns | {"history": None}, ("history = model.fit",)),
    "softmax_forgotten": ("fit", lambda ns: trained(
        ns, compiled(mnist_model(dense(16, "relu"), dense(10))), 10),
        ("chance", "activation='softmax'")),
    "evaluate_swapped": ("evaluate", lambda ns: ns | {"test_loss": 0.9, "test_acc": 0.31},
                         ("evaluate returns the loss first",)),
    "evaluate_swapped_out_of_range": ("evaluate", lambda ns: ns | {"test_loss": 0.9,
                                      "test_acc": 1.4}, ("evaluate returns the loss first",)),
    "evaluate_not_unpacked": ("evaluate", lambda ns: ns | {"test_acc": [0.3, 0.9]},
                              ("unpack it into two names",)),
    "accuracy_too_low": ("evaluate", lambda ns: ns | {"test_acc": 0.5},
                         ("at least 0.85 on mnist-sample-5k",)),
    "saved_before_training": ("save", lambda ns: ns | {"model": compiled(good_02(ns))},
                              ("different weights", "after training")),
}

CASES_03: dict[str, Case] = {
    "validation_from_the_end": ("split", lambda ns: ns | {
        "X_valid": ns["X_train_full"][-5000:] / 255.0}, ("first 5,000",)),
    "test_not_scaled": ("split", lambda ns: ns | {"X_test": ns["X_test"] * 255},
                        ("X_test between 0 and 1", "divide by 255 once")),
    "labels_not_split": ("split", lambda ns: ns | {"y_train": ns["y_train_full"]},
                         ("y_train_full[5000:]",)),
    "class_name_typo": ("class_names", lambda ns: ns | {
        "class_names": ["T-shirt", *ns["class_names"][1:]]}, ("class_names[0] == 'T-shirt/top'",)),
    "one_hidden_layer": ("architecture", lambda ns: ns | {"model": mnist_model(
        dense(300, "relu"), dense(10, "softmax"), shape=(28, 28))}, ("Dense(100",)),
    "hidden_without_relu": ("architecture", lambda ns: ns | {"model": mnist_model(
        dense(300), dense(100, "relu"), dense(10, "softmax"), shape=(28, 28))},
        ("add activation='relu'",)),
    "categorical_loss_int_labels": ("compile", lambda ns: ns | {"model": compiled(
        fashion_model(), optimizer="sgd")}, ("loss='sparse_categorical_crossentropy'",)),
    "no_validation_data": ("fit", lambda ns: fashion_fit(ns, validation=False),
                           ("validation_data=(X_valid, y_valid)",)),
    "validation_accuracy_too_low": ("fit", lambda ns: fashion_fit(ns, validation=True),
                                    ("at least 0.85 on fashion-mnist",)),
    "predicted_five": ("predict", lambda ns: fashion_predicted(ns, ns["X_test"][:5]),
                       ("X_new = X_test[:3]",)),
    "raw_scores": ("predict", lambda ns: fashion_predicted(ns, ns["X_test"][:3], scale=3.0),
                   ("activation='softmax'",)),
    "not_an_ankle_boot": ("predict", lambda ns: fashion_predicted(ns, ns["X_test"][:3], first=0),
                          ("Ankle boot",)),
    "not_saved": ("save", lambda ns: ns, ('model.save("fashion_model.keras")',)),
}


def with_record(ns: Namespace, body: str) -> Namespace:
    """ns with a record() of the student's kind: defined in the namespace, writing its table."""
    ns = dict(ns)
    exec("def record(name, model, epochs, seconds):\n" + body, ns)
    return ns


def without_row(ns: Namespace, row: str) -> Namespace:
    return ns | {"results": {k: v for k, v in ns["results"].items() if k != row}}


CASES_04: dict[str, Case] = {
    "record_wrong_keys": ("record", lambda ns: with_record(
        ns, "    loss, acc = model.evaluate(test_images, test_labels, verbose=0)\n"
            "    results[name] = {'accuracy': acc, 'loss': loss}"),
        ("keys accuracy, loss", "use the key names of the table exactly")),
    "record_on_training_images": ("record", lambda ns: with_record(
        ns, "    loss, acc = model.evaluate(train_images, train_labels, verbose=0)\n"
            "    results[name] = {'params': model.count_params(), 'epochs': epochs,\n"
            "                     'test_acc': acc, 'test_loss': loss, 'seconds': seconds}"),
        ("evaluate on test_images, test_labels",)),
    "record_appends_to_a_list": ("record", lambda ns: with_record(
        ns, "    globals()['results'] = [name]"), ("store the row under its name",)),
    "baseline_not_recorded": ("baseline", lambda ns: without_row(ns, "baseline"),
                              ('a row results["baseline"]', 'record("baseline", model_baseline')),
    "second_layer_linear": ("two_layers", lambda ns: ns | {"model_two_layers": mnist_model(
        dense(16, "relu"), dense(16), dense(10, "softmax"))}, ("layer 3", "add activation='relu'")),
    "one_epoch_aliased": ("one_epoch", lambda ns: ns | {"model_one_epoch": ns["model_baseline"]},
                          ("the same object as `model_baseline`", "Sequential([...])")),
    "epochs_set_to_one": ("one_epoch", lambda ns: ns | {"epochs": 1},
                          ("`epochs` still 10", "leave `epochs = 10`")),
    "wide_4096": ("wide", lambda ns: ns | {"model_wide": mnist_model(
        dense(4096, "relu"), dense(10, "softmax"))}, ("give it 512 units",)),
    "wide_two_epochs": ("wide", lambda ns: ns | {"model_wide": trained(ns, compiled(mnist_model(
        dense(512, "relu"), dense(10, "softmax"))), 1, times=2)["model"]},
        ("2 epoch(s)", "write epochs=1 in its fit")),
    "best_over_budget": ("best", lambda ns: ns | {"model_best": mnist_model(
        dense(512, "relu"), dense(10, "softmax"))}, ("at most 110,000 parameters", "407,050")),
    "best_no_softmax": ("best", lambda ns: ns | {"model_best": mnist_model(
        dense(128, "relu"), dense(10))}, ("Dense(10, activation='softmax')", "chance")),
}


def fashion_model() -> keras.Model:
    return mnist_model(dense(300, "relu"), dense(100, "relu"), dense(10, "softmax"),
                       shape=(28, 28))


def fashion_fit(ns: Namespace, validation: bool) -> Namespace:
    """30 short epochs on 200 images: a real history, far below the validation bar."""
    model = compiled(fashion_model(), loss="sparse_categorical_crossentropy", optimizer="sgd")
    extra = {"validation_data": (ns["X_valid"][:500], ns["y_valid"][:500])} if validation else {}
    history = model.fit(ns["X_train"][:200], ns["y_train"][:200], epochs=30, verbose=0, **extra)
    return ns | {"model": model, "history": history, "epochs": 30}


def fashion_predicted(ns: Namespace, x_new: np.ndarray, scale: float = 1.0,
                      first: int = 9) -> Namespace:
    """Probabilities that make image 0 class `first`, times `scale` (not 1: raw scores)."""
    proba = np.full((len(x_new), 10), 0.01, dtype="float32")
    proba[:, first] = 0.91
    proba *= scale
    return ns | {"X_new": x_new, "y_proba": proba, "y_pred": proba.argmax(axis=-1)}


CASES = (
    [(PREPARING_DATA, *case, name) for name, case in CASES_01.items()]
    + [(CONNECTED_NETWORKS, *case, name) for name, case in CASES_02.items()]
    + [(FASHION_CLASSIFIER, *case, name) for name, case in CASES_03.items()]
    + [(IMPROVING_NETWORK, *case, name) for name, case in CASES_04.items()]
)


@pytest.fixture
def in_empty_dir(tmp_path: Path) -> Iterator[None]:
    """The save checks look next to the notebook, the current folder: start empty."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    yield
    os.chdir(cwd)


@pytest.mark.parametrize(("aid", "step", "mutate", "phrases", "name"), CASES,
                         ids=[c[-1] for c in CASES])
def test_wrong_step_fails_with_a_helpful_message(
    aid: str, step: str, mutate: Callable[[Namespace], Namespace], phrases: tuple[str, ...],
    name: str, request: pytest.FixtureRequest, in_empty_dir: None,
) -> None:
    ns = request.getfixturevalue(FIXTURES[aid])
    wrong = mutate(dict(ns))
    if step == "save" and aid == CONNECTED_NETWORKS:
        shutil.copy(ns["__workdir__"] / "my_model.keras", Path.cwd())
    message = failure(aid, step, wrong)
    for phrase in phrases:
        assert phrase in message, message
