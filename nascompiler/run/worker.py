"""A worker process: the driver starts one per slot (``python -m nascompiler.run.worker``);
it loads the data once, then trains the trials it is sent, one at a time.

Trials run here, never in the driver, so that a crash, an out-of-memory kill or TensorFlow's
memory growth in one trial cannot take the search down. Keras is imported only after the
environment is set (GPU pinning, memory growth). Workers are started as fresh interpreters
rather than with ``multiprocessing``, which would re-run the user's ``__main__`` script in each
of them (the seed's examples are scripts without a ``__main__`` guard).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Callable, Mapping

from ..config.settings import TrainingSettings, check_training
from .data import num_samples, top_up_to_whole_batches
from .messages import (
    EpochReport,
    Evict,
    Ready,
    Result,
    TrialTask,
    WorkerError,
    WorkerInit,
    describe_exception,
)
from .modules import log as _log
from .resident import ResidentModels


def configure_environment(device: str | None, backend: str | None = None) -> None:
    """Before Keras is imported: choose its backend (the study's ``backend`` setting), pin the
    GPU, grow memory on demand, keep logs quiet."""
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def worker_main(tasks: Connection, events: Connection) -> None:
    """Serve one driver: the first message on ``tasks`` is the :class:`WorkerInit`, then
    :class:`TrialTask` s until ``None``. Replies go to ``events`` as :class:`WorkerReply` s.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    init: WorkerInit = tasks.recv()
    _exit_with_parent(init.parent_pid)
    configure_environment(init.device, init.settings.get("backend"))
    wid = init.worker_id
    try:
        settings = TrainingSettings.from_json(init.settings)
        dataset = init.data.load()
        summary = dataset.summary()
        from .trainer import run_trial  # imports Keras, now that the environment is set

        _check_backend(init.settings.get("backend"))
        import keras

        _log(f"Keras {keras.__version__} on {keras.backend.backend()}")
        if keras.backend.backend() == "jax":
            batch_size = settings.batch_size
            dataset, added = top_up_to_whole_batches(dataset, batch_size)
            if added:
                _log(
                    f"training split topped up with {added} repeated sample(s) to "
                    f"{num_samples(dataset.x_train)}, whole batches of {batch_size}: one JIT "
                    "compile of each model's training step, not two"
                )
    except (
        Exception
    ) as exc:  # reported to the driver, which stops the search with this message
        events.send(WorkerError(wid, describe_exception(exc)))
        return
    try:  # once, before any trial: a misspelt optimizer, loss or metric stops the search
        check_training(settings)
    except Exception as exc:
        events.send(WorkerError(wid, describe_exception(exc)))
        return
    # Keras and TensorFlow create some 340,000 long-lived objects; every garbage collection
    # (Keras runs one per trial in clear_session) would walk them all again. Freeze them.
    gc.collect()
    gc.freeze()
    events.send(Ready(wid, summary))
    resident = ResidentModels(init.resident_keep)
    while True:
        try:
            task = tasks.recv()
        except EOFError:
            return
        if task is None:
            return
        if isinstance(task, Evict):
            dropped = resident.evict(task.numbers)
            if dropped:
                _log(f"evicted the resident model(s) of trial(s) {_numbers(dropped)}")
            continue
        number = task.number
        before = resident.numbers()
        outcome = run_trial(
            task,
            dataset,
            settings,
            _epoch_reporter(task, settings, wid, events),
            resident,
        )
        outcome.held = resident.numbers()
        if outcome.resident:
            _log(
                f"trial #{number}: continued its resident model from epoch "
                f"{task.initial_epoch} (no rebuild, no checkpoint read)"
            )
        if number in outcome.held:
            _log(f"trial #{number}: keeps its model resident at epoch {outcome.epochs}")
        dropped = [n for n in before if n not in outcome.held and n != number]
        if dropped:
            _log(
                f"dropped the resident model(s) of trial(s) {_numbers(dropped)} (full)"
            )
        events.send(Result(wid, outcome))


def _check_backend(backend: str | None) -> None:
    import keras

    if backend is not None and keras.backend.backend() != backend:
        raise RuntimeError(
            f"Keras runs on {keras.backend.backend()}, not the study's backend {backend!r} "
            "(was Keras imported before the worker set KERAS_BACKEND?)"
        )


def _numbers(numbers: list[int] | tuple[int, ...]) -> str:
    return ", ".join(f"#{n}" for n in numbers)


def _epoch_reporter(
    task: TrialTask, settings: TrainingSettings, wid: int, events: Connection
) -> Callable[[int, dict], None]:
    """After each epoch: one line in the worker's log (its stderr) and the epoch's report to the
    driver, which shows it as progress."""
    started = time.monotonic()
    total = task.epochs or settings.epochs

    def report(epoch: int, logs: dict) -> None:
        line = epoch_log_line(
            task.number,
            task.candidate_id,
            epoch,
            total,
            logs,
            time.monotonic() - started,
        )
        print(line, file=sys.stderr, flush=True)
        events.send(EpochReport(wid, task.number, epoch, logs))

    return report


def epoch_log_line(
    number: int,
    candidate_id: str,
    epoch: int,
    total: int | None,
    logs: Mapping[str, float],
    seconds: float,
) -> str:
    """One epoch of a trial as the worker's log shows it, e.g.
    ``2026-12-05 13:40:02 trial #3 00dab4bce4 epoch 2/8: accuracy=0.9012 loss=0.3121
    val_accuracy=0.8950 val_loss=0.3410 (4.2s)``; the metrics in name order."""
    metrics = " ".join(
        f"{name}={_metric(value)}" for name, value in sorted(logs.items())
    )
    return (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} trial #{number} {candidate_id} epoch "
        f"{epoch}/{total if total else '?'}: {metrics} ({seconds:.1f}s)"
    )


def _metric(value: float) -> str:
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _exit_with_parent(parent_pid: int) -> None:
    """A worker must not outlive a driver that was killed (kill -9 leaves no time to stop it)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


if __name__ == "__main__":
    worker_main(Connection(int(sys.argv[1])), Connection(int(sys.argv[2])))
    # Skip the interpreter's orderly shutdown: with TensorFlow loaded it takes about a second,
    # and the driver waits for its workers to exit. Nothing is left to flush but the logs.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
