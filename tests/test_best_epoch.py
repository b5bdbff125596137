"""Best-epoch scores (issue 17): a trial's objective is its best epoch so far (``--score best``,
the default) and the weights kept and exported are that epoch's; rung decisions use what each
rung reached; ``--score last`` and studies recorded before scores existed score the last epoch.
The end-to-end test also runs BOHB (tpe + hyperband) through the command line and resumes it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from helpers import SPACE, dense_space, nascompile, trials
from nascompiler.config.settings import SearchConfig, TrainingSettings, stored_training
from nascompiler.errors import UsageError
from nascompiler.search.resolve import resolve_search
from nascompiler.storage.store import TrialRecord
from nascompiler.storage.summary import trial_summary


def test_score_defaults_to_best_and_is_checked():
    assert TrainingSettings.resolve({}).score == "best"
    assert TrainingSettings.resolve({"score": "last"}).score == "last"
    assert TrainingSettings.resolve({}, score="last").score == "last"  # the flag wins
    with pytest.raises(UsageError, match="TRAINING: score must be 'best' or 'last'"):
        TrainingSettings.resolve({"score": "first"})
    with pytest.raises(UsageError, match="^--score must be 'best' or 'last'"):
        TrainingSettings.resolve({}, score="first")


def test_several_objectives_score_the_last_epoch():
    both = ["val_accuracy", "params:min"]
    assert TrainingSettings.resolve({"objective": both}).score == "last"
    with pytest.raises(UsageError, match="score 'best' picks one epoch"):
        TrainingSettings.resolve({"objective": both}, score="best")


def test_a_study_recorded_before_scores_existed_resumes_scoring_the_last_epoch():
    old = {
        "optimizer": "adam",
        "loss": "mse",
        "metrics": ["mae"],
        "objective": "val_mae",
    }
    old.update(direction="min", epochs=2, batch_size=8)
    assert stored_training(old)["score"] == "last"
    resolved = resolve_search(stored={"settings": old}).settings
    assert resolved.score == "last"
    # Recorded as it was (and the backend of its day): the resume check passes.
    assert resolved.to_json() == {**old, "backend": "tensorflow"}
    assert TrainingSettings.from_json(old).score == "last"
    best = TrainingSettings.resolve({})
    assert TrainingSettings.from_json(best.to_json()) == best


def test_the_objective_epoch_is_read_from_the_last_rung():
    record = TrialRecord(0, "c", {}, "complete", 0, 0, 0.0, objective=0.9, epochs=9)
    record.rungs = [
        {"rung": 0, "epochs": 3, "objective": 0.8, "epoch": 2},
        {"rung": 1, "epochs": 9, "objective": 0.9, "epoch": 7},
    ]
    assert record.objective_epoch == 7
    assert trial_summary(record)["objective_epoch"] == 7
    record.rungs = [
        {"rung": 0, "epochs": 3, "objective": 0.8}
    ]  # before scores: the last
    assert record.objective_epoch == 3


# The command runs this checkout's nascompiler (helpers.env drops PYTHONPATH otherwise).
ROOT = str(Path(__file__).resolve().parents[1])

NOISY_SPACE = """
from digits_tiny import load_data, search_space

# A large learning rate: validation curves go up and down, so best and last epochs differ.
TRAINING = {
    "epochs": 4,
    "batch_size": 32,
    "optimizer": {"class_name": "Adam", "config": {"learning_rate": 0.03}},
}
"""


@pytest.mark.slow
def test_bohb_with_best_epoch_scores_end_to_end(tmp_path):
    """tpe + hyperband through the command line: every objective is the best of its curve
    so far (at every rung), the kept weights score exactly that epoch's value, trials --json
    names the epoch, and re-running the study replays the BOHB searcher exactly."""
    space = tmp_path / "noisy_digits.py"
    space.write_text(NOISY_SPACE)
    (tmp_path / "digits_tiny.py").write_text(SPACE.read_text())
    command = ["search", str(space), "--searcher", "tpe", "--scheduler", "hyperband"]
    command += ["--min-epochs", "1", "--reduction-factor", "2", "--seed", "4"]
    command += ["--keep-weights", "20", "--no-report"]
    first = nascompile(
        *command, "--max-trials", "7", cwd=tmp_path, timeout=600, PYTHONPATH=ROOT
    )
    assert first.returncode == 0, first.stdout + first.stderr
    study = tmp_path / "generated" / "noisy_digits"
    # The study goes on with more trials: the searcher is rebuilt by replaying the tells.
    more = nascompile(
        *command, "--max-trials", "8", cwd=tmp_path, timeout=600, PYTHONPATH=ROOT
    )
    assert more.returncode == 0, more.stdout + more.stderr
    assert "proposes differently" not in more.stdout + more.stderr
    rows = [r for r in trials(study) if r["status"] == "complete"]
    assert len(rows) >= 4  # the space's other head fails to build
    with sqlite3.connect(study / "study.db") as db:
        told_rungs = {r for (r,) in db.execute("SELECT rung FROM tells")}
    assert told_rungs >= {0, 1, 2}  # results reached the searcher per rung
    differs = []
    for row in rows:
        curve = json.loads(row["metrics"])["val_accuracy"]
        for entry in json.loads(row["rungs"]):
            reached = curve[: entry["epochs"]]
            assert entry["objective"] == max(reached)
            assert entry["epoch"] == reached.index(max(reached)) + 1
        assert row["objective"] == max(curve)
        if (
            max(curve) != curve[-1]
            and (study / "weights")
            .joinpath(f"{row['candidate_id']}.weights.h5")
            .exists()
        ):
            differs.append(row)
    assert differs, "no trial whose best epoch is not its last: the test proves nothing"
    listed = nascompile(
        "trials", "--study", str(study), "--json", cwd=tmp_path, PYTHONPATH=ROOT
    )
    by_number = {
        json.loads(l)["number"]: json.loads(l) for l in listed.stdout.splitlines()
    }
    row = differs[0]
    curve = json.loads(row["metrics"])["val_accuracy"]
    assert by_number[row["number"]]["objective_epoch"] == curve.index(max(curve)) + 1

    import importlib.util
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import digits_tiny
        import keras

        (_, _), (x_val, y_val) = digits_tiny.load_data()
        path = study / "candidates" / f"{row['candidate_id']}.py"
        spec = importlib.util.spec_from_file_location("kept", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        model.load_weights(study / "weights" / f"{row['candidate_id']}.weights.h5")
        predicted = keras.ops.convert_to_numpy(model.predict(x_val, verbose=0))
        accuracy = float((predicted.argmax(1) == y_val).mean())
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("digits_tiny", None)
    assert accuracy == pytest.approx(max(curve), abs=1e-6)
    assert accuracy != pytest.approx(curve[-1], abs=1e-6)


def test_resuming_an_old_study_with_another_score_names_both(tmp_path):
    import numpy as np

    from nascompiler.run.data import Dataset, save_arrays
    from nascompiler.search.study import Study, StudyConfig
    from nascompiler.storage.store import Store

    space = dense_space([4, 8])
    old = TrainingSettings.resolve({"epochs": 1}, score="last")
    assert "score" not in old.to_json()  # recorded as studies were before scores
    with Store(tmp_path / "study", create=True) as store:
        store.set_meta(
            fingerprint=space.fingerprint,
            settings=old.to_json(),
            searcher="random",
            searcher_options={},
            seed=0,
            scheduler={"name": "full", "rungs": [1], "reduction_factor": None},
        )
        store.start_trial(0, "c", {"d0.units": 4}, 0, 0)
    x = np.zeros((4, 4), "float32")
    data = save_arrays(tmp_path / "data", Dataset.from_arrays(x, x[:, 0], x, x[:, 0]))

    def config(settings):
        return StudyConfig.of(
            SearchConfig(settings=settings, max_trials=1),
            directory=tmp_path / "study",
            space=space,
            data=data,
        )

    with pytest.raises(UsageError, match="was made with score='last', not 'best'"):
        Study(config(TrainingSettings.resolve({"epochs": 1})))
    resumed = resolve_search(stored={"settings": old.to_json()}).settings
    Study(config(resumed)).store.close()  # the command line resumes it as it was
