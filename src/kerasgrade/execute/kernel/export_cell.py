"""Export what grading needs from a student's namespace (runs inside the student's kernel).

Nothing exported here is trusted: a clean process re-measures everything from the
saved model and the grader's own data. The export only has to hand over artifacts.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kerasgrade.artifacts import ARRAYS_FILE, EXPORT_FILE, MODEL_FILE, MODELS_DIR, SAVED_DIR

MAX_SAVED_BYTES = 50 * 1024 * 1024  # a 12,730- or 266,610-parameter model is a few MB
# Labels and probabilities (a few MB) go whole; prepared images (188 MB of float32 for
# full MNIST) would pass the sandbox's file-size limit, so of those only a summary and a
# sample of rows spread over the array leave the kernel.
WHOLE_ARRAY_BYTES = 16 * 1024 * 1024
SAMPLE_ROWS = 256
# Containers in a plain variable (04's results table: a dict of rows, each a dict of numbers):
# at most this many items and this deep, so that a student's value cannot blow up the export.
MAX_ITEMS = 64
MAX_DEPTH = 3
MAX_KEY = 100


def _numpy_scalar(value: Any) -> bool:
    return isinstance(value, np.generic) and value.shape == ()


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON value for numbers, strings, lists, tuples and dicts of str keys; None for anything
    else.

    Only exact built-in types pass, so an object with a lying __eq__ or __float__ (or a dict
    subclass with its own items()) cannot stand in for a value; nothing is called on it.
    """
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else None
    if _numpy_scalar(value):
        return _plain(value.item(), depth)
    if depth >= MAX_DEPTH:
        return None
    if type(value) in (list, tuple) and len(value) <= MAX_ITEMS:
        items = [_plain(v, depth + 1) for v in value]
        return None if any(i is None and v is not None for i, v in zip(items, value)) else items
    if type(value) is dict and len(value) <= MAX_ITEMS and all(
            type(k) is str and len(k) <= MAX_KEY for k in value):
        # A value that is not plain stays a key with None: the check can name it.
        return {k: _plain(v, depth + 1) for k, v in dict.items(value)}
    return None


def _non_finite(value: Any) -> bool:
    """A float that is nan or infinite (a loss after training diverged): _plain makes it None,
    and the check needs to tell it from a value that is missing or not a number."""
    if _numpy_scalar(value):
        value = value.item()
    return type(value) is float and not math.isfinite(value)


def find_model(namespace: dict[str, Any]) -> tuple[str | None, Any]:
    """The student's model: the `model` variable, else the only Keras model in the namespace."""
    import keras

    candidate = namespace.get("model")
    if isinstance(candidate, keras.Model):
        return "model", candidate
    found = [
        (name, v)
        for name, v in namespace.items()
        if not name.startswith("_") and isinstance(v, keras.Model)
    ]
    if len(found) == 1:
        return found[0]
    return None, None


def _history(namespace: dict[str, Any], model: Any) -> dict[str, list[float]] | None:
    import keras

    hist = namespace.get("history")
    if not isinstance(hist, keras.callbacks.History):
        hist = getattr(model, "history", None)
    if not isinstance(hist, keras.callbacks.History):
        return None
    out = {}
    for key, values in getattr(hist, "history", {}).items():
        try:
            out[str(key)] = [float(v) for v in values]
        except (TypeError, ValueError):
            continue
    return out


def _model_export(value: Any, path: Path) -> dict[str, Any]:
    """Save one of a lesson's model variables to `path`; say what it was and how it was
    trained: its last fit's epochs, all its training steps, and id() (two names, one model)."""
    import keras

    if not isinstance(value, keras.Model):
        return {"type": type(value).__name__[:100]}
    entry: dict[str, Any] = {"type": type(value).__name__[:100], "id": id(value),
                             "error": None}
    try:
        keras.saving.save_model(value, path)
    except Exception as exc:  # the student's model may not be buildable or savable
        entry["error"] = f"{type(exc).__name__}: {exc}"[:2000]
    hist = getattr(value, "history", None)
    if isinstance(hist, keras.callbacks.History):
        epoch, params = getattr(hist, "epoch", None), getattr(hist, "params", None)
        entry["history_epochs"] = len(epoch) if type(epoch) is list else None
        steps = params.get("steps") if type(params) is dict else None
        entry["steps_per_epoch"] = steps if type(steps) is int else None
    optimizer = getattr(value, "optimizer", None)
    try:
        entry["iterations"] = int(keras.ops.convert_to_numpy(optimizer.iterations))
    except Exception:  # not compiled, or not an optimizer Keras knows: no step count
        entry["iterations"] = None
    entry["optimizer"] = type(optimizer).__name__ if optimizer is not None else None
    return entry


def _array_summary(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, np.ndarray):
        return None
    return {"shape": list(value.shape), "dtype": str(value.dtype)}


def _array_export(value: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """What of one array goes to the grader: the whole array when small, else a sample of rows,
    with its shape, dtype and range and the indices of the rows kept."""
    a = np.asarray(value)  # a plain ndarray: a subclass's own min() or shape do not answer
    summary: dict[str, Any] = {"shape": list(a.shape), "dtype": str(a.dtype)}
    if a.size:
        summary["min"], summary["max"] = float(np.min(a)), float(np.max(a))
    if a.nbytes <= WHOLE_ARRAY_BYTES or a.ndim == 0:
        return a, summary
    rows = np.unique(np.linspace(0, len(a) - 1, SAMPLE_ROWS).astype(np.int64))
    summary["rows"] = rows.tolist()
    return a[rows], summary


def export_namespace(
    namespace: dict[str, Any],
    out_dir: str | Path,
    variables: tuple[str, ...] | list[str] = (),
    arrays: tuple[str, ...] | list[str] = (),
    workdir: str | Path = ".",
    models: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Write model.keras, the history, plain variables, arrays and the student's saved files;
    and each of `models` found in the namespace to MODELS_DIR/<name>.keras."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"model_variable": None, "model_error": None}

    name, model = find_model(namespace)
    report["model_variable"] = name
    if model is not None:
        import keras

        try:
            keras.saving.save_model(model, out / MODEL_FILE)
        except Exception as exc:  # the student's model may not be buildable or savable
            report["model_error"] = f"{type(exc).__name__}: {exc}"[:2000]
        report["history"] = _history(namespace, model)
        # Saving to .h5 drops the optimizer from Keras's compile config; keep its name here.
        optimizer = getattr(model, "optimizer", None)
        report["optimizer"] = type(optimizer).__name__ if optimizer is not None else None
    if models:
        (out / MODELS_DIR).mkdir(exist_ok=True)
        report["models"] = {m: _model_export(namespace[m], out / MODELS_DIR / f"{m}.keras")
                            for m in models if m in namespace}
    report["variables"] = {v: _plain(namespace.get(v)) for v in variables if v in namespace}
    if non_finite := [v for v in variables if _non_finite(namespace.get(v))]:
        report["non_finite"] = non_finite
    report["array_summaries"] = {
        v: s for v in variables if (s := _array_summary(namespace.get(v))) is not None
    }

    kept: dict[str, np.ndarray] = {}
    summaries: dict[str, dict[str, Any]] = {}
    for a in arrays:
        value = namespace.get(a)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            kept[a], summaries[a] = _array_export(value)
    if kept:
        np.savez(out / ARRAYS_FILE, **kept)
    report["arrays"] = summaries

    saved = []
    for path in sorted(Path(workdir).iterdir()):
        if path.suffix not in (".keras", ".h5") or not path.is_file():
            continue
        entry: dict[str, Any] = {"name": path.name, "bytes": path.stat().st_size}
        if entry["bytes"] <= MAX_SAVED_BYTES:
            (out / SAVED_DIR).mkdir(exist_ok=True)
            shutil.copyfile(path, out / SAVED_DIR / path.name)
        saved.append(entry)
    report["saved_files"] = saved
    (out / EXPORT_FILE).write_text(json.dumps(report))
    return report
