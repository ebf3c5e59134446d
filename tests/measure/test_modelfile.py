"""Model files read as data before Keras loads them, and the names of what they were compiled
with, as the visible and the hidden checks both read them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from kerasgrade.keras_terms import compile_item
from kerasgrade.measure import modelfile
from kerasgrade.measure import process as inspect_model

pytestmark = pytest.mark.slow  # Keras builds and saves the model files read here


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(loss=keras.losses.CategoricalCrossentropy(),
                  optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


def with_config(path: Path, target: Path, edit: object) -> Path:
    """A copy of the model file whose config.json went through `edit`."""
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edit(config)  # type: ignore[operator]
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return target


def test_plain_model_loads(saved: Path) -> None:
    assert len(modelfile.load(saved, compile=False).layers) == 2


@pytest.mark.parametrize("module", ["os", "builtins", "kerasgrade.evil", None, ["keras"]])
def test_nested_module_outside_keras_refused(saved: Path, tmp_path: Path, module: object) -> None:
    def plant(config: dict) -> None:
        dense = config["config"]["layers"][-1]["config"]
        dense["kernel_initializer"]["config"]["seed"] = {
            "module": module, "class_name": "system", "config": {}, "registered_name": None}

    hostile = with_config(saved, tmp_path / "model.keras", plant)
    with pytest.raises(modelfile.UnsafeModel, match=r"refers to code outside Keras \(module "):
        modelfile.load(hostile, compile=False)


def test_optimizer_and_loss_names_agree(saved: Path) -> None:
    """The hidden checks read the saved file, the visible ones the compile config: one name."""
    import keras

    hidden = inspect_model.compile_facts(saved, None)
    model = keras.saving.load_model(saved)
    config = model.get_compile_config()
    visible = (compile_item(config["optimizer"])[0], compile_item(config["loss"])[0])
    assert (hidden["optimizer"], hidden["loss"]) == visible == (
        "rmsprop", "categorical_crossentropy")


def test_a_subclassed_model_is_named_as_such_not_as_foreign_code(tmp_path: Path) -> None:
    """A subclass of Sequential is saved with its own module (None): the student reads that
    the model class is custom, which is what to change."""
    import keras

    class MyModel(keras.Sequential):
        pass

    model = MyModel([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                     keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "my_model.keras"
    model.save(path)
    with pytest.raises(modelfile.UnsafeModel, match="custom model class 'MyModel'"):
        modelfile.vet(path)
