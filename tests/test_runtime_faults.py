"""Runtime reliability (issue 21): the time budget survives kill -9 and SIGTERM, cluster jobs
honour --trial-timeout, --cluster fails fast on something that is not a Dask scheduler, a failed
promotion keeps the trial's earlier rungs, bounded runs of rejected proposals, checkpoints
cleaned up at the end, a worker killed while loading the data is retried once; and a seeded
fault-injection run that kills the driver and the worker at random points and resumes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from helpers import NASCOMPILE, SPACE, check_rung_histories, env, trials, workers_in
from nascompiler.run.executor import Executor

REPO = Path(__file__).resolve().parents[1]


def renv(**extra: str) -> dict[str, str]:
    """The test environment with this checkout first on the path (the CLI and its workers)."""
    return env(PYTHONPATH=str(REPO), **extra)


def _read_only(study: Path) -> sqlite3.Connection:
    """The study's database, read only: never creates it before the search does."""
    return sqlite3.connect(f"file:{study / 'study.db'}?mode=ro", uri=True, timeout=5)


def meta(study: Path, key: str):
    try:
        with _read_only(study) as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else json.loads(row[0])


def _trial_count(study: Path) -> int:
    """Trials stored so far (0 while the study is still being created)."""
    try:
        with _read_only(study) as db:
            return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def integrity(study: Path) -> str:
    with sqlite3.connect(study / "study.db") as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def wait_until(condition, timeout: float, what: str, process=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if process is not None:
            assert process.poll() is None, f"the search ended before {what}"
        time.sleep(0.1)


# --------------------------------------------------------------------------- finding 3: the budget
@pytest.mark.slow
def test_the_time_budget_survives_kill_9_and_sigterm_summarises(tmp_path):
    budget = 10.0
    args = ["search", str(SPACE), "--max-trials", "500", "--time-budget", f"{budget:g}s",
            "--seed", "3"]  # fmt: skip
    study = tmp_path / "generated" / "digits_tiny"
    slow = {"DIGITS_TINY_REPEAT": "2"}

    # 1. kill -9 some seconds into the search: the time spent up to then is stored.
    process = subprocess.Popen(
        [NASCOMPILE, *args], cwd=tmp_path, env=renv(**slow),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(
        lambda: _trial_count(study) >= 1,
        300, "the first trial", process,
    )  # fmt: skip
    first_trial = time.monotonic()
    time.sleep(4)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed_after = time.monotonic() - first_trial
    spent = meta(study, "search_seconds")
    assert spent is not None, "nothing of the time spent was stored before kill -9"
    # At most one heartbeat (2 s) and a little scheduling slack lost.
    assert spent >= killed_after - 3.5, (spent, killed_after)
    assert integrity(study) == "ok"

    # 2. SIGTERM: the search stops as Ctrl-C stops it, says what it kept, exit code 130.
    process = subprocess.Popen(
        [NASCOMPILE, *args], cwd=tmp_path, env=renv(**slow),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_until(
        lambda: (meta(study, "search_seconds") or 0) >= spent + 2,
        300, "the second run to search a while", process,
    )  # fmt: skip
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130, out
    assert "Terminated (SIGTERM)." in out and "will run again" in out, out
    assert "Traceback" not in out, out
    spent2 = meta(study, "search_seconds")
    assert spent2 >= spent + 2
    assert integrity(study) == "ok"

    # 3. The resumed run uses only what is left of the budget.
    result = subprocess.run(
        [NASCOMPILE, *args], cwd=tmp_path, env=renv(**slow), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the time budget of 10s is spent" in result.stdout
    rows = trials(study)
    assert not [r for r in rows if r["status"] == "running"]
    longest = max(r["wall_seconds"] or 0 for r in rows)
    total = meta(study, "search_seconds")
    assert budget <= total <= budget + longest + 2.5, (total, longest)
    # The kill lost at most a heartbeat: what ran before it plus what followed is within
    # budget plus one trial's slack.
    assert killed_after + (total - spent) <= budget + longest + 4.5


# --------------------------------------------------------------------------- finding 5: --cluster
class _FakeServer:
    """A TCP server on 127.0.0.1 that is not a Dask scheduler: it waits silently, or greets
    every connection with ``greeting``."""

    def __init__(self, greeting: bytes | None = None):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.held: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # never answers a request: an HTTP server waiting
            if self.greeting is not None:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize(
    "greeting, fragment",
    [
        (None, "said nothing within 1 s; it is not a Dask scheduler"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "answered in another protocol"),
        (b"220 smtp.example ESMTP\r\n", "answered in another protocol"),
    ],
)
def test_a_server_that_is_not_a_dask_scheduler_is_refused_quickly(greeting, fragment):
    from nascompiler.errors import UsageError
    from nascompiler.run.dask_executor import parse_cluster, probe_scheduler

    server = _FakeServer(greeting)
    try:
        started = time.monotonic()
        with pytest.raises(UsageError) as caught:
            probe_scheduler(parse_cluster(f"tcp://127.0.0.1:{server.port}"), timeout=1)
        assert time.monotonic() - started < 3
        message = str(caught.value)
        assert fragment in message and "\n" not in message
        assert message.startswith(f"--cluster tcp://127.0.0.1:{server.port}: ")
    finally:
        server.close()


@pytest.mark.slow
def test_a_real_scheduler_passes_the_probe():
    import logging

    distributed = pytest.importorskip("distributed")
    from nascompiler.run.dask_executor import parse_cluster, probe_scheduler

    cluster = distributed.LocalCluster(
        n_workers=0, host="127.0.0.1", scheduler_port=0, dashboard_address=None,
        silence_logs=logging.ERROR,
    )  # fmt: skip
    try:
        probe_scheduler(parse_cluster(cluster.scheduler_address), timeout=5)
    finally:
        cluster.close()


def test_local_clusters_are_capped_like_workers(monkeypatch):
    from nascompiler.errors import UsageError
    from nascompiler.run import dask_executor

    monkeypatch.setattr(dask_executor, "max_workers", lambda: 4)
    assert dask_executor.parse_cluster("local:4").local_workers == 4
    with pytest.raises(
        UsageError, match="more than this machine's 4 CPU cores.*local:4"
    ):
        dask_executor.parse_cluster("local:99")


@pytest.mark.slow
def test_search_against_a_silent_http_port_is_one_line_in_bounded_time(tmp_path):
    server = _FakeServer(None)
    try:
        started = time.monotonic()
        result = subprocess.run(
            [NASCOMPILE, "search", str(SPACE), "--max-trials", "1",
             "--cluster", f"tcp://127.0.0.1:{server.port}"],
            cwd=tmp_path, env=renv(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    finally:
        server.close()
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "it is not a Dask scheduler" in lines[0], result.stderr
    assert took < 30, took  # 5 s of probe and the interpreter's start (was 400+ s)


# --------------------------------------------------------------------------- finding 4: Dask timeout
class _FakeFuture:
    def __init__(self):
        self.cancelled = False

    def done(self) -> bool:
        return self.cancelled


class _FakeClient:
    def __init__(self):
        self.jobs: list = []

    def submit(self, fn, job, data, **kwargs):
        self.jobs.append(job)
        return _FakeFuture()

    def cancel(self, futures, force=False):
        for f in futures:
            f.cancelled = True


def _dask_config(tmp_path: Path, **flags):
    """The study of digits_tiny with these SEARCH options (2 trials unless given), through
    the one resolver."""
    from nascompiler.run.data import SpaceFileData
    from nascompiler.search.resolve import resolve_search
    from nascompiler.search.study import StudyConfig
    from nascompiler.spacefile import load_space_file

    space = load_space_file(SPACE)
    return StudyConfig.of(
        resolve_search(
            flags={"max_trials": 2, **flags}, file_training=space.training
        ),
        directory=tmp_path / "study",
        space=space.compile(),
        data=SpaceFileData(str(SPACE)),
    )


@pytest.mark.slow
def test_cluster_jobs_carry_the_trial_timeout_and_a_silent_one_is_cancelled(tmp_path):
    pytest.importorskip("distributed")
    from nascompiler.run import dask_executor
    from nascompiler.run.messages import TrialTask
    from nascompiler.search.study import Study

    config = _dask_config(tmp_path, trial_timeout="3s")
    executor = dask_executor.DaskExecutor(config.data, {}, "local:1")
    assert executor.trial_timeout is None
    Study(config, executor=executor)  # the study's --trial-timeout reaches the executor
    assert executor.trial_timeout == 3.0

    executor.client = _FakeClient()
    executor.summary = {}
    task = TrialTask(number=4, candidate_id="c", module_path=str(tmp_path / "m.py"),
                     seed=1, weights_path=None, keep_if_better_than=None, epochs=1)  # fmt: skip
    executor.submit(task)
    assert executor.client.jobs[0].trial_timeout == 3.0  # the worker enforces it

    out: list = []
    executor._check_timeouts(out)
    assert out == [] and 4 in executor.running
    # A worker that cannot stop it (stopped, hung): the driver fails and cancels the job.
    future = executor.running[4].future
    executor.running[4].sent -= 3.0 + dask_executor.TIMEOUT_GRACE_SECONDS + 1
    executor._check_timeouts(out)
    assert future.cancelled and 4 not in executor.running
    assert out[0].outcome.number == 4 and out[0].outcome.status == "failed"
    assert "longer than --trial-timeout (3 s)" in out[0].outcome.error
    executor.client = None


# --------------------------------------------------------------------------- finding 7: rough edges
def _score(number: int) -> float:
    return 0.3 + (number * 37 % 17) / 100


class _InstantExecutor(Executor):
    """An executor that 'trains' at once: each job completes with an objective derived from its
    trial number, in no order (the loop's bookkeeping under test, not training)."""

    trial_timeout = None

    def __init__(self, summary):
        self.summary, self.pending, self.jobs = summary, [], []

    def start(self):
        return self.summary

    def free_slots(self):
        return 1 - len(self.pending)

    def submit(self, task):
        self.jobs.append(task)
        self.pending.append(task)

    def poll(self, timeout):
        from nascompiler.kinds import TrialStatus
        from nascompiler.run.executor import ResultEvent
        from nascompiler.run.messages import TrialOutcome

        done, self.pending = self.pending, []
        return [
            ResultEvent(
                TrialOutcome(
                    number=t.number, status=TrialStatus.COMPLETE,
                    objective=_score(t.number), epochs=t.epochs,
                    metrics={"val_accuracy": [_score(t.number)] * (t.epochs - t.initial_epoch)},
                )
            )
            for t in done
        ]  # fmt: skip

    def shutdown(self):
        pass

    def describe(self):
        return None

    def worker_of(self, number):
        return None


@pytest.fixture(scope="module")
def digits_summary():
    from nascompiler.run.data import SpaceFileData

    return SpaceFileData(str(SPACE)).load().summary()


def _messages():
    from nascompiler.search.events import StudyListener

    class Messages(StudyListener):
        def __init__(self):
            self.lines: list[str] = []

        def message(self, study, text):
            self.lines.append(text)

    return Messages()


@pytest.mark.slow
def test_a_zero_params_budget_stops_after_a_bounded_run_of_rejections(
    tmp_path, digits_summary
):
    from nascompiler.search.study import MAX_CONSECUTIVE_REJECTED, Study

    config = _dask_config(tmp_path, max_params=0, max_trials=500)
    listener = _messages()
    study = Study(
        config, listeners=[listener], executor=_InstantExecutor(digits_summary)
    )
    study.run()
    rows = study.store.trials()
    assert len(rows) <= MAX_CONSECUTIVE_REJECTED + 5  # not hundreds of rows
    assert {r.status for r in rows} <= {"over_budget", "failed"}
    said = [line for line in listener.lines if "stopped asking" in line]
    assert len(said) == 1 and "\n" not in said[0]
    assert (
        "over the budget; the space looks to hold no new candidate within the budget"
        in said[0]
    )


@pytest.mark.slow
def test_a_two_candidate_space_stops_after_a_bounded_run_of_duplicates(
    tmp_path, digits_summary
):
    from nascompiler.search.study import MAX_CONSECUTIVE_REJECTED, Study
    from nascompiler.spacefile import load_space_file

    config = dataclasses.replace(
        _dask_config(tmp_path, max_trials=500),
        space=load_space_file(_two_candidates(tmp_path)).compile(),
    )
    listener = _messages()
    study = Study(
        config, listeners=[listener], executor=_InstantExecutor(digits_summary)
    )
    study.run()
    rows = study.store.trials()
    assert [r.status for r in rows].count("complete") == 2
    assert len(rows) <= 2 + MAX_CONSECUTIVE_REJECTED + 2
    said = [line for line in listener.lines if "stopped asking" in line]
    assert len(said) == 1 and "already evaluated" in said[0], listener.lines


def _two_candidates(tmp_path: Path) -> Path:
    path = tmp_path / "two.py"
    path.write_text(
        "from nascompiler.datasets import load_digits\n"
        "from nascompiler.layers import Dense, Flatten, Input\n"
        "from nascompiler.space import Choice, HyperSpace\n\n\n"
        "def search_space():\n"
        "    space = HyperSpace()\n"
        "    with space.as_default():\n"
        "        x = Flatten()(Input(shape=(8, 8, 1)))\n"
        "        x = Dense(Choice([8, 16], name='units'), activation='relu')(x)\n"
        "        Dense(10, activation='softmax')(x)\n"
        "    return space\n\n\n"
        "def load_data():\n"
        "    return load_digits(val_fraction=0.2, seed=0)\n\n\n"
        "TRAINING = {'epochs': 1, 'batch_size': 64}\n"
    )
    return path


class _CheckpointingExecutor(_InstantExecutor):
    """Writes the checkpoint a job asks for, as a worker does."""

    def poll(self, timeout):
        import dataclasses

        events = super().poll(timeout)
        for event, task in zip(events, self.jobs[-len(events) :] if events else []):
            if task.checkpoint_path:
                Path(task.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
                Path(task.checkpoint_path).write_bytes(b"checkpoint")
        return [
            dataclasses.replace(
                e, outcome=dataclasses.replace(e.outcome, checkpoint_saved=True)
            )
            if t.checkpoint_path else e
            for e, t in zip(events, self.jobs[-len(events) :] if events else [])
        ]  # fmt: skip


class _PairedExecutor(_InstantExecutor):
    """Two slots whose results arrive together, each job's weights written before either
    result is told, as a Dask executor collecting two finished futures in one poll does."""

    def free_slots(self):
        return 2 - len(self.pending)

    def poll(self, timeout):
        if len(self.pending) < 2 and len(self.jobs) < self.max_trials:
            return []
        events = []
        for event in super().poll(timeout):
            task = next(t for t in self.jobs if t.number == event.outcome.number)
            better = task.keep_if_better_than
            if task.weights_path and (better is None or event.outcome.objective > better):
                Path(task.weights_path).parent.mkdir(parents=True, exist_ok=True)
                Path(task.weights_path).write_bytes(b"weights")
                saved = dataclasses.replace(event.outcome, weights_saved=True)
                event = dataclasses.replace(event, outcome=saved)
            events.append(event)
        return events


@pytest.mark.slow
def test_weights_that_arrive_with_another_result_are_not_pruned_before_their_own(
    tmp_path, digits_summary
):
    from nascompiler.search.study import Study

    config = _dask_config(tmp_path, max_trials=12, keep_weights=3)
    executor = _PairedExecutor(digits_summary)
    executor.max_trials = 12
    study = Study(config, executor=executor).run()
    complete = [t for t in study.store.trials() if t.status == "complete"]
    assert len(complete) >= 6
    best = sorted(complete, key=lambda t: -t.objective)[:3]
    kept = sorted(p.name for p in (tmp_path / "study" / "weights").iterdir())
    assert kept == sorted(study.weights_path(t.candidate_id).name for t in best)


@pytest.mark.slow
def test_no_checkpoint_is_left_when_a_search_ends(tmp_path, digits_summary):
    from nascompiler.search.study import Study

    config = _dask_config(
        tmp_path,
        scheduler="asha",
        min_epochs=1,
        max_epochs=9,
        reduction_factor=3,
        max_trials=20,
    )
    executor = _CheckpointingExecutor(digits_summary)
    study = Study(config, executor=executor).run()
    assert any(t.checkpoint_path for t in executor.jobs)  # checkpoints were written
    assert any(t.resume_path for t in executor.jobs)  # and promotions resumed from them
    assert study.end_reason == "all 20 trials are done"
    assert not [t for t in study.store.trials() if t.checkpoint]
    assert not list((tmp_path / "study" / "checkpoints").iterdir())


@pytest.mark.slow
def test_a_worker_killed_while_loading_the_data_is_started_again_once(
    tmp_path, monkeypatch
):
    from nascompiler.errors import UsageError
    from nascompiler.run.data import SpaceFileData
    from nascompiler.run.executor import LocalExecutor

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    spawn = LocalExecutor._spawn
    kills = {"left": 1}

    def spawn_and_kill(self, index):
        slot = spawn(self, index)
        if kills["left"]:
            kills["left"] -= 1
            slot.process.send_signal(signal.SIGKILL)  # while it loads the data
        return slot

    monkeypatch.setattr(LocalExecutor, "_spawn", spawn_and_kill)
    data = SpaceFileData(str(SPACE))
    settings = _dask_config(tmp_path).settings.to_json()
    executor = LocalExecutor(data, settings, 1, gpus=[])
    try:
        assert executor.start()  # the data summary, from the worker started again
        assert executor.load_retries == {0: 1} and executor.free_slots() == 1
    finally:
        executor.shutdown()
    # A second death is not retried: one line, the search stops.
    kills["left"] = 2
    executor = LocalExecutor(data, settings, 1, gpus=[])
    with pytest.raises(
        UsageError, match="exited while loading the data .killed by SIGKILL"
    ):
        executor.start()


# --------------------------------------------------------------------------- fault injection
def _kill_cycle(
    args, cwd: Path, study: Path, rng, kill_worker: bool, extra_env
) -> None:
    """Start the search, let it run a random while, kill -9 a worker (maybe) and the driver."""

    process = subprocess.Popen(
        [NASCOMPILE, *args], cwd=cwd, env=renv(**extra_env),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not workers_in(cwd) and process.poll() is None:
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.1)
    time.sleep(rng.uniform(1.5, 4.5))  # workers load the data, then train a while
    if kill_worker and process.poll() is None:
        for pid in workers_in(cwd):
            os.kill(pid, signal.SIGKILL)
        time.sleep(rng.uniform(0.5, 3.0))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 15
    while workers_in(cwd) and time.monotonic() < deadline:  # they follow their driver
        time.sleep(0.2)
    assert not workers_in(cwd), "a worker outlived its killed driver"
    assert integrity(study) == "ok"


def _finish(args, cwd: Path, extra_env) -> str:
    result = subprocess.run(
        [NASCOMPILE, *args], cwd=cwd, env=renv(**extra_env), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _told(study: Path) -> list[tuple[int, int | None]]:
    with sqlite3.connect(study / "study.db") as db:
        return db.execute("SELECT number, rung FROM tells ORDER BY position").fetchall()


@pytest.mark.slow
def test_fault_injection_kills_driver_and_workers_and_resume_keeps_the_study_whole(
    tmp_path,
):
    """Seeded: kill -9 the driver (and sometimes the worker) at random points of an ASHA and a
    full search, resume each time, and check the invariants at the end. More cycles:
    NASCOMPILE_FAULT_CYCLES=10 (CI runs 2 per search, about a minute on 2 cores)."""
    import random


    cycles = int(os.environ.get("NASCOMPILE_FAULT_CYCLES", "2"))
    rng = random.Random(2121)
    slow = {"DIGITS_TINY_REPEAT": "2"}

    # Full search, driver kills only: the same results as an uninterrupted run.
    full = ["search", str(SPACE), "--max-trials", "3", "--seed", "7"]
    (tmp_path / "ref").mkdir()
    (tmp_path / "faulty").mkdir()
    _finish(full, tmp_path / "ref", slow)
    study = tmp_path / "faulty" / "generated" / "digits_tiny"
    for _ in range(cycles):
        _kill_cycle(full, tmp_path / "faulty", study, rng, False, slow)
    _finish(full, tmp_path / "faulty", slow)

    def results(s: Path):
        return [(r["number"], r["candidate_id"], r["status"], r["objective"], r["epochs"])
                for r in trials(s)]  # fmt: skip

    assert results(study) == results(tmp_path / "ref" / "generated" / "digits_tiny")
    told = _told(study)
    assert len(told) == len(set(told)) == len(trials(study))
    assert integrity(study) == "ok"

    # ASHA with a time budget, driver and worker kills.
    budget = 60.0
    asha = ["search", str(SPACE), "--scheduler", "asha", "--min-epochs", "1",
            "--max-epochs", "4", "--reduction-factor", "2", "--max-trials", "6",
            "--seed", "5", "--time-budget", f"{budget:g}s"]  # fmt: skip
    cwd = tmp_path / "asha"
    cwd.mkdir()
    study = cwd / "generated" / "digits_tiny"
    for i in range(cycles):
        _kill_cycle(asha, cwd, study, rng, rng.random() < 0.5 or i == 0, slow)
    out = _finish(asha, cwd, slow)
    rows = trials(study)
    assert not [r for r in rows if r["status"] == "running"]
    started = sum(r["status"] != "duplicate" for r in rows)
    spent = meta(study, "search_seconds")
    assert started == 6 or "time budget" in out, out
    longest = max(r["wall_seconds"] or 0 for r in rows)
    assert spent <= budget + longest + 3
    check_rung_histories([r for r in rows if r["status"] != "failed"])
    told = _told(study)
    assert len(told) == len(set(told)), "a (trial, rung) was recorded twice"
    assert integrity(study) == "ok"
    for r in rows:  # every rung recorded was told once, and nothing else
        if r["status"] in ("complete", "failed") and r["candidate_id"]:
            rungs = [e["rung"] for e in json.loads(r["rungs"])]
            assert set(rungs) <= {k for n, k in told if n == r["number"]}
