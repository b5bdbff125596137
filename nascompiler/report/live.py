"""The report while the search runs, and ``nascompile report --watch``.

:class:`LiveReport` is a study listener: the search rewrites ``report.html`` when it starts
and after finished jobs, so a browser that shows the page sees the search go on (a live page
reloads itself every few seconds and keeps the reader's scroll position, sort, filter and open
modules). It is cheap and it never gets in the search's way:

- the rewrite reuses a :class:`~.html.ReportCache` (highlighted modules, the winner's diagram
  and diff) and the study's own open store and space IR; parameter importances are recomputed
  at most every :data:`IMPORTANCE_EVERY` seconds;
- it is throttled: after a write that took ``c`` seconds the next comes no sooner than
  ``max(MIN_INTERVAL, COST_FACTOR * c)`` seconds later (so the report costs the search at most
  about 1/COST_FACTOR of its time); a job or an epoch that finishes sooner marks the page
  stale, and the next event after the interval writes it;
- the page's "Running now" table shows each running trial's latest epoch and its values, from
  the study's ``epoch_finished`` events (the store keeps only finished jobs);
- any error while writing is kept (``error``) and never raised; after :data:`MAX_FAILURES`
  failures in a row it stops trying.

The search's caller writes the final page (without the reload) when the search ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..search.events import RunningStudy, StudyListener
from ..storage.store import TrialRecord
from .html import ReportCache, ReportUnavailable, write_report

MIN_INTERVAL = 2.0  # seconds between two rewrites, at least
COST_FACTOR = 20  # ... and at least this many times the last rewrite's cost
IMPORTANCE_EVERY = 30.0  # seconds between two fANOVA fits while the search runs
MAX_FAILURES = 3


class LiveReport(StudyListener):
    def __init__(
        self,
        *,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        writer: Callable[..., Any] = write_report,
    ):
        self.min_interval = min_interval
        self.clock = clock
        self.writer = writer
        self.cache = ReportCache(importance_every=IMPORTANCE_EVERY)
        self.last_write: float | None = None
        self.cost = 0.0  # seconds the last rewrite took
        self.stale = False
        self.writes = 0
        self.failures = 0
        self.error: str | None = None  # the last failure, for the caller to show
        self.disabled = False
        # Running trials' latest epoch: number -> (epoch, of how many, logs), for the page.
        self.progress: dict[int, tuple[int, int | None, dict[str, float]]] = {}

    @property
    def interval(self) -> float:
        return max(self.min_interval, COST_FACTOR * self.cost)

    # ---------------------------------------------------------------- events
    def search_started(self, study: RunningStudy) -> None:
        self.stale = True
        self._write(study)

    def trial_finished(self, study: RunningStudy, trial: TrialRecord) -> None:
        self.progress.pop(trial.number, None)
        self.stale = True
        self._maybe_write(study)

    def epoch_finished(
        self, study: RunningStudy, number: int, epoch: int, logs: dict[str, float]
    ) -> None:
        self.progress[number] = (epoch, _target(study, number), dict(logs))
        self.stale = True
        self._maybe_write(study)

    # ---------------------------------------------------------------- writing
    def _maybe_write(self, study: RunningStudy) -> None:
        if not self.stale or self.disabled:
            return
        if (
            self.last_write is not None
            and self.clock() - self.last_write < self.interval
        ):
            return
        self._write(study)

    def _write(self, study: RunningStudy) -> None:
        if self.disabled:
            return
        started = self.clock()
        try:
            self.writer(
                Path(study.directory),
                live=True,
                cache=self.cache,
                store=study.store,
                space=getattr(study.config, "space", None),
                progress=dict(self.progress),
            )
        except ReportUnavailable as exc:  # no plotly: the search says so at its end
            self.error, self.disabled = str(exc), True
            return
        except Exception as exc:  # a report must never break the search
            self.failures += 1
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            self.disabled = self.failures >= MAX_FAILURES
            return
        finally:
            self.last_write = self.clock()
            self.cost = self.last_write - started
        self.failures = 0
        self.writes += 1
        self.stale = False


def _target(study: RunningStudy, number: int) -> int | None:
    """The epochs the running job of trial ``number`` trains up to, when the study says."""
    try:
        return int(study.scheduler.rungs[study.in_flight[number].rung])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None


def watch(
    directory: Path,
    out: Path | None,
    *,
    every: float = 2.0,
    force: bool = False,
    notify: Callable[[str], None] = print,
    stop: Callable[[], bool] = lambda: False,
) -> Path:
    """``nascompile report --watch``: rewrite the (live) report whenever the study changes,
    until interrupted (Ctrl-C) or ``stop()``; then write it once more as a final page.
    ``force``: the first write may replace a file at ``out`` that is not a report (later
    writes replace the report it wrote).
    """
    from ..storage.layout import StudyLayout

    layout = StudyLayout(directory)
    cache = ReportCache(importance_every=IMPORTANCE_EVERY)
    seen: tuple | None = None
    path = write_report(directory, out, force=force, live=True, cache=cache)
    notify(
        f"watching {directory}: {path} is rewritten when the study changes (Ctrl-C to stop)"
    )
    try:
        while not stop():
            state = _signature(layout.database)
            if state != seen:
                if seen is not None:
                    write_report(directory, out, live=True, cache=cache)
                seen = state
            time.sleep(every)
    except KeyboardInterrupt:
        pass
    return write_report(directory, out, cache=cache)


def _signature(database: Path) -> tuple:
    """What changes when the store is written: the database and its write-ahead log."""
    out: list[tuple[int, int] | None] = []
    for path in (database, database.with_name(database.name + "-wal")):
        try:
            stat = path.stat()
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append(None)
    return tuple(out)
