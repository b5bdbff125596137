"""Bad input to the search commands: one line naming the fault, exit code 2, nothing lost."""

from __future__ import annotations

import sqlite3

import pytest

from helpers import (
    SPACE,
    assert_one_line_error,
    copy_study,
    digits_space,
    run,
    space_file,
)
from nascompiler.cli import main


def test_space_file_without_search_space(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = space_file(tmp_path, "def load_data():\n    return None\n")
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "search_space()")


def test_space_file_without_load_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = space_file(
        tmp_path,
        "from nascompiler.spaces import dnn_search_space\n"
        "def search_space():\n"
        "    return dnn_search_space(input_shape=(4,), output_units=2, "
        "output_activation='softmax')\n",
    )
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "load_data()")


def test_missing_space_file_and_syntax_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "search", "nowhere.py")
    assert_one_line_error(code, err, "nowhere.py", "no such file")
    broken = space_file(tmp_path, "def search_space(:\n    pass\n", "broken.py")
    code, _, err = run(capsys, "search", str(broken))
    assert_one_line_error(code, err, "broken.py:1", "syntax error")


@pytest.mark.slow
def test_load_data_that_raises_names_the_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = digits_space(tmp_path, data="1 / 0")
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "ZeroDivisionError", "space.py:15")


@pytest.mark.slow
def test_data_that_does_not_fit_the_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = digits_space(
        tmp_path, data="(x.reshape(len(x), 64), y), (xv.reshape(len(xv), 64), yv)"
    )
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(
        code, err, "x_train of shape (1438, 64)", "(samples, 8, 8, 1)"
    )


@pytest.mark.slow
def test_labels_that_do_not_fit_the_loss(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_hot = (
        "(x, __import__('numpy').eye(10)[y]), (xv, __import__('numpy').eye(10)[yv])"
    )
    path = digits_space(tmp_path, data=one_hot)
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(
        code, err, "sparse_categorical_crossentropy", "categorical_crossentropy"
    )
    # Class indices beyond the model's output units.
    path = digits_space(tmp_path, units=5)
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "class indices 0..9", "5 output units")
    # One-hot labels of the wrong width for categorical_crossentropy.
    path = digits_space(
        tmp_path,
        data="(x, __import__('numpy').eye(12)[y]), (xv, __import__('numpy').eye(12)[yv])",
        training="{'epochs': 1, 'loss': 'categorical_crossentropy'}",
    )
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "one-hot rows of 10 classes")


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--searcher", "annealing"], ["annealing", "random", "evolution"]),
        (["--objective", "val_f1"], ["val_f1", "val_accuracy"]),
        (["--direction", "up"], ["direction", "up"]),
        (["--max-trials", "0"], ["--max-trials", "0"]),
        (["--epochs", "0"], ["epochs", "0"]),
        (["--workers", "0"], ["--workers", "0"]),
    ],
)
def test_bad_search_settings(tmp_path, capsys, monkeypatch, flags, fragments):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "search", str(SPACE), *flags)
    assert_one_line_error(code, err, *fragments)
    assert not (
        tmp_path / "generated" / "digits_tiny" / "candidates"
    ).exists(), "nothing was trained"


def test_grid_over_a_continuous_parameter_needs_a_resolution(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = space_file(
        tmp_path,
        """
        from nascompiler.datasets import load_digits
        from nascompiler.layers import Dense, Dropout, Flatten, Input
        from nascompiler.space import HyperSpace, Real

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Dropout(Real(0.0, 0.5, name="drop"))(Flatten()(Input(shape=(8, 8, 1))))
                Dense(10, activation="softmax")(x)
            return space

        def load_data():
            return load_digits()
    """,
    )
    code, _, err = run(capsys, "search", str(path), "--searcher", "grid")
    assert_one_line_error(code, err, "drop", "resolution")


def test_unknown_training_setting(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = digits_space(tmp_path, training="{'epochs': 1, 'learning_rate': 0.1}")
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "learning_rate", "TRAINING")


def test_export_from_something_that_is_not_a_study(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").mkdir()
    code, _, err = run(capsys, "export", "--best", "--study", "plain")
    assert_one_line_error(code, err, "plain", "not a study")
    code, _, err = run(capsys, "trials")
    assert_one_line_error(code, err, "no study")


def test_search_into_a_folder_that_is_not_a_study(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "generated" / "digits_tiny"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "search", str(SPACE))
    assert_one_line_error(code, err, "not a study")
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_corrupt_study_db(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    for extra in ("study.db-wal", "study.db-shm"):
        (study / extra).unlink(missing_ok=True)
    garbage = b"this is not sqlite" * 100
    (study / "study.db").write_bytes(garbage)
    for args in (
        ["search", str(SPACE), "--max-trials", "2", "--seed", "1"],
        ["trials", "--study", str(study)],
        ["export", "--study", str(study), "--out", "x.py"],
    ):
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, "study.db", "not a valid study database")
    assert (study / "study.db").read_bytes() == garbage


@pytest.mark.slow
def test_newer_schema_study_db(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    with sqlite3.connect(study / "study.db") as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        rows_before = db.execute("SELECT * FROM trials").fetchall()
    code, _, err = run(capsys, "search", str(SPACE), "--max-trials", "2", "--seed", "1")
    assert_one_line_error(code, err, "newer nascompiler", "schema 99")
    with sqlite3.connect(study / "study.db") as db:
        assert db.execute("SELECT * FROM trials").fetchall() == rows_before


@pytest.mark.slow
def test_resuming_with_different_settings_is_refused(
    finished_study, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    with sqlite3.connect(study / "study.db") as db:
        rows_before = db.execute("SELECT * FROM trials").fetchall()
    code, _, err = run(
        capsys,
        "search",
        str(SPACE),
        "--max-trials",
        "2",
        "--seed",
        "1",
        "--epochs",
        "4",
    )
    assert_one_line_error(code, err, "epochs=1", "--fresh")
    code, _, err = run(capsys, "search", str(SPACE), "--max-trials", "2", "--seed", "2")
    assert_one_line_error(code, err, "seed=1")
    with sqlite3.connect(study / "study.db") as db:
        assert db.execute("SELECT * FROM trials").fetchall() == rows_before


@pytest.mark.slow
def test_fresh_moves_the_old_study_aside(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    code, out, err = run(
        capsys, "search", str(SPACE), "--max-trials", "1", "--seed", "4", "--fresh"
    )
    assert code in (0, None), err
    moved = [p for p in study.parent.iterdir() if p.name.startswith("digits_tiny.old-")]
    assert len(moved) == 1 and (moved[0] / "study.db").exists()
    assert "Moved the previous study" in out
    with sqlite3.connect(study / "study.db") as db:
        assert (
            db.execute(
                "SELECT COUNT(*) FROM trials WHERE status IN ('complete','failed')"
            ).fetchone()[0]
            == 1
        )


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from nascompiler.errors import UsageError

    with pytest.raises(UsageError):
        main(["--debug", "search", "nowhere.py"])
    with pytest.raises(UsageError):  # after the command too
        main(["search", "nowhere.py", "--debug"])
