"""The small shared vocabularies: trial statuses, directions, a study folder's layout, the
store as a context manager and the worker's typed replies."""

from __future__ import annotations

import json
import math
import pickle
import sqlite3
from pathlib import Path

import pytest

from nascompiler.kinds import DIRECTIONS, STATUSES, Direction, TrialStatus
from nascompiler.run.messages import (
    EpochReport,
    Ready,
    Result,
    TrialOutcome,
    WorkerError,
)
from nascompiler.storage.layout import StudyLayout
from nascompiler.storage.store import Store


def test_statuses_are_the_stored_strings():
    assert STATUSES == (
        "running", "complete", "failed", "duplicate", "over_budget", "screened"
    )  # fmt: skip
    for status in TrialStatus:
        # Equal to, printed, formatted and serialised as the plain string, on every Python.
        assert status == status.value and hash(status) == hash(status.value)
        assert str(status) == f"{status}" == "%s" % status == status.value
        assert json.dumps(status) == json.dumps(status.value)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (s TEXT)")
    db.execute("INSERT INTO t VALUES (?)", (TrialStatus.OVER_BUDGET,))
    assert db.execute("SELECT s, typeof(s) FROM t").fetchone() == (
        "over_budget",
        "text",
    )


def test_direction_better_sign_and_orientation():
    assert DIRECTIONS == ("max", "min")
    assert Direction("max") is Direction.MAX and f"{Direction.MIN}" == "min"
    assert Direction.MAX.better(2, 1) and not Direction.MAX.better(1, 1)
    assert Direction.MIN.better(1, 2) and not Direction.MIN.better(2, 1)
    assert not Direction.MAX.better(math.nan, 1) and not Direction.MIN.better(
        math.nan, 1
    )
    assert (Direction.MAX.sign, Direction.MIN.sign) == (1.0, -1.0)
    assert Direction.MAX.oriented(0.5) == 0.5 and Direction.MIN.oriented(0.5) == -0.5
    with pytest.raises(ValueError):
        Direction("maximize")


def test_study_layout_paths(tmp_path):
    layout = StudyLayout(str(tmp_path))
    assert layout.root == tmp_path
    assert layout.database == tmp_path / "study.db"
    assert layout.lock == tmp_path / "search.lock"
    assert layout.candidate_path("3f2a") == tmp_path / "candidates" / "3f2a.py"
    assert layout.weights_path("3f2a") == tmp_path / "weights" / "3f2a.weights.h5"
    assert (
        layout.checkpoint_path(7, 3) == tmp_path / "checkpoints" / "trial-7-epoch-3.npz"
    )
    assert layout.logs == tmp_path / "logs" and layout.data == tmp_path / "data"
    assert layout.report == tmp_path / "report.html"
    assert layout.tensorboard == tmp_path / "tensorboard"
    with pytest.raises(AttributeError):
        layout.root = Path("elsewhere")  # frozen


def test_store_closes_as_a_context_manager(tmp_path):
    with Store(tmp_path, create=True) as store:
        assert store.layout == StudyLayout(tmp_path)
        assert store.counts() == {s: 0 for s in STATUSES}
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("SELECT 1")


def test_worker_replies_pickle_as_typed_messages():
    outcome = TrialOutcome(number=3, status=TrialStatus.COMPLETE, objective=0.9)
    for message in (
        Ready(0, {"train": {}}),
        WorkerError(1, "ValueError: no data"),
        EpochReport(0, 3, 1, {"loss": 0.5}),
        Result(0, outcome),
    ):
        assert pickle.loads(pickle.dumps(message)) == message
    assert pickle.loads(pickle.dumps(outcome)).status is TrialStatus.COMPLETE
