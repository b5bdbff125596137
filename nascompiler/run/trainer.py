"""Training one candidate module with Keras (runs inside a worker process).

The candidate is imported from its file, the very file that ``export`` hands over: the search
never builds a model any other way.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

import keras
import numpy as np

from ..config.settings import COST_OBJECTIVES, TrainingSettings
from ..kinds import Direction, TrialStatus
from .checkpoint import BestEpoch, load_checkpoint, optimizer_from, save_checkpoint
from .data import num_samples, whole_batch_size
from .messages import TrialOutcome, TrialTask, describe_exception
from .modules import import_file
from .oneshot import oneshot_score
from .resident import ResidentModels

PROXY_BATCH = 64  # training samples the zero-cost proxies look at
LATENCY_CALLS = (
    7  # timed predict() calls after one warm-up; their median is the latency
)


def run_trial(
    task: TrialTask,
    dataset: Any,
    settings: TrainingSettings,
    on_epoch: Any,
    resident: ResidentModels | None = None,
) -> TrialOutcome:
    """Train one candidate module; never raises (a failure is a failed outcome). With
    ``resident``, a continued job takes the model held there when it can (no rebuild, no
    re-trace, no checkpoint read), and a job with ``keep_resident`` leaves its model there.
    """
    started = time.perf_counter()
    fit_seconds = 0.0
    epochs = task.epochs or settings.epochs
    try:
        # A continued job gets its own seed: re-running the same job repeats it exactly.
        keras.utils.set_random_seed(task.seed + task.initial_epoch)
        held = resident.take(task) if resident is not None else None
        reused = held is not None
        proxies = proxy_seconds = None
        earlier_best = None
        if held is None:
            if task.screen_only and task.supernet_path:  # --prescreen oneshot:K
                proxies, proxy_seconds = oneshot_score(
                    task.module_path,
                    task.supernet_path,
                    dataset,
                    settings,
                    task.seed,
                    epochs=task.supernet_epochs or settings.epochs,
                )
                return TrialOutcome(
                    number=task.number,
                    status=TrialStatus.COMPLETE,
                    proxies=proxies,
                    proxy_seconds=proxy_seconds,
                )
            module = _import_candidate(task.module_path, task.candidate_id)
            model = module.build_model()
            if task.screen_only:  # --prescreen: the proxy scores alone, untrained
                proxies, proxy_seconds = _proxies(model, dataset, settings, task)
                outcome = TrialOutcome(
                    number=task.number,
                    status=TrialStatus.COMPLETE,
                    params=int(model.count_params()),
                    proxies=proxies,
                    proxy_seconds=proxy_seconds,
                )
                return outcome
            if task.proxies and not task.initial_epoch:
                proxies, proxy_seconds = _proxies(model, dataset, settings, task)
            model.compile(
                optimizer=optimizer_from(settings.optimizer),
                loss=settings.loss,
                metrics=list(settings.metrics),
            )
            if task.initial_epoch:
                if not task.resume_path:
                    raise ValueError(
                        "a continued job needs a checkpoint to resume from"
                    )
                earlier_best = load_checkpoint(model, task.resume_path)
        else:  # continues where it stopped, with the best epoch its checkpoint holds
            model = held.model
            _as_if_rebuilt(model, task, dataset.x_train)
            earlier_best = held.best
        watcher = _EpochWatcher(
            on_epoch,
            settings.objective,
            settings.direction,
            task.prune_below,
            keep_best=settings.score == "best",
            earlier_best=earlier_best,
        )
        fit_started = time.perf_counter()
        history = model.fit(
            dataset.x_train,
            dataset.y_train,
            batch_size=settings.batch_size,
            epochs=epochs,
            initial_epoch=task.initial_epoch,
            validation_data=(dataset.x_val, dataset.y_val),
            validation_batch_size=_validation_batch_size(dataset, settings),
            callbacks=[watcher],
            verbose=0,
        )
        fit_seconds = time.perf_counter() - fit_started
        metrics = {
            k: [float(v) for v in values] for k, values in history.history.items()
        }
        trained = task.initial_epoch + len(next(iter(metrics.values()), []))
        if watcher.nan_at is not None:
            return _failed(
                task,
                started,
                fit_seconds,
                f"loss became NaN in epoch {watcher.nan_at}",
                metrics,
            )
        for name in settings.objective_names:
            if name in COST_OBJECTIVES:
                continue
            if name not in metrics:
                return _failed(
                    task,
                    started,
                    fit_seconds,
                    f"the training history has no {name!r} "
                    f"(it has {', '.join(sorted(metrics))})",
                    metrics,
                )
            if not math.isfinite(metrics[name][-1]):
                return _failed(
                    task,
                    started,
                    fit_seconds,
                    f"{name} is {metrics[name][-1]}",
                    metrics,
                )
        objective, best_epoch = metrics[settings.objective][-1], trained
        if settings.score == "best" and watcher.best_epoch is not None:
            objective, best_epoch = watcher.best_value, watcher.best_epoch
        broken = _non_finite_weights(model)
        if broken:
            return _failed(
                task,
                started,
                fit_seconds,
                f"the trained weights hold NaN or infinity (in {broken}); the model is dead",
                metrics,
            )
        checkpoint_saved = False
        if task.checkpoint_path and not watcher.pruned:
            save_checkpoint(model, task.checkpoint_path, watcher.best_state())
            checkpoint_saved = True
            if resident is not None and task.keep_resident:
                resident.keep(
                    task.number,
                    task.candidate_id,
                    trained,
                    model,
                    task.resident_wanted,
                    best=watcher.best_state(),
                )
        saved = False
        if task.weights_path and _worth_keeping(
            objective, task.keep_if_better_than, settings.direction
        ):
            if watcher.best_weights is not None and best_epoch != trained:
                model.set_weights(
                    watcher.best_weights
                )  # the kept weights: the best epoch's
            _save_weights(model, task.weights_path)
            saved = True
        outcome = TrialOutcome(
            number=task.number,
            status=TrialStatus.COMPLETE,
            objective=objective,
            metrics=metrics,
            params=int(model.count_params()),
            fit_seconds=fit_seconds,
            weights_saved=saved,
            epochs=trained,
            best_epoch=best_epoch,
            pruned=watcher.pruned,
            checkpoint_saved=checkpoint_saved,
            latency_ms=(
                predict_latency_ms(model, dataset.x_val)
                if "latency_ms" in settings.objective_names
                else None
            ),
            proxies=proxies,
            proxy_seconds=proxy_seconds,
            resident=reused,
        )
    except Exception as exc:
        return _failed(task, started, fit_seconds, describe_exception(exc))
    finally:
        keras.backend.clear_session()  # also runs gc.collect(); a second collection would only cost time
    outcome.setup_seconds = time.perf_counter() - started - fit_seconds
    return outcome


class _EpochWatcher(keras.callbacks.Callback):
    """Reports each epoch's logs, stops training when the loss turns NaN, and prunes: after
    epoch ``e`` it stops when the best objective so far is worse than ``prune_below[e - 1]``
    (Optuna's MedianPruner compares the same way).

    It also follows the trial's best epoch so far (``best_value``, ``best_epoch``, counted from
    1 over the whole trial, ``earlier_best`` carrying a continued job's earlier epochs) and, with
    ``keep_best``, a copy of that epoch's weights (``best_weights``): the weights kept.
    """

    def __init__(
        self,
        on_epoch: Callable[[int, dict], None],
        objective: str = "",
        direction: str = "max",
        prune_below: tuple[float | None, ...] | None = None,
        keep_best: bool = False,
        earlier_best: "BestEpoch | None" = None,
    ):
        super().__init__()
        self.on_epoch = on_epoch
        self.objective = objective
        self.sign = Direction(direction).sign
        self.prune_below = prune_below
        self.keep_best = keep_best
        self.best: float | None = None  # oriented: higher is better
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[Any] | None = None
        if earlier_best is not None:
            self.best_value, self.best_epoch, self.best_weights = earlier_best
            self.best = self.sign * self.best_value
        self.epoch = 0
        self.nan_at: int | None = None
        self.pruned = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.nan_at = self.epoch + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})
        value = (logs or {}).get(self.objective)
        if value is None or not math.isfinite(float(value)):
            return
        score = self.sign * float(value)
        if self.best is None or score > self.best:  # ties: the earlier epoch
            self.best, self.best_value, self.best_epoch = score, float(value), epoch + 1
            if self.keep_best:
                self.best_weights = self.model.get_weights()  # numpy copies
        limits = self.prune_below or ()
        last = epoch + 1 >= self.params.get("epochs", 0)
        if epoch < len(limits) and limits[epoch] is not None and not last:
            if self.best < limits[epoch]:
                self.pruned = True
                self.model.stop_training = True

    def best_state(self) -> "BestEpoch | None":
        """What a checkpoint keeps of the best epoch so a continued job goes on from it."""
        if not self.keep_best or self.best_epoch is None or self.best_weights is None:
            return None
        return (self.best_value, self.best_epoch, self.best_weights)


def _proxies(
    model: Any, dataset: Any, settings: TrainingSettings, task: TrialTask
) -> tuple[dict[str, float], dict[str, float]]:
    """The task's zero-cost proxies on the untrained model, on one batch of training data
    drawn with the task's proxy seed (default: the trial's seed; the same batch for every
    candidate of a seed)."""
    from .proxies import compute_proxies

    seed = task.seed if task.proxy_seed is None else task.proxy_seed
    rows = np.random.default_rng(seed).permutation(len(dataset.x_train))
    batch = np.sort(rows[: min(PROXY_BATCH, len(rows))])
    return compute_proxies(
        model,
        np.asarray(dataset.x_train[batch]),
        np.asarray(dataset.y_train[batch]),
        settings.loss,
        task.proxies,
    )


def predict_latency_ms(model: Any, x: Any, calls: int = LATENCY_CALLS) -> float:
    """The median wall time of ``model.predict`` on a batch of one sample of ``x`` (an array,
    or a list/dict of arrays for several inputs), in milliseconds, after one warm-up call that
    pays for tracing."""
    if isinstance(x, dict):
        one = {k: v[:1] for k, v in x.items()}
    elif isinstance(x, (list, tuple)):
        one = [v[:1] for v in x]
    else:
        one = x[:1]
    model.predict(one, verbose=0)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        model.predict(one, verbose=0)
        times.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(times))


def _as_if_rebuilt(model: Any, task: TrialTask, x_train: Any) -> None:
    """Leave the random state as a rebuild and checkpoint reload would have left it, so that
    a resident continuation trains exactly as a reloaded one: build a throwaway model (which
    draws what the rebuild draws), give the held model its fresh dropout seed states, and on
    JAX draw the data permutation Keras draws when it first fits a fresh model. Costs one
    model build, none of the compile, trace or checkpoint read."""
    fresh = _import_candidate(task.module_path, task.candidate_id).build_model()
    held = [v for v in model.variables if "seed_generator_state" in v.path]
    new = [v for v in fresh.variables if "seed_generator_state" in v.path]
    if len(held) == len(new):
        for variable, value in zip(held, new):
            variable.assign(value.value)
    del fresh
    if keras.backend.backend() == "jax":
        np.random.permutation(num_samples(x_train))


def _validation_batch_size(dataset: Any, settings: TrainingSettings) -> int | None:
    """On JAX, whole validation batches: one compile of the evaluation step per model, not two
    (see run/data.py). Elsewhere Keras's default (the training batch size): TensorFlow traces a
    partial batch cheaply, and larger batches measured no faster there."""
    if keras.backend.backend() != "jax":
        return None
    return whole_batch_size(num_samples(dataset.x_val), settings.batch_size)


def _import_candidate(path: str, candidate_id: str) -> Any:
    return import_file(path, f"nascompiler_candidate_{candidate_id}")


def _worth_keeping(objective: float, threshold: float | None, direction: str) -> bool:
    if threshold is None:
        return True
    return Direction(direction).better(objective, threshold)


def _non_finite_weights(model: Any) -> str | None:
    """The name of the first weight holding NaN or infinity, if any."""
    for weight in model.weights:
        if not np.isfinite(keras.ops.convert_to_numpy(weight)).all():
            return weight.path
    return None


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
        status=TrialStatus.FAILED,
        metrics=metrics,
        epochs=task.initial_epoch + len(next(iter((metrics or {}).values()), [])),
        fit_seconds=fit_seconds,
        setup_seconds=time.perf_counter() - started - fit_seconds,
        error=reason,
    )
