"""Training one candidate module with Keras (runs inside a worker process).

The candidate is imported from its file, the very file that ``export`` hands over: the search
never builds a model any other way.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import time
from typing import Any, Callable

import keras

from .messages import TrialOutcome, TrialTask, describe_exception
from .settings import TrainingSettings


def run_trial(
    task: TrialTask, dataset: Any, settings: TrainingSettings, on_epoch: Any
) -> TrialOutcome:
    """Train one candidate module; never raises (a failure is a failed outcome)."""
    started = time.perf_counter()
    fit_seconds = 0.0
    try:
        keras.utils.set_random_seed(task.seed)
        module = _import_candidate(task.module_path, task.candidate_id)
        model = module.build_model()
        model.compile(
            optimizer=_optimizer(settings.optimizer),
            loss=settings.loss,
            metrics=list(settings.metrics),
        )
        watcher = _EpochWatcher(on_epoch)
        fit_started = time.perf_counter()
        history = model.fit(
            dataset.x_train,
            dataset.y_train,
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            validation_data=(dataset.x_val, dataset.y_val),
            callbacks=[watcher],
            verbose=0,
        )
        fit_seconds = time.perf_counter() - fit_started
        metrics = {
            k: [float(v) for v in values] for k, values in history.history.items()
        }
        if watcher.nan_at is not None:
            return _failed(
                task,
                started,
                fit_seconds,
                f"loss became NaN in epoch {watcher.nan_at}",
                metrics,
            )
        if settings.objective not in metrics:
            return _failed(
                task,
                started,
                fit_seconds,
                f"the training history has no {settings.objective!r} "
                f"(it has {', '.join(sorted(metrics))})",
                metrics,
            )
        objective = metrics[settings.objective][-1]
        if not math.isfinite(objective):
            return _failed(
                task,
                started,
                fit_seconds,
                f"{settings.objective} is {objective}",
                metrics,
            )
        saved = False
        if task.weights_path and _worth_keeping(
            objective, task.keep_if_better_than, settings.direction
        ):
            _save_weights(model, task.weights_path)
            saved = True
        outcome = TrialOutcome(
            number=task.number,
            status="complete",
            objective=objective,
            metrics=metrics,
            params=int(model.count_params()),
            fit_seconds=fit_seconds,
            weights_saved=saved,
        )
    except Exception as exc:
        return _failed(task, started, fit_seconds, describe_exception(exc))
    finally:
        keras.backend.clear_session()  # also runs gc.collect(); a second collection would only cost time
    outcome.setup_seconds = time.perf_counter() - started - fit_seconds
    return outcome


class _EpochWatcher(keras.callbacks.Callback):
    """Reports each epoch's logs and stops training when the loss turns NaN."""

    def __init__(self, on_epoch: Callable[[int, dict], None]):
        super().__init__()
        self.on_epoch = on_epoch
        self.epoch = 0
        self.nan_at: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan_at = self.epoch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})


def _import_candidate(path: str, candidate_id: str) -> Any:
    name = f"nascompiler_candidate_{candidate_id}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def _optimizer(config: Any) -> Any:
    return keras.optimizers.get(config)


def _worth_keeping(objective: float, threshold: float | None, direction: str) -> bool:
    if threshold is None:
        return True
    return objective > threshold if direction == "max" else objective < threshold


def _save_weights(model: Any, path: str) -> None:
    """Write the weights atomically: to a temporary ``.weights.h5`` beside the target, then rename."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    model.save_weights(tmp)
    os.replace(tmp, path)


def _failed(
    task: TrialTask,
    started: float,
    fit_seconds: float,
    reason: str,
    metrics: dict[str, list[float]] | None = None,
) -> TrialOutcome:
    return TrialOutcome(
        number=task.number,
        status="failed",
        metrics=metrics,
        fit_seconds=fit_seconds,
        setup_seconds=time.perf_counter() - started - fit_seconds,
        error=reason,
    )
