"""The demo class that `scripts/grade.sh` grades on a new machine."""

from pathlib import Path

import nbformat

from kerasgrade.course import demo
from kerasgrade.course.assignments import ASSIGNMENTS, CONNECTED_NETWORKS

ROOT = Path(__file__).resolve().parents[2]


def test_build_class_writes_release_and_one_mistake_per_variant(tmp_path: Path) -> None:
    paths = demo.build_class(ROOT, tmp_path, CONNECTED_NETWORKS, students=6)
    assert (tmp_path / "assignments" / CONNECTED_NETWORKS / f"{CONNECTED_NETWORKS}.ipynb"
            ).exists()
    assert [p.parent.parent.name for p in paths] == [
        "student01-correct", "student02-dense32", "student03-no-softmax",
        "student04-five-epochs", "student05-not-saved", "student06-correct"]
    code = ["\n".join(c.source for c in nbformat.read(p, 4).cells if c.cell_type == "code")
            for p in paths]
    assert "NotImplementedError" not in code[0] and 'Dense(10, activation="softmax")' in code[0]
    assert "Dense(32," in code[1] and "Dense(16," not in code[1]
    assert "model.add(Dense(10))" in code[2]
    assert code[5] == code[0]


def test_every_mistake_names_the_checks_it_fails() -> None:
    assert {a: set(m) for a, m in demo.MISTAKES.items()} == {
        a: set(m) for a, m in demo.EXPECTED_FAILURES.items()}
    for aid, mistakes in demo.EXPECTED_FAILURES.items():
        names = {c.name for c in ASSIGNMENTS[aid].checks}
        assert all(set(failed) <= names for failed in mistakes.values()), aid
