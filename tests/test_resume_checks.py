"""Resuming refuses what would make results incomparable (other data, another space), and
re-running a study whose space is exhausted adds nothing to it."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

from helpers import SPACE, nascompile, trials

pytestmark = pytest.mark.slow


def test_a_changed_load_data_is_refused_unless_allowed(tmp_path):
    args = ["search", str(SPACE), "--max-trials", "2", "--seed", "1"]
    first = nascompile(*args, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    study = tmp_path / "generated" / "digits_tiny"
    before = trials(study)
    # The same space file, but load_data() now repeats the training set: other data.
    more = ["search", str(SPACE), "--max-trials", "3", "--seed", "1"]
    refused = nascompile(*more, cwd=tmp_path, timeout=600, DIGITS_TINY_REPEAT="2")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "gives other data than when" in refused.stderr
    assert "x_train.shape: [1438, 8, 8, 1] -> [2876, 8, 8, 1]" in refused.stderr
    assert "--allow-new-data" in refused.stderr
    assert trials(study) == before
    allowed = nascompile(
        *more, "--allow-new-data", cwd=tmp_path, timeout=600, DIGITS_TINY_REPEAT="2"
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert sum(r["status"] != "duplicate" for r in trials(study)) == 3
    with sqlite3.connect(study / "study.db") as db:
        changes = json.loads(
            db.execute("SELECT value FROM meta WHERE key='data_changes'").fetchone()[0]
        )
    assert "x_train.shape: [1438, 8, 8, 1] -> [2876, 8, 8, 1]" in changes[0]["changes"]
    # Same shapes, other values: the sample fingerprint notices.
    same_shape = tmp_path / "shifted.py"
    same_shape.write_text(
        SPACE.read_text().replace(
            "return (x.repeat", "x = 1.0 - x\n    return (x.repeat"
        )
    )
    shifted = nascompile("search", str(same_shape), "--study", "digits_tiny", "--max-trials", "4",
                         "--seed", "1", cwd=tmp_path, timeout=600, DIGITS_TINY_REPEAT="2")  # fmt: skip
    assert (
        shifted.returncode == 2 and "x_train.sample_sha256" in shifted.stderr
    ), shifted.stderr


def test_rerunning_an_exhausted_study_adds_no_rows(tmp_path):
    space = tmp_path / "two.py"
    space.write_text(textwrap.dedent("""
        from nascompiler.datasets import load_digits
        from nascompiler.layers import Dense, Flatten, Input
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Flatten()(Input(shape=(8, 8, 1)))
                Dense(10, activation=Choice(["softmax", "sigmoid"]))(x)
            return space

        def load_data():
            return load_digits(val_fraction=0.2, seed=0)

        TRAINING = {"epochs": 1, "batch_size": 64}
    """))
    args = ["search", str(space), "--searcher", "evolution", "--max-trials", "5"]
    first = nascompile(*args, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    study = tmp_path / "generated" / "two"
    rows = trials(study)
    assert sum(r["status"] == "complete" for r in rows) == 2
    again = nascompile(*args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "already proposed every candidate of the space; nothing to do" in again.stdout
    )
    assert trials(study) == rows


DYNAMIC_SPACE = """
from nascompiler.datasets import load_digits
from nascompiler.layers import Dense, Flatten, Input
from nascompiler.space import Choice, Dynamic, HyperSpace


def search_space():
    space = HyperSpace()
    with space.as_default():
        units = Choice([4, 8], name="units")
        x = Flatten()(Input(shape=(8, 8, 1)))
        x = Dense(Dynamic(lambda units: units * 2, units=units), activation="relu")(x)
        Dense(10, activation="softmax")(x)
    return space


def load_data():
    return load_digits(val_fraction=0.2, seed=0)


TRAINING = {"epochs": 1, "batch_size": 64}
"""


def test_a_changed_dynamic_lambda_is_refused_like_any_other_space_change(tmp_path):
    from nascompiler.ir.compile import fingerprint_without_dynamic_results
    from nascompiler.spacefile import load_space_file

    space = tmp_path / "dynamic.py"
    space.write_text(DYNAMIC_SPACE)
    args = ["search", str(space), "--max-trials", "1", "--seed", "1"]
    first = nascompile(*args, cwd=tmp_path, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    study = tmp_path / "generated" / "dynamic"
    before = trials(study)
    full = load_space_file(space).compile()

    # A study recorded before the fingerprint covered Dynamics resumes, and is upgraded.
    with sqlite3.connect(study / "study.db") as db:
        legacy = json.dumps(fingerprint_without_dynamic_results(full))
        db.execute("UPDATE meta SET value=? WHERE key='fingerprint'", (legacy,))
    again = nascompile(*args, cwd=tmp_path, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert trials(study) == before
    with sqlite3.connect(study / "study.db") as db:
        stored = db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
    assert json.loads(stored[0]) == full.fingerprint

    # Same graph, same parameters, another function: the old fingerprint let this through.
    space.write_text(DYNAMIC_SPACE.replace("units * 2", "units * 3"))
    refused = nascompile(*args, cwd=tmp_path, timeout=600)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "was made with another search space" in refused.stderr
    assert "--study NAME" in refused.stderr
    assert "--fresh" in refused.stderr
    assert trials(study) == before
