"""Measure a submission's artifacts in a clean process (never the student's kernel).

`python -m kerasgrade.measure.process ARTIFACTS_DIR ASSIGNMENT` writes ARTIFACTS_DIR/facts.json.
Everything a check looks at is computed here from the saved model and the grader's own
data, so nothing the student's code patched or printed can change it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from kerasgrade.artifacts import (
    ARRAYS_FILE,
    EXPORT_FILE,
    FACTS_FILE,
    MODEL_FILE,
    MODELS_DIR,
    SAVED_DIR,
    EvaluationFacts,
    Facts,
    ModelFacts,
    read_json,
)
from kerasgrade.course import assignments
from kerasgrade.keras_terms import compile_item, quiet_tensorflow, rows_sum_to_one, same_weights
from kerasgrade.measure import modelfile

CONFUSION_SAMPLE = 10_000
PREDICT_BATCH = 2000
NO_DATA = 3  # exit code: the grader's data could not be loaded here (an environment fault)


def compile_facts(path: Path, exported_optimizer: str | None) -> ModelFacts:
    """Loss, optimizer and metrics as written in the saved file's compile config."""
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    cc = config.get("compile_config")
    if not cc:
        return {"compiled": False, "loss": None, "from_logits": None, "optimizer": None,
                "metrics": []}
    loss, loss_cfg = compile_item(cc.get("loss"))
    optimizer, _ = compile_item(cc.get("optimizer") or exported_optimizer)
    metrics = []
    for m in cc.get("metrics") or []:
        for item in m if isinstance(m, list) else [m]:
            name, _ = compile_item(item)
            if name:
                metrics.append(name)
    return {
        "compiled": True,
        "loss": loss,
        "from_logits": bool(loss_cfg.get("from_logits", False)),
        "optimizer": optimizer,
        "metrics": metrics,
    }


def layer_facts(model: Any) -> list[dict[str, Any]]:
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        try:
            shape = list(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        act = getattr(layer, "activation", None)
        rows.append(
            {
                "name": layer.name,
                "type": kind,
                "output_shape": shape,
                "params": int(layer.count_params()),
                "activation": getattr(act, "__name__", None) if act is not None else None,
                "units": getattr(layer, "units", None),
            }
        )
    return rows


def _as_model_input(model: Any, images: np.ndarray, scale: bool) -> np.ndarray:
    x = images.astype("float32")
    if scale:
        x /= 255.0
    shape = tuple(model.inputs[0].shape[1:])
    if int(np.prod([d or 0 for d in shape])) != 28 * 28:
        raise ValueError(
            f"the model expects inputs of shape {shape}, but MNIST images are 28x28 "
            "(input_shape should be (28, 28, 1) or (28, 28))"
        )
    return x.reshape((len(x), *shape))


def _predict(model: Any, *sets: tuple[np.ndarray, bool]) -> list[np.ndarray]:
    """The model's outputs on each set of images (scaled to [0, 1] or not), in one call to
    predict: each call costs a dataset and a trace, a tenth of a second."""
    inputs = [_as_model_input(model, images, scale) for images, scale in sets]
    batch = min(PREDICT_BATCH, *(len(x) for x in inputs))
    probs = np.asarray(model.predict(np.concatenate(inputs), batch_size=batch, verbose=0))
    return np.split(probs, np.cumsum([len(x) for x in inputs])[:-1])


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def evaluation_facts(model: Any, spec: assignments.Assignment, data: Any) -> EvaluationFacts:
    out: EvaluationFacts = {"error": None}
    n = spec.validation_images
    try:
        probs, unscaled, *validation = _predict(
            model, (data.x_test, True), (data.x_test, False),
            *([(data.x_train[:n], True)] if n else []))
        if probs.ndim != 2 or probs.shape[1] != 10:
            raise ValueError(f"the model outputs shape {probs.shape[1:]}, expected (10,)")
    except Exception as exc:  # any failure here is the model's, reported as a fact
        out["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        return out
    out["test_accuracy"] = _accuracy(probs, data.y_test)
    out["test_accuracy_unscaled"] = _accuracy(unscaled, data.y_test)
    predicted = np.argmax(probs, axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (data.y_test[:CONFUSION_SAMPLE], predicted[:CONFUSION_SAMPLE]), 1)
    out["confusion"] = confusion.tolist()
    out["misclassified"] = np.flatnonzero(predicted != data.y_test)[:24].tolist()
    out["misclassified_predicted"] = predicted[out["misclassified"]].tolist()
    out["first_probabilities"] = probs[:3].round(6).tolist()
    out["first_row_sums"] = probs[:3].sum(axis=1).round(6).tolist()
    out["all_rows_sum_to_one"] = rows_sum_to_one(probs)
    out["first_predicted"] = predicted[:3].tolist()
    if validation:
        # The tutorial's split: the first n training images are the validation set.
        out["validation_accuracy"] = _accuracy(validation[0], data.y_train[:n])
    return out


def saved_file_facts(artifacts: Path, model: Any | None) -> list[dict[str, Any]]:
    export = json.loads((artifacts / EXPORT_FILE).read_text())
    out = []
    for entry in export.get("saved_files", []):
        fact = dict(entry, loads=False, matches=False, error=None)
        path = artifacts / SAVED_DIR / entry["name"]
        try:
            if not path.exists():
                raise modelfile.UnsafeModel(
                    f"{entry['name']} is {entry['bytes'] / 1e6:.0f} MB, too large to load"
                )
            saved = modelfile.load(path, compile=False)
            fact["loads"] = True
            if model is not None:
                a, b = saved.get_weights(), model.get_weights()
                fact["matches"] = same_weights(a, b)
        except Exception as exc:  # a broken or hostile file is a fact, not a crash
            fact["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        out.append(fact)
    return out


def _claimed(summary: Any, sample: np.ndarray) -> tuple[list[int], np.ndarray | None]:
    """The whole array's shape and the sample's row indices, as export.json states them, when
    they agree with the sample; else the sample is taken as the whole array."""
    if not isinstance(summary, dict):
        return list(sample.shape), None
    shape, rows = summary.get("shape"), summary.get("rows")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(rows, list) and all(type(r) is int for r in rows)):
        return list(sample.shape), None
    index = np.asarray(rows, dtype=np.int64)
    if (len(index) != len(sample) or not shape or tuple(shape[1:]) != sample.shape[1:]
            or (len(index) and (index.min() < 0 or index.max() >= shape[0]))):
        return list(sample.shape), None
    return shape, index


def _exported_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays the student's kernel exported, or none: its code can replace the file (a
    link, a FIFO, a broken archive, object arrays), which is the notebook's fault, not the
    grader's, so it must not crash the measurement."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        try:
            with np.load(f, allow_pickle=False) as npz:
                return {name: npz[name] for name in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return {}


def array_facts(artifacts: Path, data: Any, summaries: Any) -> dict[str, Any]:
    """Facts about the prepared arrays of 01 (and y_proba of 03), from arrays.npz.

    Large arrays come as a sample of rows with the whole array's shape and range (see
    kerasgrade.execute.kernel.export_cell): the rows present are compared, and the range is
    widened by them.
    """
    summaries = summaries if isinstance(summaries, dict) else {}
    out: dict[str, Any] = {}
    for name, a in _exported_arrays(artifacts / ARRAYS_FILE).items():
        summary = summaries.get(name)
        shape, rows = _claimed(summary, a) if a.ndim else (list(a.shape), None)
        fact: dict[str, Any] = {"shape": shape, "dtype": str(a.dtype)}
        if a.size:
            low, high = float(a.min()), float(a.max())
            if rows is not None:  # a range that is not a number is no range
                claimed = [summary.get(k) for k in ("min", "max")]
                if all(type(v) in (int, float) for v in claimed):
                    low, high = min(low, claimed[0]), max(high, claimed[1])
            fact["min"], fact["max"] = low, high
        if a.ndim >= 3:  # images: only whole numbers in [0, 1] tell an integer division (//)
            fact["whole_numbers"] = bool(np.all(a == np.round(a)))
        if rows is None:
            rows = np.arange(len(a)) if a.ndim else np.zeros(0, dtype=np.int64)
        if a.ndim == 2 and a.shape[1] == 10:
            fact["rows_sum_to_one"] = rows_sum_to_one(a)
            fact["row_sums_first"] = a[:3].sum(axis=1).round(6).tolist()
            fact["one_hot"] = bool(np.isin(a, (0, 1)).all()) and fact["rows_sum_to_one"]
            original = data.y_train if name.startswith("train") else data.y_test
            fact["agrees_with_labels"] = bool(
                shape[0] == len(original)
                and np.array_equal(np.argmax(a, 1), original[rows])
            )
            fact["expected_rows"] = int(len(original))
        elif name.endswith("labels"):
            original = data.y_train if name.startswith("train") else data.y_test
            fact["expected_rows"] = int(len(original))
        out[name] = fact
    return out


def model_facts(path: Path, exported_optimizer: str | None) -> tuple[Any, ModelFacts]:
    """Load a model file (vetted, safe mode) and describe it: (model, ModelFacts)."""
    model = modelfile.load(path, compile=False)
    return model, {
        "loaded": True,
        "model_class": type(model).__name__,
        "input_shape": list(model.inputs[0].shape),
        "layers": layer_facts(model),
        "params": int(model.count_params()),
        **compile_facts(path, exported_optimizer),
    }


def evaluated_loss(probs: np.ndarray, labels: np.ndarray, loss: str | None,
              from_logits: bool | None) -> float | None:
    """The loss model.evaluate reports for these outputs under the model's own compiled loss
    (Keras's function, mean over the images); None for a loss other than the two cross-
    entropies the lessons use."""
    import keras

    if loss == "categorical_crossentropy":
        y = keras.utils.to_categorical(labels, probs.shape[1])
        values = keras.losses.categorical_crossentropy(y, probs, from_logits=bool(from_logits))
    elif loss == "sparse_categorical_crossentropy":
        values = keras.losses.sparse_categorical_crossentropy(labels, probs,
                                                              from_logits=bool(from_logits))
    else:
        return None
    value = float(np.mean(keras.ops.convert_to_numpy(values)))
    return value if np.isfinite(value) else None


def _entry_int(entry: dict[str, Any], key: str) -> int | None:
    value = entry.get(key)
    return value if type(value) is int and value >= 0 else None


def lesson_model_facts(artifacts: Path, spec: assignments.Assignment, export: dict[str, Any],
                       data: Any) -> dict[str, Any]:
    """Each of the lesson's model variables (spec.models), as exported: what it is, how it was
    trained (from the kernel's record: steps and epochs) and, measured here, its layers,
    parameters and test accuracy and loss on the grader's test set."""
    exported = export.get("models")
    exported = exported if isinstance(exported, dict) else {}
    out: dict[str, Any] = {}
    for m in spec.models:
        entry = exported.get(m.name)
        if not isinstance(entry, dict):
            continue  # no such variable in the notebook
        kind = entry.get("type")
        fact: dict[str, Any] = {"type": kind if isinstance(kind, str) else "?", "loaded": False,
                                "error": None}
        for key in ("id", "history_epochs", "steps_per_epoch", "iterations"):
            fact[key] = _entry_int(entry, key)
        path = artifacts / MODELS_DIR / f"{m.name}.keras"
        if fact["id"] is None:  # not a Keras model: nothing was saved
            out[m.name] = fact
            continue
        if not path.exists():
            error = entry.get("error")
            fact["error"] = error[:1000] if isinstance(error, str) else "no model file"
            out[m.name] = fact
            continue
        optimizer = entry.get("optimizer")
        try:
            model, described = model_facts(path, optimizer if isinstance(optimizer, str)
                                           else None)
            fact.update(described)
            [probs] = _predict(model, (data.x_test, True))
            if probs.ndim != 2 or probs.shape[1] != 10:
                raise ValueError(f"the model outputs shape {probs.shape[1:]}, expected (10,)")
            fact["test_accuracy"] = _accuracy(probs, data.y_test)
            fact["test_loss"] = evaluated_loss(probs, data.y_test, fact["loss"],
                                               fact["from_logits"])
        except Exception as exc:  # hostile or broken model: a fact, never a crash
            fact["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        out[m.name] = fact
    return out


def _export_record(path: Path) -> dict[str, Any] | None:
    """What the export cell wrote, or None: the student's code could have replaced it (with
    broken JSON, a link, a FIFO), which must not crash the measurement."""
    return read_json(path) or None


def artifact_facts(artifacts: Path, spec: assignments.Assignment) -> Facts:
    """Everything measured of what the export cell left in artifacts."""
    from kerasgrade import data as datasets

    facts: Facts = {"assignment": spec.id}
    facts["export"] = _export_record(artifacts / EXPORT_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = datasets.load(spec.dataset)
    facts["data_source"] = data.source
    facts["data_sizes"] = {"train": int(len(data.x_train)), "test": int(len(data.x_test))}
    facts["arrays"] = array_facts(artifacts, data, (facts["export"] or {}).get("arrays"))

    model = None
    model_path = artifacts / MODEL_FILE
    facts["model"] = {"loaded": False, "error": None}
    if model_path.exists():
        try:
            model, described = model_facts(model_path, (facts["export"] or {}).get("optimizer"))
            facts["model"].update(described)
        except Exception as exc:  # hostile or broken model: a reason, never a traceback wall
            facts["model"]["error"] = f"{type(exc).__name__}: {exc}"[:1000]
            model = None
    elif facts["export"] and facts["export"].get("model_error"):
        facts["model"]["error"] = facts["export"]["model_error"]
    facts["evaluation"] = evaluation_facts(model, spec, data) if model is not None else {}
    facts["saved"] = saved_file_facts(artifacts, model) if facts["export"] else []
    if spec.models:
        facts["models"] = lesson_model_facts(artifacts, spec, facts["export"] or {}, data)
    return facts


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    artifacts, assignment_id = Path(args[0]), args[1]
    quiet_tensorflow()
    from kerasgrade.data import DataUnavailable

    try:
        facts = artifact_facts(artifacts, assignments.get(assignment_id))
    except DataUnavailable as exc:  # one line: the grader reports the last line of stderr
        print(" ".join(str(exc).split()), file=sys.stderr, flush=True)
        return NO_DATA
    (artifacts / FACTS_FILE).write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
