"""What a study tells the outside world while it runs.

A :class:`StudyListener` receives the study's events; the console progress display, the Python
API's Hypernets-style callbacks and the tests all listen the same way. A listener may ask the
study to stop (early stopping) with :meth:`Study.request_stop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .store import TrialRecord

if TYPE_CHECKING:
    from .study import Study


class StudyListener:
    """Override the events you need; each does nothing by default."""

    def search_started(self, study: "Study") -> None:
        """The workers are up, the data is checked; ``study.done`` trials are already finished."""

    def trial_started(self, study: "Study", trial: TrialRecord) -> None:
        """A trial was sent to a worker (a rerun of an interrupted trial too)."""

    def epoch_finished(
        self, study: "Study", number: int, epoch: int, logs: dict[str, float]
    ) -> None:
        """Trial ``number`` finished epoch ``epoch`` (1-based)."""

    def trial_finished(self, study: "Study", trial: TrialRecord) -> None:
        """A trial is stored as complete, failed or duplicate."""

    def message(self, study: "Study", text: str) -> None:
        """Something the user should know (the searcher ran out of candidates, ...)."""

    def search_finished(self, study: "Study") -> None:
        """The search ended normally (not interrupted)."""
