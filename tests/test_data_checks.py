"""Data that no trial can train on is refused before any trial, naming the array."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from nascompiler.errors import UsageError
from nascompiler.run.data import Dataset, check_data

sys.path.insert(0, str(Path(__file__).parent))
from helpers import assert_one_line_error, digits_space, run  # noqa: E402


def good():
    rng = np.random.default_rng(0)
    x = rng.random((20, 4)).astype("float32")
    y = rng.integers(0, 3, 20)
    return {"x_train": x, "y_train": y, "x_val": x[:5].copy(), "y_val": y[:5].copy()}


def check(**replace):
    arrays = {**good(), **replace}
    summary = Dataset.from_arrays(**arrays).summary()
    check_data(summary, [(4,)], (3,), "sparse_categorical_crossentropy", "load_data()")


def test_good_data_passes():
    check()


@pytest.mark.parametrize(
    "name, value, fragments",
    [
        ("x_train", np.full((20, 4), np.nan, "float32"), ["x_train", "NaN"]),
        ("x_val", np.array([[1.0, np.inf, 0, 0]] * 5), ["x_val", "infinite"]),
        ("y_val", np.array([0, 1, np.nan, 1, 0]), ["y_val", "NaN"]),
        ("x_train", np.array([[object()] * 4] * 20), ["x_train", "object", "numbers"]),
        ("y_train", np.array(["a"] * 20), ["y_train", "<U1", "strings"]),
        ("x_val", np.zeros((0, 4), "float32"), ["x_val", "(0, 4)", "no samples"]),
        ("y_train", np.zeros((0,), "int64"), ["y_train", "no samples"]),
    ],
)
def test_bad_arrays_are_named(name, value, fragments):
    with pytest.raises(UsageError) as info:
        check(**{name: value})
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_several_inputs_name_the_part():
    arrays = good()
    arrays["x_train"] = [arrays["x_train"], np.full((20, 4), np.nan)]
    arrays["x_val"] = [arrays["x_val"], arrays["x_val"]]
    summary = Dataset.from_arrays(**arrays).summary()
    with pytest.raises(UsageError, match=r"x_train\[1\] with NaN"):
        check_data(summary, [(4,), (4,)], (3,), "sparse_categorical_crossentropy", "d")


@pytest.mark.slow
def test_search_with_nan_data_stops_before_any_trial(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nan_rows = "(lambda a: (a.__setitem__(slice(0, 50), float('nan')), a)[1])(x.copy())"
    path = digits_space(tmp_path, data=f"({nan_rows}, y), (xv, yv)")
    code, _, err = run(capsys, "search", str(path), "--max-trials", "2")
    assert_one_line_error(code, err, "x_train with NaN")
    db = tmp_path / "generated" / "space" / "study.db"
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 0
