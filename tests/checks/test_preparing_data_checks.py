"""Each check of 01-preparing-data, passing and failing, on facts edited from a real run."""

from __future__ import annotations

from recorded import check, facts

AID = "01-preparing-data"


def test_image_shapes_pass_with_or_without_the_channel_axis() -> None:
    f = facts(AID)
    assert check(AID, "image_shapes", f).message == "Images have shape (4000, 28, 28, 1)."
    for name in ("train_images", "test_images"):
        f["arrays"][name]["shape"] = f["arrays"][name]["shape"][:3]
    r = check(AID, "image_shapes", f)
    assert r.passed and r.message == "Images have shape (4000, 28, 28)."


def test_image_shapes_fail_names_the_array_its_shape_and_the_reshape() -> None:
    f = facts(AID)
    f["arrays"]["train_images"]["shape"] = [4000, 784]
    r = check(AID, "image_shapes", f)
    assert (r.passed, r.points, r.max_points) == (False, 0.0, 2)
    assert r.message == "train_images has shape (4000, 784), expected (4000, 28, 28, 1)."
    assert "train_images.reshape(train_images.shape[0], img_rows, img_cols, 1)" in r.hint


def test_image_shapes_expect_the_row_count_of_the_data_served() -> None:
    f = facts(AID)
    f["data_sizes"] = {"train": 60000, "test": 10000}  # full MNIST, a sample's arrays
    r = check(AID, "image_shapes", f)
    assert not r.passed
    assert "train_images has shape (4000, 28, 28, 1), expected (60000, 28, 28, 1)" in r.message
    assert "test_images has shape (1000, 28, 28, 1), expected (10000, 28, 28, 1)" in r.message


def test_a_missing_array_fails_every_check_that_reads_it_and_says_why() -> None:
    f = facts(AID)
    del f["arrays"]["test_images"]
    for name in ("image_shapes", "image_dtype", "pixel_range"):
        r = check(AID, name, f)
        assert not r.passed and r.message == "test_images is not a NumPy array.", name
        assert "keep the names train_images, train_labels, test_images" in r.hint
    assert check(AID, "one_hot_labels", f).passed  # labels are there
    del f["arrays"]["train_images"]
    f["execution"]["reason"] = "the notebook stopped at cell 5"
    r = check(AID, "image_dtype", f)
    assert r.message == ("the notebook stopped at cell 5. train_images and test_images are not "
                         "a NumPy array.")


def test_image_dtype() -> None:
    f = facts(AID)
    assert check(AID, "image_dtype", f).message == "Images are float32."
    f["arrays"]["train_images"]["dtype"] = "float64"
    r = check(AID, "image_dtype", f)
    assert not r.passed
    assert r.message == "Expected float32 images: train_images is float64, test_images is float32."
    assert "train_images.astype('float32')" in r.hint


def test_pixel_range() -> None:
    f = facts(AID)
    r = check(AID, "pixel_range", f)
    assert r.passed
    assert r.message == ("Pixels lie in [0, 1]: train_images spans 0..1, test_images spans 0..1.")
    for name in ("train_images", "test_images"):  # divided by 255 twice
        f["arrays"][name]["max"] = 1 / 255
    r = check(AID, "pixel_range", f)
    assert not r.passed
    assert r.message == ("Expected pixels in [0, 1]: train_images spans 0..0.00392157, "
                         "test_images spans 0..0.00392157.")
    assert r.hint == "divide by 255 exactly once; the brightest pixel should become 1.0"
    f["arrays"]["train_images"].update(min=-1.0, max=1.0)  # scaled to [-1, 1]
    assert not check(AID, "pixel_range", f).passed


def test_one_hot_labels_fail_for_each_way_labels_go_wrong() -> None:
    f = facts(AID)
    r = check(AID, "one_hot_labels", f)
    assert r.passed and r.message == "Labels are one-hot rows of 10 that match the digits."
    wrong = {
        "shape": ({"shape": [4000]}, "train_labels has shape (4000,), expected (4000, 10)."),
        "one_hot": ({"one_hot": False},
                    "train_labels rows are not one-hot (a single 1 and nine 0s)."),
        "order": ({"agrees_with_labels": False},
                  "train_labels does not match the original labels in order."),
    }
    for what, (edit, message) in wrong.items():
        f = facts(AID)
        f["arrays"]["train_labels"].update(edit)
        r = check(AID, "one_hot_labels", f)
        assert (r.passed, r.points, r.message) == (False, 0.0, message), what
        assert "keras.utils.to_categorical(train_labels, num_classes) once" in r.hint


def test_input_shape() -> None:
    f = facts(AID)
    assert check(AID, "input_shape", f).message == "input_shape is (28, 28, 1)."
    f["export"]["variables"]["input_shape"] = [784]
    r = check(AID, "input_shape", f)
    assert not r.passed and r.message == "input_shape is (784,), expected (28, 28, 1)."
    assert r.hint == "one image is 28 rows by 28 columns with 1 colour channel"
    f["export"]["variables"]["input_shape"] = None
    r = check(AID, "input_shape", f)
    assert r.message == "input_shape is not set to a tuple of ints."
    assert r.hint == "set input_shape = (img_rows, img_cols, 1)"


def test_input_shape_must_be_the_shape_of_one_image() -> None:
    f = facts(AID)
    f["arrays"]["train_images"]["shape"] = [4000, 28, 28]
    r = check(AID, "input_shape", f)
    assert not r.passed
    assert r.message == "input_shape is (28, 28, 1) but one image has shape (28, 28)."
    f["export"]["variables"]["input_shape"] = [28, 28]
    assert check(AID, "input_shape", f).passed
