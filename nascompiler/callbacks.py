"""Search callbacks for the Python API (Hypernets' ``core.callbacks``).

A callback is a :class:`~nascompiler.search.events.StudyListener`: it hears about every trial
of the study and may ask it to stop.
"""

from __future__ import annotations

import time
from typing import Any

from .kinds import Direction, TrialStatus
from .search.console import describe_trial
from .search.events import StudyListener
from .storage.store import TrialRecord

Callback = StudyListener


class SummaryCallback(StudyListener):
    """Prints one summary per trial: its number, candidate, assignment and result."""

    def __init__(self, printer: Any = print):
        self.printer = printer

    def trial_finished(self, study: Any, trial: TrialRecord) -> None:
        best = study.best()
        improved = best is not None and best.number == trial.number
        lines = [
            f"Trial No:{trial.number}  candidate {trial.candidate_id or '(not built)'}"
        ]
        lines += [f"    {name}: {value!r}" for name, value in trial.assignment.items()]
        lines.append(
            "    "
            + describe_trial(trial, study.config.settings.objective)
            + (", improved" if improved else "")
        )
        self.printer("\n".join(lines))

    def search_finished(self, study: Any) -> None:
        best = study.best()
        if best is not None:
            self.printer(
                f"Best: trial #{best.number}, candidate {best.candidate_id}, "
                f"{study.config.settings.objective}={best.objective:.4f}"
            )


class EarlyStoppingCallback(StudyListener):
    """Stops the search after ``max_no_improvement_trials`` finished trials without a new best
    (0: never), or once ``time_limit`` seconds have passed (None: no limit)."""

    def __init__(
        self,
        max_no_improvement_trials: int = 0,
        time_limit: float | None = None,
        mode: str | None = None,
    ):
        if max_no_improvement_trials < 0:
            raise ValueError("max_no_improvement_trials must be 0 or more")
        self.max_no_improvement_trials = max_no_improvement_trials
        self.time_limit = time_limit
        self.mode = mode
        self.best: float | None = None
        self.since_best = 0
        self.started = time.monotonic()

    def search_started(self, study: Any) -> None:
        self.started = time.monotonic()

    def trial_finished(self, study: Any, trial: TrialRecord) -> None:
        mode = self.mode or study.config.settings.direction
        # Any mode but "max" has always meant minimising (Hypernets' "min"); kept so.
        direction = Direction.MAX if mode == Direction.MAX else Direction.MIN
        if (
            trial.status == TrialStatus.COMPLETE
            and trial.objective is not None
            and (self.best is None or direction.better(trial.objective, self.best))
        ):
            self.best = trial.objective
            self.since_best = 0
        else:
            self.since_best += 1
        if (
            self.max_no_improvement_trials
            and self.since_best >= self.max_no_improvement_trials
        ):
            study.request_stop(f"no improvement in {self.since_best} trials")
        if (
            self.time_limit is not None
            and time.monotonic() - self.started >= self.time_limit
        ):
            study.request_stop(f"time limit of {self.time_limit:g} s reached")


__all__ = ["Callback", "SummaryCallback", "EarlyStoppingCallback"]
