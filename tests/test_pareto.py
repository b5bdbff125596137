"""Multi-objective search: objectives parsed and checked, Pareto dominance, and a real NSGA-II
search on digits that stores every objective, lists its front (``trials --pareto``), exports it
(``export --pareto``) as modules that load with their weights without nascompiler, and resumes
with the same proposals."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from helpers import SPACE, fresh_python, nascompile, trials
from nascompiler.config.settings import TrainingSettings, stored_training
from nascompiler.errors import UsageError
from nascompiler.kinds import Direction
from nascompiler.storage.pareto import dominates, hypervolume_2d, pareto_front
from nascompiler.storage.store import SCHEMA_VERSION

NSGA2 = ["--searcher", "nsga2"]
TWO = ["--objective", "val_accuracy:max", "--objective", "params:min"]


def small_generations(cwd: Path) -> Path:
    """digits_tiny with NSGA-II generations of 4, so that 10 trials breed from results."""
    space = cwd / "digits_tiny.py"
    space.write_text(
        SPACE.read_text() + '\nSEARCH = {"searcher_options": {"population_size": 4}}\n'
    )
    return space


# ---------------------------------------------------------------- dominance


def test_dominance_by_hand():
    d = ("max", "min")
    assert dominates((0.9, 100), (0.8, 200), d)
    assert dominates((0.9, 100), (0.9, 200), d)  # equal in one, better in the other
    assert not dominates((0.9, 100), (0.9, 100), d)  # equal points: neither dominates
    assert not dominates((0.9, 300), (0.8, 200), d)  # a trade-off
    points = [(0.9, 100), (0.95, 500), (0.8, 100), (0.95, 400), (0.7, 50), (0.7, 50)]
    # (0.8, 100) loses to (0.9, 100); (0.95, 500) to (0.95, 400); equal points both stay.
    assert pareto_front(points, d) == [0, 3, 4, 5]
    assert pareto_front([(0.9, float("nan")), (0.5, 10)], d) == [1]


@pytest.mark.parametrize("seed", range(5))
def test_front_against_brute_force(seed):
    rng = random.Random(seed)
    directions = tuple(rng.choice(("max", "min")) for _ in range(3))
    points = [tuple(rng.randint(0, 6) for _ in range(3)) for _ in range(60)]
    front = set(pareto_front(points, directions))
    for i, p in enumerate(points):
        beaten = any(dominates(q, p, directions) for q in points)
        assert (i in front) == (not beaten)
    assert front  # a finite set always has a non-dominated point


def test_hypervolume_2d():
    d = ("max", "min")
    # Two rectangles from the reference (0, 20): 0.9 x 10 and 0.8 x 15, overlapping in 0.8 x 10.
    assert hypervolume_2d([(0.9, 10.0), (0.8, 5.0)], d, (0.0, 20.0)) == pytest.approx(
        13.0
    )
    # A dominated point and a point behind the reference add nothing.
    assert hypervolume_2d(
        [(0.9, 10.0), (0.8, 5.0), (0.7, 12.0), (-1.0, 1.0)], d, (0.0, 20.0)
    ) == pytest.approx(13.0)
    assert hypervolume_2d([], d, (0.0, 20.0)) == 0.0


# ---------------------------------------------------------------- settings


def test_objectives_parse_and_round_trip():
    s = TrainingSettings.resolve(
        {}, objective=["val_accuracy", "params", "latency_ms:min"]
    )
    assert tuple(map(str, s.objectives)) == (
        "val_accuracy:max",
        "params:min",
        "latency_ms:min",
    )
    assert s.directions == (Direction.MAX, Direction.MIN, Direction.MIN)
    assert (s.objective, s.direction) == ("val_accuracy", "max")
    assert s.objective_names == ("val_accuracy", "params", "latency_ms")
    assert TrainingSettings.from_json(s.to_json()) == s
    # The stored settings of a multi-objective study resume as the same objectives.
    again = TrainingSettings.resolve(stored_training(s.to_json()))
    assert again == s
    # A single objective is stored as before objectives existed (old studies resume as is).
    single = TrainingSettings.resolve({}, objective=["val_loss"])
    assert "objectives" not in single.to_json() and single.direction == "min"
    assert not single.multi_objective


@pytest.mark.parametrize(
    "objective, direction, message",
    [
        (["params", "val_accuracy"], None, "'params' is a cost"),
        (["val_accuracy", "size"], None, "unknown objective 'size'"),
        (["val_accuracy", "params:smallest"], None, "must be 'max' or 'min'"),
        (["val_accuracy", "val_accuracy:min"], None, "given twice"),
        (
            ["val_accuracy", "params"],
            "max",
            "direction applies to a single objective",
        ),
        ("params", None, "'params' is a cost"),
    ],
)
def test_bad_objectives_are_named(objective, direction, message):
    with pytest.raises(UsageError, match=message):
        TrainingSettings.resolve({}, objective=objective, direction=direction)


@pytest.mark.slow
def test_cli_refuses_several_objectives_where_they_cannot_work(tmp_path):
    result = nascompile("search", str(SPACE), "--searcher", "tpe", *TWO, cwd=tmp_path)
    assert result.returncode == 2
    assert "searcher 'tpe' optimises a single objective, not 2" in result.stderr
    assert "Traceback" not in result.stderr
    result = nascompile(
        "search", str(SPACE), *NSGA2, *TWO, "--scheduler", "asha", "--max-epochs", "3",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "with several objectives use --scheduler full" in result.stderr
    assert not (tmp_path / "generated" / "digits_tiny" / "candidates").exists()


# ---------------------------------------------------------------- a real search


@pytest.fixture(scope="module")
def pareto_study(tmp_path_factory) -> Path:
    """NSGA-II on digits over accuracy and size, 10 trials, searched in two runs (6, then 10
    with no objective flags: the study's own are used)."""
    cwd = tmp_path_factory.mktemp("pareto")
    space = small_generations(cwd)
    first = nascompile(
        "search", str(space), *NSGA2, *TWO, "--max-trials", "6", "--seed", "3",
        cwd=cwd, timeout=900,
    )  # fmt: skip
    assert first.returncode == 0, first.stdout + first.stderr
    second = nascompile(
        "search", str(space), "--max-trials", "10", cwd=cwd, timeout=900
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Pareto front" in second.stdout and "export --pareto" in second.stdout
    return cwd


def _rows(cwd: Path) -> list[dict]:
    result = nascompile("trials", "--json", "--study", "generated/digits_tiny", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.slow
def test_every_objective_is_stored(pareto_study):
    rows = _rows(pareto_study)
    assert sum(r["status"] in ("complete", "failed") for r in rows) == 10
    complete = [r for r in rows if r["status"] == "complete"]
    assert len(complete) >= 3
    for r in complete:
        values = r["objective_values"]
        assert set(values) == {"val_accuracy", "params"}
        assert values["val_accuracy"] == r["objective"]
        assert values["params"] == r["params"]  # Keras' own count


@pytest.mark.slow
def test_trials_pareto_lists_exactly_the_non_dominated(pareto_study):
    rows = [r for r in _rows(pareto_study) if r["status"] == "complete"]
    points = [(r["objective"], r["params"]) for r in rows]
    expected = {rows[i]["number"] for i in pareto_front(points, ("max", "min"))}
    result = nascompile(
        "trials",
        "--pareto",
        "--json",
        "--study",
        "generated/digits_tiny",
        cwd=pareto_study,
    )
    front = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["number"] for r in front} == expected
    accuracies = [r["objective"] for r in front]
    assert accuracies == sorted(
        accuracies, reverse=True
    )  # place 1 is the most accurate
    table = nascompile(
        "trials", "--pareto", "--study", "generated/digits_tiny", cwd=pareto_study
    )
    assert (
        table.returncode == 0 and f"Pareto front ({len(expected)} trial" in table.stdout
    )
    assert "val_accuracy (max)" in table.stdout and "params (min)" in table.stdout


@pytest.mark.slow
def test_export_pareto_writes_loadable_modules(pareto_study, tmp_path):
    cwd = pareto_study
    out = tmp_path / "front"
    result = nascompile(
        "export",
        "--pareto",
        str(out),
        "--study",
        "generated/digits_tiny",
        cwd=cwd,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    index = json.loads((out / "pareto.json").read_text())
    members = index["front"]
    assert [m["place"] for m in members] == list(range(1, len(members) + 1))
    assert [o["name"] for o in index["objectives"]] == ["val_accuracy", "params"]
    for m in members:
        text = (out / m["module"]).read_text()
        assert f"pareto front: place {m['place']} of {len(members)}" in text
        assert f"trial #{m['trial']}, candidate {m['candidate_id']}" in text
        assert m["weights"] == f"pareto_{m['place']}.weights.h5"
    # In a fresh interpreter without nascompiler: each module builds, loads its weights and
    # has the parameter count the study recorded; the golden tests pass.
    program = """
        import json, sys
        sys.path.insert(0, ".")  # -I leaves the working folder off the path
        import keras
        index = json.load(open("pareto.json"))
        for m in index["front"]:
            module = __import__(m["module"][:-3])
            model = module.build_model()
            model.load_weights(m["weights"])
            assert model.count_params() == m["objectives"]["params"], m
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "."]))
    """
    checked = fresh_python(program, out, timeout=600)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"{3 * len(members)} passed" in checked.stdout
    )  # three checks per golden test


@pytest.mark.slow
def test_export_pareto_removes_an_earlier_larger_front(pareto_study, tmp_path):
    cwd = pareto_study
    out = tmp_path / "front"
    args = (
        "export",
        "--pareto",
        str(out),
        "--study",
        "generated/digits_tiny",
        "--no-test",
    )
    assert nascompile(*args, cwd=cwd).returncode == 0
    size = len(json.loads((out / "pareto.json").read_text())["front"])
    # A front of an earlier export, one place further than today's.
    stale = size + 1
    text = (out / "pareto_1.py").read_text().replace("pareto_1", f"pareto_{stale}")
    (out / f"pareto_{stale}.py").write_text(text)
    shutil.copyfile(out / "pareto_1.weights.h5", out / f"pareto_{stale}.weights.h5")
    (out / "notes.txt").write_text("mine")
    (out / "pareto_99.py").write_text("# not an export: left alone\n")
    result = nascompile(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert not (out / f"pareto_{stale}.py").exists()
    assert not (out / f"pareto_{stale}.weights.h5").exists()
    assert (out / "pareto_1.weights.h5").exists() and (out / "notes.txt").exists()
    assert (out / "pareto_99.py").exists()


@pytest.mark.slow
def test_resumed_search_proposes_as_an_uninterrupted_one(pareto_study, tmp_path):
    """The first fixture run stopped at 6 trials and resumed to 10 by replaying tuples of
    objectives into NSGA-II: the same proposals as one run of 10."""
    result = nascompile(
        "search", str(small_generations(tmp_path)), *NSGA2, *TWO, "--max-trials", "10",
        "--seed", "3", cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    resumed = trials(pareto_study / "generated" / "digits_tiny")
    straight = trials(tmp_path / "generated" / "digits_tiny")
    assert [r["assignment"] for r in resumed] == [r["assignment"] for r in straight]


@pytest.mark.slow
def test_resume_with_other_objectives_is_refused(pareto_study):
    result = nascompile(
        "search", str(pareto_study / "digits_tiny.py"), "--objective", "val_accuracy",
        "--max-trials", "11", cwd=pareto_study,
    )  # fmt: skip
    assert result.returncode == 2
    assert "was made with objectives=" in result.stderr
    assert "--study NAME" in result.stderr and "--fresh" in result.stderr
    assert len(trials(pareto_study / "generated" / "digits_tiny")) == len(
        _rows(pareto_study)
    )


@pytest.mark.slow
def test_latency_is_measured_after_training(tmp_path):
    result = nascompile(
        "search", str(SPACE), "--searcher", "random", "--objective", "val_accuracy",
        "--objective", "latency_ms", "--max-trials", "2", "--seed", "1", cwd=tmp_path,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [r for r in _rows(tmp_path) if r["status"] == "complete"]
    assert rows
    for r in rows:
        assert set(r["objective_values"]) == {"val_accuracy", "latency_ms"}
        assert 0 < r["objective_values"]["latency_ms"] < 10_000


@pytest.mark.slow
def test_single_objective_study_has_no_front_to_export(tmp_path):
    result = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "1",
        "--seed",
        "0",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    shown = nascompile(
        "trials", "--pareto", "--study", "generated/digits_tiny", cwd=tmp_path
    )
    assert shown.returncode == 0 and "its front is its best trial" in shown.stdout
    exported = nascompile(
        "export", "--pareto", "front", "--study", "generated/digits_tiny", cwd=tmp_path
    )
    assert exported.returncode == 2
    assert "optimises one objective (val_accuracy)" in exported.stderr


@pytest.mark.slow
def test_a_version_2_study_is_migrated_and_resumed(tmp_path):
    """A study of nascompiler before multi-objective search (schema 2: no objective_values)
    gains the column when a search opens it, and resumes with its trials intact."""
    import sqlite3

    first = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "2",
        "--seed",
        "4",
        cwd=tmp_path,
        timeout=600,
    )
    assert first.returncode == 0, first.stderr
    study = tmp_path / "generated" / "digits_tiny"
    with sqlite3.connect(study / "study.db") as db:
        db.execute("ALTER TABLE trials DROP COLUMN objective_values")
        db.execute("DROP TABLE proxies")  # schema 4's
        db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    before = trials(study)
    again = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "3",
        "--seed",
        "4",
        cwd=tmp_path,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    after = trials(study)
    assert len([r for r in after if r["status"] != "duplicate"]) == 3
    for old, new in zip(before, after):
        assert {k: new[k] for k in old} == old
    with sqlite3.connect(study / "study.db") as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    assert (
        meta["schema_version"] == str(SCHEMA_VERSION) and meta["migrated_from"] == "2"
    )
