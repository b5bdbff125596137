"""``nascompile search --cluster``: trials on Dask, a local cluster and a real scheduler with two
workers started here (on 127.0.0.1 only), one of them killed mid-trial."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import helpers
from helpers import wait_until
from nascompiler.errors import UsageError
from nascompiler.run.dask_executor import (
    collect_outputs,
    driver_outcome,
    localize,
    parse_cluster,
    read_inputs,
    require_distributed,
    write_outputs,
)
from nascompiler.run.messages import TrialOutcome, TrialTask

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
BIN = Path(sys.executable).parent
NASCOMPILE = str(BIN / "nascompile")
DASK = str(BIN / "dask")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    e.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", COLUMNS="200")
    e.update(extra)
    return e


def nascompile(*args: str, cwd: Path, timeout: float = 300, **extra: str):
    return subprocess.run(
        [NASCOMPILE, *args],
        cwd=cwd,
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trials(study: Path) -> list[dict]:
    with sqlite3.connect(study / "study.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM trials ORDER BY number")]


def result_of(row: dict) -> tuple:
    return (
        row["number"],
        row["candidate_id"],
        row["status"],
        row["objective"],
        json.loads(row["metrics"]) if row["metrics"] else None,
        row["params"],
        row["error"],
    )


# ---------------------------------------------------------------------------- addresses


def test_cluster_addresses_parse_and_bad_ones_say_what_to_give():
    assert parse_cluster("local:2").local_workers == 2
    assert parse_cluster("tcp://10.0.0.5:8786").scheduler == "tcp://10.0.0.5:8786"
    assert parse_cluster(" tcp://scheduler-host:8786 ").scheduler == (
        "tcp://scheduler-host:8786"
    )
    for bad, match in [
        ("local:0", "at least 1 worker"),
        ("local:two", "tcp://HOST:PORT"),
        ("tcp://host", "tcp://HOST:PORT"),
        ("http://host:8786", "tcp://HOST:PORT"),
        ("tcp://host:99999", "port 99999"),
        ("", "not a cluster address"),
    ]:
        with pytest.raises(UsageError, match=match):
            parse_cluster(bad)


def test_without_distributed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(
        sys.modules, "distributed", None
    )  # import distributed -> ImportError
    with pytest.raises(UsageError, match=r'pip install "nascompiler\[dask\]"'):
        require_distributed()


@pytest.mark.slow
def test_cli_rejects_bad_cluster_input_in_one_line(tmp_path):
    fake = tmp_path / "site" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no distributed here')\n")
    cases = [
        (["--cluster", "tcp:/oops"], {}, "is not a cluster address"),
        (["--cluster", "local:2", "--workers", "2"], {}, "not both"),
        (["--ship-data"], {}, "--ship-data goes with --cluster"),
        (
            ["--cluster", "local:2"],
            {"PYTHONPATH": str(tmp_path / "site")},
            'pip install "nascompiler[dask]"',
        ),
    ]
    space_with_cluster = tmp_path / "space_with_cluster.py"
    space_with_cluster.write_text(
        f"import sys\nsys.path.insert(0, {str(SPACE.parent)!r})\n"
        "from digits_tiny import TRAINING, load_data, search_space\n"
        "SEARCH = {'cluster': 'nowhere:1'}\n"
    )
    cases.append(([], {}, "'nowhere:1' is not a cluster address"))
    for i, (flags, extra, message) in enumerate(cases):
        space = space_with_cluster if i == len(cases) - 1 else SPACE
        result = nascompile(
            "search", str(space), "--max-trials", "1", *flags, cwd=tmp_path, **extra
        )
        assert result.returncode == 2, (flags, result.stdout, result.stderr)
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        assert len(lines) == 1 and message in lines[0], (flags, result.stderr)
        assert not (tmp_path / "generated").exists()


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "1",
        "--cluster",
        f"tcp://127.0.0.1:{port}",
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "cannot reach a Dask scheduler" in lines[0], lines


# ---------------------------------------------------------------------------- task files


@dataclasses.dataclass(frozen=True)
class FutureTask(TrialTask):
    """A task with the fields the multi-fidelity work adds: a checkpoint read and written."""

    epochs: int = 2
    initial_epoch: int = 0
    checkpoint_path: str | None = None


@dataclasses.dataclass
class FutureOutcome(TrialOutcome):
    checkpoint_path: str | None = None


def test_every_path_field_travels_and_changed_files_come_back(tmp_path):
    driver = tmp_path / "driver"
    (driver / "candidates").mkdir(parents=True)
    module = driver / "candidates" / "abc.py"
    module.write_text("def build_model(): ...\n")
    checkpoint = driver / "checkpoints" / "abc.ckpt.h5"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"epoch-1 state")
    weights = (
        driver / "weights" / "abc.weights.h5"
    )  # does not exist yet: an output only
    task = FutureTask(
        number=3,
        candidate_id="abc",
        module_path=str(module),
        seed=1,
        weights_path=str(weights),
        keep_if_better_than=None,
        initial_epoch=1,
        checkpoint_path=str(checkpoint),
    )
    inputs = read_inputs(task)
    assert inputs == {
        "module_path": module.read_bytes(),
        "checkpoint_path": b"epoch-1 state",
    }

    scratch = tmp_path / "worker" / "trial-3"
    local_task, local = localize(task, inputs, scratch)
    assert sorted(local) == ["checkpoint_path", "module_path", "weights_path"]
    for (
        name,
        path,
    ) in local.items():  # no driver path is left in the task the worker runs
        assert getattr(local_task, name) == path
        assert Path(path).is_relative_to(scratch)
        assert Path(path).name == Path(getattr(task, name)).name
    assert Path(local_task.module_path).read_bytes() == module.read_bytes()
    assert Path(local_task.checkpoint_path).read_bytes() == b"epoch-1 state"
    assert local_task.initial_epoch == 1 and local_task.epochs == 2

    # The trial: writes weights, rewrites the checkpoint, leaves the module alone.
    Path(local_task.weights_path).write_bytes(b"weights")
    Path(local_task.checkpoint_path).write_bytes(b"epoch-2 state")
    outputs = collect_outputs(local, inputs)
    assert outputs == {"weights_path": b"weights", "checkpoint_path": b"epoch-2 state"}

    outcome = FutureOutcome(
        number=3, status="complete", checkpoint_path=local_task.checkpoint_path
    )
    assert driver_outcome(outcome, local, task).checkpoint_path == str(checkpoint)
    write_outputs(task, outputs)
    assert weights.read_bytes() == b"weights"
    assert checkpoint.read_bytes() == b"epoch-2 state"
    assert module.read_text() == "def build_model(): ...\n"
    leftovers = [p for p in driver.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


# ---------------------------------------------------------------------------- slots and GPUs


class StubClient:
    """What DaskExecutor asks of a Dask client to size and place trials."""

    def __init__(self, workers: dict):
        self.workers = workers
        self.submits: list[dict] = []

    def scheduler_info(self, n_workers: int = 5) -> dict:
        assert n_workers == -1  # every worker, not the first five
        return {"workers": self.workers}

    def submit(self, function, *args, **options):
        self.submits.append(options)
        return object()


@pytest.mark.slow
def test_trials_ask_for_a_gpu_when_workers_declare_gpus(tmp_path):
    from nascompiler.run.dask_executor import DaskExecutor
    from nascompiler.run.data import SpaceFileData

    module = tmp_path / "abc.py"
    module.write_text("def build_model(): ...\n")
    task = TrialTask(0, "abc", str(module), 1, None, None)
    executor = DaskExecutor(SpaceFileData(str(SPACE)), {}, "tcp://127.0.0.1:1")
    cpu = {"tcp://a:1": {"nthreads": 2}, "tcp://b:1": {"nthreads": 1}}
    executor.client = StubClient(cpu)
    assert executor.free_slots() == 3
    executor.submit(task)
    assert "resources" not in executor.client.submits[0]
    assert executor.free_slots() == 2  # one trial runs
    del cpu[
        "tcp://b:1"
    ]  # a worker leaves: seen at the next refresh (at most once a second)
    executor._refresh(force=True)
    assert executor.free_slots() == 1

    gpus = {  # 4 GPUs on one machine (a worker each), a CPU-only worker, a 2-GPU worker
        **{f"tcp://g:{i}": {"nthreads": 1, "resources": {"GPU": 1}} for i in range(4)},
        "tcp://c:1": {"nthreads": 4},
        "tcp://h:1": {"nthreads": 4, "resources": {"GPU": 2}},
    }
    executor = DaskExecutor(SpaceFileData(str(SPACE)), {}, "tcp://127.0.0.1:1")
    executor.client = StubClient(gpus)
    assert executor.free_slots() == 6
    executor.submit(task)
    assert executor.client.submits[0]["resources"] == {"GPU": 1}
    assert "6 GPU trial(s) at once" in executor.describe()


# ---------------------------------------------------------------------------- local cluster


@pytest.mark.slow
def test_local_cluster_gives_the_same_results_as_local_workers(tmp_path):
    args = ["search", str(SPACE), "--max-trials", "6", "--seed", "7"]
    local = nascompile(*args, "--study", "local", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    dask = nascompile(*args, "--study", "dask", "--cluster", "local:2", cwd=tmp_path)
    assert dask.returncode == 0, dask.stderr
    assert "a local Dask cluster (2 worker(s), 2 trial(s) at once)" in dask.stdout
    expected = [result_of(r) for r in trials(tmp_path / "generated" / "local")]
    got = [result_of(r) for r in trials(tmp_path / "generated" / "dask")]
    assert got == expected  # same candidates, same metrics, bit for bit (CPU)
    assert {r[2] for r in got} == {"complete", "failed"}
    # Progress names the worker that ran each trained trial.
    trained = [r for r in got if r[2] == "complete"]
    for number, cid, *_ in trained:
        line = next(
            l for l in dask.stdout.splitlines() if f"trial #{number} {cid}" in l
        )
        assert " on " in line, line
    # The best trials' weights came back to the driver's study folder.
    for name in ("local", "dask"):
        kept = sorted(
            p.name for p in (tmp_path / "generated" / name / "weights").iterdir()
        )
        assert len(kept) == 3
    assert kept == sorted(
        p.name for p in (tmp_path / "generated" / "local" / "weights").iterdir()
    )


# ---------------------------------------------------------------------------- real cluster


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, always torn down."""

    def __init__(self, root: Path):
        self.root = root
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def spawn(
        self, name: str, args: list[str], cwd: Path, **extra: str
    ) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [DASK, *args],
                cwd=cwd,
                env=env(**extra),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def start_scheduler(self) -> str:
        info = self.root / "scheduler.json"
        self.spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
            cwd=self.root,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if info.exists():
                try:
                    return json.loads(info.read_text())["address"]
                except (ValueError, KeyError):
                    pass
            assert self.processes[0].poll() is None, self.tail()
            time.sleep(0.1)
        raise AssertionError("the scheduler did not start:\n" + self.tail())

    def tail(self) -> str:
        return "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists()
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a Dask worker and the trial processes it runs)."""
    import psutil

    try:
        return [pid] + [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_a_worker_killed_mid_trial_is_replaced_and_the_study_stays_whole(tmp_path):
    from distributed import Client

    driver_cwd = tmp_path / "driver"
    worker_cwd = tmp_path / "workers"
    driver_cwd.mkdir()
    worker_cwd.mkdir()
    cluster = Cluster(tmp_path)
    search = None
    try:
        address = cluster.start_scheduler()
        assert address.startswith("tcp://127.0.0.1:")
        workers = {
            name: cluster.spawn(
                name,
                [
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--name",
                    name,
                ],
                cwd=worker_cwd,
            )
            for name in ("w1", "w2")
        }
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=90)
            names = {
                w["name"]: a for a, w in client.scheduler_info()["workers"].items()
            }
            # The data is loaded here and shipped; training on 150x the digits makes a trial
            # last long enough (some 6 s) to kill its worker in the middle of it.
            search = subprocess.Popen(
                [
                    NASCOMPILE,
                    "search",
                    str(SPACE),
                    "--max-trials",
                    "4",
                    "--seed",
                    "7",  # four candidates that train (a failing one ends at once)
                    "--cluster",
                    address,
                    "--ship-data",
                ],
                cwd=driver_cwd,
                env=env(DIGITS_TINY_REPEAT="150"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            db = driver_cwd / "generated" / "digits_tiny" / "study.db"

            def running_on_w1():
                if not db.exists():
                    return None
                try:
                    with sqlite3.connect(db, timeout=1) as c:
                        done = c.execute(
                            "SELECT COUNT(*) FROM trials WHERE status != 'running'"
                        ).fetchone()[0]
                except sqlite3.OperationalError:
                    return None
                keys = [str(k) for k in client.processing().get(names["w1"], ())]
                busy = [k for k in keys if k.startswith("nascompiler-trial-")]
                # After a first trial (the trial processes are up), w1 trains a trial.
                return int(busy[0].split("-")[2]) if done and busy else None

            def alive():
                assert search.poll() is None, search.communicate()

            # Kill w1 while it trains a trial: the one it trains at the moment of the kill
            # (on a busy machine the first one seen may finish during the wait).
            victim = None
            while victim is None:
                seen = wait_until(running_on_w1, 240, "a trial on w1", alive)
                helpers.wait_for_cpu(  # well into its training (an epoch takes seconds)
                    lambda: _process_tree(workers["w1"].pid),
                    1.0,
                    120,
                    "the trial on w1 to train a while",
                    alive,
                )
                # Freeze w1 first: a trial it still holds a moment later (anything it sent
                # before the freeze has reached the scheduler) cannot end before the kill.
                os.kill(workers["w1"].pid, signal.SIGSTOP)
                time.sleep(1.0)
                if running_on_w1() == seen:
                    os.kill(workers["w1"].pid, signal.SIGKILL)
                    victim = seen
                else:
                    os.kill(workers["w1"].pid, signal.SIGCONT)
            out, err = search.communicate(timeout=300)
        assert search.returncode == 0, out + err
        study = driver_cwd / "generated" / "digits_tiny"
        rows = trials(study)
        assert len([r for r in rows if r["status"] in ("complete", "failed")]) == 4
        assert "running" not in {r["status"] for r in rows}
        killed = next(r for r in rows if r["number"] == victim)
        assert f"trial #{victim}: Dask worker {names['w1']} died or disconnected" in out
        if killed["status"] == "failed":  # retried and failed again: with a reason
            assert killed["error"], killed
        else:
            assert killed["status"] == "complete"
            line = next(
                l for l in out.splitlines() if f"trial #{victim} " in l and "val_" in l
            )
            assert line.endswith("/w2") or "w2" in line.split(" on ")[-1], line
        for r in rows:
            if r["status"] == "failed" and r["number"] != victim:
                assert "NOT_AN_ACTIVATION" in r["error"], r
        with sqlite3.connect(study / "study.db") as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        exported = nascompile(
            "export",
            "--best",
            "--study",
            str(study),
            "--out",
            "best.py",
            cwd=driver_cwd,
        )
        assert exported.returncode == 0, exported.stderr
        assert (driver_cwd / "best.py").exists()
        assert (driver_cwd / "best.weights.h5").exists()
        # The workers wrote nothing where they run: no study, no file at all.
        assert sorted(os.listdir(worker_cwd)) == []
    finally:
        if search is not None and search.poll() is None:
            search.kill()
            search.wait()
        cluster.stop()


@pytest.mark.slow
def test_hyperkeras_on_a_local_cluster_from_a_script_without_main_guard(tmp_path):
    """The Python API ships the arrays it was given (workers cannot see the study folder), and
    the local cluster's workers never re-run the user's script (no ``__main__`` guard here).
    """
    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "print('SCRIPT TOP LEVEL', flush=True)\n"
        f"sys.path.insert(0, {str(SPACE.parent)!r})\n"
        "from digits_tiny import search_space, load_data\n"
        "from nascompiler import HyperKeras\n"
        "from nascompiler.searchers import RandomSearcher\n"
        "(x, y), (xv, yv) = load_data()\n"
        "from nascompiler.search.events import StudyListener\n"
        "class Epochs(StudyListener):\n"
        "    seen = []\n"
        "    def epoch_finished(self, study, number, epoch, logs):\n"
        "        self.seen.append((number, epoch, study.executor.worker_of(number)))\n"
        "hk = HyperKeras(RandomSearcher(search_space, optimize_direction='max', seed=7),\n"
        "                study='api', cluster='local:1', callbacks=[Epochs()])\n"
        "hk.search(x, y, xv, yv, max_trials=3, epochs=2)\n"
        "best = hk.get_best_trial()\n"
        "print('BEST', best.number, best.weights_path is not None)\n"
        "print('EPOCHS', Epochs.seen)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("SCRIPT TOP LEVEL") == 1
    assert "True" in next(l for l in result.stdout.splitlines() if l.startswith("BEST"))
    # Epoch progress comes back from the worker while trials run, with the worker's name.
    seen = ast.literal_eval(
        next(l for l in result.stdout.splitlines() if l.startswith("EPOCHS"))[7:]
    )
    assert {epoch for _, epoch, _ in seen} == {1, 2}, seen
    assert all(worker and worker.endswith("local-0") for _, _, worker in seen), seen
    with pytest.raises(UsageError, match="not a cluster address"):
        from nascompiler import HyperKeras
        from nascompiler.searchers import RandomSearcher

        HyperKeras(RandomSearcher(lambda: None), cluster="local")


@pytest.mark.slow
def test_a_killed_driver_leaves_no_trial_running_and_the_study_resumes(tmp_path):
    """The driver dies (SIGKILL) mid-trial: the scheduler drops its tasks, the worker stops the
    trial process, and re-running the command resumes the study on the same cluster."""
    import psutil
    from distributed import Client

    driver_cwd = tmp_path / "driver"
    worker_cwd = tmp_path / "workers"
    driver_cwd.mkdir()
    worker_cwd.mkdir()
    cluster = Cluster(tmp_path)
    search = None
    try:
        address = cluster.start_scheduler()
        worker = cluster.spawn(
            "w1",
            [
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--name",
                "w1",
            ],
            cwd=worker_cwd,
            DIGITS_TINY_REPEAT="10",  # load_data() runs here, on the worker: slower trials
        )
        command = [
            NASCOMPILE,
            "search",
            str(SPACE),
            "--max-trials",
            "2",
            "--seed",
            "7",  # whose first two candidates train (none has the broken activation)
            "--epochs",
            "4",  # a trial lasts long enough to kill its driver in the middle of it
            "--cluster",
            address,
        ]
        with Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=90)
            search = subprocess.Popen(
                command,
                cwd=driver_cwd,
                env=env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def training():
                assert search.poll() is None, "the search ended before it was killed"
                busy = any(
                    str(k).startswith("nascompiler-trial-")
                    for keys in client.processing().values()
                    for k in keys
                )
                children = [
                    p
                    for p in psutil.Process(worker.pid).children()
                    if "nascompiler.run.worker" in " ".join(p.cmdline())
                ]
                return (
                    busy and children and children[0].cpu_percent(0.2) > 0 and children
                )

            trial_process = wait_until(training, 240, "a trial in training")[0]
            helpers.wait_for_cpu(
                lambda: [trial_process.pid], 1.0, 120, "the trial to train a while"
            )
            search.kill()
            search.wait()
            wait_until(
                lambda: not trial_process.is_running()
                or trial_process.status() == psutil.STATUS_ZOMBIE,
                60,
                "the abandoned trial process to stop",
            )
            wait_until(
                lambda: not any(client.processing().values()),
                30,
                "the scheduler to drop the dead driver's tasks",
            )
            assert (
                worker.poll() is None
            )  # the worker itself lives on for the next driver
        study = driver_cwd / "generated" / "digits_tiny"
        assert "running" in {r["status"] for r in trials(study)}
        resumed = subprocess.run(
            command,
            cwd=driver_cwd,
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        rows = trials(study)
        assert [r["status"] for r in rows] == ["complete", "complete"], rows
        assert len({r["number"] for r in rows}) == 2
        with sqlite3.connect(study / "study.db") as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert sorted(os.listdir(worker_cwd)) == []
    finally:
        if search is not None and search.poll() is None:
            search.kill()
            search.wait()
        cluster.stop()


class StubFuture:
    def __init__(self, status: str = "pending", exception: Exception | None = None):
        self.status = status
        self._exception = exception

    def done(self) -> bool:
        return self.status != "pending"

    def exception(self):
        return self._exception


def test_a_trial_lost_with_two_workers_fails_with_the_reason(tmp_path):
    from distributed import KilledWorker

    from nascompiler.run.dask_executor import DaskExecutor, _Running
    from nascompiler.run.data import SpaceFileData

    told: list[str] = []
    executor = DaskExecutor(
        SpaceFileData(str(SPACE)), {}, "tcp://127.0.0.1:1", notify=told.append
    )
    cancelled: list = []
    executor.client = StubClient({})
    executor.client.cancel = lambda futures, force: cancelled.extend(futures)
    task = lambda n: TrialTask(n, "abc", "/nowhere/abc.py", 1, None, None)  # noqa: E731
    executor.alive = {"tcp://c:1"}
    first = _Running(task(1), StubFuture(), workers=["tcp://a:1"])
    second = _Running(task(2), StubFuture(), workers=["tcp://a:1", "tcp://b:1"])
    killed = _Running(
        task(3),
        StubFuture("error", KilledWorker("t", SimpleNamespace(address="tcp://d:1"), 3)),
    )
    executor.running = {1: first, 2: second, 3: killed}
    out: list = []
    executor._check_lost_workers(out)
    executor._collect(out)
    # Lost once: said, and left to Dask, which runs it again on another worker.
    assert told == [
        "trial #1: Dask worker tcp://a:1 died or disconnected mid-trial; running it again on "
        "another worker"
    ]
    assert 1 in executor.running
    # Lost twice: cancelled and failed with the reason; the search goes on.
    results = {e.outcome.number: e.outcome for e in out}
    assert cancelled == [second.future]
    assert results[2].status == "failed"
    assert "died or disconnected twice (tcp://a:1, tcp://b:1)" in results[2].error
    # Dask gave up on its own (its allowed-failures): failed with Dask's reason.
    assert results[3].status == "failed" and "KilledWorker" in results[3].error
    assert sorted(executor.running) == [1]
