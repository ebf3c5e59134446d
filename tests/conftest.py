"""The project's tests: this folder holds helpers (nbfactory, coursefiles, lab_server) that the
tests in its subfolders import; pytest puts a conftest's folder on sys.path.

`--full-data DIR` names a folder `kerasgrade data fetch` filled: the tests that grade on full
MNIST and Fashion-MNIST (the `full_data` fixture) run on it, and skip without it; the others
train on the 5,000-digit sample.

`pytest -m "not slow"` is the contributor's loop: no kernel, no TensorFlow, no browser (see
pytest_sessionfinish).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kerasgrade import data


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full-data", metavar="DIR",
                     help="folder `kerasgrade data fetch --dest DIR` filled, for the tests "
                          "that grade on full MNIST and Fashion-MNIST")


@pytest.fixture(scope="session")
def full_data(pytestconfig: pytest.Config) -> Path:
    value = pytestconfig.getoption("full_data")
    if not value:
        pytest.skip("full data only: pass --full-data DIR (kerasgrade data fetch --dest DIR)")
    # From where pytest was started: a test may have changed the directory since.
    folder = (pytestconfig.invocation_params.dir / value).resolve()
    if not all((folder / "mnist" / f).is_file() for f in data.IDX_FILES):
        pytest.fail(f"--full-data {value}: full MNIST is not in {folder}/mnist "
                    "(kerasgrade data fetch --dest DIR fills it)")
    return folder


# The files that take two minutes or more on two cores (scripts/test.sh's --durations), longest
# first: none of them should start near the end.
LONGEST = ("test_full_data.py", "test_autograder.py", "test_hostile.py", "test_serve.py",
           "test_nbgrader_autograde.py", "test_warm.py", "test_build.py", "test_batch.py",
           "test_hostile_exchange.py", "test_lti_hub.py", "test_dispatch.py",
           "test_hub_browser.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the other slow ones: with --dist loadfile the short files
    fill in around the long ones, instead of one long file starting last. xdist keeps this order
    only with --no-loadscope-reorder (scripts/test.sh); by default it sorts the files by their
    number of tests."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> tuple[int, bool]:
        name = item.path.name
        return (LONGEST.index(name) if name in LONGEST else len(LONGEST), item.path not in slow)

    items.sort(key=rank)  # stable: the order within a file is kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """`pytest -m "not slow"`, the contributor's loop, fails if TensorFlow or Keras got imported
    into this process: importing them alone takes seconds, so the loop stays fast only while
    every test that needs them is marked slow (and collecting a file does not import them)."""
    if session.config.option.markexpr.split() != ["not", "slow"]:
        return
    imported = sorted({name.partition(".")[0] for name in sys.modules} & {"tensorflow", "keras"})
    if imported:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write("\n")  # after the progress line, before pytest's summary
            reporter.write_sep("=", f"-m \"not slow\" imported {' and '.join(imported)}: mark "
                                    "slow the test that needs it, import it inside", red=True)
        if session.exitstatus == pytest.ExitCode.OK:  # a worse status stays
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
