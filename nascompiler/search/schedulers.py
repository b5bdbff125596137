"""Schedulers: the performance-estimation strategy of a search (how much training each
candidate gets).

- ``full``: every candidate trains for ``epochs`` (one job per trial).
- ``asha``: asynchronous successive halving (Li et al., 2020). Rungs at ``min_epochs * eta**k``
  epochs, capped by ``max_epochs``. Whenever a worker is free, the best trial in the top
  ``1/eta`` of a rung that has not been promoted yet goes one rung up (highest rungs first);
  if none can, a new trial starts at the lowest rung. Workers never wait for a rung to fill.
- ``hyperband``: asynchronous Hyperband (Li et al., 2018; 2020): several ASHA brackets over
  the same rungs; bracket ``b`` starts its trials at rung ``b`` (the last one trains every trial
  fully) and promotes only among its own trials. New trials are dealt to the brackets in
  Hyperband's proportions and order: a round's first trials go to the most exploratory bracket,
  its last to the one that trains every trial fully (as Hyperband, BOHB and KerasTuner run
  them), so a short search trains to the top rung the winners of a tournament, not blind picks.
- ``median``: median pruning (Optuna's ``MedianPruner``): a trial stops after an epoch at which
  its objective is worse than the median of the complete trials at that epoch.

A scheduler is a pure function of the trials' recorded rung histories: resuming a study
rebuilds the same decisions from the store. Promotion continues training from the trial's
checkpoint; it never restarts it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence

from ..config.settings import SchedulerConfig, flag_name
from ..errors import UsageError
from ..kinds import Direction, TrialStatus

MEDIAN_STARTUP_TRIALS = 5
# asha and hyperband: the lowest rung's epochs and eta, when not given.
DEFAULT_MIN_EPOCHS = 1
DEFAULT_REDUCTION_FACTOR = 3

# How a scheduler's option is named in an error: a flag (--min-epochs) or an argument.
Namer = Callable[[str], str]


class RungTrial(Protocol):
    """What a scheduler reads of a trial (``TrialRecord`` provides it)."""

    number: int
    status: str
    bracket: int | None
    epochs: int  # trained in total
    metrics: dict[str, list[float]]
    rungs: list[dict[str, Any]]  # [{"rung": k, "epochs": e, "objective": v}, ...]


@dataclass(frozen=True)
class Promotion:
    number: int
    rung: int  # the rung the trial goes up to


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """The epochs at each rung: ``min * eta**k`` below ``max``, then ``max``.

    >>> rung_epochs(1, 9, 3)
    [1, 3, 9]
    >>> rung_epochs(1, 10, 3)
    [1, 3, 9, 10]
    >>> rung_epochs(2, 2, 3)
    [2]
    """
    epochs = []
    value = min_epochs
    while value < max_epochs:
        epochs.append(value)
        value *= eta
    epochs.append(max_epochs)
    return epochs


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return value


class Scheduler:
    """Base: one rung at ``epochs``; no promotion, no pruning (the ``full`` scheduler)."""

    name = "full"
    # Whether trials are recorded per rung (``rung`` is null under ``full`` and ``median``).
    multi_fidelity = False

    def __init__(self, rungs: Sequence[int], direction: str):
        self.rungs = list(rungs)
        self.direction = Direction(direction)

    @classmethod
    def configure(
        cls,
        *,
        epochs: int,
        min_epochs: int | None = None,
        max_epochs: int | None = None,
        reduction_factor: int | None = None,
        name: Namer = flag_name,
    ) -> SchedulerConfig:
        """This scheduler's options checked (they come from the user; ``name`` spells them in
        errors): one rung at ``max_epochs``, else ``epochs``; no lower rungs, no eta."""
        for key, value in (
            ("min_epochs", min_epochs),
            ("reduction_factor", reduction_factor),
        ):
            if value is not None:
                raise UsageError(
                    f"{name(key)} applies to {name('scheduler')} asha or hyperband, not {cls.name}"
                )
        top = (
            _positive_int(name("max_epochs"), max_epochs)
            if max_epochs is not None
            else epochs
        )
        return SchedulerConfig(cls.name, (top,), None)

    @classmethod
    def from_config(
        cls, config: SchedulerConfig, direction: str, objective: str
    ) -> "Scheduler":
        """The scheduler a checked :class:`SchedulerConfig` describes."""
        return cls(config.rungs, direction)

    @property
    def top(self) -> int:
        return len(self.rungs) - 1

    def bracket(self, number: int) -> int:
        """The rung at which new trial ``number`` starts."""
        return 0

    def promotion(self, trials: Iterable[RungTrial]) -> Promotion | None:
        """The next trial to continue training, or ``None`` (then a new trial may start)."""
        return None

    def prune_thresholds(
        self, trials: Iterable[RungTrial]
    ) -> list[float | None] | None:
        """Per epoch (index 0 = epoch 1), the oriented objective below which a running trial
        stops, or ``None`` for no pruning."""
        return None

    def promotable(
        self, trial: RungTrial, trials: Sequence[RungTrial], max_trials: int
    ) -> bool:
        """Whether ``trial`` (complete below the top rung) could still be promoted in a study of
        ``max_trials`` trials: its checkpoint is worth keeping only while this holds."""
        return False

    def likely_promoted(self, trial: RungTrial, trials: Sequence[RungTrial]) -> bool:
        """Whether ``trial`` is now among those a promotion would pick (its worker keeps its
        model in memory while this holds: resident promotion)."""
        return False

    def describe(self) -> str:
        return f"{self.rungs[-1]} epoch(s) each"


class ASHAScheduler(Scheduler):
    name = "asha"
    multi_fidelity = True

    def __init__(self, rungs: Sequence[int], direction: str, eta: int):
        super().__init__(rungs, direction)
        self.eta = eta

    @classmethod
    def configure(
        cls,
        *,
        epochs: int,
        min_epochs: int | None = None,
        max_epochs: int | None = None,
        reduction_factor: int | None = None,
        name: Namer = flag_name,
    ) -> SchedulerConfig:
        """Rungs from ``min_epochs`` to ``max_epochs`` (else ``epochs``), ``eta`` apart."""
        top = _positive_int(
            name("max_epochs"), max_epochs if max_epochs is not None else epochs
        )
        low = _positive_int(
            name("min_epochs"),
            min_epochs if min_epochs is not None else DEFAULT_MIN_EPOCHS,
        )
        eta = (
            reduction_factor
            if reduction_factor is not None
            else DEFAULT_REDUCTION_FACTOR
        )
        if not isinstance(eta, int) or isinstance(eta, bool) or eta < 2:
            raise UsageError(
                f"{name('reduction_factor')} must be an integer of at least 2, got {eta!r}"
            )
        if low > top:
            raise UsageError(
                f"{name('min_epochs')} ({low}) must not exceed {name('max_epochs')} ({top})"
            )
        return SchedulerConfig(cls.name, tuple(rung_epochs(low, top, eta)), eta)

    @classmethod
    def from_config(
        cls, config: SchedulerConfig, direction: str, objective: str
    ) -> "Scheduler":
        assert config.reduction_factor is not None  # configure() sets it
        return cls(config.rungs, direction, config.reduction_factor)

    def _results(
        self, trials: Iterable[RungTrial], bracket: int, rung: int
    ) -> list[tuple[float, int, RungTrial]]:
        """Trials of ``bracket`` with a result at ``rung``, best first (ties: earlier trial)."""
        found = []
        for trial in trials:
            if (
                (trial.bracket or 0) != bracket
                or trial.status == TrialStatus.FAILED
                or stopped(trial)
            ):
                continue
            for entry in trial.rungs:
                if entry["rung"] == rung and entry.get("objective") is not None:
                    found.append(
                        (
                            -self.direction.oriented(entry["objective"]),
                            trial.number,
                            trial,
                        )
                    )
        found.sort(key=lambda item: (item[0], item[1]))
        return found

    def brackets(self) -> list[int]:
        return [0]

    def promotion(self, trials: Iterable[RungTrial]) -> Promotion | None:
        trials = list(trials)
        for rung in range(self.top - 1, -1, -1):  # the highest rungs first
            waiting = []
            for bracket in self.brackets():
                if bracket > rung:
                    continue
                results = self._results(trials, bracket, rung)
                for score, number, trial in results[: len(results) // self.eta]:
                    if (
                        trial.status == TrialStatus.COMPLETE
                        and _top_rung(trial) == rung
                    ):
                        waiting.append((score, number))
            if waiting:
                return Promotion(
                    min(waiting)[1], rung + 1
                )  # the best; ties: the earlier trial
        return None

    def promotable(
        self, trial: RungTrial, trials: Sequence[RungTrial], max_trials: int
    ) -> bool:
        if trial.status != TrialStatus.COMPLETE or not trial.rungs or stopped(trial):
            return False
        rung = _top_rung(trial)
        if rung >= self.top:
            return False
        # At most max_trials results can reach this rung, so at most max_trials // eta promotions;
        # a trial with that many better results at its rung can never be promoted.
        results = self._results(trials, trial.bracket or 0, rung)
        rank = next(i for i, (_, n, _) in enumerate(results) if n == trial.number)
        return rank < max_trials // self.eta

    def likely_promoted(self, trial: RungTrial, trials: Sequence[RungTrial]) -> bool:
        """Complete below the top rung and in the top ``1/eta`` (rounded up) of its bracket's
        results at its rung: promoted now, or as soon as a few more results arrive."""
        if (
            trial.status != TrialStatus.COMPLETE
            or not trial.rungs
            or any(entry.get("pruned") for entry in trial.rungs)
        ):
            return False
        rung = _top_rung(trial)
        if rung >= self.top:
            return False
        results = self._results(trials, trial.bracket or 0, rung)
        rank = next(i for i, (_, n, _) in enumerate(results) if n == trial.number)
        return rank < math.ceil(len(results) / self.eta)

    def describe(self) -> str:
        return f"ASHA over rungs of {', '.join(map(str, self.rungs))} epochs (eta={self.eta})"


class HyperbandScheduler(ASHAScheduler):
    name = "hyperband"

    def __init__(self, rungs: Sequence[int], direction: str, eta: int):
        super().__init__(rungs, direction, eta)
        # Hyperband's bracket sizes: bracket b has s = top - b halvings and starts
        # ceil((top + 1) / (s + 1) * eta**s) trials per round.
        self.shares = [
            math.ceil((self.top + 1) / (self.top - b + 1) * eta ** (self.top - b))
            for b in self.brackets()
        ]
        # One round: bracket 0's share of new trials, then bracket 1's, and so on. (Dealing
        # them spread out evenly instead gave the same median best over three seeds of
        # benchmarks/vs_kerastuner.py but fewer trials and a lower test accuracy.)
        self.cycle = [b for b, share in enumerate(self.shares) for _ in range(share)]

    def brackets(self) -> list[int]:
        return list(range(self.top + 1))

    def bracket(self, number: int) -> int:
        return self.cycle[number % len(self.cycle)]

    def describe(self) -> str:
        return (
            f"Hyperband with {self.top + 1} brackets over rungs of {', '.join(map(str, self.rungs))} epochs "
            f"(eta={self.eta})"
        )


class MedianScheduler(Scheduler):
    name = "median"

    def __init__(
        self,
        rungs: Sequence[int],
        direction: str,
        objective: str,
        startup_trials: int = MEDIAN_STARTUP_TRIALS,
    ):
        super().__init__(rungs, direction)
        self.objective = objective
        self.startup_trials = startup_trials

    @classmethod
    def from_config(
        cls, config: SchedulerConfig, direction: str, objective: str
    ) -> "Scheduler":
        return cls(config.rungs, direction, objective)

    def prune_thresholds(
        self, trials: Iterable[RungTrial]
    ) -> list[float | None] | None:
        # Like Optuna's MedianPruner: only trials that ran to the end count.
        curves = [
            t.metrics.get(self.objective, [])
            for t in trials
            if t.status == TrialStatus.COMPLETE and t.epochs == self.rungs[-1]
        ]
        if len(curves) < self.startup_trials:
            return None
        thresholds: list[float | None] = []
        for epoch in range(self.rungs[-1]):
            values = [
                self.direction.oriented(c[epoch])
                for c in curves
                if len(c) > epoch and c[epoch] is not None
            ]
            values = [v for v in values if math.isfinite(v)]
            thresholds.append(statistics.median(values) if values else None)
        return thresholds

    def describe(self) -> str:
        return f"{self.rungs[-1]} epoch(s) each, median pruning after {self.startup_trials} complete trials"


def stopped(trial: RungTrial) -> bool:
    """Whether a trial's promotion failed: it keeps its last valid rung and is never promoted
    again (nor counted at that rung against the others, as a failed trial is not)."""
    return bool(trial.rungs) and bool(trial.rungs[-1].get("stopped"))


def _top_rung(trial: RungTrial) -> int:
    return max(entry["rung"] for entry in trial.rungs)


SCHEDULERS: dict[str, type[Scheduler]] = {
    cls.name: cls
    for cls in (Scheduler, ASHAScheduler, HyperbandScheduler, MedianScheduler)
}


def configure_scheduler(
    scheduler: str,
    *,
    epochs: int,
    min_epochs: int | None = None,
    max_epochs: int | None = None,
    reduction_factor: int | None = None,
    name: Namer = flag_name,
) -> SchedulerConfig:
    """The scheduler ``scheduler`` with its options checked by its class."""
    if scheduler not in SCHEDULERS:
        raise UsageError(
            f"{name('scheduler')}: unknown scheduler {scheduler!r}; the schedulers are: "
            f"{', '.join(SCHEDULERS)}"
        )
    return SCHEDULERS[scheduler].configure(
        epochs=epochs,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        reduction_factor=reduction_factor,
        name=name,
    )


def build_scheduler(
    config: SchedulerConfig, *, direction: str, objective: str
) -> Scheduler:
    """The scheduler of a checked config (:func:`configure_scheduler`); checks nothing."""
    return SCHEDULERS[config.name].from_config(config, direction, objective)


def make_scheduler(
    name: str,
    *,
    epochs: int,
    direction: str,
    objective: str,
    min_epochs: int | None = None,
    max_epochs: int | None = None,
    reduction_factor: int | None = None,
) -> Scheduler:
    """:func:`configure_scheduler` and :func:`build_scheduler` in one step."""
    config = configure_scheduler(
        name,
        epochs=epochs,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        reduction_factor=reduction_factor,
    )
    return build_scheduler(config, direction=direction, objective=objective)
