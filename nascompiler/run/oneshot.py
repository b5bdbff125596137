"""One-shot scores (``--prescreen oneshot:K``): a candidate scored with the supernet's shared
weights, in a worker.

The study writes the space's supernet module (``nascompile supernet``'s) into its folder. The
first screening job of a worker that finds it untrained trains it, for ``--supernet-epochs`` (the
study's epochs unless given) with
one random path per batch, under a file lock (so that the local workers of a study train it
once and all score with the same weights), checkpointing every epoch: a killed search resumes
the training where it stopped. The trained weights stay in the folder (part of the study), and
each worker keeps the model in memory for the rest of its jobs. A candidate's score is its
objective on the validation data through the supernet, after its batch-normalization
statistics are recalibrated on a few training batches (the module's ``evaluate``).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import keras

from ..config.settings import TrainingSettings
from ..kinds import Direction
from .checkpoint import load_checkpoint, optimizer_from, save_checkpoint
from .modules import import_file, log

WEIGHTS_FILE = "supernet.weights.npz"
CHECKPOINT_FILE = "supernet.checkpoint.npz"
PROGRESS_FILE = "supernet.progress.json"
LOCK_FILE = "supernet.lock"


@dataclass
class _Supernet:
    module: Any
    model: Any
    metric: str  # the key of the objective in the module's evaluate()


_loaded: dict[str, _Supernet] = (
    {}
)  # supernet module path -> trained supernet, per worker


def oneshot_score(
    module_path: str,
    supernet_path: str,
    dataset: Any,
    settings: TrainingSettings,
    seed: int,
    epochs: int,
) -> tuple[dict[str, float], dict[str, float]]:
    """The ``oneshot`` score of the candidate module at ``module_path`` (higher is better: a
    minimised objective is negated) and the seconds it took (training the supernet for
    ``epochs``, when this job did, included)."""
    started = time.perf_counter()
    supernet = _loaded.get(supernet_path)
    if supernet is None:
        supernet = _loaded[supernet_path] = _trained(
            supernet_path, dataset, settings, seed, epochs
        )
    hyperparameters = import_file(
        module_path, "nascompiler_oneshot_candidate"
    ).HYPERPARAMETERS
    metrics = supernet.module.evaluate(
        supernet.model,
        hyperparameters,
        dataset.x_val,
        dataset.y_val,
        calibration=dataset.x_train,
        batch_size=max(settings.batch_size, 256),
    )
    value = float(metrics[supernet.metric]) * Direction(settings.direction).sign
    return {"oneshot": value}, {"oneshot": time.perf_counter() - started}


def _trained(
    supernet_path: str, dataset: Any, settings: TrainingSettings, seed: int, epochs: int
) -> _Supernet:
    objective = settings.objective
    if not objective.startswith("val_"):
        raise ValueError(
            f"one-shot scores are a validation metric; the objective is {objective!r}"
        )
    folder = os.path.dirname(supernet_path)
    module = import_file(supernet_path, "nascompiler_supernet")
    model = module.build_supernet()
    model.compile(
        optimizer=optimizer_from(settings.optimizer),
        loss=settings.loss,
        metrics=list(settings.metrics),
    )
    weights = os.path.join(folder, WEIGHTS_FILE)
    checkpoint = os.path.join(folder, CHECKPOINT_FILE)
    progress = os.path.join(folder, PROGRESS_FILE)
    with open(os.path.join(folder, LOCK_FILE), "a") as lock:
        fcntl.flock(
            lock, fcntl.LOCK_EX
        )  # one worker trains; the others wait, then load
        if os.path.exists(weights):
            load_checkpoint(model, weights)
        else:
            done = 0
            if os.path.exists(checkpoint) and os.path.exists(progress):
                load_checkpoint(model, checkpoint)
                with open(progress) as f:
                    done = int(json.load(f)["epochs"])

            class _Checkpoint(keras.callbacks.Callback):
                def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                    save_checkpoint(model, checkpoint)
                    _write_json(progress, {"epochs": epoch + 1})

            log(
                f"supernet: training epochs {done + 1}-{epochs}"
                + (f" (resumed from its checkpoint after epoch {done})" if done else "")
            )
            module.train(
                model,
                dataset.x_train,
                dataset.y_train,
                epochs=epochs,
                batch_size=settings.batch_size,
                seed=seed,
                initial_epoch=done,
                callbacks=[_Checkpoint()],
                verbose=0,
            )
            save_checkpoint(model, weights)
            log(f"supernet: trained, its weights in {weights}")
    return _Supernet(module, model, objective[len("val_") :])


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
