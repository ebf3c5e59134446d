"""Every check of every submission is one test: it passes when the check earns its points."""


def test_check(graded):
    result, check = graded
    if check is None:  # the notebook could not be graded at all
        raise AssertionError(f"{result.notebook}: {result.reason}")
    prefix = f"{result.status}: {result.reason}\n" if result.status == "error" else ""
    assert check.passed, f"{prefix}{check.text()}  [{check.points:g}/{check.max_points:g}]"
