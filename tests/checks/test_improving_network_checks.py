"""Each check of 04-improving-your-network, passing and failing, on facts edited from a real run
(the reference solution on the 5,000-digit sample: 4,000 train / 1,000 test digits)."""

from __future__ import annotations

import pytest
from recorded import check, facts, run

from kerasgrade.course import assignments
from kerasgrade.results import GraderFault

AID = assignments.IMPROVING_NETWORK


def test_the_solution_passes_with_the_measured_figures() -> None:
    results = run(AID, facts(AID))
    assert all(r.passed for r in results.values())
    assert results["baseline"].message == (
        "`model_baseline`: 12,730 parameters, trained for 10 epoch(s), test accuracy 0.9050 "
        "(measured by the grader).")
    assert "0.923 on mnist-sample-5k (needed: 0.915; the reference solution reaches 0.923)" in (
        results["best_model"].message)
    assert results["results_table"].message == "All 6 rows agree with the grader's measurements."


def test_a_missing_model_variable_names_it_and_its_experiment() -> None:
    f = facts(AID)
    del f["models"]["model_wide"]
    r = check(AID, "wide", f)
    assert not r.passed and r.points == 0
    assert r.message == ('No model named `model_wide` was found: run the cell of the experiment '
                         '"wide" (the variable must be named exactly `model_wide`).')
    # The table's row for it is not blamed on the table: the model's own check says why.
    assert check(AID, "results_table", f).passed


def test_a_variable_that_is_not_a_model() -> None:
    f = facts(AID)
    f["models"]["model_narrow"] = {"type": "int", "loaded": False, "error": None, "id": None}
    r = check(AID, "narrow", f)
    assert "`model_narrow` is a int, not a Keras model" in r.message


def test_wrong_layer_uses_02s_table_with_the_variable_name() -> None:
    f = facts(AID)
    layer = f["models"]["model_narrow"]["layers"][1]
    layer.update(output_shape=[None, 8], params=6280, units=8)
    f["models"]["model_narrow"]["params"] = 6370
    r = check(AID, "narrow", f)
    assert r.message.startswith("`model_narrow`: The network differs from the one asked for: "
                                "6,370 parameters (expected 3,190).")
    assert "a Dense layer has 8 units where 4 are expected (Dense(4))" in r.hint


def test_fits_split_over_calls_count_whole() -> None:
    f = facts(AID)
    wide = f["models"]["model_wide"]
    wide["iterations"] = 2 * wide["steps_per_epoch"]  # fit(epochs=1) run twice
    r = check(AID, "wide", f)
    assert r.message == ("`model_wide` was trained for 2 epoch(s); expected 1, so that it "
                         "compares with the others trained for one epoch.")
    assert "write epochs=1 in the fit of `model_wide`" in r.hint


def test_one_epoch_aliased_to_the_baseline() -> None:
    # model_one_epoch = model_baseline, then fit(epochs=1): both names, one model, 11 epochs.
    f = facts(AID)
    baseline = f["models"]["model_baseline"]
    baseline.update(iterations=11 * baseline["steps_per_epoch"], history_epochs=1)
    f["models"]["model_one_epoch"] = dict(baseline)
    r = check(AID, "one_epoch", f)
    assert "`model_one_epoch` is the same model as `model_baseline`" in r.message
    assert "build a new network for `model_one_epoch` with Sequential([...])" in r.hint


def test_one_epoch_must_be_below_the_baseline_or_its_reference() -> None:
    f = facts(AID)
    f["models"]["model_one_epoch"]["test_accuracy"] = 0.91
    r = check(AID, "one_epoch", f)
    assert r.message == ("`model_one_epoch` reaches 0.9100 test accuracy after 1 epoch(s), not "
                         "below `model_baseline` (10 epochs): 0.9050.")
    del f["models"]["model_baseline"]  # then the reference ten-epoch network of the source
    f["models"]["model_one_epoch"]["test_accuracy"] = 0.904
    assert check(AID, "one_epoch", f).passed
    f["models"]["model_one_epoch"]["test_accuracy"] = 0.906
    assert "not below the reference 10-epoch network on mnist-sample-5k: 0.9050" in check(
        AID, "one_epoch", f).message


def test_a_data_source_without_a_reference_is_the_graders_fault() -> None:
    f = facts(AID)
    del f["models"]["model_baseline"]
    f["data_source"] = "mnist-elsewhere"
    with pytest.raises(GraderFault):
        check(AID, "one_epoch", f)
    with pytest.raises(GraderFault):
        check(AID, "best_model", f)


@pytest.mark.parametrize(("edit", "fragments"), [
    ({"params": 407_050}, ("`model_best` has 407,050 parameters; the budget is 110,000.",
                           "Dense(128) has 101,770")),
    ({"iterations": 1250}, ("`model_best` was trained for 10 epochs; at most 5",
                            "best_epochs = 5 or fewer")),
    ({"iterations": 0, "history_epochs": 0}, ("`model_best` was never trained.",)),
    ({"test_accuracy": 0.91}, ("0.910 on mnist-sample-5k (needed: 0.915;",
                               "train for the number of epochs asked")),
])
def test_best_model_rules(edit: dict, fragments: tuple[str, ...]) -> None:
    f = facts(AID)
    f["models"]["model_best"].update(edit)
    r = check(AID, "best_model", f)
    assert not r.passed and r.points == 0
    for fragment in fragments:
        assert fragment in r.text(), r.text()


def test_best_model_output_layer_without_softmax() -> None:
    f = facts(AID)
    f["models"]["model_best"]["layers"][-1]["activation"] = "linear"
    r = check(AID, "best_model", f)
    assert r.message.startswith("The output layer of `model_best` is Dense(10) with activation "
                                "'linear'; expected Dense(10, activation='softmax')")


@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda t: t.pop("narrow"), ("has the rows baseline, two_layers, one_epoch, wide, best; "
                                 "missing: narrow.",)),
    (lambda t: t.update(baseline={"accuracy": 0.9, "loss": 0.3}),
     ('row "baseline" has the keys accuracy, loss; expected params, epochs, test_acc, '
      "test_loss, seconds", "use the key names of the table exactly")),
    (lambda t: t["wide"].update(test_acc=0.95),
     ('row "wide": test_acc 0.9500, but the grader measures 0.8720 on the test images',
      "evaluate test_images, test_labels (not the training images)")),
    (lambda t: t["wide"].update(test_loss=0.2),
     ('row "wide": test_loss 0.2000, but the grader measures 0.3752',)),
    (lambda t: t["one_epoch"].update(epochs=10),
     ('row "one_epoch" says 10 epoch(s); its model was trained for 1',)),
    (lambda t: t["best"].update(params=12_730),
     ('row "best": params 12,730, but its model has 101,770',)),
    (lambda t: t["narrow"].update(seconds=None),
     ('row "narrow": seconds is not a number (None)',)),
    (lambda t: t["narrow"].update(seconds=0.0), ('row "narrow": seconds is 0',
                                                 "time.perf_counter()")),
])
def test_results_table_names_the_first_disagreeing_row(edit, fragments: tuple[str, ...]) -> None:
    f = facts(AID)
    edit(f["export"]["variables"]["results"])
    r = check(AID, "results_table", f)
    assert not r.passed and r.hint
    for fragment in fragments:
        assert fragment in r.text(), r.text()


def test_a_row_whose_loss_is_nan_agrees_with_a_model_whose_training_diverged() -> None:
    """Without softmax the training can diverge (full MNIST): evaluate() returns a loss of nan,
    which the export writes as None. The grader's measure of that model is no number either:
    the row agrees, and the model's own check names the missing softmax."""
    f = facts(AID)
    f["export"]["variables"]["results"]["best"]["test_loss"] = None
    assert "row \"best\": test_loss is not a number (None)" in check(
        AID, "results_table", f).message  # the grader measured a loss: the row must hold it
    f["models"]["model_best"]["test_loss"] = None
    assert check(AID, "results_table", f).passed
    f["export"]["variables"]["results"]["best"]["test_loss"] = "nan"
    assert "test_loss is not a number ('nan')" in check(AID, "results_table", f).message


def test_results_table_that_is_not_a_dict() -> None:
    f = facts(AID)
    f["export"]["variables"]["results"] = [1, 2]
    assert "found `results` is [1, 2]" in check(AID, "results_table", f).message
    del f["export"]["variables"]["results"]
    assert "found no variable `results`" in check(AID, "results_table", f).message


def test_manual_answers_are_not_autograded() -> None:
    spec = assignments.get(AID)
    assert (spec.max_score, spec.manual_score) == (12, 5)
    assert {c.name for c in spec.manual} == {"answer_second_layer", "answer_wide_cost",
                                            "answer_best_model"}
    assert not {c.name for c in spec.manual} & {c.name for c in spec.checks}
