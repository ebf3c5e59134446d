"""Each check of 03-fashion-classifier, passing and failing, on facts edited from a real run
(the reference solution on full Fashion-MNIST: 55,000 train / 5,000 validation images)."""

from __future__ import annotations

from recorded import check, facts

AID = "03-fashion-classifier"
BAR = 0.85  # assignments: fashion-mnist's minimum validation accuracy
ANKLE_BOOT, SNEAKER = 9, 7


def test_architecture() -> None:
    f = facts(AID)
    r = check(AID, "architecture", f)
    assert r.passed and r.message.startswith(
        "Architecture as expected: 266,610 parameters (expected 266,610).")
    f["model"]["layers"][1].update(output_shape=[None, 200], params=157000, units=200)
    f["model"]["layers"][2]["params"] = 20100
    f["model"]["params"] = 178120
    r = check(AID, "architecture", f)
    assert not r.passed and r.points == 0 and r.max_points == 3
    assert "178,120 parameters (expected 266,610)" in r.message
    assert "Dense (None, 300) 235,500, relu  |  Dense (None, 200) 157,000, relu  [WRONG]" in (
        r.message)
    assert "a Dense layer has 200 units where 300 are expected (Dense(300))" in r.hint


def test_activations() -> None:
    f = facts(AID)
    assert check(AID, "activations", f).message == "Dense activations: relu, relu, softmax."
    f["model"]["layers"][2]["activation"] = "tanh"
    r = check(AID, "activations", f)
    assert not r.passed
    assert r.message == ("Activations expected: relu (found relu), relu (found tanh), softmax "
                         "(found softmax).")
    assert r.hint == "hidden Dense layers should use activation='relu'"


def test_compile_settings_accept_either_probability_loss_and_any_optimizer() -> None:
    f = facts(AID)
    r = check(AID, "compile_settings", f)
    assert r.passed and r.message.startswith(
        "Compiled with loss='sparse_categorical_crossentropy', optimizer='sgd'")
    f["model"].update(loss="categorical_crossentropy", optimizer="adam")
    assert check(AID, "compile_settings", f).passed
    f["model"]["loss"] = "mean_squared_error"
    r = check(AID, "compile_settings", f)
    assert not r.passed and r.max_points == 1
    assert ("loss is 'mean_squared_error', expected 'sparse_categorical_crossentropy' or "
            "'categorical_crossentropy'") in r.message


def test_validation_accuracy_threshold() -> None:
    f = facts(AID)
    assert check(AID, "validation_accuracy", f).message.startswith(
        "validation accuracy 0.")
    f["evaluation"]["validation_accuracy"] = BAR
    assert check(AID, "validation_accuracy", f).passed
    f["evaluation"]["validation_accuracy"] = BAR - 0.001
    r = check(AID, "validation_accuracy", f)
    assert not r.passed and r.points == 0
    assert r.message == ("validation accuracy 0.849 on fashion-mnist "
                         "(needed: 0.85; the reference solution reaches 0.892).")
    assert r.hint == "train for the number of epochs asked and keep the architecture as specified"


def test_probabilities() -> None:
    f = facts(AID)
    assert check(AID, "probabilities", f).message == (
        "y_proba holds 3 rows of 10 probabilities summing to 1.")
    f["arrays"]["y_proba"].update(shape=[3], rows_sum_to_one=False)
    r = check(AID, "probabilities", f)
    assert not r.passed
    assert r.message.startswith("y_proba has shape (3,) and rows summing to ")
    assert r.message.endswith("expected (3, 10) rows that each sum to 1.")
    del f["arrays"]["y_proba"]
    r = check(AID, "probabilities", f)
    assert r.message == "y_proba is not an array of class probabilities."
    assert r.hint == "y_proba = model.predict(X_new) with X_new = X_test[:3]"
    f = facts(AID)
    f["evaluation"].update(all_rows_sum_to_one=False, first_row_sums=[3.5, 1.2, 0.4])
    r = check(AID, "probabilities", f)
    assert r.message == ("Your model's outputs do not sum to 1 per image (first rows: "
                         "[3.5, 1.2, 0.4]).")
    assert r.hint == "use activation='softmax' on the output layer"


def test_first_prediction() -> None:
    f = facts(AID)
    r = check(AID, "first_prediction", f)
    assert r.passed and r.message.startswith(
        "The first test image is predicted as Ankle boot (class 9, ")
    f["evaluation"]["first_predicted"][0] = SNEAKER
    f["evaluation"]["first_probabilities"][0][SNEAKER] = 0.6
    r = check(AID, "first_prediction", f)
    assert not r.passed
    assert r.message == ("The first test image is an ankle boot (class 9); your model predicts "
                         "Sneaker (class 7, 60%).")
    f["evaluation"] = {"error": "ValueError: bad input"}
    assert check(AID, "first_prediction", f).message == (
        "The grader could not run your model: ValueError: bad input")
