"""The plain-data messages between the study (driver) and its worker processes.

Driver -> worker: a :class:`WorkerInit`, then :class:`TrialTask` s and :class:`Evict` s
(``None`` to stop).
Worker -> driver: a :class:`WorkerReply`, one of :class:`Ready` or :class:`WorkerError` once
at start, then per trial :class:`EpochReport` s and a :class:`Result`. All are pickled over
the worker's pipes; driver and worker run the same nascompiler, so the classes match.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from ..kinds import TrialStatus
from .data import DataSource


@dataclass(frozen=True)
class WorkerInit:
    """Everything a worker needs before its first task."""

    worker_id: int
    data: DataSource
    settings: dict[str, Any]  # TrainingSettings.to_json()
    device: (
        str | None
    )  # value for CUDA_VISIBLE_DEVICES, or None to leave the environment alone
    parent_pid: int
    # how many trained models (compiled, with their optimizer state) the worker may keep in
    # memory for promotions (resident promotion; 0: none)
    resident_keep: int = 0


@dataclass(frozen=True)
class Evict:
    """Drop these trials' resident models: they can no longer be promoted (or were promoted
    on another worker)."""

    numbers: tuple[int, ...]


@dataclass(frozen=True)
class TrialTask:
    """One training job: train trial ``number``'s candidate up to ``epochs`` epochs in total.

    Every field whose name ends in ``_path`` is a file on the driver's side: ``module_path``
    and ``resume_path`` are read, ``weights_path`` and ``checkpoint_path`` written (an executor
    that runs the job elsewhere ships them to and fro).
    """

    number: int
    candidate_id: str
    module_path: str
    seed: int
    weights_path: (
        str | None
    )  # where to save the trained weights if they may be among the best kept
    keep_if_better_than: float | None
    epochs: int | None = (
        None  # train up to this many epochs in total (None: the settings' epochs)
    )
    initial_epoch: int = 0  # epochs already trained: continue from resume_path
    resume_path: str | None = (
        None  # checkpoint (weights + optimizer state) after initial_epoch
    )
    checkpoint_path: str | None = (
        None  # where to save the checkpoint at the end, if wanted
    )
    prune_below: tuple[float | None, ...] | None = (
        None  # per epoch: stop if the best is worse
    )
    # zero-cost proxies to compute on the freshly built model before training (run/proxies.py)
    proxies: tuple[str, ...] = ()
    # keep the trained model in this worker's memory afterwards: a promotion of this trial sent
    # back here continues it without rebuilding, re-tracing or reading the checkpoint
    keep_resident: bool = False
    # the trials the driver wants resident models of kept (likely to be promoted): a full
    # worker drops the others first
    resident_wanted: tuple[int, ...] = ()
    # --prescreen: only build the model and compute ``proxies`` on it (no training); the
    # outcome carries the scores
    screen_only: bool = False
    # the seed of the batch the proxies look at (None: ``seed``): one batch for every
    # candidate of a prescreened trial slot, so that their scores compare
    proxy_seed: int | None = None
    # --prescreen oneshot:K: the study's supernet module; the screening job scores the
    # candidate with its shared weights (run/oneshot.py) instead of building it
    supernet_path: str | None = None
    supernet_epochs: int | None = None  # its training's epochs (None: the study's)


@dataclass
class TrialOutcome:
    number: int
    status: TrialStatus  # COMPLETE or FAILED
    objective: float | None = None
    metrics: dict[str, list[float]] | None = None
    params: int | None = None
    fit_seconds: float = 0.0
    setup_seconds: float = 0.0
    weights_saved: bool = False
    error: str | None = None
    epochs: int = 0  # trained in total, including the epochs before initial_epoch
    best_epoch: int | None = None  # the epoch (from 1) whose value is ``objective``
    pruned: bool = False  # stopped early by prune_below
    checkpoint_saved: bool = False
    latency_ms: float | None = (
        None  # median predict() latency, batch of one (when an objective)
    )
    proxies: dict[str, float] | None = None  # the task's proxies, before training
    proxy_seconds: dict[str, float] | None = None
    resident: bool = False  # continued a model this worker held in memory (no rebuild)
    held: tuple[
        int, ...
    ] = ()  # the trials whose models the worker holds after this job


@dataclass(frozen=True)
class Ready:
    """The worker loaded the data and checked the training settings; it takes trials now."""

    worker_id: int
    summary: dict[str, Any]  # the data summary (Dataset.summary())


@dataclass(frozen=True)
class WorkerError:
    """The worker could not start (loading the data, checking TRAINING): the search stops."""

    worker_id: int
    message: str  # one line (describe_exception)


@dataclass(frozen=True)
class EpochReport:
    """Trial ``number`` finished epoch ``epoch`` (counted from 1) with these logs."""

    worker_id: int
    number: int
    epoch: int
    logs: dict[str, float]


@dataclass(frozen=True)
class Result:
    """A trial's outcome, complete or failed (a trial never raises in the worker)."""

    worker_id: int
    outcome: TrialOutcome


WorkerReply = Ready | WorkerError | EpochReport | Result


def describe_exception(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (Keras' can be long)."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    name = type(exc).__name__
    if (
        "ResourceExhausted" in name
        or "out of memory" in message.lower()
        or isinstance(exc, MemoryError)
    ):
        return f"out of memory: {name}: {message}"[:500]
    if not message:
        frame = traceback.extract_tb(exc.__traceback__)[-1:] or None
        where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
        return f"{name}{where}"
    return f"{name}: {message}"[:500]
