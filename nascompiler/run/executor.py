"""Executors run trials away from the driver.

The study talks to an executor through :class:`Executor` only: ``start`` (bring workers up;
returns the data summary they report), ``free_slots``, ``submit``, ``poll`` and ``shutdown``.
:class:`LocalExecutor` runs worker processes on this machine, one per slot, each pinned to one
GPU when there are GPUs. A cluster executor (Dask, say) implements the same five methods.

Resident promotion (``run/resident.py``) is optional: an executor that keeps models in its
workers says which worker holds which trial (``resident``), sends a promotion back to it
(``submit``'s ``worker``) and drops models on request (``evict``). :class:`LocalExecutor` does;
the Dask executor does not (its trial processes are not addressed one by one), so there every
promotion reloads its checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..config.settings import DEFAULT_WORKERS
from ..errors import UsageError
from ..kinds import TrialStatus
from .data import DataSource
from .messages import (
    EpochReport,
    Evict,
    Ready,
    Result,
    TrialOutcome,
    TrialTask,
    WorkerError,
    WorkerInit,
    WorkerReply,
)


@dataclass(frozen=True)
class EpochEvent:
    number: int
    epoch: int
    logs: dict[str, float]
    worker: str | None = (
        None  # where the trial runs, when the executor knows (a cluster's host)
    )


@dataclass(frozen=True)
class ResultEvent:
    outcome: TrialOutcome
    worker: str | None = None


Event = EpochEvent | ResultEvent


class Executor(ABC):
    @abstractmethod
    def start(self) -> dict[str, Any]:
        """Start the workers; return the summary of the data they loaded. Raises
        :class:`UsageError` when the data cannot be loaded."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more trials could start now."""

    @abstractmethod
    def submit(self, task: TrialTask) -> None:
        """Start a trial (there must be a free slot)."""

    def resident(self) -> dict[int, int]:
        """Trial number -> the worker holding its trained model in memory (none by default)."""
        return {}

    def evict(self, numbers: list[int]) -> None:
        """Drop these trials' resident models (they will not be promoted)."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll, waiting up to ``timeout`` seconds for the first one. A
        trial whose worker died comes back as a failed result."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every worker, running trials included."""

    def describe(self) -> str | None:
        """Where trials run, for the line that starts a search (``None``: ``--workers`` says it)."""
        return None

    def worker_of(self, number: int) -> str | None:
        """The worker (host) that runs or ran trial ``number``, when that is worth showing."""
        return None


def visible_gpus() -> list[str]:
    """The GPUs trials may use: ``CUDA_VISIBLE_DEVICES`` if set, else what ``nvidia-smi`` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [
        str(i)
        for i, line in enumerate(
            l for l in listing.splitlines() if l.startswith("GPU ")
        )
    ]


@dataclass
class _Slot:
    """One worker process and the two pipes to it."""

    index: int
    process: subprocess.Popen
    tasks: Connection
    events: Connection
    log: Path | None
    ready: bool = False
    task: TrialTask | None = None
    trials_done: int = 0
    task_started: float = 0.0
    held: list[int] = field(default_factory=list)  # trials resident in this worker
    evicting: set[int] = field(default_factory=set)  # evicted while it ran its task


class LocalExecutor(Executor):
    """``workers`` worker processes on this machine, each a fresh interpreter
    (``python -m nascompiler.run.worker``) talking over its own pair of pipes.

    Worker output (TensorFlow's logs, the user's prints) goes to ``log_dir/worker-<n>.log``
    when a log folder is given. A worker is replaced by a fresh one after ``recycle_after``
    trials: TensorFlow keeps some 15 MB of traced graphs per trained model however the session
    is cleared, which would otherwise grow without bound over a long search (and slow every
    garbage collection down).

    With ``resident_keep`` > 0 each worker keeps up to that many trained models for their
    promotions (see run/resident.py); ``submit`` sends a promotion to the worker that holds
    it when that worker is free.
    """

    def __init__(
        self,
        data: DataSource,
        settings: dict[str, Any],
        workers: int = DEFAULT_WORKERS,
        gpus: list[str] | None = None,
        log_dir: Path | None = None,
        startup_timeout: float = 600.0,
        recycle_after: int = 25,
        trial_timeout: float | None = None,
        resident_keep: int = 0,
    ):
        if workers < 1:
            raise UsageError(f"--workers must be at least 1, got {workers}")
        self.data = data
        self.settings = settings
        self.workers = workers
        self.gpus = visible_gpus() if gpus is None else gpus
        self.log_dir = log_dir
        self.startup_timeout = startup_timeout
        self.recycle_after = recycle_after
        self.trial_timeout = trial_timeout
        self.resident_keep = resident_keep
        self.slots: list[_Slot] = []
        self.summary: dict[str, Any] | None = None
        self.load_retries: dict[int, int] = (
            {}
        )  # slot index -> workers restarted while loading

    def device_of(self, index: int) -> str | None:
        return self.gpus[index % len(self.gpus)] if self.gpus else None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, Any]:
        self.slots = [self._spawn(i) for i in range(self.workers)]
        deadline = time.monotonic() + self.startup_timeout
        while not all(s.ready for s in self.slots):
            if time.monotonic() > deadline:
                self.shutdown()
                raise UsageError(
                    f"workers did not start within {self.startup_timeout:.0f} s (loading the data?)"
                )
            self._receive(0.2, [])
            for i, slot in enumerate(self.slots):
                if not slot.ready and slot.process.poll() is not None:
                    self._respawn_loading(i)
        assert self.summary is not None
        return self.summary

    def _spawn(self, index: int) -> _Slot:
        task_read, task_write = os.pipe()
        event_read, event_write = os.pipe()
        env = dict(os.environ)
        device = self.device_of(index)
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        log = None
        output: Any = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"worker-{index}.log"
            output = open(log, "ab")
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nascompiler.run.worker",
                    str(task_read),
                    str(event_write),
                ],
                pass_fds=(task_read, event_write),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,  # Ctrl-C in the terminal reaches the driver only
            )
        finally:
            os.close(task_read)
            os.close(event_write)
            if output is not None:
                output.close()
        slot = _Slot(
            index,
            process,
            Connection(task_write, readable=False),
            Connection(event_read, writable=False),
            log,
        )
        slot.tasks.send(
            WorkerInit(
                index,
                self.data,
                self.settings,
                device,
                os.getpid(),
                resident_keep=self.resident_keep,
            )
        )
        return slot

    def shutdown(self) -> None:
        for slot in self.slots:
            if slot.task is not None and slot.process.poll() is None:
                slot.process.terminate()  # a running trial is abandoned; the study runs it again later
            else:
                with contextlib.suppress(OSError):  # a worker that is already gone
                    slot.tasks.send(None)
        deadline = time.monotonic() + 5.0
        for slot in self.slots:
            try:
                slot.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
            slot.tasks.close()
            slot.events.close()
        self.slots = []

    # ------------------------------------------------------------------ trials
    def free_slots(self) -> int:
        return len(self._free())

    def _free(self) -> list[_Slot]:
        """Workers ready for a task (one that died is not: poll() replaces it)."""
        return [
            s
            for s in self.slots
            if s.ready and s.task is None and s.process.poll() is None
        ]

    def resident(self) -> dict[int, int]:
        return {number: slot.index for slot in self.slots for number in slot.held}

    def evict(self, numbers: list[int]) -> None:
        for slot in self.slots:
            for number in numbers:
                if number in slot.held:
                    self.evict_from(slot, number)

    def submit(self, task: TrialTask, worker: int | None = None) -> None:
        """Start ``task`` on a free worker: ``worker`` (an index) if given and free, else the
        free worker that holds the trial's model, else the first free one. A copy of the
        trial's model held by another worker is stale afterwards and is evicted."""
        free = self._free()
        if not free:
            raise RuntimeError("submit() without a free slot")
        chosen = next((s for s in free if s.index == worker), None)
        chosen = chosen or next((s for s in free if task.number in s.held), free[0])
        for slot in self.slots:
            if slot is not chosen and task.number in slot.held:
                self.evict_from(slot, task.number)
        chosen.held = [n for n in chosen.held if n != task.number]
        chosen.task = task
        chosen.task_started = time.monotonic()
        try:
            chosen.tasks.send(task)
        except OSError:
            pass  # the worker died just now: poll() reports its trial as failed

    def evict_from(self, slot: _Slot, number: int) -> None:
        """The worker drops the model before its next task; a busy worker's coming result
        still lists it, so it is remembered until then."""
        slot.held = [n for n in slot.held if n != number]
        if slot.task is not None:
            slot.evicting.add(number)
        with contextlib.suppress(OSError):  # a dead worker holds nothing anyway
            slot.tasks.send(Evict((number,)))

    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll. Workers are replaced here, in the background of the
        search: a recycled or replaced worker has no free slot until it reports ready, so a
        caller with nothing in flight must keep polling rather than conclude it is done.
        """
        out: list[Event] = []
        self._receive(timeout, out)
        now = time.monotonic()
        for i, slot in enumerate(self.slots):
            if slot.process.poll() is None:
                if (
                    slot.task is not None
                    and self.trial_timeout is not None
                    and now - slot.task_started > self.trial_timeout
                ):
                    number = slot.task.number
                    slot.task = None
                    slot.process.kill()  # hung (or stopped): its trial fails, a fresh worker follows
                    slot.process.wait()
                    self._drain(slot, out)
                    out.append(
                        ResultEvent(
                            TrialOutcome(
                                number=number,
                                status=TrialStatus.FAILED,
                                error=f"the trial ran longer than --trial-timeout ({self.trial_timeout:g} s) "
                                "and was stopped",
                            )
                        )
                    )
                    slot.tasks.close()
                    slot.events.close()
                    self.slots[i] = self._spawn(slot.index)
                elif (
                    slot.task is None
                    and self.recycle_after
                    and slot.trials_done >= self.recycle_after
                ):
                    self._stop(slot)
                    self.slots[i] = self._spawn(slot.index)
                continue
            self._drain(slot, out)  # anything it sent before it died
            if not slot.ready:
                self._respawn_loading(i)
                continue
            if slot.task is not None:
                out.append(
                    ResultEvent(
                        TrialOutcome(
                            number=slot.task.number,
                            status=TrialStatus.FAILED,
                            error=f"the worker process died: {_exit_text(slot)}",
                        )
                    )
                )
            slot.tasks.close()
            slot.events.close()
            self.slots[i] = self._spawn(slot.index)
        return out

    def _respawn_loading(self, i: int) -> None:
        """A worker died while it loaded the data. Killed by a signal (the out-of-memory killer
        at a bad moment, someone's kill), it is started again, once per slot; one that exits on
        its own would only do so again, and neither may a second death: the search stops.
        """
        slot = self.slots[i]
        signalled = (slot.process.returncode or 0) < 0
        if signalled and self.load_retries.get(slot.index, 0) < 1:
            self.load_retries[slot.index] = self.load_retries.get(slot.index, 0) + 1
            slot.tasks.close()
            slot.events.close()
            self.slots[i] = self._spawn(slot.index)
            return
        self.shutdown()
        raise UsageError(
            f"a worker process exited while loading the data ({_exit_text(slot)})"
        )

    def _stop(self, slot: _Slot) -> None:
        """Let an idle worker exit (it is replaced by a fresh one)."""
        try:
            slot.tasks.send(None)
            slot.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            slot.process.kill()
            slot.process.wait()
        slot.tasks.close()
        slot.events.close()

    def _receive(self, timeout: float, out: list[Event]) -> None:
        ready = wait([s.events for s in self.slots], timeout)
        for slot in self.slots:
            if slot.events in ready:
                self._drain(slot, out)

    def _drain(self, slot: _Slot, out: list[Event]) -> None:
        while True:
            try:
                if slot.events.closed or not slot.events.poll():
                    return
                message = slot.events.recv()
            except (EOFError, OSError):
                return
            self._handle(slot, message, out)

    def _handle(self, slot: _Slot, message: WorkerReply, out: list[Event]) -> None:
        if isinstance(message, Ready):
            slot.ready = True
            self.summary = self.summary or message.summary
        elif isinstance(message, WorkerError):
            self.shutdown()
            raise UsageError(
                f"a worker could not start (loading the data, checking TRAINING): {message.message}"
            )
        elif isinstance(message, EpochReport):
            out.append(EpochEvent(message.number, message.epoch, message.logs))
        elif isinstance(message, Result):
            outcome = message.outcome
            if slot.task is not None and slot.task.number == outcome.number:
                slot.task = None
                slot.trials_done += 1
                slot.held = [n for n in outcome.held if n not in slot.evicting]
                slot.evicting.clear()
            out.append(ResultEvent(outcome))


def _exit_text(slot: _Slot) -> str:
    code = slot.process.returncode
    if code is None:
        return "still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (often the out-of-memory killer)" if name == "SIGKILL" else ""
        text = f"killed by {name}{hint}"
    else:
        text = f"exit code {code}"
    if slot.log is not None:
        text += f"; see {slot.log}"
    return text
