"""Load a student's saved model without running student code.

The model's config is read as data first and refused unless every layer is a plain
built-in Keras layer and every module it names is Keras's own; only then does Keras load
it, in safe mode, with no custom objects.
"""

from __future__ import annotations

import base64
import binascii
import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ALLOWED_LAYERS = frozenset(
    {
        "InputLayer", "Flatten", "Dense", "Dropout", "Reshape", "Activation",
        "BatchNormalization", "Rescaling", "Normalization", "LayerNormalization",
        "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
        "GlobalMaxPooling2D", "Softmax", "ReLU", "LeakyReLU", "Sequential", "Functional",
        "Model", "Add", "Concatenate",
    }
)
MAX_MODEL_BYTES = 50 * 1024 * 1024
# marshal's first byte for a code object (with and without its FLAG_REF bit): how Keras stores
# the bytecode of a Lambda layer or a lambda activation, base64-encoded, in a config.
MARSHALLED_CODE = (0x63, 0xE3)


class UnsafeModel(ValueError):
    """The file holds something that would run code or is not a plain Keras model."""


def _config(path: Path) -> dict[str, Any]:
    if path.suffix == ".keras":
        try:
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("config.json"))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
            raise UnsafeModel(f"{path.name} is not a Keras 3 model file ({exc})") from None
    if path.suffix == ".h5":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("model_config")
        except OSError as exc:
            raise UnsafeModel(f"{path.name} is not an HDF5 model file ({exc})") from None
        if raw is None:
            raise UnsafeModel(
                f"{path.name} holds weights only, not a whole model: save with model.save()"
            )
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    raise UnsafeModel(f"{path.name}: save the model as .keras (or .h5)")


def _holds_code(node: Any) -> bool:
    """True if a serialized config carries Python bytecode anywhere (never unmarshalled here)."""
    if isinstance(node, dict):
        return any(_holds_code(v) for v in node.values())
    if isinstance(node, list):
        return any(_holds_code(v) for v in node)
    if not isinstance(node, str) or len(node) < 40:
        return False
    try:
        head = base64.b64decode(node.replace("\n", ""), validate=True)[:1]
    except (binascii.Error, ValueError):
        return False
    return bool(head) and head[0] in MARSHALLED_CODE


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a serialized Keras config, however deeply nested."""
    if isinstance(node, dict):
        yield node
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return
    for child in children:
        yield from _dicts(child)


def _layer_classes(node: Any) -> list[str]:
    """Every class name in a serialized Keras config."""
    return [d[key] for d in _dicts(node) for key in ("class_name", "registered_name")
            if isinstance(d.get(key), str)]


def _foreign_modules(node: Any) -> list[str]:
    """Every `module` in a serialized Keras config that is not Keras's own: safe mode imports
    the module a config names before it checks the class."""
    return [repr(module) for d in _dicts(node)
            if not (isinstance(module := d.get("module", "keras"), str)
                    and (module == "keras" or module.startswith("keras.")))]


def vet(path: Path) -> None:
    """Raise UnsafeModel unless the file is a plain model of built-in layers."""
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise UnsafeModel(
            f"{path.name} is {size / 1e6:.0f} MB; the course's models are under 5 MB "
            f"(limit {MAX_MODEL_BYTES // 2**20} MB)"
        )
    config = _config(path)
    if not isinstance(config, dict):
        raise UnsafeModel(f"{path.name} holds no model configuration")
    layers = config.get("config", {}).get("layers", [])
    names = {layer.get("class_name") for layer in layers if isinstance(layer, dict)}
    bad = sorted(n for n in names if n not in ALLOWED_LAYERS)
    if {"Lambda", "__lambda__"} & {*_layer_classes(config), *bad} or _holds_code(config):
        raise UnsafeModel(
            f"{path.name} contains a Lambda layer or a lambda function (code inside a model "
            "file); the grader does not run it. Use built-in layers such as Flatten and Dense, "
            "and activations by name, such as activation='relu'."
        )
    # Before the module check: a subclass names its own module (None, or __main__), and
    # "a custom model class" is what the student needs to read.
    if config.get("class_name") not in ALLOWED_LAYERS:
        raise UnsafeModel(
            f"{path.name} is a custom model class {config.get('class_name')!r}; the grader "
            "loads only keras.Sequential or keras.Model(inputs, outputs), not a subclass."
        )
    if foreign := sorted(set(_foreign_modules(config))):
        raise UnsafeModel(
            f"{path.name} refers to code outside Keras (module {', '.join(foreign)}); the grader "
            "loads only Keras's own layers, activations, losses and optimizers."
        )
    if bad:
        raise UnsafeModel(
            f"{path.name} uses layers the grader does not load: {', '.join(map(str, bad))}. "
            "Use built-in Keras layers only."
        )


def load(path: Path, compile: bool = True) -> Any:
    """Vet, then load in safe mode with no custom objects."""
    vet(path)  # first: a refused file costs no Keras import
    import keras

    return keras.saving.load_model(path, compile=compile, safe_mode=True, custom_objects={})
