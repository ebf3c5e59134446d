"""The feedback page's plots: matplotlib figures from the facts, as sections of the page.

Drawn with matplotlib's object API (Figure, whose PNG output uses the Agg canvas): no pyplot, so
no GUI backend, no global figure registry to leak into, and nothing to close. A plot whose facts
are missing becomes a sentence saying why.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import warnings

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kerasgrade import artifacts, data
from kerasgrade.artifacts import EvaluationFacts, Facts
from kerasgrade.checks.common import model_problem
from kerasgrade.course.assignments import Assignment
from kerasgrade.keras_terms import CHANCE, rows_sum_to_one
from kerasgrade.report.sections import Section, figure, note

GRID_COLUMNS = 8  # misclassified images per row
MISTAKE_COLOR = "#b42318"
TRAIN_COLOR = "#0969da"
VALID_COLOR = "#bc4c00"


def worded(names: tuple[str, ...]) -> bool:
    """Class names rather than digits: they need room (slanted ticks, two-line labels)."""
    return max(len(n) for n in names) > 1


def png(fig: Figure) -> str:
    """The figure as a base64 PNG, for a data: URI (the page stays one file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def training(facts: Facts) -> Section:
    title = "Training curves"
    hist = artifacts.history(facts) or {}
    panels = _curve_metrics(hist)
    if not panels:
        return note(title, "No training history was recorded, so there are no curves: "
                    "model.fit(...) did not run to its end when the grader ran your notebook.")
    fig = Figure(figsize=(4.2 * len(panels), 3.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels):
        train = hist[key]
        epochs = range(1, len(train) + 1)
        ax.plot(epochs, train, "o-", color=TRAIN_COLOR, ms=3, label="training")
        if hist.get(f"val_{key}"):
            ax.plot(range(1, len(hist[f"val_{key}"]) + 1), hist[f"val_{key}"], "s--",
                    color=VALID_COLOR, ms=3, label="validation")
        if key != "loss":
            # The line a network that learns nothing sits on.
            ax.axhline(CHANCE, color="grey", ls=":", lw=1, label=f"chance ({CHANCE:.0%})")
            ax.set_ylim(0, 1)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    last = ", ".join(f"{k} {hist[k][-1]:.3f}" for k in panels + [f"val_{k}" for k in panels]
                     if hist.get(k))
    caption = f"Per epoch, as model.fit(...) reported it. After the last epoch: {last}."
    return figure(title, png(fig), "training curves", caption)


def _curve_metrics(hist: dict[str, list[float]]) -> list[str]:
    """The loss and the (first) accuracy metric that have at least one epoch."""
    train = [k for k, v in hist.items() if v and not k.startswith("val_")]
    return [k for k in train if k == "loss"] + [k for k in train if "acc" in k][:1]


def _evaluation(facts: Facts) -> tuple[EvaluationFacts, str | None]:
    """The grader's measurements on the test set, or why there are none."""
    problem = model_problem(facts)
    if problem:
        return {}, f"there is no model to test: {problem}"
    ev = facts.get("evaluation") or {}
    if ev.get("error"):
        return {}, f"the grader could not run your model on the test images: {ev['error']}"
    if not ev:
        return {}, "the grader recorded no test measurements"
    return ev, None


def confusion(facts: Facts, names: tuple[str, ...]) -> Section:
    title = "Confusion matrix on the test images"
    ev, problem = _evaluation(facts)
    if problem or not ev.get("confusion"):
        return note(title, f"No confusion matrix: {problem or 'it was not measured'}.")
    matrix = np.asarray(ev["confusion"])
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                    color="white" if n > threshold else "black")
    ticks = range(len(names))
    rotation, align = (45, "right") if worded(names) else (0, "center")
    ax.set_xticks(ticks, names, rotation=rotation, ha=align)
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted by your network")
    ax.set_ylabel("true class")
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    total, right = int(matrix.sum()), int(np.trace(matrix))
    caption = (f"Rows are the true classes, columns what your network answered: the diagonal "
               f"holds the {right:,} right answers of {total:,}.")
    if off.any():
        i, j = np.unravel_index(off.argmax(), off.shape)
        caption += (f" The most frequent mistake: {names[i]} taken for {names[j]} "
                    f"({off[i, j]} times).")
    return figure(title, png(fig), "confusion matrix", caption)


@functools.cache
def _test_set(dataset: str) -> data.Dataset | str:
    """The grader's test set, or why it cannot be loaded; once per process, as a batch
    writes a page per student and the loader may probe the network for full MNIST each time."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sample's warning was given at grading time
            return data.load(dataset)
    except data.DataUnavailable as exc:
        return f"the test images are not available here ({str(exc).splitlines()[0]})"


def _test_images(spec: Assignment, facts: Facts) -> tuple[np.ndarray, np.ndarray] | str:
    """(x_test, y_test) that the facts' indices refer to, or why they cannot be shown."""
    ds = _test_set(spec.dataset)
    if isinstance(ds, str):
        return ds
    if ds.source != facts.get("data_source"):
        # Indices into one data source would show the wrong images from another.
        return (f"the submission was graded on {facts.get('data_source')!r}, but this machine "
                f"has {ds.source!r}")
    return ds.x_test, ds.y_test


def mistakes(facts: Facts, names: tuple[str, ...], spec: Assignment) -> Section:
    title = "Test images your network got wrong"
    ev, problem = _evaluation(facts)
    if problem:
        return note(title, f"No examples: {problem}.")
    indices = ev.get("misclassified")
    if indices is None:
        return note(title, "No examples: the grader did not record the mistakes.")
    if not indices:
        return note(title, "Your network classified every test image correctly.")
    loaded = _test_images(spec, facts)
    if isinstance(loaded, str):
        return note(title, f"No examples: {loaded}.")
    x_test, y_test = loaded
    predicted = ev.get("misclassified_predicted") or []
    # Digits fit on one line above their image; class names need two.
    sep = "\n" if worded(names) else " "
    labels = [f"{names[y_test[i]]}{sep}→ {names[predicted[k]] if k < len(predicted) else '?'}"
              for k, i in enumerate(indices)]
    fig = _image_grid(x_test[indices], labels)
    confusion = ev.get("confusion")
    wrong = (f" ({int(np.sum(confusion) - np.trace(confusion)):,} mistakes in all)"
             if confusion else "")
    caption = (f"The first {len(indices)} test images your network classified wrongly{wrong}. "
               "Above each: the true class → your network's answer.")
    return figure(title, png(fig), "misclassified test images", caption)


def _image_grid(tiles: np.ndarray, labels: list[str]) -> Figure:
    """Images in rows of GRID_COLUMNS with a label above each, as one picture on one axes.

    One mosaic instead of one axes per image: two dozen axes cost a second of layout.
    """
    size = tiles.shape[1]
    lines = max(label.count("\n") + 1 for label in labels)
    label_room = 4 + 10 * lines  # in image pixels; a label line is 10 px at this scale
    cell_w, cell_h = size + 6, size + label_room
    rows = math.ceil(len(tiles) / GRID_COLUMNS)
    mosaic = np.zeros((rows * cell_h, GRID_COLUMNS * cell_w), dtype=tiles.dtype)
    fig = Figure(figsize=(GRID_COLUMNS * cell_w / 30, rows * cell_h / 30))
    ax = fig.add_axes((0, 0, 1, 1))
    for k, (tile, label) in enumerate(zip(tiles, labels)):
        top, left = (k // GRID_COLUMNS) * cell_h + label_room, (k % GRID_COLUMNS) * cell_w + 3
        mosaic[top:top + size, left:left + size] = tile
        ax.text(left + size / 2, top - 2, label, ha="center", va="bottom", fontsize=9,
                color=MISTAKE_COLOR, linespacing=1.0)
    ax.imshow(mosaic, cmap="gray_r", interpolation="nearest")
    ax.set_axis_off()
    return fig


def probabilities(facts: Facts, names: tuple[str, ...], spec: Assignment) -> Section:
    title = "What your network sees in the first test images"
    ev, problem = _evaluation(facts)
    probs = np.asarray(ev.get("first_probabilities") or [], dtype=float)
    if problem or probs.ndim != 2 or probs.shape[1] != len(names):
        return note(title, f"No probabilities: {problem or 'they were not measured'}.")
    loaded = _test_images(spec, facts)
    sums = probs.sum(axis=1)
    are_probabilities = rows_sum_to_one(probs)
    low, high = min(0.0, probs.min()), max(1.0, probs.max())
    # Ticks over the values only; the room to their right holds the answer's label.
    ticks = [t for t in MaxNLocator(5).tick_values(low, high) if low <= t <= high]
    fig = Figure(figsize=(8, 2.0 * len(probs)), layout="constrained")
    axes = fig.subplots(len(probs), 2, squeeze=False, width_ratios=(1, 4))
    for k, (image_ax, bar_ax) in enumerate(axes):
        image_ax.set_axis_off()
        best = int(probs[k].argmax())
        heading = f"test image {k}"
        if isinstance(loaded, tuple):
            image_ax.imshow(loaded[0][k], cmap="gray_r")
            heading += f": truly {names[loaded[1][k]]}"
        bar_ax.set_title(heading, fontsize=9, loc="left")
        colors = [TRAIN_COLOR if i == best else "#afb8c1" for i in range(len(names))]
        bar_ax.barh(range(len(names)), probs[k], color=colors)
        bar_ax.set_yticks(range(len(names)), names, fontsize=8)
        bar_ax.invert_yaxis()
        bar_ax.set_xlim(low, high + 0.3 * (high - low))
        bar_ax.set_xticks(ticks)
        value = f"{probs[k][best]:.0%}" if are_probabilities else f"{probs[k][best]:.2f}"
        bar_ax.text(probs[k][best], best, f" {names[best]} {value}",
                    va="center", fontsize=9, fontweight="bold")
        bar_ax.grid(axis="x", alpha=0.3)
    axes[-1][1].set_xlabel("probability" if are_probabilities else "output of model.predict")
    caption = ("model.predict on the first test images: one probability per class, the "
               "highest one is your network's answer.")
    if not are_probabilities:
        caption += (" These outputs are not probabilities (each row sums to "
                    f"{', '.join(f'{s:.2f}' for s in sums)} instead of 1): the last Dense layer "
                    "needs activation='softmax'.")
    if isinstance(loaded, str):
        caption += f" The images cannot be shown: {loaded}."
    return figure(title, png(fig), "class probabilities of the first test images", caption)
