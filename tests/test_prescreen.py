"""``--prescreen PROXY:K``: K proposals per trial slot, scored untrained by a zero-cost proxy,
only the best trained, the others stored as ``screened``.

Fast tests: the resolver's parsing and errors (CLI, API, space file, stored study), the choice
of the best candidate, and the study's loop on an executor that 'trains' and 'scores' at once
(every searcher and scheduler; counts; an interrupted slot resumed exactly; the study
definition). One slow test runs ``nascompile search --prescreen`` end to end, killed with
kill -9 and resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import NASCOMPILE, assert_one_line_error, env, nascompile, run, workers_in
from nascompiler.config.settings import Prescreen, argument_name
from nascompiler.errors import UsageError
from nascompiler.run.executor import Executor
from nascompiler.search.resolve import parse_prescreen, resolve_search
from nascompiler.search.study import best_screened

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text, expected",
    [
        ("naswot:3", Prescreen("naswot", 3)),
        ("params:2", Prescreen("params", 2)),
        (" FLOPS : 10 ", Prescreen("flops", 10)),
        ("jacob_cov:4", Prescreen("jacob_cov", 4)),
    ],
)
def test_prescreen_text_is_parsed_once(text, expected):
    assert parse_prescreen(text, "--prescreen") == expected
    assert str(expected) == f"{expected.proxy}:{expected.k}"


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("naswot", "PROXY:K with PROXY one of synflow, naswot"),
        ("accuracy:3", "got 'accuracy:3'"),
        ("naswot:x", "K an integer of at least 2"),
        ("naswot:1", "K must be at least 2"),
        ("naswot:-3", "K must be at least 2"),
    ],
)
def test_a_bad_prescreen_is_one_line_naming_its_flag(value, fragment):
    with pytest.raises(UsageError) as raised:
        resolve_search(flags={"prescreen": value})
    message = str(raised.value)
    assert message.startswith("--prescreen") and fragment in message
    assert "\n" not in message


def test_prescreen_errors_name_the_api_argument_and_the_space_file_key():
    with pytest.raises(
        UsageError, match=r"^prescreen must be 'PROXY:K'.*got 3 \(int\)"
    ):
        resolve_search(flags={"prescreen": 3}, name=argument_name)
    with pytest.raises(UsageError, match=r'^space.py: SEARCH\["prescreen"\]: K must'):
        resolve_search(
            file_search={"prescreen": "synflow:1"}, search_source="space.py: SEARCH"
        )


def test_prescreen_comes_from_flags_then_file_then_the_stored_study():
    assert resolve_search().prescreen is None
    stored = {"prescreen": "params:3"}
    assert resolve_search(stored=stored).prescreen == Prescreen("params", 3)
    from_file = resolve_search(stored=stored, file_search={"prescreen": "naswot:2"})
    assert from_file.prescreen == Prescreen("naswot", 2)
    flagged = resolve_search(
        flags={"prescreen": "flops:4"}, file_search={"prescreen": "naswot:2"}
    )
    assert flagged.prescreen == Prescreen("flops", 4)


def test_the_cli_refuses_a_bad_prescreen_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "search", str(SPACE), "--prescreen", "params:1")
    assert_one_line_error(code, err, "--prescreen", "K must be at least 2")
    assert not (tmp_path / "generated" / "digits_tiny").exists()


def test_the_best_candidate_is_the_highest_score_nan_last_ties_earliest():
    assert best_screened([3, 4, 5], {3: 0.5, 4: 2.0, 5: 1.0}) == 4
    assert best_screened([3, 4, 5], {3: 2.0, 4: 2.0, 5: 1.0}) == 3
    assert best_screened([3, 4], {3: math.nan, 4: -math.inf}) == 4
    assert best_screened([3, 4], {3: None, 4: -7.0}) == 4
    assert best_screened([6, 7], {6: math.nan, 7: math.nan}) == 6


# --------------------------------------------------------------------------- the loop
def _hash01(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def proxy_of(candidate_id: str) -> float:
    return _hash01("proxy" + candidate_id)


def objective_of(candidate_id: str, epochs: int) -> float:
    return 0.5 * _hash01("objective" + candidate_id) + 0.01 * epochs


class InstantExecutor(Executor):
    """Scores and trains at once, deterministically from the candidate id; one slot. With
    ``stop_after`` it raises KeyboardInterrupt (the search dies) on that poll."""

    trial_timeout = None

    def __init__(self, stop_after: int | None = None):
        self.pending: list = []
        self.tasks: list = []
        self.polls = 0
        self.stop_after = stop_after

    def start(self):
        from nascompiler.run.data import Dataset

        x = np.zeros((20, 8, 8, 1), dtype="float32")
        y = np.arange(20) % 10
        return Dataset.from_arrays(x, y, x, y).summary()

    def free_slots(self):
        return 1 - len(self.pending)

    def submit(self, task):
        self.tasks.append(task)
        self.pending.append(task)

    def poll(self, timeout):
        from nascompiler.kinds import TrialStatus
        from nascompiler.run.executor import ResultEvent
        from nascompiler.run.messages import TrialOutcome

        self.polls += 1
        if self.stop_after is not None and self.polls > self.stop_after:
            raise KeyboardInterrupt
        done, self.pending = self.pending, []
        events = []
        for t in done:
            if t.screen_only:
                name = t.proxies[0]
                outcome = TrialOutcome(
                    t.number,
                    TrialStatus.COMPLETE,
                    proxies={name: proxy_of(t.candidate_id)},
                    proxy_seconds={name: 0.01},
                )
            else:
                value = objective_of(t.candidate_id, t.epochs)
                trained = t.epochs - t.initial_epoch
                outcome = TrialOutcome(
                    t.number,
                    TrialStatus.COMPLETE,
                    objective=value,
                    metrics={
                        "val_accuracy": [value] * trained,
                        "loss": [1.0] * trained,
                    },
                    params=100,
                    epochs=t.epochs,
                    checkpoint_saved=t.checkpoint_path is not None,
                )
                if t.checkpoint_path:
                    Path(t.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
                    Path(t.checkpoint_path).write_bytes(b"checkpoint")
            events.append(ResultEvent(outcome))
        return events

    def shutdown(self):
        pass

    def describe(self):
        return None

    def worker_of(self, number):
        return None


@pytest.fixture(scope="module")
def tiny_ir():
    from nascompiler.spacefile import load_space_file

    return load_space_file(SPACE).compile()


def _config(tmp_path, ir, **flags):
    from nascompiler.run.data import SpaceFileData
    from nascompiler.search.study import StudyConfig

    flags = {"max_trials": 4, "seed": 5, "prescreen": "naswot:3", **flags}
    training = {"epochs": flags.pop("epochs", 1), "batch_size": 64}
    search = resolve_search(flags=flags, file_training=training)
    return StudyConfig.of(
        search, directory=tmp_path / "study", space=ir, data=SpaceFileData(str(SPACE))
    )


def _run(config, executor=None):
    from nascompiler.search.study import Study

    study = Study(config, executor=executor or InstantExecutor())
    try:
        study.run()
    finally:
        study.store.close()
    return study


def _rows(config):
    from nascompiler.storage.store import Store

    with Store(config.directory) as store:
        trials = store.trials()
        rows = [(t.number, t.candidate_id, t.status, t.asked_after) for t in trials]
        tells = [(t.number, t.rung, t.objective) for t in store.tells()]
        proxies = store.proxies()
        meta = store.get_meta("prescreen_group")
    return trials, rows, tells, proxies, meta


def _check_slots(config, trials, proxies):
    """Each slot is K consecutive asks; it trains at most one candidate, the best of its
    candidates by the proxy, and the others are screened (or duplicates)."""
    k = config.prescreen.k
    proxy = config.prescreen.proxy
    trained = [t for t in trials if t.status in ("complete", "failed")]
    assert len(trained) == config.max_trials
    for first in range(0, len(trials), k):
        slot = trials[first : first + k]
        pool = [t for t in slot if t.status in ("complete", "failed", "screened")]
        chosen = [t for t in pool if t.status != "screened"]
        assert len(chosen) <= 1, [(t.number, t.status) for t in slot]
        if chosen:
            scores = {t.number: proxies[t.number][proxy][0] for t in pool}
            assert best_screened([t.number for t in pool], scores) == chosen[0].number
        for t in slot:
            assert t.status in ("complete", "failed", "screened", "duplicate")
            if t.status == "screened":
                assert (
                    t.epochs == 0 and t.objective is None and "screened out" in t.error
                )


@pytest.mark.parametrize(
    "searcher, scheduler",
    [
        ("random", "full"),
        ("evolution", "full"),
        ("mcts", "full"),
        ("tpe", "full"),
        ("random", "asha"),
        ("tpe", "hyperband"),
    ],
)
def test_each_slot_trains_only_its_best_candidate(
    tmp_path, tiny_ir, searcher, scheduler
):
    flags = {"searcher": searcher, "scheduler": scheduler}
    if scheduler != "full":
        flags.update(min_epochs=1, max_epochs=4, reduction_factor=2, max_trials=6)
    config = _config(tmp_path, tiny_ir, **flags)
    executor = InstantExecutor()
    _run(config, executor)
    trials, _, tells, proxies, meta = _rows(config)
    _check_slots(config, trials, proxies)
    assert meta is None  # no slot left open
    screened = [t for t in trials if t.status == "screened"]
    assert screened
    # screened candidates were scored, never trained; told once each, with no objective
    trained_numbers = {t.number for t in executor.tasks if not t.screen_only}
    assert not trained_numbers & {t.number for t in screened}
    for t in screened:
        assert [(n, o) for n, _, o in tells if n == t.number] == [(t.number, None)]
    # the screening jobs share one batch per slot: the seed of the slot's first ask
    seeds = {}
    for task in executor.tasks:
        if task.screen_only:
            seeds.setdefault(task.proxy_seed, []).append(task.number)
    assert all(len(set(n // 3 for n in numbers)) == 1 for numbers in seeds.values())
    if scheduler != "full":  # promotions are never screened: they continue a trial
        assert any(t.initial_epoch for t in executor.tasks)
        assert not any(t.screen_only and t.initial_epoch for t in executor.tasks)


def test_static_proxies_need_no_job_and_are_stored(tmp_path, tiny_ir):
    config = _config(tmp_path, tiny_ir, prescreen="params:3")
    executor = InstantExecutor()
    _run(config, executor)
    trials, _, _, proxies, _ = _rows(config)
    assert not [t for t in executor.tasks if t.screen_only]
    _check_slots(config, trials, proxies)
    for t in trials:
        if t.status in ("complete", "screened"):
            assert proxies[t.number]["params"][0] > 0


@pytest.mark.parametrize("searcher", ["random", "evolution", "tpe"])
@pytest.mark.parametrize("stop_after", [1, 2, 3, 5])
def test_a_search_stopped_anywhere_resumes_as_if_never_stopped(
    tmp_path, tiny_ir, searcher, stop_after
):
    reference = _config(tmp_path / "a", tiny_ir, searcher=searcher)
    _run(reference)
    resumed = _config(tmp_path / "b", tiny_ir, searcher=searcher)
    with pytest.raises(KeyboardInterrupt):
        _run(resumed, InstantExecutor(stop_after=stop_after))
    _run(resumed)
    want, got = _rows(reference), _rows(resumed)
    assert got[1] == want[1]  # the same trials: numbers, candidates, statuses, asks
    assert got[2] == want[2]  # told the same results in the same order
    assert {n: {k: v for k, (v, _) in p.items()} for n, p in got[3].items()} == {
        n: {k: v for k, (v, _) in p.items()} for n, p in want[3].items()
    }


def test_a_slot_interrupted_mid_screening_keeps_its_scores(tmp_path, tiny_ir):
    config = _config(tmp_path, tiny_ir)
    with pytest.raises(KeyboardInterrupt):
        _run(config, InstantExecutor(stop_after=2))
    trials, _, _, proxies, meta = _rows(config)
    assert meta == 0  # the first slot is still open
    assert [t.status for t in trials] == ["running"] * 3
    assert sorted(proxies) == [0, 1]  # two of its three candidates were scored
    executor = InstantExecutor()
    _run(config, executor)
    rescored = [t.number for t in executor.tasks if t.screen_only and t.number < 3]
    assert rescored == [2]  # only the one not scored yet
    trials, _, _, proxies, meta = _rows(config)
    _check_slots(config, trials, proxies)


def test_prescreen_is_part_of_the_study_definition(tmp_path, tiny_ir):
    from nascompiler.search.resolve import stored_definition
    from nascompiler.search.study import Study

    config = _config(tmp_path, tiny_ir, max_trials=2)
    _run(config)
    stored = stored_definition(config.directory)
    assert stored["prescreen"] == "naswot:3"
    again = resolve_search(flags={"max_trials": 3}, stored=stored)
    assert again.prescreen == Prescreen("naswot", 3)  # resumed without the flag
    other = dataclasses.replace(config, prescreen=Prescreen("params", 3))
    with pytest.raises(UsageError, match="prescreen='naswot:3', not 'params:3'"):
        Study(other, executor=InstantExecutor())
    off = dataclasses.replace(config, prescreen=None)
    with pytest.raises(UsageError, match="prescreen='naswot:3', not None"):
        Study(off, executor=InstantExecutor())


def test_screened_trials_are_listed_not_failed_and_cannot_be_exported(
    tmp_path, tiny_ir, capsys
):
    config = _config(tmp_path, tiny_ir, max_trials=2, prescreen="flops:2")
    _run(config)
    code, out, err = run(capsys, "trials", "--study", str(config.directory), "--json")
    assert code in (0, None), err
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    statuses = [r["status"] for r in rows]
    assert statuses.count("screened") >= 1 and statuses.count("complete") == 2
    code, out, err = run(capsys, "trials", "--study", str(config.directory))
    assert "screened" in out and "Failed trials" not in out
    screened = next(r["number"] for r in rows if r["status"] == "screened")
    code, _, err = run(
        capsys, "export", "--study", str(config.directory), "--trial", str(screened)
    )
    assert_one_line_error(code, err, f"trial #{screened} was never trained")


# --------------------------------------------------------------------------- end to end
def _db_state(db_path: Path):
    try:
        with sqlite3.connect(db_path, timeout=1) as db:
            group = db.execute(
                "SELECT value FROM meta WHERE key='prescreen_group'"
            ).fetchone()
            scored = db.execute("SELECT COUNT(*) FROM proxies").fetchone()[0]
            running = db.execute(
                "SELECT COUNT(*) FROM trials WHERE status='running'"
            ).fetchone()[0]
            screened = db.execute(
                "SELECT COUNT(*) FROM trials WHERE status='screened'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return None
    return (json.loads(group[0]) if group else None), scored, running, screened


@pytest.mark.slow
def test_cli_prescreen_end_to_end_with_kill_9_and_resume(tmp_path):
    from nascompiler.storage.store import Store

    # params:3 (static): every slot's winner has the most parameters of its candidates
    args = ["search", str(SPACE), "--max-trials", "3", "--seed", "3", "--no-report"]
    (tmp_path / "a").mkdir()
    done = nascompile(*args, "--prescreen", "params:3", cwd=tmp_path / "a")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "screened out by a proxy" in done.stdout
    with Store(tmp_path / "a" / "generated" / "digits_tiny") as store:
        reference = store.trials()
        static = store.proxies()
    counts = [t.status for t in reference]
    assert counts.count("complete") + counts.count("failed") == 3
    assert counts.count("screened") >= 2 and "running" not in counts
    for first in range(0, len(reference), 3):
        slot = [t for t in reference[first : first + 3] if t.status != "duplicate"]
        best = max(slot, key=lambda t: (static[t.number]["params"][0], -t.number))
        assert best.status in ("complete", "failed")
        assert all(t.status == "screened" for t in slot if t is not best)

    # naswot:3 (computed in the workers), killed with kill -9 and resumed without the flag
    cwd = tmp_path / "b"
    cwd.mkdir()
    study = cwd / "generated" / "digits_tiny"
    slow = {"DIGITS_TINY_REPEAT": "6"}  # a trained candidate takes a few seconds
    process = subprocess.Popen(
        [NASCOMPILE, *args, "--prescreen", "naswot:3"], cwd=cwd, env=env(**slow),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, "the search never screened a slot"
        assert process.poll() is None, "the search ended before it could be killed"
        state = _db_state(study / "study.db") if (study / "study.db").exists() else None
        # mid-screening of a later slot if caught, else while a chosen trial trains
        if state and state[3] >= 2 and (state[0] is not None and state[0] > 0):
            break
        if state and state[3] >= 4 and state[2]:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 15
    while workers_in(cwd) and time.monotonic() < deadline:
        time.sleep(0.2)
    resumed = nascompile(*args, cwd=cwd, timeout=300, **slow)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Store(study) as store:
        after = store.trials()
        scores = store.proxies()
        assert store.get_meta("prescreen") == "naswot:3"
        assert store.get_meta("prescreen_group") is None
        told = [t.number for t in store.tells()]
    statuses = [t.status for t in after]
    assert statuses.count("complete") + statuses.count("failed") == 3
    assert "running" not in statuses and len(told) == len(set(told))
    # the random searcher proposes the same candidates whatever the proxy: the replay after
    # the kill asked exactly as the uninterrupted search did
    assert [t.candidate_id for t in after] == [
        t.candidate_id for t in reference[: len(after)]
    ]
    for first in range(0, len(after), 3):
        slot = [t for t in after[first : first + 3] if t.status != "duplicate"]
        chosen = [t for t in slot if t.status != "screened"]
        assert len(chosen) == 1
        values = {t.number: scores[t.number]["naswot"][0] for t in slot}
        assert best_screened([t.number for t in slot], values) == chosen[0].number


# --------------------------------------------------------------------------- the searchers
def test_screened_candidates_are_told_as_screened_not_as_results(
    tmp_path, tiny_ir, monkeypatch
):
    from nascompiler.search.searchers import RandomSearch

    told: list = []
    screened: list = []
    monkeypatch.setattr(RandomSearch, "tell", lambda self, a, o: told.append((a, o)))
    monkeypatch.setattr(
        RandomSearch, "tell_screened", lambda self, a: screened.append(a)
    )
    config = _config(tmp_path, tiny_ir, max_trials=3)
    _run(config)
    trials = _rows(config)[0]
    assert screened == [t.assignment for t in trials if t.status == "screened"]
    assert [a for a, _ in told] == [
        t.assignment for t in sorted(trials, key=lambda t: t.finished_at)
        if t.status == "complete"
    ]  # fmt: skip
    assert all(o is not None for _, o in told)


def test_optuna_records_a_screened_ask_as_pruned(tiny_ir):
    import optuna

    from nascompiler.search.searchers import make_searcher

    searcher = make_searcher("tpe", tiny_ir, seed=0)
    first, second = searcher.ask(), searcher.ask()
    searcher.tell_screened(first)
    searcher.tell(second, 0.5)
    states = [t.state for t in searcher._study.trials]
    assert states == [optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE]


def test_evolution_closes_a_screened_ask_and_keeps_it_out_of_its_population(tiny_ir):
    from nascompiler.search.searchers import make_searcher

    searcher = make_searcher("evolution", tiny_ir, seed=0)
    first, second = searcher.ask(), searcher.ask()
    searcher.tell_screened(first)
    searcher.tell(second, 0.5)
    assert searcher.population == (tiny_ir.validate(second),)
    assert not searcher._in_flight
