"""Checkpoints of a model in training: its weights and its optimizer's state in one file, so
that a continued job (a promotion, a resumed supernet) goes on exactly where it stopped.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np

# The best epoch so far of a trial: its objective value, its number (from 1) and its weights.
BestEpoch = tuple[float, int, list[Any]]


def optimizer_from(config: Any) -> Any:
    """The Keras optimizer a TRAINING ``optimizer`` value names or configures."""
    return keras.optimizers.get(config)


def save_checkpoint(model: Any, path: str, best: BestEpoch | None = None) -> None:
    """Weights and optimizer state (its step count and moments) in one ``.npz``, written
    atomically: a promoted trial continues exactly where it stopped. ``best`` (scores by the
    best epoch) adds that epoch's value, number and weights."""
    arrays = {f"weight_{i:05d}": w for i, w in enumerate(model.get_weights())}
    for i, variable in enumerate(model.optimizer.variables):
        arrays[f"optimizer_{i:05d}"] = keras.ops.convert_to_numpy(variable)
    if best is not None:
        value, epoch, weights = best
        arrays["best_value"] = np.float64(value)
        arrays["best_epoch"] = np.int64(epoch)
        arrays.update({f"best_{i:05d}": w for i, w in enumerate(weights)})
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)


def load_checkpoint(model: Any, path: str) -> BestEpoch | None:
    """Restore what :func:`save_checkpoint` wrote into a freshly built, compiled model; returns
    the best epoch it holds, if any."""
    with np.load(path) as data:
        weights = [data[k] for k in sorted(data.files) if k.startswith("weight_")]
        state = [data[k] for k in sorted(data.files) if k.startswith("optimizer_")]
        best = None
        if "best_epoch" in data.files:
            best = (
                float(data["best_value"]),
                int(data["best_epoch"]),
                [data[k] for k in sorted(data.files) if k.startswith("best_0")],
            )
    model.set_weights(weights)
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if len(variables) != len(state):
        raise ValueError(
            f"checkpoint {path} holds {len(state)} optimizer variables, the model's optimizer "
            f"has {len(variables)}"
        )
    for variable, value in zip(variables, state):
        variable.assign(value)
    return best
