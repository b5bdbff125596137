"""What a study tells the outside world while it runs.

A :class:`StudyListener` receives the study's events; the console progress display, the Python
API's Hypernets-style callbacks and the tests all listen the same way. A listener may ask the
study to stop (early stopping) with :meth:`Study.request_stop`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..storage.store import Store, TrialRecord


class RunningStudy(Protocol):
    """What a listener may use of the running study (:class:`~.study.Study` is one). Declared
    here so that this module does not import the study, which imports it."""

    config: Any  # the StudyConfig: settings, max_trials, searcher, ...
    store: Store
    scheduler: Any
    directory: Path
    in_flight: dict[int, Any]  # trial number -> its job

    @property
    def done(self) -> int: ...

    def best(self) -> TrialRecord | None: ...

    def request_stop(self, reason: str) -> None: ...

    def candidate_path(self, candidate_id: str) -> Path: ...

    def weights_path(self, candidate_id: str) -> Path: ...


class StudyListener:
    """Override the events you need; each does nothing by default."""

    def search_started(self, study: RunningStudy) -> None:
        """The workers are up, the data is checked; ``study.done`` trials are already finished."""

    def trial_started(self, study: RunningStudy, trial: TrialRecord) -> None:
        """A trial was sent to a worker (a rerun of an interrupted trial too)."""

    def epoch_finished(
        self, study: RunningStudy, number: int, epoch: int, logs: dict[str, float]
    ) -> None:
        """Trial ``number`` finished epoch ``epoch`` (1-based)."""

    def trial_finished(self, study: RunningStudy, trial: TrialRecord) -> None:
        """A trial is stored as complete, failed or duplicate."""

    def message(self, study: RunningStudy, text: str) -> None:
        """Something the user should know (the searcher ran out of candidates, ...)."""

    def search_finished(self, study: RunningStudy) -> None:
        """The search ended normally (not interrupted)."""
