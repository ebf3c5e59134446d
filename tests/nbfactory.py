"""Student notebooks for the tests, written the way real students write them.

Each variant is the correct notebook with one deliberate change, so a test can say
exactly which check must fail and why.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

IMPORTS = """\
import numpy as np
import keras
from keras.models import Sequential
from keras.layers import Dense, Flatten"""

PREPARE = """\
(train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()
img_rows, img_cols = 28, 28
num_classes = 10
train_images = train_images.reshape(train_images.shape[0], img_rows, img_cols, 1)
test_images = test_images.reshape(test_images.shape[0], img_rows, img_cols, 1)
input_shape = (img_rows, img_cols, 1)
train_images = train_images.astype('float32') / 255
test_images = test_images.astype('float32') / 255
train_labels = keras.utils.to_categorical(train_labels, num_classes)
test_labels = keras.utils.to_categorical(test_labels, num_classes)"""

MODEL = """\
epochs = 10
model = Sequential()
model.add(keras.Input(shape=input_shape))
model.add(Flatten())
model.add(Dense(16, activation='relu'))
model.add(Dense(10, activation='softmax'))
model.summary()"""

COMPILE = "model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])"
FIT = "history = model.fit(train_images, train_labels, epochs=epochs, shuffle=True, verbose=0)"
EVALUATE = """\
test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
print('Test accuracy:', test_acc)"""
SAVE = "model.save('my_model.keras')"

CONNECTED = [IMPORTS, PREPARE, MODEL, COMPILE, FIT, EVALUATE, SAVE]


def notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def variant(replacements: dict[str, str] | None = None, extra: dict[int, str] | None = None,
            base: list[str] = CONNECTED) -> nbformat.NotebookNode:
    """The correct notebook with text replaced and cells inserted (before index)."""
    cells = list(base)
    for old, new in (replacements or {}).items():
        hits = [i for i, c in enumerate(cells) if old in c]
        assert hits, f"{old!r} is in no cell"
        for i in hits:
            cells[i] = cells[i].replace(old, new)
    for index, code in sorted((extra or {}).items(), reverse=True):
        cells.insert(index, code)
    return notebook(cells)


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
