"""Which search setting wins: defaults < stored study < space file (SEARCH, TRAINING) < flags.

``resolve_search`` is pure, so each rule is checked here without a study, a space or training;
the space file's ``SEARCH`` is checked by its loader.
"""

from __future__ import annotations

import textwrap

import pytest

from nascompiler.config.settings import (
    SEARCH_DEFAULTS,
    SEARCH_KEYS,
    STUDY_META_KEYS,
    TrainingSettings,
    resolve_search,
)
from nascompiler.errors import UsageError
from nascompiler.spacefile import load_space_file

# A study created with the evolution searcher under ASHA, as Store.get_meta returns it.
STORED = {
    "settings": TrainingSettings.resolve(epochs=9, batch_size=16).to_json(),
    "searcher": "evolution",
    "seed": 5,
    "searcher_options": {"population": 4},
    "scheduler": {"name": "asha", "rungs": [1, 3, 9], "reduction_factor": 3},
}


def test_the_defaults_without_anything_else():
    resolved = resolve_search()
    assert resolved.options == SEARCH_DEFAULTS
    assert set(resolved.options) == set(SEARCH_KEYS)
    assert resolved.training == TrainingSettings.resolve()
    assert (resolved.training.epochs, resolved.training.batch_size) == (3, 32)
    assert resolved.training.objective == "val_accuracy"
    assert resolved.training.direction == "max"


def test_a_stored_study_resumes_as_it_was_created():
    resolved = resolve_search(stored=STORED)
    assert resolved.options == {
        **SEARCH_DEFAULTS,
        "searcher": "evolution",
        "seed": 5,
        "searcher_options": {"population": 4},
        "scheduler": "asha",
        "min_epochs": 1,
        "max_epochs": 9,
        "reduction_factor": 3,
    }
    assert resolved.training.to_json() == STORED["settings"]


def test_stored_values_that_a_study_does_not_record_stay_defaults():
    # max_trials, workers, budgets... are per run, never stored: a re-run gets the defaults.
    stored = {key: None for key in STUDY_META_KEYS}
    assert resolve_search(stored=stored).options == SEARCH_DEFAULTS
    full = {
        **STORED,
        "scheduler": {"name": "full", "rungs": [9], "reduction_factor": None},
    }
    options = resolve_search(stored=full).options
    assert options["scheduler"] == "full"
    assert options["min_epochs"] is None and options["max_epochs"] is None


def test_the_space_file_overrides_the_stored_study():
    resolved = resolve_search(
        stored=STORED,
        file_search={"seed": 2, "max_trials": 4, "max_epochs": 9},
        file_training={"batch_size": 64, "metrics": ["accuracy"]},
    )
    assert resolved.options["seed"] == 2
    assert resolved.options["max_trials"] == 4
    assert resolved.options["searcher"] == "evolution"  # not in the file: stored
    assert resolved.training.batch_size == 64
    assert resolved.training.epochs == 9  # stored


def test_flags_override_the_space_file_and_the_stored_study():
    resolved = resolve_search(
        flags={"seed": 3, "searcher": "random", "max_trials": None},
        training_flags={"batch_size": 8, "epochs": None},
        stored={**STORED, "scheduler": None},
        file_search={"seed": 2, "max_trials": 4},
        file_training={"batch_size": 64, "epochs": 2},
    )
    assert resolved.options["seed"] == 3
    assert resolved.options["searcher"] == "random"
    assert resolved.options["max_trials"] == 4  # None: the flag was not given
    assert resolved.training.batch_size == 8
    assert resolved.training.epochs == 2  # the file's, over the stored 9


def test_max_epochs_is_the_epochs_setting():
    resolved = resolve_search(flags={"scheduler": "asha", "max_epochs": 6})
    assert resolved.training.epochs == 6
    same = resolve_search(flags={"max_epochs": 6}, training_flags={"epochs": 6})
    assert same.training.epochs == 6
    with pytest.raises(UsageError, match="--epochs 4 and --max-epochs 6 disagree"):
        resolve_search(flags={"max_epochs": 6}, training_flags={"epochs": 4})
    # A stored asha study's top rung is its epochs; a flag giving other epochs disagrees.
    with pytest.raises(UsageError, match="--epochs 4 and --max-epochs 9 disagree"):
        resolve_search(stored=STORED, training_flags={"epochs": 4})


def test_a_stored_multi_objective_study_resumes_with_its_objectives():
    recorded = TrainingSettings.resolve(objective=["val_accuracy", "params:min"])
    stored = {**STORED, "settings": recorded.to_json(), "scheduler": None}
    resolved = resolve_search(stored=stored)
    assert resolved.training.objectives == ("val_accuracy:max", "params:min")
    assert resolved.training == recorded
    # Objectives given as flags replace the stored ones (and their directions).
    single = resolve_search(stored=stored, training_flags={"objective": ["val_loss"]})
    assert single.training.objectives == ()
    assert (single.training.objective, single.training.direction) == ("val_loss", "min")


def test_flags_are_checked_by_name():
    with pytest.raises(UsageError, match="--max-trials must be at least 1, got 0"):
        resolve_search(flags={"max_trials": 0})
    with pytest.raises(UsageError, match="--reduction-factor must be at least 2"):
        resolve_search(flags={"reduction_factor": 1})
    with pytest.raises(ValueError, match="not SEARCH options: epochs"):
        resolve_search(flags={"epochs": 3})


def test_training_errors_name_their_source():
    with pytest.raises(UsageError, match="space.py: TRAINING: unknown setting 'epoch'"):
        resolve_search(file_training={"epoch": 3}, training_source="space.py: TRAINING")
    with pytest.raises(UsageError, match="direction must be 'max' or 'min'"):
        resolve_search(training_flags={"direction": "up"})


def test_the_inputs_are_not_changed():
    stored = {**STORED, "settings": dict(STORED["settings"])}
    file_search = {"seed": 2}
    flags = {"seed": 3}
    resolve_search(flags=flags, stored=stored, file_search=file_search)
    assert (
        stored["settings"] == STORED["settings"] and stored["searcher"] == "evolution"
    )
    assert file_search == {"seed": 2} and flags == {"seed": 3}
    assert SEARCH_DEFAULTS["searcher_options"] == {}


# ------------------------------------------------------------------ SEARCH in the space file


def space_file(tmp_path, search: str | None):
    path = tmp_path / "space.py"
    text = "def search_space():\n    return None\n"
    if search is not None:
        text += f"\nSEARCH = {search}\n"
    path.write_text(textwrap.dedent(text))
    return load_space_file(path)


def test_the_loader_reads_search(tmp_path):
    assert space_file(tmp_path, None).search == {}
    loaded = space_file(tmp_path, "{'searcher': 'grid', 'max_trials': 4}")
    assert loaded.search == {"searcher": "grid", "max_trials": 4}


@pytest.mark.parametrize(
    "search, message",
    [
        ("[1]", "SEARCH must be a dict"),
        ("{'trials': 3}", "SEARCH has unknown key(s) trials; known keys are searcher,"),
        (
            "{'max_trials': '2'}",
            'SEARCH["max_trials"] must be a whole number of trials',
        ),
        ("{'seed': True}", 'SEARCH["seed"] must be an integer, got True (bool)'),
    ],
)
def test_the_loader_refuses_a_bad_search_in_one_line(tmp_path, search, message):
    loaded = space_file(tmp_path, search)
    with pytest.raises(UsageError) as caught:
        loaded.search
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "space.py"))
