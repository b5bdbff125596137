"""Resident promotion and the backend choice (issue 17, items 3 and 4).

A worker keeps a few trained models (compiled, with their optimizer state) in memory; a
promotion sent back to it continues the model without rebuilding it or reading its checkpoint,
and trains exactly as the reload would. A worker killed while it holds a model loses nothing:
the promotion reloads the checkpoint on a fresh worker. ``--backend`` chooses the workers'
KERAS_BACKEND and is recorded in the study.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nascompiler.config.settings import (
    DEFAULT_BACKEND,
    LEGACY_BACKEND,
    SEARCH_DEFAULTS,
    SearchConfig,
    TrainingSettings,
    stored_training,
)
from nascompiler.errors import UsageError
from nascompiler.run.messages import TrialTask
from nascompiler.run.resident import ResidentModels
from nascompiler.search.resolve import resolve_search
from nascompiler.search.schedulers import make_scheduler

REPO = Path(__file__).resolve().parents[1]
SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
NASCOMPILE = str(Path(sys.executable).parent / "nascompile")
# ASHA over rungs of 1, 2 and 4 epochs: promotions come early and often.
ASHA = ["--scheduler", "asha", "--min-epochs", "1", "--max-epochs", "4"]
ASHA += ["--reduction-factor", "2", "--max-trials", "7", "--seed", "3"]


def _task(number: int, initial: int, candidate: str = "c") -> TrialTask:
    return TrialTask(number, candidate, "m.py", 0, None, None, initial_epoch=initial)


# ----------------------------------------------------------------------------- the worker's cache


def test_a_worker_holds_at_most_its_keep_count_least_recently_kept_first():
    held = ResidentModels(2)
    assert held.keep(1, "a", 1, "m1") == []
    assert held.keep(2, "b", 1, "m2") == []
    assert held.keep(3, "c", 1, "m3") == [1]
    assert held.numbers() == (2, 3)
    assert ResidentModels(0).keep(1, "a", 1, "m1") == []  # --resident 0 keeps nothing


def test_the_trials_the_driver_wants_are_dropped_last():
    held = ResidentModels(2)
    held.keep(1, "a", 1, "m1")
    held.keep(2, "b", 1, "m2")
    assert held.keep(3, "c", 1, "m3", wanted=(1,)) == [2]  # not 1, the older
    # Everything held is wanted: the new model (rank unknown yet) is the one dropped.
    assert held.keep(4, "d", 1, "m4", wanted=(1, 3)) == [4]
    assert held.numbers() == (1, 3)


def test_a_promotion_takes_the_model_only_at_the_epoch_it_was_kept():
    held = ResidentModels(2)
    held.keep(1, "a", 3, "m1")
    assert held.take(_task(1, 1, "a")) is None  # stale: the task starts elsewhere
    assert held.numbers() == ()  # and the stale model is gone
    held.keep(1, "a", 3, "m1")
    assert held.take(_task(1, 3, "other")) is None  # another candidate: never reused
    held.keep(1, "a", 3, "m1", best=(0.9, 2, "w"))
    taken = held.take(_task(1, 3, "a"))
    assert taken is not None and (taken.model, taken.best) == ("m1", (0.9, 2, "w"))
    assert held.take(_task(1, 3, "a")) is None  # taken: the job owns it now
    held.keep(2, "b", 1, "m2")
    assert held.evict([2, 9]) == [2] and len(held) == 0


def test_a_trial_stays_resident_while_it_is_in_the_top_of_its_rung():
    scheduler = make_scheduler(
        "asha", epochs=9, direction="max", objective="val_accuracy", min_epochs=1,
        reduction_factor=3,
    )  # fmt: skip

    class T:
        def __init__(self, number, value, status="complete", rungs=None):
            self.number, self.status, self.bracket = number, status, 0
            self.rungs = rungs or [{"rung": 0, "epochs": 1, "objective": value}]

    trials = [T(0, 0.5), T(1, 0.7)]
    # Two results: ceil(2/3) = 1, only the best is likely to go up.
    assert [scheduler.likely_promoted(t, trials) for t in trials] == [False, True]
    trials += [T(2, 0.6), T(3, 0.4)]
    assert [scheduler.likely_promoted(t, trials) for t in trials] == [
        False, True, True, False,
    ]  # fmt: skip
    top = T(4, 0.9, rungs=[{"rung": 2, "epochs": 9, "objective": 0.9}])
    pruned = T(5, 0.9, rungs=[{"rung": 0, "epochs": 1, "objective": 0.9, "pruned": 1}])
    assert not scheduler.likely_promoted(top, trials + [top])  # the top rung: done
    assert not scheduler.likely_promoted(pruned, trials + [pruned])
    assert not scheduler.likely_promoted(T(6, 0.9, "running"), trials)
    full = make_scheduler("full", epochs=3, direction="max", objective="val_accuracy")
    assert not full.likely_promoted(trials[1], trials)


# ----------------------------------------------------------------------------- backend setting


def test_the_backend_is_a_training_setting_with_a_default(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert TrainingSettings.resolve({}).backend == DEFAULT_BACKEND
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert TrainingSettings.resolve({}).backend == "tensorflow"
    assert TrainingSettings.resolve({"backend": "jax"}).backend == "jax"
    assert TrainingSettings.resolve({}, backend="jax").to_json()["backend"] == "jax"
    # Flags win over the space file, which wins over the stored study.
    resolved = resolve_search(
        training_flags={"backend": "tensorflow"},
        file_training={"backend": "jax"},
        stored={"settings": TrainingSettings.resolve({}, backend="jax").to_json()},
    )
    assert resolved.settings.backend == "tensorflow"
    assert SEARCH_DEFAULTS["resident"] == 2


def test_a_study_recorded_before_backends_resumes_on_tensorflow(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    old = TrainingSettings.resolve({}).to_json()
    del old["backend"]
    assert stored_training(old)["backend"] == LEGACY_BACKEND == "tensorflow"
    assert resolve_search(stored={"settings": old}).settings.backend == "tensorflow"
    assert TrainingSettings.from_json(old).backend == "tensorflow"


@pytest.mark.parametrize(
    "backend, message",
    [
        ("theano", "TRAINING: backend must be one of tensorflow, jax, torch, got 'theano'"),
        ("torch", "backend 'torch': torch is not installed here (pip install torch)"),
    ],
)  # fmt: skip
def test_a_bad_or_missing_backend_is_one_line(backend, message, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(UsageError) as caught:
        TrainingSettings.resolve({"backend": backend})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_study_refuses_to_resume_on_another_backend(tmp_path):
    from nascompiler.run.data import SpaceFileData
    from nascompiler.search.study import Study, StudyConfig
    from nascompiler.spacefile import load_space_file

    space = load_space_file(SPACE)

    def config(backend: str) -> StudyConfig:
        return StudyConfig.of(
            SearchConfig(
                settings=TrainingSettings.resolve(space.training, backend=backend),
                max_trials=2,
            ),
            directory=tmp_path / "study",
            space=space.compile(),
            data=SpaceFileData(str(SPACE)),
        )

    study = Study(config("jax"))
    study.store.start_trial(0, "x", {}, 0, 0)  # a study with a trial is protected
    assert study.store.get_meta("settings")["backend"] == "jax"
    study.store.close()
    with pytest.raises(
        UsageError, match="was made with backend='jax', not 'tensorflow'"
    ):
        Study(config("tensorflow"))


# ----------------------------------------------------------------------------- end to end


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
        KERAS_BACKEND="tensorflow", COLUMNS="160",
    )  # fmt: skip
    env.update(extra)
    return env


def _nascompile(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [NASCOMPILE, *args], cwd=cwd, env=_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    return run


def _rows(cwd: Path, study: str) -> list[dict]:
    run = _nascompile("trials", "--study", f"generated/{study}", "--json", cwd=cwd)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def _epochs_and_scores(rows: list[dict]) -> list[tuple]:
    return [(r["number"], r["status"], r["epochs"], r["objective"]) for r in rows]


@pytest.fixture(scope="module")
def resident_search(tmp_path_factory) -> tuple[Path, list[dict]]:
    cwd = tmp_path_factory.mktemp("resident")
    run = _nascompile("search", str(SPACE), *ASHA, "--no-report", cwd=cwd)
    assert run.returncode == 0, run.stdout + run.stderr
    return cwd, _rows(cwd, "digits_tiny")


@pytest.mark.slow
def test_a_promotion_continues_the_model_its_worker_kept(resident_search):
    cwd, rows = resident_search
    promotions = [e for r in rows for e in r["rungs"] if e["rung"] > 0]
    resident = [e for e in promotions if e.get("resident")]
    assert len(promotions) >= 3 and len(resident) >= 2, rows
    log = (cwd / "generated" / "digits_tiny" / "logs" / "worker-0.log").read_text()
    assert "Keras 3" in log and "on tensorflow" in log
    for row in rows:
        for entry in row["rungs"]:
            if entry.get("resident"):
                line = (
                    f"trial #{row['number']}: continued its resident model from epoch "
                    f"{row['rungs'][entry['rung'] - 1]['epochs']}"
                )
                assert line in log


@pytest.mark.slow
def test_a_worker_killed_while_it_holds_a_model_loses_nothing(
    resident_search, tmp_path
):
    """The worker that holds a trial's model is killed before the promotion: the promotion
    reloads the checkpoint on a fresh worker, and the study ends exactly as the uninterrupted
    run above (same epochs and scores per trial: nothing trained twice, nothing lost; on
    TensorFlow a resident continuation and a reload train identically)."""
    from nascompiler.run.data import SpaceFileData
    from nascompiler.search.events import StudyListener
    from nascompiler.search.study import Study, StudyConfig
    from nascompiler.spacefile import load_space_file

    class KillTheHolder(StudyListener):
        killed: int | None = None

        def trial_finished(self, study, trial):
            holders = study.executor.resident()
            if self.killed is None and trial.number in holders:
                slot = study.executor.slots[holders[trial.number]]
                slot.process.send_signal(signal.SIGKILL)
                slot.process.wait()
                self.killed = trial.number

    space = load_space_file(SPACE)
    config = StudyConfig.of(
        resolve_search(
            flags={
                "max_trials": 7, "seed": 3, "scheduler": "asha", "min_epochs": 1,
                "max_epochs": 4, "reduction_factor": 2,
            },
            file_training={**space.training, "backend": "tensorflow"},
        ),
        directory=tmp_path / "study",
        space=space.compile(),
        data=SpaceFileData(str(SPACE)),
    )  # fmt: skip
    killer = KillTheHolder()
    study = Study(config, listeners=[killer]).run()
    assert killer.killed is not None
    victim = study.store.trial(killer.killed)
    assert len(victim.rungs) > 1, "the killed holder's trial was promoted afterwards"
    assert not victim.rungs[1].get("resident")  # reloaded from its checkpoint
    _, uninterrupted = resident_search
    rows = [(t.number, t.status, t.epochs, t.objective) for t in study.store.trials()]
    assert rows == _epochs_and_scores(uninterrupted)
    with sqlite3.connect(tmp_path / "study" / "study.db") as db:
        told = db.execute("SELECT number, rung FROM tells ORDER BY position").fetchall()
    assert len(told) == len(set(told))  # no rung trained (and told) twice


@pytest.mark.slow
def test_a_search_on_jax_records_its_backend_and_keeps_it(tmp_path):
    run = _nascompile(
        "search", str(SPACE), "--backend", "jax", "--max-trials", "2", "--seed", "1",
        "--no-report", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    study = tmp_path / "generated" / "digits_tiny"
    log = (study / "logs" / "worker-0.log").read_text()
    assert "on jax" in log and "on tensorflow" not in log
    # Digits' 1,438 training samples are topped up to whole batches of 64 (run/data.py).
    assert "training split topped up with 34 repeated sample(s) to 1472" in log
    rows = _rows(tmp_path, "digits_tiny")
    assert [r["status"] for r in rows].count("complete") >= 1
    with sqlite3.connect(study / "study.db") as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    assert json.loads(meta["settings"])["backend"] == "jax"
    # Resuming without the flag stays on jax; another backend is refused in one line.
    again = _nascompile(
        "search", str(SPACE), "--backend", "tensorflow", "--max-trials", "3",
        cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 2
    assert "was made with backend='jax', not 'tensorflow'" in again.stderr
    assert "Traceback" not in again.stderr
