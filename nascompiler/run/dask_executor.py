"""Running trials on a Dask cluster: ``nascompile search --cluster tcp://HOST:PORT`` (a running
Dask scheduler) or ``--cluster local:N`` (a ``distributed.LocalCluster`` of N processes here).

The driver stays the only process that touches the study folder. A trial travels as a Dask task
that carries the :class:`TrialTask` and the bytes of its input files; on the Dask worker the
files are written into a private scratch folder and the task is rewritten to point there. The
trial itself runs in a trial process that the Dask worker keeps (the very worker process of
:class:`LocalExecutor`, recycled after a number of trials), never in the Dask worker itself, so
TensorFlow's memory never builds up in a long-lived process. Files the trial writes (weights, a
checkpoint) come back as bytes and the driver writes them, atomically, where the task said.

The file contract is generic: every ``TrialTask`` field whose name ends in ``_path`` is a file on
the driver (or ``None``). Those that exist when the trial is submitted travel to the worker;
after the trial, those that the trial created or changed travel back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config.settings import max_workers
from ..errors import UsageError
from ..fileio import write_atomic
from ..kinds import TrialStatus
from .data import ArrayFolderData, Dataset, DataSource, SpaceFileData, save_arrays
from .executor import (
    EpochEvent,
    Event,
    Executor,
    LocalExecutor,
    ResultEvent,
    visible_gpus,
)
from .messages import TrialOutcome, TrialTask, describe_exception

INSTALL_HINT = 'pip install "nascompiler[dask]"'
ADDRESS_FORMS = (
    "give tcp://HOST:PORT (a running Dask scheduler) or local:N (N worker processes on this "
    "machine)"
)


def require_distributed() -> Any:
    """The ``distributed`` module, or a one-line :class:`UsageError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(
            f"--cluster needs Dask distributed, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed ``--cluster`` value: a scheduler to connect to, or a local cluster to start."""

    text: str
    scheduler: str | None = None  # tcp://host:port
    local_workers: int = 0


def parse_cluster(text: str) -> ClusterAddress:
    value = str(text).strip()
    local = re.fullmatch(r"local:(\d+)", value)
    if local:
        workers = int(local.group(1))
        if workers < 1:
            raise UsageError(f"--cluster {value}: local:N needs at least 1 worker")
        if workers > max_workers():  # as --workers is capped
            raise UsageError(
                f"--cluster {value}: {workers} workers is more than this machine's "
                f"{max_workers()} CPU cores; each trial is a whole TensorFlow process (about "
                f"0.7 GB), so use at most local:{max_workers()}"
            )
        return ClusterAddress(value, local_workers=workers)
    remote = re.fullmatch(
        r"(tcp|tls)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d+)", value
    )
    if remote:
        port = int(remote.group(3))
        if not 0 < port < 65536:
            raise UsageError(
                f"--cluster {value}: port {port} is not between 1 and 65535"
            )
        return ClusterAddress(value, scheduler=value)
    raise UsageError(f"--cluster {value!r} is not a cluster address; {ADDRESS_FORMS}")


PROBE_SECONDS = 5.0  # how long a --cluster address has to connect, then to greet


def probe_scheduler(address: ClusterAddress, timeout: float = PROBE_SECONDS) -> None:
    """Check, within about ``2 * timeout`` seconds, that a ``tcp://`` address is a Dask
    scheduler before Dask's client talks to it: a Dask server greets a new connection at once
    with its handshake, a message whose first 8 bytes give its (small) length. Anything else, a
    server that waits for the client to speak (HTTP) or one that speaks first in another
    protocol (SSH, SMTP), would otherwise hang the client for minutes or end in a traceback.
    ``tls://`` addresses are left to Dask (there the client speaks first)."""
    if address.scheduler is None or not address.scheduler.startswith("tcp://"):
        return
    host, _, port = address.scheduler[len("tcp://") :].rpartition(":")
    host = host.strip("[]")
    where = f"--cluster {address.text}"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.settimeout(timeout)
            greeting = b""
            while len(greeting) < 8:
                chunk = conn.recv(8 - len(greeting))
                if not chunk:
                    break
                greeting += chunk
    except socket.timeout:
        raise UsageError(
            f"{where}: the server there said nothing within {timeout:g} s; it is not a Dask "
            "scheduler (which greets every connection at once)"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{where}: cannot reach a Dask scheduler there ({describe_exception(exc)})"
        ) from None
    length = int.from_bytes(greeting, "little") if len(greeting) == 8 else -1
    if not 8 < length < 1 << 20:
        what = (
            "closed the connection" if not greeting else "answered in another protocol"
        )
        raise UsageError(
            f"{where}: the server there {what}; it is not a Dask scheduler"
        )


# ---------------------------------------------------------------------------- files


def file_fields(obj: Any) -> list[str]:
    """The fields of a task (or outcome) dataclass that hold file paths: names ending in ``_path``."""
    return [f.name for f in dataclasses.fields(obj) if f.name.endswith("_path")]


def read_inputs(task: TrialTask) -> dict[str, bytes]:
    """The task's files that exist on the driver now, by field name (they travel with the task)."""
    inputs: dict[str, bytes] = {}
    for name in file_fields(task):
        value = getattr(task, name)
        if value is not None and Path(value).is_file():
            inputs[name] = Path(value).read_bytes()
    return inputs


def localize(
    task: TrialTask, inputs: dict[str, bytes], scratch: Path
) -> tuple[TrialTask, dict[str, str]]:
    """On the worker: write the input files under ``scratch`` and point every ``_path`` field
    there (one folder per field; the file name is kept, Keras insists on ``.weights.h5``).
    Returns the rewritten task and {field: local path}."""
    local: dict[str, str] = {}
    for name in file_fields(task):
        value = getattr(task, name)
        if value is None:
            continue
        path = scratch / name / os.path.basename(str(value))
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in inputs:
            path.write_bytes(inputs[name])
        local[name] = str(path)
    return dataclasses.replace(task, **local), local


def collect_outputs(
    local: dict[str, str], inputs: dict[str, bytes]
) -> dict[str, bytes]:
    """On the worker, after the trial: the files it created or changed, by field name."""
    outputs: dict[str, bytes] = {}
    for name, path in local.items():
        if os.path.isfile(path):
            data = Path(path).read_bytes()
            if inputs.get(name) != data:
                outputs[name] = data
    return outputs


def driver_outcome(
    outcome: TrialOutcome, local: dict[str, str], task: TrialTask
) -> TrialOutcome:
    """Point any ``_path`` field of the outcome that names a worker file back at the driver's."""
    back = {path: getattr(task, name) for name, path in local.items()}
    changes = {
        name: back[getattr(outcome, name)]
        for name in file_fields(outcome)
        if getattr(outcome, name) in back
    }
    return dataclasses.replace(outcome, **changes) if changes else outcome


def write_outputs(task: TrialTask, outputs: dict[str, bytes]) -> None:
    """On the driver: each returned file goes, atomically, to the path the task named."""
    for name, data in sorted(outputs.items()):
        target = getattr(task, name, None)
        if target is not None:
            write_atomic(target, data)


# ---------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class ShippedSpaceFile:
    """The space file whose ``load_data()`` each worker runs: its driver path and its bytes.
    A worker that has the same file at the same path (a shared or identical checkout) loads it
    there, so ``load_data()`` finds files beside it; any other worker loads a copy."""

    path: str
    source: bytes


@dataclass(frozen=True)
class DaskJob:
    run: str  # one executor's run: the key of the worker-side data and trial processes
    topic: str  # Dask event topic for "started" and "epoch" messages
    task: TrialTask  # with the driver's paths
    inputs: dict[str, bytes]
    settings: dict[str, Any]
    summary: dict[str, Any]  # the data summary the driver checked
    recycle_after: int
    trial_timeout: float | None = (
        None  # --trial-timeout, enforced by the trial's worker
    )


@dataclass
class Reply:
    outcome: TrialOutcome
    outputs: dict[str, bytes]
    worker: str


# ---------------------------------------------------------------------------- worker side
# These run inside Dask worker processes. State is per worker process: the data prepared for
# each run (saved as .npy under a private temporary folder, memory-mapped by trial processes)
# and idle trial processes (LocalExecutors of one worker) waiting for the next trial.

_LOCK = threading.Lock()
_ROOT: list[Path] = []
_RUN_LOCKS: dict[str, threading.Lock] = {}
_DATA: dict[str, tuple[ArrayFolderData, dict[str, Any]]] = {}
_IDLE: dict[str, list[tuple[LocalExecutor, float]]] = {}
_LAST_USED: dict[str, float] = {}
IDLE_SECONDS = (
    120.0  # an idle trial process of a run whose driver went away is stopped after this
)
FORGET_SECONDS = 900.0  # and the run's data folder is removed after this


def _root() -> Path:
    """This worker's private folder, inside the worker's own local directory (a temporary
    folder by default, never the current one) so that Dask removes it when the worker closes.
    """
    with _LOCK:
        if not _ROOT:
            from distributed import get_worker

            base = Path(get_worker().local_directory)
            base.mkdir(parents=True, exist_ok=True)
            _ROOT.append(Path(tempfile.mkdtemp(prefix="nascompiler-", dir=base)))
            threading.Thread(
                target=_reaper, daemon=True, name="nascompiler-reaper"
            ).start()
        return _ROOT[0]


def _label(worker: Any) -> str:
    """How progress names a worker: its host and Dask name (or address)."""
    name = str(worker.name)
    if name == worker.address:
        return name.split("://", 1)[-1]
    host = socket.gethostname()
    return name if host in name else f"{host}/{name}"


def _prepare(run: str, data: Any) -> tuple[ArrayFolderData, dict[str, Any]]:
    """Load the run's data once per worker process: from the space file, or the shipped arrays."""
    with _LOCK:
        lock = _RUN_LOCKS.setdefault(run, threading.Lock())
    with lock:
        if run in _DATA:
            return _DATA[run]
        folder = _root() / f"run-{run}"
        if isinstance(data, ShippedSpaceFile):
            path = Path(data.path)
            if not (path.is_file() and path.read_bytes() == data.source):
                digest = hashlib.sha256(data.source).hexdigest()[:12]
                path = folder / f"space-{digest}" / os.path.basename(data.path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data.source)
            dataset = SpaceFileData(str(path)).load()
        elif isinstance(data, Dataset):
            dataset = data
        else:
            raise TypeError(f"cannot load data from {type(data).__name__}")
        prepared = (save_arrays(folder / "data", dataset), dataset.summary())
        _DATA[run] = prepared
        _LAST_USED[run] = time.monotonic()
        return prepared


def prepare_on_worker(run: str, data: Any) -> dict[str, Any]:
    """The first task of a run: load the data on one worker and report its summary."""
    return _prepare(run, data)[1]


def _borrow(job: DaskJob, source: ArrayFolderData) -> LocalExecutor:
    with _LOCK:
        _LAST_USED[job.run] = time.monotonic()
        idle = _IDLE.get(job.run)
        if idle:
            return idle.pop()[0]
    # gpus=[]: the trial process sees the GPUs its Dask worker was started with. Its output
    # (TensorFlow's chatter) goes to a log in the worker's folder, not the worker's terminal.
    executor = LocalExecutor(
        source,
        job.settings,
        workers=1,
        gpus=[],
        log_dir=_root() / f"logs-{job.run}",
        recycle_after=job.recycle_after,
    )
    executor.start()
    return executor


def _give_back(run: str, executor: LocalExecutor) -> None:
    with _LOCK:
        _IDLE.setdefault(run, []).append((executor, time.monotonic()))
        _LAST_USED[run] = time.monotonic()


def _still_wanted(worker: Any, key: Any) -> bool:
    """False once the driver cancelled the task or went away (the scheduler then releases it)."""
    if getattr(worker, "status", None) is not None and worker.status.name in (
        "closing",
        "closed",
        "closing_gracefully",
    ):
        return False
    state = worker.state.tasks.get(key)
    return state is not None and state.state not in (
        "cancelled",
        "released",
        "forgotten",
    )


def run_on_worker(job: DaskJob, data: Any) -> Reply | None:
    """One trial, as a Dask task. Never raises for a trial's own failure (that is a failed
    outcome); returns ``None`` if the driver cancelled it meanwhile."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    label = _label(worker)
    number = job.task.number
    worker.log_event(
        job.topic,
        {
            "kind": "started",
            "number": number,
            "label": label,
            "address": worker.address,
        },
    )

    def failed(reason: str) -> Reply:
        return Reply(
            TrialOutcome(number=number, status=TrialStatus.FAILED, error=reason),
            {},
            label,
        )

    try:
        source, summary = _prepare(job.run, data)
    except Exception as exc:
        return failed(f"loading the data failed on {label}: {describe_exception(exc)}")
    if summary != job.summary:
        return failed(
            f"the data loaded on {label} differs from the data the study checked "
            "(does load_data() read different files there?)"
        )
    scratch = Path(tempfile.mkdtemp(prefix=f"trial-{number}-", dir=_root()))
    try:
        task, local = localize(job.task, job.inputs, scratch)
        try:
            executor = _borrow(job, source)
        except UsageError as exc:
            return failed(f"the trial process did not start on {label}: {exc}")
        # A hung or stopped trial process is killed and its trial failed, as on one machine.
        executor.trial_timeout = job.trial_timeout
        executor.submit(task)
        outcome: TrialOutcome | None = None
        while outcome is None:
            for event in executor.poll(0.5):
                if isinstance(event, EpochEvent):
                    worker.log_event(
                        job.topic,
                        {
                            "kind": "epoch",
                            "number": event.number,
                            "epoch": event.epoch,
                            "logs": dict(event.logs),
                            "label": label,
                        },
                    )
                elif isinstance(event, ResultEvent) and event.outcome.number == number:
                    outcome = event.outcome
            if outcome is None and not _still_wanted(worker, key):
                executor.shutdown()  # stops the trial process: nobody wants this trial any more
                return None
        if _still_wanted(worker, key):
            _give_back(job.run, executor)
        else:  # its driver went away meanwhile: no later trial of this run will come
            executor.shutdown()
        outputs = collect_outputs(local, job.inputs)
        return Reply(driver_outcome(outcome, local, job.task), outputs, label)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def release_run(run: str) -> int:
    """Run on every worker when a driver shuts down: stop the run's idle trial processes and
    remove its data. Returns how many trial processes were stopped."""
    with _LOCK:
        idle = _IDLE.pop(run, [])
        _LAST_USED.pop(run, None)
        prepared = _DATA.pop(run, None)
    for executor, _ in idle:
        executor.shutdown()
    if prepared is not None:
        shutil.rmtree(Path(prepared[0].folder).parent, ignore_errors=True)
    return len(idle)


def _reaper() -> None:
    """Stops trial processes left idle by a driver that died without releasing them."""
    while True:
        time.sleep(10)
        now = time.monotonic()
        stale: list[LocalExecutor] = []
        forget: list[str] = []
        with _LOCK:
            for run, idle in _IDLE.items():
                stale += [e for e, since in idle if now - since > IDLE_SECONDS]
                idle[:] = [
                    (e, since) for e, since in idle if now - since <= IDLE_SECONDS
                ]
            forget = [
                run
                for run, used in _LAST_USED.items()
                if now - used > FORGET_SECONDS and not _IDLE.get(run)
            ]
        for executor in stale:
            with contextlib.suppress(Exception):
                executor.shutdown()
        for run in forget:
            release_run(run)


# ---------------------------------------------------------------------------- driver side


@dataclass
class _Running:
    task: TrialTask
    future: Any
    # The addresses of the workers that started it, in order (Dask reruns a task whose
    # worker was lost: two addresses mean one retry).
    workers: list[str] = field(default_factory=list)
    warned: bool = False
    sent: float = field(
        default_factory=time.monotonic
    )  # when it was submitted, or started


# With --trial-timeout, the driver gives a Dask job this much longer than the timeout (the
# trial process may have to start first) before it fails it itself: the worker enforces the
# timeout, the driver's check is for a worker that cannot (a stopped or hung Dask worker).
TIMEOUT_GRACE_SECONDS = 30.0


class DaskExecutor(Executor):
    """Trials as Dask tasks, as many at once as the cluster has worker threads (or GPUs, when
    its workers declare a ``GPU`` resource; each trial then asks for one).

    ``ship_data``: load the data here once and scatter it to the workers, instead of running
    the space file's ``load_data()`` on each worker. Data that is not a space file (the Python
    API's arrays) is always shipped. ``notify`` receives one-line messages for the user (a
    worker lost mid-trial).
    """

    def __init__(
        self,
        data: DataSource,
        settings: dict[str, Any],
        cluster: str | ClusterAddress,
        ship_data: bool = False,
        recycle_after: int = 25,
        startup_timeout: float = 120.0,
        notify: Callable[[str], None] | None = None,
        log_dir: Path | None = None,
        trial_timeout: float | None = None,
    ):
        self.address = (
            cluster if isinstance(cluster, ClusterAddress) else parse_cluster(cluster)
        )
        require_distributed()
        self.data = data
        self.settings = settings
        self.ship_data = ship_data or not isinstance(data, SpaceFileData)
        self.recycle_after = recycle_after
        self.startup_timeout = startup_timeout
        self.notify = notify or (lambda text: None)
        self.log_dir = log_dir  # output of local:N workers (dask-worker-<i>.log)
        self.trial_timeout = trial_timeout
        self.local_workers: list[subprocess.Popen] = []
        self.run = uuid.uuid4().hex[:12]
        self.topic = f"nascompiler-{self.run}"
        self.client: Any = None
        self.cluster: Any = None
        self.data_arg: Any = None
        self.summary: dict[str, Any] | None = None
        self.gpu = False
        self.running: dict[int, _Running] = {}
        self.where: dict[int, str] = {}  # trial number -> the worker that last ran it
        self.events: deque = deque()
        self.alive: set[str] = set()
        self.capacity = 0
        self.checked = 0.0
        self.submitted = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, Any]:
        distributed = require_distributed()
        import logging

        try:
            if self.address.local_workers:
                # A LocalCluster holding only the scheduler, in this process; its workers are
                # ``dask worker`` commands, fresh interpreters like LocalExecutor's, because
                # LocalCluster's own (multiprocessing "spawn") re-runs the user's __main__
                # script in each worker, and the seed's examples have no __main__ guard.
                self.cluster = distributed.LocalCluster(
                    n_workers=0,
                    host="127.0.0.1",
                    scheduler_port=0,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = distributed.Client(self.cluster, set_as_default=False)
                self._start_local_workers(self.cluster.scheduler_address)
            else:
                probe_scheduler(self.address)
                self.client = distributed.Client(
                    self.address.scheduler, timeout=15, set_as_default=False
                )
        except (OSError, TimeoutError) as exc:
            self.shutdown()
            raise UsageError(
                f"--cluster {self.address.text}: cannot reach a Dask scheduler there ({describe_exception(exc)})"
            ) from None
        try:
            self.client.wait_for_workers(
                self.address.local_workers or 1, timeout=self.startup_timeout
            )
        except (TimeoutError, OSError):
            self.shutdown()
            raise UsageError(
                f"--cluster {self.address.text}: no Dask worker joined within {self.startup_timeout:.0f} s; "
                f"start one with: dask worker {self.address.text}"
            ) from None
        self.client.subscribe_topic(self.topic, self._on_event)
        self._refresh(force=True)
        try:
            if self.ship_data:
                dataset = self.data.load()
                self.summary = dataset.summary()
                self.data_arg = self.client.scatter(dataset, hash=False)
            else:
                path = Path(self.data.path).resolve()  # type: ignore[attr-defined]
                self.data_arg = ShippedSpaceFile(str(path), path.read_bytes())
                future = self.client.submit(
                    prepare_on_worker,
                    self.run,
                    self.data_arg,
                    pure=False,
                    **self._resources(),
                )
                self.summary = future.result(timeout=self.startup_timeout)
        except UsageError:
            self.shutdown()
            raise
        except Exception as exc:
            self.shutdown()
            where = "here" if self.ship_data else "on a Dask worker"
            raise UsageError(
                f"loading the data failed {where} ({self.data.describe()}): {describe_exception(exc)}"
            ) from None
        return self.summary

    def _start_local_workers(self, scheduler: str) -> None:
        """``local:N``: N ``dask worker`` processes, one thread each, on 127.0.0.1; with GPUs,
        each sees one of them (round robin) and declares it as the ``GPU`` resource."""
        gpus = visible_gpus()
        for i in range(self.address.local_workers):
            command = [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                scheduler,
                "--nthreads",
                "1",
                "--name",
                f"local-{i}",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--death-timeout",
                "60",  # a worker whose driver (and scheduler) died exits after a minute
            ]
            env = dict(os.environ)
            # Dask samples each worker's threads every 10 ms for its dashboard's profile;
            # nobody looks at it here, and on a small machine the trials want the cycles.
            env.setdefault("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "False")
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
                command += ["--resources", "GPU=1"]
            output: Any = subprocess.DEVNULL
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                output = open(self.log_dir / f"dask-worker-{i}.log", "ab")
            try:
                self.local_workers.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # Ctrl-C reaches the driver only
                    )
                )
            finally:
                if output is not subprocess.DEVNULL:
                    output.close()

    def describe(self) -> str:
        kind = (
            "a local Dask cluster"
            if self.address.local_workers
            else f"the Dask cluster at {self.address.text}"
        )
        unit = "GPU trial(s)" if self.gpu else "trial(s)"
        return f"{kind} ({len(self.alive)} worker(s), {self.capacity} {unit} at once)"

    def worker_of(self, number: int) -> str | None:
        return self.where.get(number)

    def shutdown(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            futures = [r.future for r in self.running.values()]
            self.running.clear()
            with contextlib.suppress(Exception):
                if futures:
                    client.cancel(
                        futures, force=True
                    )  # the worker side stops their trial processes
            with contextlib.suppress(Exception):
                client.run(release_run, self.run, wait=True, on_error="ignore")
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(self.topic)
            with contextlib.suppress(Exception):
                client.close(timeout=10)
        for process in self.local_workers:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for process in self.local_workers:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.local_workers = []
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=20)

    # ------------------------------------------------------------------ trials
    def _resources(self) -> dict[str, Any]:
        return {"resources": {"GPU": 1}} if self.gpu else {}

    def _refresh(self, force: bool = False) -> None:
        """What the scheduler knows of its workers, at most once a second."""
        now = time.monotonic()
        if not force and now - self.checked < 1.0:
            return
        self.checked = now
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        self.alive = set(workers)
        gpus = {
            a: int(w.get("resources", {}).get("GPU", 0)) for a, w in workers.items()
        }
        self.gpu = any(gpus.values())
        self.capacity = sum(
            min(w.get("nthreads", 1), gpus[a]) if self.gpu else w.get("nthreads", 1)
            for a, w in workers.items()
        )

    def free_slots(self) -> int:
        if self.client is None:
            return 0
        self._refresh()
        return max(0, self.capacity - len(self.running))

    def submit(self, task: TrialTask) -> None:
        job = DaskJob(
            run=self.run,
            topic=self.topic,
            task=task,
            inputs=read_inputs(task),
            settings=self.settings,
            summary=self.summary or {},
            recycle_after=self.recycle_after,
            trial_timeout=self.trial_timeout,
        )
        self.submitted += 1
        future = self.client.submit(
            run_on_worker,
            job,
            self.data_arg,
            key=f"nascompiler-trial-{task.number}-{self.run}-{self.submitted}",
            pure=False,
            **self._resources(),
        )
        self.running[task.number] = _Running(task, future)

    def _on_event(self, event: Any) -> None:
        # Called on the client's event loop thread; poll() reads the queue. (The scheduler
        # sets "worker" in a worker's message to its address: our name for it is "label".)
        self.events.append(event[1] if isinstance(event, tuple) else event)

    def poll(self, timeout: float) -> list[Event]:
        out: list[Event] = []
        deadline = time.monotonic() + timeout
        while True:
            self._read_events(out)
            self._refresh()
            self._check_lost_workers(out)
            self._collect(out)
            self._check_timeouts(out)
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _read_events(self, out: list[Event]) -> None:
        while self.events:
            message = self.events.popleft()
            number = message.get("number")
            running = self.running.get(number)
            if message.get("kind") == "started" and running is not None:
                running.workers.append(message["address"])
                running.sent = time.monotonic()
                self.where[number] = message["label"]
            elif message.get("kind") == "epoch" and running is not None:
                out.append(
                    EpochEvent(
                        number,
                        message["epoch"],
                        message["logs"],
                        worker=message["label"],
                    )
                )

    def _check_lost_workers(self, out: list[Event]) -> None:
        """A trial whose worker died is run again by Dask on another worker, once; when that one
        is lost too, the trial fails with the reason."""
        for number, running in list(self.running.items()):
            if running.future.done() or not running.workers:
                continue
            lost = running.workers[:-1] + [
                a for a in running.workers[-1:] if a not in self.alive
            ]
            if not lost:
                continue
            if len(lost) >= 2:
                del self.running[number]
                with contextlib.suppress(Exception):
                    self.client.cancel([running.future], force=True)
                out.append(
                    self._failed(
                        number,
                        f"the Dask workers running it died or disconnected twice ({', '.join(lost)}); not retried again",
                    )
                )
            elif not running.warned:
                running.warned = True
                self.notify(
                    f"trial #{number}: Dask worker {lost[0]} died or disconnected mid-trial; running it again on another worker"
                )

    def _check_timeouts(self, out: list[Event]) -> None:
        """Fail (and cancel) a job that ran well past ``--trial-timeout`` without its worker
        reporting: the worker that should have stopped it is itself stopped or hung."""
        if self.trial_timeout is None:
            return
        limit = self.trial_timeout + TIMEOUT_GRACE_SECONDS
        now = time.monotonic()
        for number, running in list(self.running.items()):
            if running.future.done() or now - running.sent <= limit:
                continue
            del self.running[number]
            with contextlib.suppress(Exception):
                self.client.cancel([running.future], force=True)
            out.append(
                self._failed(
                    number,
                    f"the trial ran longer than --trial-timeout ({self.trial_timeout:g} s) and its "
                    "Dask worker did not stop it (is the worker stopped or hung?); it was cancelled",
                )
            )

    def _collect(self, out: list[Event]) -> None:
        for number, running in list(self.running.items()):
            future = running.future
            if not future.done():
                continue
            del self.running[number]
            if future.status == "finished":
                try:
                    reply: Reply | None = future.result()
                except (
                    Exception
                ) as exc:  # the result could not be fetched (its worker left)
                    out.append(
                        self._failed(
                            number,
                            f"its result was lost on the cluster: {describe_exception(exc)}",
                        )
                    )
                    continue
                if reply is None:
                    out.append(
                        self._failed(number, "the Dask worker gave it up (cancelled)")
                    )
                    continue
                try:
                    write_outputs(running.task, reply.outputs)
                except OSError as exc:
                    reply.outcome = dataclasses.replace(
                        reply.outcome,
                        status=TrialStatus.FAILED,
                        error=f"cannot write its files: {describe_exception(exc)}",
                    )
                self.where[number] = reply.worker
                out.append(ResultEvent(reply.outcome, worker=reply.worker))
            elif future.status == "cancelled":
                out.append(
                    self._failed(
                        number, "the cluster cancelled it (did the scheduler restart?)"
                    )
                )
            else:
                exc = future.exception()
                if type(exc).__name__ == "KilledWorker":
                    reason = (
                        f"the Dask workers running it died ({describe_exception(exc)})"
                    )
                else:
                    reason = f"the trial task failed on the cluster: {describe_exception(exc)}"
                out.append(self._failed(number, reason))

    def _failed(self, number: int, reason: str) -> ResultEvent:
        return ResultEvent(
            TrialOutcome(number=number, status=TrialStatus.FAILED, error=reason),
            worker=self.where.get(number),
        )
