"""Each check of 02-connected-networks, passing and failing, on facts edited from a real run
(the reference solution on the 5,000-digit sample: 4,000 train / 1,000 test digits)."""

from __future__ import annotations

import pytest
from recorded import check, facts

from kerasgrade.results import GraderFault

AID = "02-connected-networks"
SAMPLE_BAR = 0.85  # assignments: mnist-sample-5k's minimum test accuracy
FULL_BAR = 0.90  # and full MNIST's


def test_epochs() -> None:
    f = facts(AID)
    assert check(AID, "epochs", f).message == (
        "epochs = 10, and the model's history has 10 epochs.")
    f["export"]["variables"]["epochs"] = 5
    r = check(AID, "epochs", f)
    assert (r.passed, r.message, r.hint) == (False, "epochs is 5, expected 10.",
                                             "set epochs = 10")


def test_epochs_set_but_not_passed_to_fit() -> None:
    f = facts(AID)
    f["export"]["history"] = {k: v[:5] for k, v in f["export"]["history"].items()}
    r = check(AID, "epochs", f)
    assert not r.passed
    assert r.message == "epochs = 10, but the model was trained for 5 epochs."
    assert "model.fit(train_images, train_labels, epochs=epochs" in r.hint
    f["export"]["history"] = None  # never trained
    assert check(AID, "epochs", f).message == (
        "epochs = 10, but the model was trained for 0 epochs.")


def test_architecture_pass_shows_the_table() -> None:
    r = check(AID, "architecture", facts(AID))
    assert r.passed and r.points == 3
    assert r.message.startswith("Architecture as expected: 12,730 parameters (expected 12,730).")
    assert "Dense (None, 16) 12,560, relu  |  Dense (None, 16) 12,560, relu  [ok]" in r.message


def test_architecture_missing_hidden_layer() -> None:
    f = facts(AID)
    layers = f["model"]["layers"]
    del layers[1]
    layers[1]["params"] = 7850
    f["model"]["params"] = 7850
    r = check(AID, "architecture", f)
    assert not r.passed
    assert "7,850 parameters (expected 12,730)" in r.message
    assert "Dense (None, 16) 12,560, relu  |  -  [MISSING]" in r.message
    assert "Dense (None, 10) 170, softmax  |  Dense (None, 10) 7,850, softmax  [WRONG]" in r.message
    assert "a layer is missing (Dense); expected 3 layers, found 2" in r.hint


def test_architecture_extra_layer_and_no_flatten() -> None:
    f = facts(AID)
    layers = f["model"]["layers"]
    extra = dict(layers[1], name="dense_2", output_shape=[None, 16], params=272)
    layers.insert(2, extra)
    f["model"]["params"] += 272
    r = check(AID, "architecture", f)
    assert not r.passed and "|  Dense (None, 16) 272, relu  [EXTRA]" in r.message
    assert r.hint.startswith("there is an extra layer: expected 3 layers, found 4")
    f = facts(AID)
    f["model"]["layers"][0] = dict(f["model"]["layers"][1])  # Dense first, no Flatten
    r = check(AID, "architecture", f)
    assert "start with a Flatten layer that turns each 28x28 image into 784 numbers" in r.hint


def test_architecture_wrong_input_shape_is_named() -> None:
    f = facts(AID)
    f["model"]["input_shape"] = [None, 32, 32, 3]
    f["model"]["layers"][0]["output_shape"] = [None, 3072]
    r = check(AID, "architecture", f)
    assert not r.passed
    assert "Flatten (None, 784) 0          |  Flatten (None, 3072) 0  [WRONG]" in r.message
    assert "the model reads (32, 32, 3), but expected a model that reads images of shape " \
        "(28, 28) or (28, 28, 1)" in r.hint


@pytest.mark.parametrize("name", ["architecture", "activations", "compile_settings",
                                  "test_accuracy", "saved_model"])
def test_no_model_is_explained_by_every_model_check(name: str) -> None:
    f = facts(AID)
    f["model"] = {"loaded": False, "error": None}
    f["export"]["model_variable"] = None
    f["saved"] = []
    r = check(AID, name, f)
    assert not r.passed and r.points == 0
    assert r.message.startswith("no Keras model was found: the notebook must leave the network "
                                "in a variable named `model`"), r.message


def test_a_model_the_grader_cannot_load_or_a_stopped_run_is_the_message() -> None:
    f = facts(AID)
    f["model"] = {"loaded": False, "error": "Unknown layer: 'MyDense'"}
    r = check(AID, "architecture", f)
    assert r.message == "the grader could not load your model: Unknown layer: 'MyDense'"
    f["execution"]["reason"] = "the notebook ran out of time (900 s)"
    assert check(AID, "activations", f).message == "the notebook ran out of time (900 s)"
    f = facts(AID)
    f["model"] = {"loaded": False, "error": None}
    assert check(AID, "compile_settings", f).message == (
        "no model was produced: run every cell from top to bottom without errors")


def test_activations() -> None:
    f = facts(AID)
    assert check(AID, "activations", f).message == "Dense activations: relu, softmax."
    f["model"]["layers"][1]["activation"] = "sigmoid"
    r = check(AID, "activations", f)
    assert not r.passed
    assert r.message == "Activations expected: relu (found sigmoid), softmax (found softmax)."
    assert r.hint == "hidden Dense layers should use activation='relu'"


def test_compile_settings() -> None:
    f = facts(AID)
    assert check(AID, "compile_settings", f).message == (
        "Compiled with loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'].")
    f["model"].update(loss="mean_squared_error", optimizer="sgd", metrics=[])
    r = check(AID, "compile_settings", f)
    assert not r.passed
    assert r.message == (
        "Compiled with loss='mean_squared_error', optimizer='sgd', metrics=[]: loss is "
        "'mean_squared_error', expected 'categorical_crossentropy'; optimizer is 'sgd', "
        "expected 'adam'; metrics are [], expected ['accuracy'].")
    assert r.hint == "pass these arguments to model.compile()"
    f["model"]["compiled"] = False
    r = check(AID, "compile_settings", f)
    assert r.message == "The model was never compiled."
    assert r.hint == ("call model.compile(loss='categorical_crossentropy', optimizer='adam', "
                      "metrics=['accuracy'])")


@pytest.mark.parametrize("source,bar", [("mnist-sample-5k", SAMPLE_BAR), ("mnist", FULL_BAR)])
def test_test_accuracy_threshold_per_data_source(source: str, bar: float) -> None:
    f = facts(AID)
    f["data_source"] = source
    f["evaluation"]["test_accuracy"] = bar
    r = check(AID, "test_accuracy", f)
    assert r.passed, r.message
    assert f"on {source} (needed: {bar:.2f};" in r.message
    f["evaluation"]["test_accuracy"] = bar - 0.001
    r = check(AID, "test_accuracy", f)
    assert not r.passed and r.points == 0
    assert r.message.startswith(f"test accuracy {bar - 0.001:.3f} on "
                                f"{source} (needed: {bar:.2f}; the reference solution reaches")
    # Trained, scaled, softmax and above chance: the generic advice.
    assert r.hint == "train for the number of epochs asked and keep the architecture as specified"


def test_test_accuracy_on_a_data_source_without_a_threshold() -> None:
    # A grader set-up problem (no bar for the data served) is the grader's fault: never a
    # student's zero with the advice to re-run their cells.
    f = facts(AID)
    f["data_source"] = "fashion-mnist"
    with pytest.raises(GraderFault, match="no accuracy threshold for the data source served, "
                       "'fashion-mnist'") as raised:
        check(AID, "test_accuracy", f)
    assert raised.value.stage == "data"


def test_test_accuracy_diagnoses_the_usual_mistakes() -> None:
    f = facts(AID)
    f["evaluation"].update(test_accuracy=0.31, test_accuracy_unscaled=0.80)
    assert check(AID, "test_accuracy", f).hint.startswith(
        "your model does much better on raw pixels 0..255 (0.800) than on pixels scaled to "
        "[0, 1]: it was trained without dividing by 255.")
    f["evaluation"].update(test_accuracy=0.11, test_accuracy_unscaled=0.11)
    assert check(AID, "test_accuracy", f).hint == (
        "the model is at chance level: check the labels, the loss and the output layer")
    f["model"]["loss"] = None  # a loss the grader could not name: still a diagnosis
    assert check(AID, "test_accuracy", f).hint == (
        "the model is at chance level: check the labels, the loss and the output layer")
    f["model"]["loss"] = "categorical_crossentropy"
    f["export"]["history"] = {}
    assert check(AID, "test_accuracy", f).hint.startswith("the model was never trained: call "
                                                          "model.fit(")
    f["model"]["layers"][-1]["activation"] = "linear"
    f["export"]["history"] = {"loss": [2.3] * 10}
    assert check(AID, "test_accuracy", f).hint.startswith(
        "the output layer has activation 'linear' but loss='categorical_crossentropy' expects "
        "probabilities, so training goes nowhere (chance is 10%).")


def test_test_accuracy_names_integer_labels_from_the_failed_fit() -> None:
    f = facts(AID)
    f["evaluation"]["test_accuracy"] = 0.09
    f["export"]["history"] = None
    f["export"]["array_summaries"]["train_labels"]["shape"] = [4000]
    f["export"]["array_summaries"]["test_labels"]["shape"] = [1000]
    f["execution"]["errors"] = [{
        "cell": 14, "ename": "ValueError", "source": "model.fit(train_images, train_labels, "
        "epochs=epochs, shuffle=True)",
        "evalue": "Arguments `target` and `output` must have the same rank (ndim)."}]
    r = check(AID, "test_accuracy", f)
    assert r.hint.startswith("training failed because the labels are integers (one number per "
                             "image) while loss='categorical_crossentropy' expects one-hot rows")
    assert "keras.utils.to_categorical(train_labels, 10)" in r.hint


def test_test_accuracy_when_the_grader_could_not_evaluate() -> None:
    f = facts(AID)
    f["evaluation"] = {"error": "Input 0 of layer 'dense' is incompatible"}
    r = check(AID, "test_accuracy", f)
    assert not r.passed and r.message == (
        "The grader could not evaluate your model: Input 0 of layer 'dense' is incompatible")


def test_test_evaluation() -> None:
    f = facts(AID)
    assert check(AID, "test_evaluation", f).message == (
        "test_acc 0.9050 matches the grader's measurement.")
    f["export"]["variables"]["test_acc"] = 0.99
    r = check(AID, "test_evaluation", f)
    assert not r.passed
    assert r.message == "test_acc is 0.9900, but your model's test accuracy is 0.9050."
    f["export"]["variables"]["test_acc"] = None
    r = check(AID, "test_evaluation", f)
    assert r.message == "test_loss and test_acc are not both numbers."
    assert r.hint == "test_loss, test_acc = model.evaluate(test_images, test_labels)"
    # Training that diverged: evaluate() returned a loss of nan, which the export names.
    f = facts(AID)
    f["export"]["variables"]["test_loss"] = None
    assert not check(AID, "test_evaluation", f).passed
    f["export"]["non_finite"] = ["test_loss"]
    r = check(AID, "test_evaluation", f)
    assert r.passed and r.message == ("test_acc 0.9050 matches the grader's measurement "
                                      "(test_loss is nan: the training diverged).")
    f = facts(AID)
    f["evaluation"] = {}
    f["model"] = {"loaded": False, "error": "bad file"}
    assert check(AID, "test_evaluation", f).message == (
        "the grader could not load your model: bad file")


def test_saved_model() -> None:
    f = facts(AID)
    assert check(AID, "saved_model", f).message == (
        "my_model.keras loads and holds your trained model.")
    f["saved"][0]["matches"] = False
    r = check(AID, "saved_model", f)
    assert not r.passed
    assert r.message == "my_model.keras loads, but its weights differ from the model you trained."
    assert r.hint == "call model.save(...) after model.fit(...), as the last step"
    f["saved"][0].update(loads=False, error="not a zip file")
    r = check(AID, "saved_model", f)
    assert r.message == "my_model.keras could not be loaded: not a zip file"
    f["saved"] = []
    r = check(AID, "saved_model", f)
    assert r.message == "No saved model file (.keras or .h5) was found."
    assert r.hint == "save the trained model with model.save('my_model.keras')"


def test_facts_a_check_cannot_read_fail_that_check_only() -> None:
    f = facts(AID)
    del f["model"]["layers"][1]["type"]
    r = check(AID, "architecture", f)
    assert not r.passed
    assert r.message == "This check could not read your submission (KeyError: 'type')."
    assert r.hint == ("run every cell from top to bottom and keep the variable names the "
                      "assignment asks for")
    assert check(AID, "epochs", f).passed and check(AID, "saved_model", f).passed
