"""A search's settings: how candidates are trained (``TrainingSettings``, the space file's
``TRAINING``) and how the search runs (the space file's ``SEARCH`` options), and
:func:`resolve_search`, which layers defaults, a stored study, the space file and the
command-line flags."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..errors import UsageError
from ..kinds import DIRECTIONS, Direction

# Training defaults of ``nascompile search`` and of a TRAINING dict that leaves them out. The
# Python API's ``HyperKeras.search`` defaults to one epoch instead (see api.py).
DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 32

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

    ``objectives`` is empty for a single-objective study. A multi-objective study lists every
    objective as ``"name:direction"``; the first is ``objective`` (a training value: the trial's
    score, which ranks the leaderboard), the others may also be costs (:data:`COST_OBJECTIVES`).
    """

    optimizer: Any = "adam"
    loss: Any = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    objective: str = ""
    direction: str = ""
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    objectives: tuple[str, ...] = ()

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.split(":")[0] for o in self.objectives) or (self.objective,)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(o.split(":")[1] for o in self.objectives) or (self.direction,)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

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
        objectives = parse_objectives(
            values.get("objective") or (f"val_{metrics[0]}" if metrics else "val_loss"),
            values.get("direction"),
            metrics,
        )
        objective, direction = objectives[0]
        epochs = values.get("epochs", DEFAULT_EPOCHS)
        batch_size = values.get("batch_size", DEFAULT_BATCH_SIZE)
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
            objectives=(
                tuple(f"{n}:{d}" for n, d in objectives) if len(objectives) > 1 else ()
            ),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = list(self.metrics)
        if self.objectives:
            data["objectives"] = list(self.objectives)
        else:  # single-objective studies are recorded as before objectives existed
            del data["objectives"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrainingSettings":
        return cls(
            **{
                **data,
                "metrics": tuple(data["metrics"]),
                "objectives": tuple(data.get("objectives", ())),
            }
        )

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


def stored_training(recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """A study's recorded settings (``TrainingSettings.to_json``) as a ``TRAINING`` dict, to be
    overridden by the space file's and the flags' settings: several objectives become the one
    ``objective`` list."""
    training = dict(recorded or {})
    objectives = training.pop("objectives", None)
    if objectives:
        training["objective"] = list(objectives)
        training.pop("direction", None)
    return training


# Objectives that are not training values: the static cost model's counts (known before
# training) and the latency measured after it. (Settings hold a direction as the plain string
# the study records, Direction's value, so that messages quoting it read "max", not a member.)
COST_OBJECTIVES = {
    "params": Direction.MIN.value,
    "flops": Direction.MIN.value,
    "latency_ms": Direction.MIN.value,
}


def parse_objectives(
    objective: Any, direction: Any, metrics: tuple[str, ...]
) -> list[tuple[str, str]]:
    """``(name, direction)`` per objective from ``objective``: one ``"name[:max|:min]"`` or a
    list of them (``--objective`` given several times, or a list in ``TRAINING``).

    >>> parse_objectives(["val_accuracy", "params:min"], None, ("accuracy",))
    [('val_accuracy', 'max'), ('params', 'min')]
    """
    specs = [objective] if isinstance(objective, str) else objective
    if not isinstance(specs, (list, tuple)) or not specs:
        raise UsageError(
            f"objective must be a name like 'val_accuracy' or a list of them, got {objective!r}"
        )
    if direction is not None and len(specs) > 1:
        raise UsageError(
            "--direction applies to a single objective; with several, give each its own as "
            "name:max or name:min (e.g. --objective val_accuracy:max --objective params:min)"
        )
    allowed = objectives_for(metrics)
    parsed: list[tuple[str, str]] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, str) or not spec.strip():
            raise UsageError(
                f"objective must be a name like 'val_accuracy', got {spec!r}"
            )
        name, _, given = spec.strip().partition(":")
        if name in COST_OBJECTIVES and len(specs) > 1 and i > 0:
            chosen = given or COST_OBJECTIVES[name]
        elif name in allowed:
            chosen = given or (
                direction
                if direction is not None and i == 0
                else default_direction(name)
            )
        elif name in COST_OBJECTIVES:
            raise UsageError(
                f"objective {name!r} is a cost, not a training value: the first objective is the "
                f"trial's score and must be one of {', '.join(allowed)}; put {name} after it "
                "(several objectives need --searcher nsga2 or random)"
            )
        else:
            raise UsageError(
                f"unknown objective {name!r}; with metrics {list(metrics)} it can be one of "
                f"{', '.join(allowed)}, or with several objectives also "
                f"{', '.join(COST_OBJECTIVES)}"
            )
        if chosen not in DIRECTIONS:
            raise UsageError(
                f"objective {spec!r}: the direction must be 'max' or 'min', got {chosen!r}"
            )
        if any(name == seen for seen, _ in parsed):
            raise UsageError(f"objective {name!r} is given twice")
        parsed.append((name, chosen))
    return parsed


def objectives_for(metrics: tuple[str, ...]) -> list[str]:
    names = ["loss", *metrics]
    return [f"val_{n}" for n in names] + names


def default_direction(objective: str) -> str:
    lowered = objective.lower()
    minimised = any(w in lowered for w in ("loss", "error", "mse", "mae"))
    return (Direction.MIN if minimised else Direction.MAX).value


# Metric names that Keras' compile() resolves itself from the loss and the output's shape
# (keras/src/trainers/compile_utils.py), so keras.metrics.get() does not know them.
_COMPILE_METRICS = ("accuracy", "acc", "crossentropy", "ce")


def check_training(settings: TrainingSettings, source: str = "TRAINING") -> None:
    """Resolve the optimizer, loss and metrics with Keras once, before any trial, so that a
    misspelt name fails the search at once in one line instead of every trial. Imports Keras:
    call it where Keras is loaded already (a worker process)."""
    import keras

    checks = [
        ("optimizer", keras.optimizers.get, settings.optimizer),
        ("loss", keras.losses.get, settings.loss),
    ]
    checks += [
        ("metric", keras.metrics.get, m)
        for m in settings.metrics
        if not (isinstance(m, str) and m.lower() in _COMPILE_METRICS)
    ]
    for what, resolve, value in checks:
        try:
            resolve(value)
        except (
            Exception
        ) as exc:  # Keras says ValueError; anything else means the same here
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"{source}: Keras does not know the {what} {value!r} ({cause})"
            ) from None


def max_workers() -> int:
    """The most worker processes a search may start: one per CPU core (at least 2). Each
    worker is a whole TensorFlow process (about 0.7 GB), so more than the cores only thrash.
    """
    return max(2, os.cpu_count() or 1)


# The type each SEARCH value must have, and its least value (None: no bound).
_SEARCH_TYPES: dict[str, tuple[type, int | None, str]] = {
    "searcher": (str, None, "a searcher name such as 'random'"),
    "max_trials": (int, 1, "a whole number of trials"),
    "seed": (int, None, "an integer"),
    "workers": (int, 1, "a whole number of worker processes"),
    "keep_weights": (int, 0, "a whole number of trials"),
    "searcher_options": (dict, None, "a dict of the searcher's options"),
    "scheduler": (str, None, "a scheduler name such as 'asha'"),
    "min_epochs": (int, 1, "a whole number of epochs"),
    "max_epochs": (int, 1, "a whole number of epochs"),
    "reduction_factor": (int, 2, "a whole number (eta, e.g. 3)"),
}


def check_search_values(values: Mapping[str, Any], source: str | None = None) -> None:
    """One line naming the first ``SEARCH`` value (or, with no ``source``, command-line flag)
    of the wrong type or range: ``max_trials: "2"`` is refused, not compared with numbers deep
    inside the loop."""

    def name(key: str) -> str:
        return f"{source}: {key}" if source else "--" + key.replace("_", "-")

    for key, value in values.items():
        if key not in _SEARCH_TYPES:
            continue
        kind, least, what = _SEARCH_TYPES[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise UsageError(
                f"{name(key)} must be {what}, got {value!r} ({type(value).__name__})"
            )
        if least is not None and value < least:
            raise UsageError(f"{name(key)} must be at least {least}, got {value!r}")
    workers = values.get("workers")
    if isinstance(workers, int) and workers > max_workers():
        raise UsageError(
            f"{name('workers')}={workers} is more than this machine's {max_workers()} CPU cores; "
            "each worker is a whole TensorFlow process (about 0.7 GB), so use at most "
            f"{max_workers()}"
        )


# The space file's SEARCH options (and the search command's flags of the same names), with
# their defaults; the order is the one error messages list them in.
SEARCH_DEFAULTS: dict[str, Any] = {
    "searcher": "random",
    "max_trials": 10,
    "seed": 0,
    "workers": 1,
    "keep_weights": 3,
    "searcher_options": {},
    "scheduler": "full",
    "min_epochs": None,
    "max_epochs": None,
    "reduction_factor": None,
    "time_budget": None,
    "trial_timeout": None,
    "max_params": None,
    "max_flops": None,
    "cluster": None,
    "ship_data": False,
}
SEARCH_KEYS = tuple(SEARCH_DEFAULTS)

# What a study stores of its definition (``Store.get_meta``) that a re-run without flags
# resumes with.
STUDY_META_KEYS = ("settings", "searcher", "seed", "searcher_options", "scheduler")


@dataclass(frozen=True)
class SearchSettings:
    """A search's settings, resolved: every ``SEARCH`` option (time, count and cluster values
    still as given, e.g. ``"30m"``) and the training settings."""

    options: dict[str, Any]  # every key of SEARCH_KEYS
    training: TrainingSettings


def resolve_search(
    *,
    flags: Mapping[str, Any] | None = None,
    training_flags: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
    file_search: Mapping[str, Any] | None = None,
    file_training: Mapping[str, Any] | None = None,
    training_source: str = "TRAINING",
) -> SearchSettings:
    """A search's settings, each from the first of: the command-line flags, the space file
    (``SEARCH``, ``TRAINING``), the stored study it resumes, the defaults.

    ``flags`` holds ``SEARCH`` options by key and ``training_flags`` training settings
    (``epochs``, ``batch_size``, ``objective``, ``direction``); ``None`` means "not given".
    ``stored`` is the study's stored definition (``STUDY_META_KEYS``; ``None`` or empty for a
    new study). ``file_search`` is the space file's ``SEARCH``, already checked by its loader;
    ``file_training`` its ``TRAINING``, checked here (``training_source`` names it in errors).
    Pure: reads no file and imports nothing, so each precedence rule is tested on its own.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = set(given) - set(SEARCH_KEYS)
    if unknown:
        raise ValueError(f"not SEARCH options: {', '.join(sorted(unknown))}")
    check_search_values(given)
    stored_options, stored_training = _stored_definition(stored or {})
    options = {**SEARCH_DEFAULTS, **stored_options, **(file_search or {}), **given}
    overrides = {k: v for k, v in (training_flags or {}).items() if v is not None}
    if options["max_epochs"] is not None:
        # The highest rung is the full training: --max-epochs is the epochs setting.
        epochs = overrides.get("epochs")
        if epochs is not None and epochs != options["max_epochs"]:
            raise UsageError(
                f"--epochs {epochs} and --max-epochs {options['max_epochs']} disagree; give one of them"
            )
        overrides["epochs"] = options["max_epochs"]
    if "objective" in overrides or "objective" in (file_training or {}):
        # A stored direction belongs to the stored objective: a new objective (several, say)
        # brings its own, and the study's check then names the real difference.
        stored_training.pop("direction", None)
    training = TrainingSettings.resolve(
        {**stored_training, **(file_training or {})},
        source=training_source,
        **overrides,
    )
    return SearchSettings(options, training)


def _stored_definition(
    stored: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored study's definition as ``SEARCH`` options and ``TRAINING`` settings, so that
    re-running the command without flags resumes it as it was created."""
    options = {
        key: stored[key]
        for key in ("searcher", "seed", "searcher_options")
        if stored.get(key) is not None
    }
    scheduler = stored.get("scheduler")
    if scheduler:
        options["scheduler"] = scheduler["name"]
        if scheduler["name"] in ("asha", "hyperband"):
            options.update(
                min_epochs=scheduler["rungs"][0],
                max_epochs=scheduler["rungs"][-1],
                reduction_factor=scheduler["reduction_factor"],
            )
    return options, stored_training(stored.get("settings"))


def check_study_name(name: str) -> str:
    """A study name is a plain folder name inside ``--out``: no path separator, not ``.`` or
    ``..``, not absolute. (``--out`` chooses the folder that holds studies.)"""
    seps = [os.sep] + ([os.altsep] if os.altsep else [])
    if (
        not name
        or name in (".", "..")
        or any(sep in name for sep in seps + ["/"])
        or "\x00" in name
        or os.path.isabs(name)
    ):
        raise UsageError(
            f"--study {name!r} is not a plain name; a study is a folder inside --out, so give a "
            "name without '/' or '..' and choose the folder with --out (e.g. --out /data/studies)"
        )
    return name
