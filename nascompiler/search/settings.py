"""Training settings: the space file's ``TRAINING`` dict, overridden by command-line flags."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import UsageError

KEYS = (
    "optimizer",
    "loss",
    "metrics",
    "objective",
    "direction",
    "epochs",
    "batch_size",
)


@dataclass(frozen=True)
class TrainingSettings:
    """How every candidate of a study is trained and judged.

    ``objective`` names a value of Keras' training history (``val_accuracy``, ``val_loss``...);
    the last epoch's value is the trial's score. By default it is ``val_<first metric>``, or
    ``val_loss`` without metrics, and ``direction`` is ``min`` for losses and errors, else ``max``.
    """

    optimizer: Any = "adam"
    loss: Any = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    objective: str = ""
    direction: str = ""
    epochs: int = 3
    batch_size: int = 32

    @classmethod
    def resolve(
        cls,
        training: Mapping[str, Any] | None = None,
        source: str = "TRAINING",
        **overrides: Any,
    ) -> "TrainingSettings":
        """Settings from ``training`` (a ``TRAINING`` dict) with ``overrides`` (flags; ``None``
        means "not given") on top, checked."""
        values: dict[str, Any] = {}
        for key, value in (training or {}).items():
            if key not in KEYS:
                raise UsageError(
                    f"{source}: unknown setting {key!r}; known settings are {', '.join(KEYS)}"
                )
            values[key] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        metrics = values.get("metrics", ("accuracy",))
        if isinstance(metrics, str):
            metrics = (metrics,)
        if not isinstance(metrics, (list, tuple)) or not all(
            isinstance(m, str) for m in metrics
        ):
            raise UsageError(
                f"{source}: metrics must be a list of metric names, e.g. ['accuracy']"
            )
        metrics = tuple(metrics)
        objective = values.get("objective") or (
            f"val_{metrics[0]}" if metrics else "val_loss"
        )
        allowed = objectives_for(metrics)
        if objective not in allowed:
            raise UsageError(
                f"unknown objective {objective!r}; with metrics {list(metrics)} it can be one of "
                f"{', '.join(allowed)}"
            )
        direction = values.get("direction") or default_direction(objective)
        if direction not in ("max", "min"):
            raise UsageError(f"direction must be 'max' or 'min', got {direction!r}")
        epochs = values.get("epochs", 3)
        batch_size = values.get("batch_size", 32)
        for name, number in (("epochs", epochs), ("batch_size", batch_size)):
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                raise UsageError(f"{name} must be a positive integer, got {number!r}")
        for name in ("optimizer", "loss"):
            value = values.get(name, getattr(cls, name))
            try:
                json.dumps(value)
            except TypeError:
                raise UsageError(
                    f"{source}: {name} must be a name or a Keras config dict (it is recorded in the study and "
                    f"sent to worker processes), got {value!r}"
                ) from None
        return cls(
            optimizer=values.get("optimizer", "adam"),
            loss=values.get("loss", "sparse_categorical_crossentropy"),
            metrics=metrics,
            objective=objective,
            direction=direction,
            epochs=epochs,
            batch_size=batch_size,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = list(self.metrics)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrainingSettings":
        return cls(**{**data, "metrics": tuple(data["metrics"])})

    def describe(self) -> str:
        optimizer = (
            self.optimizer
            if isinstance(self.optimizer, str)
            else json.dumps(self.optimizer)
        )
        loss = self.loss if isinstance(self.loss, str) else json.dumps(self.loss)
        return (
            f"optimizer={optimizer}, loss={loss}, metrics={list(self.metrics)}, epochs={self.epochs}, "
            f"batch_size={self.batch_size}"
        )


def objectives_for(metrics: tuple[str, ...]) -> list[str]:
    names = ["loss", *metrics]
    return [f"val_{n}" for n in names] + names


def default_direction(objective: str) -> str:
    lowered = objective.lower()
    return (
        "min" if any(w in lowered for w in ("loss", "error", "mse", "mae")) else "max"
    )
