"""Step checks of 04-improving-your-network: record(), then one step per experiment.

Quick: no step trains. The `record` step evaluates a small untrained network once.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
from typing import Any

from kerasgrade.course.assignments import Assignment, ModelSpec
from kerasgrade.steps.framework import Namespace, Step, StepFailure, array, need
from kerasgrade.steps.model import activation_of, check_layers, compiled, layer_text

CHECK_ROW = "_check"  # the row the record step writes, in a results table of its own


def _model(ns: Namespace, m: ModelSpec) -> Any:
    import keras

    model = need(ns, m.name)
    if not isinstance(model, keras.Model):
        raise StepFailure(f"a Keras model in `{m.name}`", f"a {type(model).__name__}",
                          f"build it with `{m.name} = Sequential([...])`.")
    return model


def _trained_epochs(model: Any) -> int:
    """Epochs trained in all (every fit counts), from the optimizer's steps."""
    import keras

    history = getattr(model, "history", None)
    if not isinstance(history, keras.callbacks.History) or not history.epoch:
        return 0
    per_epoch = history.params.get("steps")
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    return steps // per_epoch if per_epoch else len(history.epoch)


def _row(ns: Namespace, spec: Assignment, m: ModelSpec, model: Any, epochs: int) -> dict:
    results = need(ns, spec.table or "results")
    if not isinstance(results, dict):
        raise StepFailure("`results`: a dictionary, one row per experiment",
                          f"a {type(results).__name__}",
                          "keep `results = {}` from the table cell; record() stores "
                          "results[name] = {...}.")
    if m.row not in results:
        raise StepFailure(f'a row results["{m.row}"]', f"rows {list(results)}",
                          f'end the cell with record("{m.row}", {m.name}, EPOCHS, seconds).')
    row = results[m.row]
    if not isinstance(row, dict) or row.get("params") != model.count_params() or row.get(
            "epochs") != epochs:
        raise StepFailure(
            f'results["{m.row}"] with params {model.count_params():,} and epochs {epochs}',
            f"{row!r:.200}",
            f'record the model you trained: record("{m.row}", {m.name}, EPOCHS, seconds), '
            "with the epochs it was trained for.")
    return row


def _given(m: ModelSpec, ns: Namespace, spec: Assignment) -> str:
    """One of the lesson's given networks: its layers, compiled as 02's, trained, recorded."""
    model = _model(ns, m)
    check_layers(model, spec, len(m.layers), m.layers)
    if model.count_params() != m.total_params:
        raise StepFailure(f"{m.total_params:,} parameters in `{m.name}`",
                          f"{model.count_params():,}", "compare your layers with the lesson.")
    compiled({**ns, "model": model}, spec)
    trained = _trained_epochs(model)
    if trained != m.epochs:
        change = (f"train `{m.name}` for {m.epochs} epoch(s): write epochs={m.epochs} in its "
                  "fit" if m.epochs == 1 else f"pass epochs=epochs ({m.epochs}) to its fit")
        raise StepFailure(f"`{m.name}` trained for {m.epochs} epoch(s)",
                          f"{trained} epoch(s)",
                          change + "; run the cell that builds it again, once.")
    row = _row(ns, spec, m, model, m.epochs)
    acc = row.get("test_acc")
    shown = f"{acc:.4f}" if isinstance(acc, float | int) else repr(acc)
    return f"{m.name}: {m.total_params:,} parameters, {m.epochs} epoch(s), test accuracy {shown}"


def _record(ns: Namespace, spec: Assignment) -> str:
    import keras

    record = need(ns, "record")
    if not callable(record) or len(inspect.signature(record).parameters) != 4:
        raise StepFailure("a function record(name, model, epochs, seconds)",
                          f"{type(record).__name__}: {record!r:.80}",
                          "define it with `def record(name, model, epochs, seconds):`.")
    images, labels = array(ns, "test_images"), array(ns, "test_labels")
    probe = keras.Sequential([keras.Input(shape=images.shape[1:]), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    probe.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    table = spec.table or "results"
    saved, ns[table] = ns.get(table), {}
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its print of the probe's row
            record(CHECK_ROW, probe, 3, 1.5)
        written = ns[table]
    finally:
        ns[table] = saved  # the student's table as it was
    fields = list(spec.table_fields)
    if not isinstance(written, dict) or CHECK_ROW not in written:
        raise StepFailure(f'record("{CHECK_ROW}", ...) to store results["{CHECK_ROW}"]',
                          f"`results` afterwards: {written!r:.120}",
                          "store the row under its name: results[name] = {...}.")
    row = written[CHECK_ROW]
    if not isinstance(row, dict) or sorted(row) != sorted(fields):
        keys = ", ".join(map(str, row)) if isinstance(row, dict) else type(row).__name__
        raise StepFailure(f"a row with the keys {', '.join(fields)}", f"keys {keys}",
                          "use the key names of the table exactly.")
    loss, acc = probe.evaluate(images, labels, verbose=0)
    if (row["params"], row["epochs"], row["seconds"]) != (probe.count_params(), 3, 1.5):
        raise StepFailure("params = model.count_params(), epochs and seconds as passed",
                          f"params {row['params']!r}, epochs {row['epochs']!r}, seconds "
                          f"{row['seconds']!r}", "store the arguments as they are given.")
    if not all(isinstance(row[k], float | int) and math.isclose(row[k], v, abs_tol=1e-4)
               for k, v in (("test_acc", acc), ("test_loss", loss))):
        raise StepFailure(f"test_acc {acc:.4f} and test_loss {loss:.4f} (evaluate on the test "
                          "images)", f"test_acc {row['test_acc']!r}, test_loss "
                          f"{row['test_loss']!r}",
                          "evaluate on test_images, test_labels: `test_loss, test_acc = "
                          "model.evaluate(test_images, test_labels, verbose=0)`.")
    return f"record() stores {', '.join(fields)} under the experiment's name"


def _baseline(ns: Namespace, spec: Assignment) -> str:
    m = spec.model("baseline")
    epochs = need(ns, "epochs")
    if epochs != m.epochs:
        raise StepFailure(f"epochs = {m.epochs}", f"epochs = {epochs!r}",
                          f"write `epochs = {m.epochs}`.")
    return _given(m, ns, spec)


def _one_epoch(ns: Namespace, spec: Assignment) -> str:
    m = spec.model("one_epoch")
    other = spec.model(m.below or "")
    if ns.get(m.name) is ns.get(other.name) and m.name in ns:
        raise StepFailure(f"a new model in `{m.name}`", f"the same object as `{other.name}`",
                          f"build it again with `{m.name} = Sequential([...])`.")
    epochs = ns.get("epochs")
    if epochs != other.epochs:
        raise StepFailure(f"`epochs` still {other.epochs}", f"epochs = {epochs!r}",
                          "write the 1 into fit and record, and leave `epochs = "
                          f"{other.epochs}`; run the notebook again from the top.")
    return _given(m, ns, spec)


def _best(ns: Namespace, spec: Assignment) -> str:
    m = spec.model("best_model")
    model = _model(ns, m)
    params = model.count_params()
    if params > (m.max_params or 0):
        raise StepFailure(f"at most {m.max_params:,} parameters", f"{params:,}",
                          "use fewer neurons: one hidden Dense(128) has 101,770.")
    last = model.layers[-1] if model.layers else None
    if last is None or getattr(last, "units", None) != 10 or activation_of(last) != "softmax":
        raise StepFailure("the output layer Dense(10, activation='softmax')",
                          layer_text(last) if last is not None else "no layers",
                          "end with `Dense(10, activation='softmax')`: the loss expects "
                          "probabilities, and without softmax the network trains to chance.")
    trained = _trained_epochs(model)
    if not 0 < trained <= (m.max_epochs or 0):
        raise StepFailure(f"1 to {m.max_epochs} epochs of training", f"{trained}",
                          f"fit once with epochs=best_epochs (at most {m.max_epochs}).")
    _row(ns, spec, m, model, trained)
    return (f"{m.name}: {params:,} parameters, {trained} epoch(s); the grader measures its "
            "test accuracy against the bar")


STEPS: dict[str, Step] = {
    "record": _record,
    "baseline": _baseline,
    "two_layers": lambda ns, spec: _given(spec.model("two_layers"), ns, spec),
    "one_epoch": _one_epoch,
    "wide": lambda ns, spec: _given(spec.model("wide"), ns, spec),
    "narrow": lambda ns, spec: _given(spec.model("narrow"), ns, spec),
    "best": _best,
}
