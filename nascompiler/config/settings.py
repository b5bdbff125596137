"""A search's settings: how candidates are trained (``TrainingSettings``, the space file's
``TRAINING``), how the search runs (the space file's ``SEARCH`` options), their defaults (each
written once, as a ``DEFAULT_*`` constant) and the rules each value is checked by.

:class:`SearchConfig` is the one typed, immutable result; it is built by
:func:`nascompiler.search.resolve.resolve_search`, which layers the defaults, a stored study,
the space file and the flags (or the Python API's arguments) and asks the scheduler and
searcher classes to check their own options."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ..errors import UsageError
from ..kinds import DIRECTIONS, Direction

# The defaults of a search's settings, each written once: the command line's help, the space
# file's SEARCH and TRAINING, the Python API and the resolver (nascompiler.search.resolve) all
# read them here. The scheduler's own defaults (DEFAULT_MIN_EPOCHS, DEFAULT_REDUCTION_FACTOR)
# sit with the schedulers that check them (nascompiler.search.schedulers).
DEFAULT_EPOCHS = 3  # nascompile search and a TRAINING dict that leaves epochs out
# HyperKeras.search trains one epoch by default: keras.Model.fit's default, which Hypernets'
# HyperKeras passes through, and the seed's DNN example calls search() without epochs.
DEFAULT_API_EPOCHS = 1
DEFAULT_BATCH_SIZE = 32
DEFAULT_OPTIMIZER = "adam"
DEFAULT_LOSS = "sparse_categorical_crossentropy"
DEFAULT_METRICS: tuple[str, ...] = ("accuracy",)
DEFAULT_SEARCHER = "random"
DEFAULT_MAX_TRIALS = 10
DEFAULT_SEED = 0
DEFAULT_WORKERS = 1
DEFAULT_KEEP_WEIGHTS = 3
DEFAULT_SCHEDULER = "full"
DEFAULT_RESIDENT = 2

# The Keras backends a search's workers may run (KERAS_BACKEND), with the module each needs.
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# Chosen by measurement (benchmarks/backends.py; README, "Backends").
DEFAULT_BACKEND = "tensorflow"
# What a study recorded before the backend was a setting was trained with.
LEGACY_BACKEND = "tensorflow"

KEYS = (
    "optimizer",
    "loss",
    "metrics",
    "objective",
    "direction",
    "epochs",
    "batch_size",
    "score",
    "backend",
)
# How a trial's objective is read off its learning curve: its best epoch so far (whose weights
# are the ones kept), or its last epoch (how studies before nascompiler 0.5 scored).
SCORES = ("best", "last")
DEFAULT_SCORE = "best"


@dataclass(frozen=True)
class Objective:
    """One value a search optimises: a training history value (``val_accuracy``) or, after the
    first objective of several, a cost (:data:`COST_OBJECTIVES`), and its direction."""

    name: str
    direction: Direction

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))

    def __str__(self) -> str:
        return f"{self.name}:{self.direction.value}"

    @classmethod
    def from_text(cls, text: str) -> "Objective":
        """``"val_accuracy:max"`` (as a study records it) -> ``Objective``."""
        name, _, direction = text.rpartition(":")
        return cls(name, Direction(direction))


@dataclass(frozen=True)
class TrainingSettings:
    """How every candidate of a study is trained and judged.

    ``objectives`` lists what the search optimises, at least one. The first names a value of
    Keras' training history (``val_accuracy``, ``val_loss``...): its value at one epoch is the
    trial's score, which ranks the leaderboard, and ``score`` says which epoch: ``"best"`` (the
    best so far, whose weights are kept and exported) or ``"last"`` (a multi-objective study's
    only choice). By default it is ``val_<first metric>``, or ``val_loss`` without metrics,
    maximised unless it is a loss or an error. A multi-objective study lists more; those may
    also be costs (:data:`COST_OBJECTIVES`).
    """

    optimizer: Any = DEFAULT_OPTIMIZER
    loss: Any = DEFAULT_LOSS
    metrics: tuple[str, ...] = DEFAULT_METRICS
    objectives: tuple[Objective, ...] = (
        Objective(f"val_{DEFAULT_METRICS[0]}", Direction.MAX),
    )
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    score: str = DEFAULT_SCORE
    backend: str = LEGACY_BACKEND  # the workers' KERAS_BACKEND

    @property
    def objective(self) -> str:
        """The first objective's name: the trial's score."""
        return self.objectives[0].name

    @property
    def direction(self) -> Direction:
        return self.objectives[0].direction

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def directions(self) -> tuple[Direction, ...]:
        return tuple(o.direction for o in self.objectives)

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
        metrics = values.get("metrics", DEFAULT_METRICS)
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
        score = values.get("score")
        if score is not None and score not in SCORES:
            where = (
                "--score" if overrides.get("score") is not None else f"{source}: score"
            )
            raise UsageError(f"{where} must be 'best' or 'last', got {score!r}")
        if len(objectives) > 1:
            if score == "best":
                raise UsageError(
                    "score 'best' picks one epoch by one objective; a study of several "
                    "objectives scores each trial's last epoch (leave score out or give 'last')"
                )
            score = "last"
        backend = check_backend(values.get("backend", default_backend()), source)
        return cls(
            optimizer=values.get("optimizer", DEFAULT_OPTIMIZER),
            loss=values.get("loss", DEFAULT_LOSS),
            metrics=metrics,
            objectives=tuple(objectives),
            epochs=epochs,
            batch_size=batch_size,
            score=score or DEFAULT_SCORE,
            backend=backend,
        )

    def to_json(self) -> dict[str, Any]:
        """The settings as the study records them (and the workers receive them): the first
        objective as ``objective`` and ``direction``, and, for several, every one as
        ``"name:direction"`` in ``objectives`` (single-objective studies are recorded as before
        objectives existed; so is a ``last`` score)."""
        data: dict[str, Any] = {
            "optimizer": self.optimizer,
            "loss": self.loss,
            "metrics": list(self.metrics),
            "objective": self.objective,
            "direction": self.direction.value,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "backend": self.backend,
        }
        if self.multi_objective:
            data["objectives"] = [str(o) for o in self.objectives]
        if (
            self.score != "last"
        ):  # a study recorded without a score scored its last epochs
            data["score"] = self.score
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TrainingSettings":
        specs = data.get("objectives") or [f"{data['objective']}:{data['direction']}"]
        return cls(
            optimizer=data["optimizer"],
            loss=data["loss"],
            metrics=tuple(data["metrics"]),
            objectives=tuple(Objective.from_text(spec) for spec in specs),
            epochs=data["epochs"],
            batch_size=data["batch_size"],
            score=data.get("score", "last"),
            backend=data.get("backend", LEGACY_BACKEND),
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
            f"batch_size={self.batch_size}, score={self.score}, backend={self.backend}"
        )


def default_backend() -> str:
    """The backend of a new study that names none: ``KERAS_BACKEND`` when it is set to one of
    :data:`BACKENDS`, else :data:`DEFAULT_BACKEND`."""
    env = os.environ.get("KERAS_BACKEND")
    return env if env in BACKENDS else DEFAULT_BACKEND


def check_backend(backend: Any, source: str = "TRAINING") -> str:
    """``backend`` if it is a Keras backend whose library is installed, else a one-line
    :class:`UsageError` (without importing it: the driver never loads a backend)."""
    if backend not in BACKENDS:
        raise UsageError(
            f"{source}: backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
        )
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        extra = {"torch": "torch", "jax": "jax[cpu]", "tensorflow": "tensorflow"}
        raise UsageError(
            f"backend {backend!r}: {BACKENDS[backend]} is not installed here "
            f"(pip install {extra[backend]}), so the workers cannot run Keras on it"
        )
    return backend


def stored_training(recorded: Mapping[str, Any] | None) -> dict[str, Any]:
    """A study's recorded settings (``TrainingSettings.to_json``) as a ``TRAINING`` dict, to be
    overridden by the space file's and the flags' settings: several objectives become the one
    ``objective`` list."""
    training = dict(recorded or {})
    if recorded:  # a study recorded without a score scored each trial's last epoch
        training.setdefault("score", "last")
    if recorded:  # a study from before the backend was a setting ran TensorFlow
        training.setdefault("backend", LEGACY_BACKEND)
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
) -> list[Objective]:
    """An :class:`Objective` per objective in ``objective``: one ``"name[:max|:min]"`` or a
    list of them (``--objective`` given several times, or a list in ``TRAINING``).

    >>> [str(o) for o in parse_objectives(["val_accuracy", "params:min"], None, ("accuracy",))]
    ['val_accuracy:max', 'params:min']
    """
    specs = [objective] if isinstance(objective, str) else objective
    if not isinstance(specs, (list, tuple)) or not specs:
        raise UsageError(
            f"objective must be a name like 'val_accuracy' or a list of them, got {objective!r}"
        )
    if direction is not None and len(specs) > 1:
        raise UsageError(
            "direction applies to a single objective; with several, give each its own as "
            "name:max or name:min (e.g. val_accuracy:max and params:min)"
        )
    allowed = objectives_for(metrics)
    parsed: list[Objective] = []
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
        if any(name == seen.name for seen in parsed):
            raise UsageError(f"objective {name!r} is given twice")
        parsed.append(Objective(name, Direction(chosen)))
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
_SEARCH_TYPES: dict[str, tuple[type, Any, str]] = {
    "searcher": (str, None, "a searcher name such as 'random'"),
    "max_trials": (int, 1, "a whole number of trials"),
    "seed": (int, None, "an integer"),
    "workers": (int, 1, "a whole number of worker processes"),
    "keep_weights": (int, 0, "a whole number of trials"),
    "searcher_options": (dict, None, "a dict of the searcher's options"),
    "scheduler": (str, None, "a scheduler name such as 'asha'"),
    # min_epochs, max_epochs and reduction_factor are checked by their scheduler's class.
    "resident": (int, 0, "a whole number of models per worker"),
    # its form (PROXY:K) is checked by the resolver (parse_prescreen)
    "prescreen": (str, None, "'PROXY:K' such as 'naswot:3'"),
    "supernet_epochs": (int, 1, "a whole number of epochs"),
}


def flag_name(key: str) -> str:
    """How the command line names a setting: ``max_trials`` -> ``--max-trials``."""
    return "--" + key.replace("_", "-")


def argument_name(key: str) -> str:
    """How the Python API names a setting: the argument itself (``max_trials``)."""
    return key


def check_search_values(
    values: Mapping[str, Any], name: Callable[[str], str] = flag_name
) -> None:
    """One line naming the first ``SEARCH`` value of the wrong type or range, as ``name``
    spells its key (a flag, a Python argument, the space file's ``SEARCH`` entry):
    ``max_trials: "2"`` is refused, not compared with numbers deep inside the loop."""
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


def search_label(key: str, source: str) -> str:
    """A ``SEARCH`` option as errors name it: ``space.py: SEARCH["max_trials"]``, where
    ``source`` is ``space.py: SEARCH``."""
    return f'{source}["{key}"]'


# The space file's SEARCH options (and the search command's flags of the same names), with
# their defaults; the order is the one error messages list them in. ``None``: not set (no
# budget, no cluster; a scheduler option its scheduler fills in).
SEARCH_DEFAULTS: dict[str, Any] = {
    "searcher": DEFAULT_SEARCHER,
    "max_trials": DEFAULT_MAX_TRIALS,
    "seed": DEFAULT_SEED,
    "workers": DEFAULT_WORKERS,
    "keep_weights": DEFAULT_KEEP_WEIGHTS,
    "searcher_options": {},
    "scheduler": DEFAULT_SCHEDULER,
    "min_epochs": None,
    "max_epochs": None,
    "reduction_factor": None,
    "resident": DEFAULT_RESIDENT,
    "prescreen": None,
    "supernet_epochs": None,
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
STUDY_META_KEYS = (
    "settings",
    "searcher",
    "seed",
    "searcher_options",
    "scheduler",
    "prescreen",
    "supernet_epochs",
)


@dataclass(frozen=True)
class Prescreen:
    """``--prescreen PROXY:K``: for each trial slot the searcher proposes ``k`` candidates, each
    is scored by ``proxy`` (a zero-cost proxy or the static ``params``/``flops``) and only the
    best-scoring one is trained. A study records it as its text (``str``)."""

    proxy: str
    k: int

    def __str__(self) -> str:
        return f"{self.proxy}:{self.k}"


@dataclass(frozen=True)
class SchedulerConfig:
    """A scheduler as chosen and checked: its name, the epochs of each rung (one rung for
    ``full`` and ``median``) and ``eta`` for ``asha`` and ``hyperband``. This is also what a
    study records of it."""

    name: str = DEFAULT_SCHEDULER
    rungs: tuple[int, ...] = (DEFAULT_EPOCHS,)
    reduction_factor: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rungs": list(self.rungs),
            "reduction_factor": self.reduction_factor,
        }


@dataclass(frozen=True)
class SearchConfig:
    """A search's settings, resolved and checked (by :func:`nascompiler.search.resolve.resolve_search`,
    for the command line and the Python API alike): durations in seconds, counts as integers,
    the scheduler with its rungs. Immutable; ``Study`` trusts it and checks nothing again.
    """

    settings: TrainingSettings = TrainingSettings()
    searcher: str = DEFAULT_SEARCHER
    searcher_options: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({})
    )
    seed: int = DEFAULT_SEED
    max_trials: int = DEFAULT_MAX_TRIALS
    workers: int = DEFAULT_WORKERS
    keep_weights: int = DEFAULT_KEEP_WEIGHTS
    # None: the full scheduler at the settings' epochs (the resolver always sets it)
    scheduler: SchedulerConfig = None  # type: ignore[assignment]
    time_budget: float | None = None  # seconds of search, over all runs of the study
    trial_timeout: float | None = None  # seconds one job may run before it is failed
    # hard budgets: a candidate over them is never trained
    max_params: int | None = None
    max_flops: int | None = None
    cluster: str | None = None  # a Dask address (tcp://HOST:PORT or local:N)
    ship_data: bool = False
    # trained models each worker may keep in memory for their promotions (0: reload each time)
    resident: int = DEFAULT_RESIDENT
    # None: every proposal is trained
    prescreen: Prescreen | None = None
    # --prescreen oneshot:K: the supernet's training epochs (None: the study's epochs)
    supernet_epochs: int | None = None

    def __post_init__(self) -> None:
        # A read-only view of a copy: the caller's dict cannot change the config afterwards.
        object.__setattr__(
            self, "searcher_options", MappingProxyType(dict(self.searcher_options))
        )
        if self.scheduler is None:
            object.__setattr__(
                self, "scheduler", SchedulerConfig(rungs=(self.settings.epochs,))
            )


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
