"""Multi-fidelity searches end to end on real data (digits): ASHA, Hyperband and median pruning,
checkpointed promotion, resuming after kill -9 mid-promotion, time budgets, schema migration,
and a loop that never ends early (worker recycling, a dead or hung worker)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import helpers
from helpers import (
    NASCOMPILE,
    SPACE,
    check_rung_histories,
    env,
    nascompile,
    trials,
    workers_in,
)
from nascompiler.errors import UsageError
from nascompiler.run.data import SpaceFileData
from nascompiler.run.executor import LocalExecutor
from nascompiler.search.events import StudyListener
from nascompiler.search.resolve import resolve_search
from nascompiler.search.study import Study, StudyConfig
from nascompiler.spacefile import load_space_file
from nascompiler.storage.store import SCHEMA_VERSION
from nascompiler.units import parse_duration

FIXTURES = Path(__file__).parent / "fixtures"
ASHA = ["--scheduler", "asha", "--min-epochs", "1", "--max-epochs", "9"]


def tells(study: Path) -> list[tuple[int, int | None, float | None]]:
    with sqlite3.connect(study / "study.db") as db:
        return db.execute(
            "SELECT number, rung, objective FROM tells ORDER BY position"
        ).fetchall()


def integrity(study: Path) -> str:
    with sqlite3.connect(study / "study.db") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def started(rows: list[dict]) -> int:
    return sum(r["status"] != "duplicate" for r in rows)


@pytest.fixture(scope="module")
def asha_study(tmp_path_factory) -> Path:
    """30 trials of ASHA (rungs 1, 3, 9 epochs) through the command line: past the workers'
    recycle point (25 trials), which once ended searches early."""
    cwd = tmp_path_factory.mktemp("asha")
    result = nascompile(
        "search",
        str(SPACE),
        *ASHA,
        "--max-trials",
        "30",
        "--seed",
        "1",
        cwd=cwd,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "search finished: all 30 trials are done" in result.stdout
    return cwd / "generated" / "digits_tiny"


@pytest.mark.slow
def test_asha_finishes_every_trial_with_several_budgets(asha_study):
    rows = trials(asha_study)
    assert started(rows) == 30
    assert not [r for r in rows if r["status"] == "running"]
    complete = [r for r in rows if r["status"] == "complete"]
    assert {r["epochs"] for r in complete} == {1, 3, 9}
    assert {r["rung"] for r in complete} == {0, 1, 2}
    # Far less training than 30 full trials.
    assert sum(r["epochs"] for r in rows) < 30 * 9 / 3
    check_rung_histories(rows)
    # The searcher was told once per rung reached, failed trials once with no result.
    told = tells(asha_study)
    assert len(told) == len(set((n, k) for n, k, _ in told))
    for r in complete:
        assert [k for n, k, _ in told if n == r["number"]] == [
            e["rung"] for e in json.loads(r["rungs"])
        ]
    assert integrity(asha_study) == "ok"


@pytest.mark.slow
def test_the_leaderboard_ranks_by_rung_first(asha_study):
    # The leaderboard puts every 9-epoch trial above every 1- or 3-epoch one.
    result = nascompile(
        "trials", "--study", str(asha_study), "--limit", "0", cwd=asha_study
    )
    assert result.returncode == 0, result.stderr
    leaderboard = result.stdout.split("Failed trials")[0]
    board_epochs = [
        int(line.split("│")[5].split()[0])
        for line in leaderboard.splitlines()
        if line.startswith("│")
    ]
    assert board_epochs == sorted(board_epochs, reverse=True) and board_epochs[0] == 9


@pytest.mark.slow
def test_checkpoints_are_pruned_and_bounded(asha_study):
    rows = trials(asha_study)
    left = sorted(p.name for p in (asha_study / "checkpoints").glob("*.npz"))
    recorded = sorted(Path(r["checkpoint"]).name for r in rows if r["checkpoint"])
    assert left == recorded  # no orphan files, no dangling rows
    assert left == []  # the search is done: none is needed any more (issue 21)
    # Only trials below the top rung that could still be promoted keep one:
    # at most 30 // 3 per rung below the top.
    for r in rows:
        if r["checkpoint"]:
            assert r["status"] == "complete" and r["rung"] < 2
    assert len(left) <= 2 * (30 // 3)
    assert not list((asha_study / "checkpoints").glob(".tmp-*"))


@pytest.mark.slow
def test_export_best_gives_the_top_rung_winner_with_its_last_weights(
    asha_study, tmp_path
):
    rows = [r for r in trials(asha_study) if r["status"] == "complete"]
    best = sorted(rows, key=lambda r: (-r["epochs"], -r["objective"], r["number"]))[0]
    out = tmp_path / "winner.py"
    result = nascompile(
        "export", "--best", "--study", str(asha_study), "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"trial #{best['number']}," in out.read_text()
    # The weights beside it are those of its best epoch: they score what the study recorded.
    spec = importlib.util.spec_from_file_location("winner", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    model.load_weights(str(out.with_name("winner.weights.h5")))
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = load_space_file(SPACE).load_data()
    _, accuracy = model.evaluate(*data[1], verbose=0)
    assert accuracy == pytest.approx(best["objective"], abs=1e-6)


@pytest.mark.slow
def test_hyperband_starts_trials_in_every_bracket(tmp_path):
    result = nascompile(
        "search", str(SPACE), "--scheduler", "hyperband", "--min-epochs", "1", "--max-epochs", "4",
        "--reduction-factor", "2", "--max-trials", "8", "--seed", "2", cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = trials(tmp_path / "generated" / "digits_tiny")
    assert started(rows) == 8
    # Rungs 1, 2, 4 epochs: Hyperband's brackets get ceil(3/3 * 4), ceil(3/2 * 2) and
    # ceil(3/1 * 1) trials per round of 10, the most exploratory bracket first.
    brackets = [r["bracket"] for r in rows]
    assert brackets[:8] == [0, 0, 0, 0, 1, 1, 1, 2]
    for r in rows:
        if r["status"] == "complete":
            assert json.loads(r["rungs"])[0]["rung"] == r["bracket"]
    check_rung_histories(rows)


@pytest.mark.slow
def test_median_pruning_stops_poor_trials_early(tmp_path):
    result = nascompile(
        "search", str(SPACE), "--scheduler", "median", "--epochs", "4", "--max-trials", "24",
        "--seed", "4", cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = trials(tmp_path / "generated" / "digits_tiny")
    complete = [r for r in rows if r["status"] == "complete"]
    full = [r for r in complete if r["epochs"] == 4]
    pruned = [r for r in complete if r["epochs"] < 4]
    assert len(full) >= 5 and pruned, [(r["epochs"], r["objective"]) for r in complete]
    for r in pruned:
        assert json.loads(r["rungs"])[-1].get("pruned") is True
        assert r["rung"] is None


@pytest.mark.slow
def test_kill_9_mid_promotion_then_resume_trains_no_rung_twice(tmp_path):
    slow = {"DIGITS_TINY_REPEAT": "10"}
    args = ["search", str(SPACE), "--scheduler", "asha", "--min-epochs", "1", "--max-epochs", "4",
            "--reduction-factor", "2", "--max-trials", "6", "--seed", "7"]  # fmt: skip
    process = subprocess.Popen(
        [NASCOMPILE, *args], cwd=tmp_path, env=env(**slow),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    study = tmp_path / "generated" / "digits_tiny"
    deadline = time.monotonic() + 400

    def running_promotion():
        try:
            with sqlite3.connect(study / "study.db", timeout=1) as db:
                return db.execute(
                    "SELECT number, rungs FROM trials WHERE status='running' AND rungs != '[]'"
                ).fetchone()
        except sqlite3.OperationalError:
            return None

    # Kill the search while a promoted job runs: the one running at the moment of the kill
    # (a resident promotion is quick, and may end during the wait for it to train a while).
    promoted = None
    while promoted is None:
        assert time.monotonic() < deadline, "no promoted trial ran in time"
        assert process.poll() is None, "the search ended before a promotion ran"
        seen = running_promotion()
        if seen is None:
            time.sleep(0.05)
            continue
        helpers.wait_for_cpu(  # well into the promoted job
            lambda: workers_in(tmp_path), 0.5, 120, "the promoted job to train a while"
        )
        now = running_promotion()
        if now is not None and now[0] == seen[0]:
            process.send_signal(signal.SIGKILL)
            promoted = now
    process.wait(30)
    deadline = time.monotonic() + 15
    while workers_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not workers_in(tmp_path)
    assert integrity(study) == "ok"
    before = {r["number"]: r for r in trials(study)}
    number, rungs_before = promoted[0], json.loads(promoted[1])
    assert before[number]["status"] == "running"
    assert (
        before[number]["checkpoint"] and (study / before[number]["checkpoint"]).exists()
    )

    resumed = nascompile(*args, cwd=tmp_path, timeout=600, **slow)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = trials(study)
    assert started(after) == 6 and not [r for r in after if r["status"] == "running"]
    assert integrity(study) == "ok"
    check_rung_histories(after)
    told = tells(study)
    assert len(told) == len(set((n, k) for n, k, _ in told)), "a rung was told twice"
    # The interrupted trial kept its earlier rungs as they were and continued from them.
    resumed_trial = {r["number"]: r for r in after}[number]
    assert json.loads(resumed_trial["rungs"])[: len(rungs_before)] == rungs_before
    # Finished work was not touched.
    for n, row in before.items():
        if row["status"] in ("complete", "failed") and n != number:
            mine = {r["number"]: r for r in after}[n]
            assert json.loads(mine["rungs"])[
                : len(json.loads(row["rungs"]))
            ] == json.loads(row["rungs"])


@pytest.mark.slow
def test_a_version_1_study_is_migrated_in_place_and_resumed(tmp_path):
    """A study written by nascompiler 0.1 (schema 1: tests/fixtures/v1_study, four trials of
    ``--searcher evolution --seed 3``) opens, migrates and continues as if never interrupted.
    """
    shutil.copy(SPACE, tmp_path / "digits_tiny.py")
    study = tmp_path / "generated" / "digits_tiny"
    shutil.copytree(FIXTURES / "v1_study", study)
    old = {r["number"]: r for r in trials(study)}
    assert "told_order" in old[0] and len(old) == 4
    args = [
        "search",
        "digits_tiny.py",
        "--max-trials",
        "6",
        "--searcher",
        "evolution",
        "--seed",
        "3",
    ]
    result = nascompile(*args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(study / "study.db") as db:
        assert (
            json.loads(
                db.execute(
                    "SELECT value FROM meta WHERE key='schema_version'"
                ).fetchone()[0]
            )
            == SCHEMA_VERSION
        )
    rows = trials(study)
    assert started(rows) == 6 and integrity(study) == "ok"
    for n, row in old.items():
        for key in (
            "candidate_id",
            "assignment",
            "status",
            "objective",
            "metrics",
            "finished_at",
        ):
            assert rows[n][key] == row[key]
        if row["status"] == "complete":
            assert rows[n]["epochs"] == 1 and rows[n]["rung"] is None
    assert [n for n, _, _ in tells(study)][:4] == sorted(
        old, key=lambda n: old[n]["told_order"]
    )
    # The replayed searcher proposes what an uninterrupted run of today's code proposes.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(SPACE, fresh / "digits_tiny.py")
    again = nascompile(*args, cwd=fresh, timeout=600)
    assert again.returncode == 0, again.stderr
    assert [r["assignment"] for r in trials(fresh / "generated" / "digits_tiny")] == [
        r["assignment"] for r in rows
    ]


@pytest.mark.slow
def test_time_budget_stops_starting_work_and_says_so(tmp_path):
    result = nascompile(
        "search", str(SPACE), "--max-trials", "30", "--time-budget", "4s", "--seed", "5",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the time budget of 4s is spent" in result.stdout
    rows = trials(tmp_path / "generated" / "digits_tiny")
    assert 1 <= started(rows) < 30
    assert not [r for r in rows if r["status"] == "running"]  # running jobs finished


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90),
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1.5m", 90),
        (45, 45),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "5 minutes", True])
def test_bad_durations_are_clear_errors(text):
    with pytest.raises(UsageError, match="--time-budget"):
        parse_duration(text, "--time-budget")


# --------------------------------------------------------------------------- the loop never ends early
def _config(directory: Path, max_trials: int, **flags) -> StudyConfig:
    space = load_space_file(SPACE)
    settings = resolve_search(
        flags={"max_trials": max_trials, "searcher": "random", "seed": 11, **flags},
        file_training=space.training,
    )
    return StudyConfig.of(
        settings,
        directory=directory,
        space=space.compile(),
        data=SpaceFileData(str(SPACE)),
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_the_search_runs_past_every_worker_recycle(tmp_path, workers):
    config = _config(tmp_path / "study", 9, workers=workers)
    executor = LocalExecutor(
        config.data, config.settings.to_json(), workers, recycle_after=2
    )
    study = Study(config, executor=executor).run()
    assert study.started == 9 and study.done == 9
    assert study.end_reason == "all 9 trials are done"


class _Sabotage(StudyListener):
    """Does something to the worker running a given trial as soon as it starts."""

    def __init__(self, number: int, action):
        self.number, self.action = number, action

    def trial_started(self, study, trial):
        if trial.number == self.number:
            slot = next(
                s
                for s in study.executor.slots
                if s.task and s.task.number == trial.number
            )
            self.action(slot.process)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_worker_fails_its_trial_and_the_search_goes_on(tmp_path, workers):
    config = _config(tmp_path / "study", 5, workers=workers)
    sabotage = _Sabotage(1, lambda p: p.send_signal(signal.SIGKILL))
    study = Study(config, listeners=[sabotage]).run()
    rows = study.store.trials()
    assert study.started == 5 and study.done == 5
    assert "the worker process died: killed by SIGKILL" in rows[1].error


@pytest.mark.slow
def test_a_hung_worker_is_stopped_by_the_trial_timeout(tmp_path):
    config = _config(tmp_path / "study", 4, workers=1, trial_timeout=4.0)
    sabotage = _Sabotage(1, lambda p: p.send_signal(signal.SIGSTOP))
    study = Study(config, listeners=[sabotage]).run()
    rows = study.store.trials()
    assert study.done == 4
    assert "ran longer than --trial-timeout (4 s)" in rows[1].error
    assert [r.status for r in rows if r.number != 1].count("running") == 0


@pytest.mark.slow
def test_a_checkpoint_restores_weights_and_optimizer_state(tmp_path):
    import keras

    from nascompiler.run.trainer import load_checkpoint, save_checkpoint

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)]
        )
        m.compile(optimizer="adam", loss="mse")
        return m

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    trained = model()
    trained.fit(x, y, epochs=2, verbose=0)
    save_checkpoint(trained, str(tmp_path / "c.npz"))
    restored = model()
    load_checkpoint(restored, str(tmp_path / "c.npz"))
    for a, b in zip(trained.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (
        int(restored.optimizer.iterations.numpy())
        == int(trained.optimizer.iterations.numpy())
        == 4
    )
    for a, b in zip(trained.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Training on from the checkpoint equals training on without stopping.
    keras.utils.set_random_seed(1)
    trained.fit(x, y, epochs=3, initial_epoch=2, verbose=0, shuffle=False)
    keras.utils.set_random_seed(1)
    restored.fit(x, y, epochs=3, initial_epoch=2, verbose=0, shuffle=False)
    for a, b in zip(trained.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.slow
def test_the_python_api_takes_the_scheduler_options(tmp_path):
    from nascompiler import HyperKeras
    from nascompiler.searchers import RandomSearcher

    space = load_space_file(SPACE)
    (x, y), (xv, yv) = space.load_data()
    hk = HyperKeras(
        RandomSearcher(space.module.search_space, optimize_direction="max"),
        out=tmp_path,
        study="api",
    )
    hk.search(
        x,
        y,
        xv,
        yv,
        max_trials=6,
        scheduler="asha",
        min_epochs=1,
        max_epochs=3,
        batch_size=64,
    )
    rows = hk.trials()
    assert len([t for t in rows if t.status != "duplicate"]) == 6
    records = hk.study.store.trials()
    assert {r.epochs for r in records if r.status == "complete"} >= {1, 3}
    assert (
        max(hk.get_best_trial().metrics["val_accuracy"]) == hk.get_best_trial().reward
    )
    with pytest.raises(UsageError, match="unknown scheduler"):
        HyperKeras(
            RandomSearcher(space.module.search_space), out=tmp_path, study="bad"
        ).search(x, y, xv, yv, max_trials=2, scheduler="sometimes")


class _KillFirstPromotion(StudyListener):
    """Kills the worker that runs the first promoted job (a trial failing in a later rung)."""

    def __init__(self):
        self.killed: int | None = None

    def trial_started(self, study, trial):
        if self.killed is None and trial.rungs:
            slot = next(
                s
                for s in study.executor.slots
                if s.task and s.task.number == trial.number
            )
            slot.process.send_signal(signal.SIGKILL)
            self.killed = trial.number


@pytest.mark.slow
def test_a_trial_failing_in_a_later_rung_keeps_its_last_valid_rung(tmp_path):
    config = _config(
        tmp_path / "study", 8, workers=1, scheduler="asha", min_epochs=1, max_epochs=4,
        reduction_factor=2,
    )  # fmt: skip
    killer = _KillFirstPromotion()
    study = Study(config, listeners=[killer]).run()
    assert killer.killed is not None
    stopped = study.store.trial(killer.killed)
    # Its rung-0 result stays its result, marked as stopped there (issue 21): nothing valid
    # is lost, and it is never promoted again.
    assert stopped.status == "complete" and stopped.rung == 0
    assert "the worker process died" in stopped.error
    assert stopped.error.startswith("stopped at rung 0: its promotion to rung 1 failed")
    assert [e["rung"] for e in stopped.rungs] == [0] and stopped.rungs[0]["stopped"]
    assert stopped.objective == stopped.rungs[0]["objective"] is not None
    assert stopped.checkpoint is None
    assert not list(
        (tmp_path / "study" / "checkpoints").glob(f"trial-{killer.killed}-*")
    )
    assert killer.killed in [t.number for t in study.store.leaderboard("max")]
    assert study.started == 8 and study.end_reason == "all 8 trials are done"
    told = [
        (t.rung, t.objective) for t in study.store.tells() if t.number == killer.killed
    ]
    assert told == [(0, stopped.objective), (1, None)]
    # A later proposal of the same candidate reuses its kept result, not "failed".
    assert study._new_trial(dict(stopped.assignment)) is None
    duplicate = study.store.trials()[-1]
    assert duplicate.status == "duplicate" and duplicate.duplicate_of == killer.killed
    assert duplicate.objective == stopped.objective and duplicate.error is None


@pytest.mark.slow
def test_a_full_disk_while_writing_a_module_leaves_no_trial_that_cannot_run(
    tmp_path, monkeypatch
):
    """The module is written before its trial is stored as running: a write that fails (disk
    full) leaves no row behind, and the resumed search runs that candidate normally."""
    import errno

    import nascompiler.search.study as study_module

    real = study_module.write_atomic
    calls = {"n": 0}

    def full_disk(path, text):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr(study_module, "write_atomic", full_disk)
    config = _config(tmp_path / "study", 3, workers=1)
    with pytest.raises(OSError):
        Study(config).run()
    rows = Study(config).store.trials()
    assert [r.status for r in rows if r.status == "running"] == []
    for r in rows:
        if r.candidate_id:
            assert (tmp_path / "study" / "candidates" / f"{r.candidate_id}.py").exists()
    monkeypatch.setattr(study_module, "write_atomic", real)
    resumed = Study(config).run()
    assert resumed.started == 3 and resumed.done == 3
