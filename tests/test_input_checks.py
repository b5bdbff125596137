"""Mistakes that used to surface only inside every trial, as a traceback, or not at all: now one
line at the user's line or naming the setting, before anything is trained."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import (  # noqa: E402
    SPACE,
    assert_one_line_error,
    digits_space,
    run,
    space_file,
)

LAYER_SPACE = """
    from nascompiler.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
    from nascompiler.space import Choice, HyperSpace

    def search_space():
        space = HyperSpace()
        with space.as_default():
            x = Input(shape={shape}, name={input_name})
            x = Conv2D(4, 3, padding={padding})(x)
            x = Flatten()(x)
            Dense(10, activation={activation}, name={name})(x)
        return space
"""


def layer_space(tmp_path, **changes):
    values = dict(
        shape="(8, 8, 1)",
        input_name="'image'",
        padding="'same'",
        activation="'softmax'",
        name="'out'",
    )
    values.update(changes)
    return space_file(tmp_path, LAYER_SPACE.format(**values))


def test_the_good_layer_space_passes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = layer_space(tmp_path)
    with pytest.raises(SystemExit) as info:
        from nascompiler.cli import main

        main(["inspect", str(path)])
    assert info.value.code in (0, None)


@pytest.mark.parametrize(
    "changes, line, fragments",
    [
        ({"activation": "'rleu'"}, 11, ["activation='rleu'", "did you mean 'relu'"]),
        (
            {"activation": "Choice(['relu6x', 'nope'])"},
            11,
            ["is not a Keras activation"],
        ),
        ({"padding": "'smae'"}, 9, ["padding='smae'", "'valid', 'same'"]),
        ({"shape": "(0, 8, 1)"}, 8, ["shape=(0, 8, 1)", "dimension 0"]),
        ({"shape": "(-1, 8, 1)"}, 8, ["dimension -1"]),
        ({"shape": "(8.5, 8, 1)"}, 8, ["dimension 8.5"]),
        ({"name": "'my layer'"}, 11, ["'my layer'", "refused by TensorFlow"]),
        ({"name": "'层'"}, 11, ["'层'", "ASCII letters"]),
        ({"input_name": "'_image'"}, 8, ["Input name '_image'", "may not start"]),
    ],
)
def test_arguments_keras_refuses_fail_at_the_users_line(
    tmp_path, capsys, monkeypatch, changes, line, fragments
):
    monkeypatch.chdir(tmp_path)
    path = layer_space(tmp_path, **changes)
    for command in (["inspect", str(path)], ["compile", str(path), "--random", "1"]):
        code, _, err = run(capsys, *command)
        assert_one_line_error(code, err, f"space.py:{line}:", *fragments)
    assert not (tmp_path / "generated").exists()


def test_a_choice_with_some_refused_options_is_a_warning(tmp_path, capsys, monkeypatch):
    from nascompiler.cli import main

    monkeypatch.chdir(tmp_path)
    path = layer_space(tmp_path, activation="Choice(['softmax', 'sofmax'])")
    with pytest.raises(SystemExit) as info:
        main(["inspect", str(path)])
    err = capsys.readouterr().err
    assert info.value.code in (0, None)
    assert "warning: space.py:11:" in err and "'sofmax'" in err
    assert "did you mean 'softmax'" in err


def test_activation_list_matches_the_installed_keras():
    from keras.src.activations import ALL_OBJECTS_DICT

    from nascompiler.ir.keras_rules import KERAS_ACTIVATIONS

    assert KERAS_ACTIVATIONS == set(ALL_OBJECTS_DICT)


def test_duplicate_explicit_layer_names_fail_at_the_second(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = layer_space(tmp_path, name="'image'")
    code, _, err = run(capsys, "inspect", str(path))
    assert_one_line_error(
        code, err, "space.py:11:", "two modules are named 'image'", "space.py:8"
    )


@pytest.mark.parametrize(
    "where", ["module", "search_space", "load_data"], ids=lambda w: f"exit_in_{w}"
)
def test_sys_exit_in_the_space_file_is_one_line(tmp_path, capsys, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    path = digits_space(tmp_path)
    text = path.read_text()
    if where == "module":
        text += "\nimport sys\nsys.exit(3)\n"
    elif where == "search_space":
        text = text.replace(
            "    space = HyperSpace()",
            "    raise SystemExit(4)\n    space = HyperSpace()",
        )
    else:
        text = text.replace(
            "    (x, y), (xv, yv) = load_digits()",
            "    raise SystemExit('bye')",
        )
    path.write_text(text)
    code, _, err = run(capsys, "search", str(path), "--max-trials", "1")
    assert_one_line_error(code, err, "space.py:", "sys.exit(", "must not exit")


@pytest.mark.parametrize(
    "search, fragments",
    [
        ("{'searcher_options': 5}", ['SEARCH["searcher_options"] must be a dict', "5"]),
        ("{'max_trials': '2'}", ['SEARCH["max_trials"] must be', "'2' (str)"]),
        ("{'seed': 'abc'}", ['SEARCH["seed"] must be an integer', "'abc'"]),
        ("{'workers': '2'}", ['SEARCH["workers"] must be', "'2'"]),
        ("{'keep_weights': -1}", ['SEARCH["keep_weights"] must be at least 0']),
        ("{'max_trials': True}", ['SEARCH["max_trials"]', "True (bool)"]),
        ("{'workers': 100000}", ['SEARCH["workers"]=100000', "CPU cores", "at most"]),
    ],
)
def test_search_values_of_the_wrong_type(
    tmp_path, capsys, monkeypatch, search, fragments
):
    monkeypatch.chdir(tmp_path)
    path = digits_space(tmp_path)
    path.write_text(path.read_text() + f"\nSEARCH = {search}\n")
    code, _, err = run(capsys, "search", str(path))
    assert_one_line_error(code, err, "space.py", *fragments)
    assert not (tmp_path / "generated" / "space" / "study.db").exists()


def test_too_many_workers_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    too_many = str(max(2, os.cpu_count() or 1) + 1)
    code, _, err = run(capsys, "search", str(SPACE), "--workers", too_many)
    assert_one_line_error(code, err, f"--workers={too_many}", "CPU cores")


@pytest.mark.parametrize("name", ["../x", "/tmp/abs", "a/b", "..", ".", ""])
def test_study_name_is_a_plain_name(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inner").mkdir()
    code, _, err = run(capsys, "search", str(SPACE), "--out", "inner", "--study", name)
    assert_one_line_error(code, err, "is not a plain name", "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner"]
    assert not any((tmp_path / "inner").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize(
    "training, fragments",
    [
        ("{'epochs': 1, 'optimizer': 'adamm'}", ["optimizer 'adamm'"]),
        ("{'epochs': 1, 'loss': 'sparse_categorical_crossentropyy'}", ["loss"]),
        (
            "{'epochs': 1, 'metrics': ['accuracy', 'precison'], 'objective': 'val_accuracy'}",
            ["metric 'precison'"],
        ),
    ],
)
def test_training_names_keras_does_not_know_stop_before_any_trial(
    tmp_path, capsys, monkeypatch, training, fragments
):
    monkeypatch.chdir(tmp_path)
    path = digits_space(tmp_path, training=training)
    code, _, err = run(capsys, "search", str(path), "--max-trials", "2")
    assert_one_line_error(code, err, "TRAINING", "Keras does not know", *fragments)
    import sqlite3

    with sqlite3.connect(tmp_path / "generated" / "space" / "study.db") as db:
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 0


def test_check_training_accepts_what_compile_accepts():
    from nascompiler.config.settings import TrainingSettings, check_training

    check_training(
        TrainingSettings.resolve(
            {
                "optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.1}},
                "loss": "mse",
                "metrics": ["acc", "mae"],
                "objective": "val_loss",
            }
        )
    )
