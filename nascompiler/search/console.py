"""Showing a search on the console: a live progress bar on a terminal, one line per trial
elsewhere (logs, CI), and the leaderboard at the end."""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..ir.cost import format_count
from ..kinds import TrialStatus
from ..storage.store import TrialRecord
from .events import StudyListener


def format_objective(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def epochs_text(trial: TrialRecord) -> str:
    """Epochs trained, with the rung under a multi-fidelity scheduler."""
    text = f"{trial.epochs}"
    if trial.rung is not None:
        text += f" (rung {trial.rung})"
    elif trial.pruned:
        text += " (pruned)"
    return text


def describe_trial(trial: TrialRecord, objective_name: str) -> str:
    if trial.status == TrialStatus.COMPLETE:
        return (
            f"{objective_name}={format_objective(trial.objective)} after {epochs_text(trial)} epoch(s), "
            f"{trial.params:,} params, fit {format_seconds(trial.fit_seconds)}"
        )
    if trial.status in (TrialStatus.OVER_BUDGET, TrialStatus.SCREENED):
        return f"not trained, {trial.error}"
    if trial.status == TrialStatus.DUPLICATE:
        return (
            f"same architecture as trial #{trial.duplicate_of}; reused its result "
            f"({objective_name}={format_objective(trial.objective)})"
        )
    return f"failed: {trial.error}"


class ConsoleReporter(StudyListener):
    """Progress on ``console``: a live display when it is a terminal (the search's bar, and one
    bar per running trial with its epoch and latest objective), plain lines otherwise (one per
    finished trial, and, for a trial still training, a line on its latest epoch at most every
    ``epoch_line_seconds``, so that a long trial is never silent in a log)."""

    def __init__(
        self,
        console: Console,
        live: bool | None = None,
        epoch_line_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.epoch_line_seconds = epoch_line_seconds
        self.clock = clock
        self.progress: Progress | None = None
        self.task: Any = None
        # trial number -> (candidate id, epochs done); its job's target; its latest metrics
        self.running: dict[int, tuple[str, int]] = {}
        self.targets: dict[int, int] = {}
        self.latest: dict[int, dict[str, float]] = {}
        self.trial_tasks: dict[int, Any] = (
            {}
        )  # trial number -> its bar in the live display
        self.last_line: dict[int, float] = (
            {}
        )  # trial number -> when its progress was printed

    def search_started(self, study: Any) -> None:
        c = study.config
        settings = c.settings
        where = _executor_call(study, "describe") or f"{c.workers} worker(s)"
        self.console.print(
            f"Study {study.directory}: {c.searcher} search, {c.max_trials} trials, objective {settings.objective} "
            f"({settings.direction}), {study.scheduler.describe()}, {where}"
        )
        if study.done:
            self.console.print(f"Resuming: {study.done} trial(s) already done.")
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "trials",
                total=c.max_trials,
                completed=study.done,
                info=f"best {self._best_text(study)}",
            )

    def _best_text(self, study: Any) -> str:
        best = study.best()
        return (
            "-"
            if best is None
            else f"{format_objective(best.objective)} ({best.candidate_id})"
        )

    def _refresh(self, study: Any) -> None:
        if self.progress is None:
            return
        self.progress.update(
            self.task, completed=study.done, info=f"best {self._best_text(study)}"
        )
        for number, (cid, epoch) in self.running.items():
            info = self.epoch_text(study, number)
            target = self.targets.get(number)
            if number not in self.trial_tasks:
                self.trial_tasks[number] = self.progress.add_task(
                    f"  #{number} {cid}", total=target, completed=epoch, info=info
                )
            else:
                self.progress.update(
                    self.trial_tasks[number], total=target, completed=epoch, info=info
                )

    def epoch_text(self, study: Any, number: int) -> str:
        """``epoch 3/8 val_accuracy=0.9512`` for a running trial (the objective after its
        latest epoch), with where it runs."""
        _, epoch = self.running[number]
        text = f"epoch {epoch}/{self.targets.get(number, '?')}"
        objective = study.config.settings.objective
        value = self.latest.get(number, {}).get(objective)
        if value is not None:
            text += f" {objective}={format_objective(value)}"
        return text + _on(study, number)

    def trial_started(self, study: Any, trial: TrialRecord) -> None:
        job = study.in_flight.get(trial.number)
        if job is not None:
            self.targets[trial.number] = study.scheduler.rungs[job.rung]
        self.running[trial.number] = (trial.candidate_id, trial.epochs)
        self.last_line[trial.number] = self.clock()
        self._refresh(study)

    def epoch_finished(
        self, study: Any, number: int, epoch: int, logs: dict[str, float]
    ) -> None:
        if number not in self.running:
            return
        self.running[number] = (self.running[number][0], epoch)
        self.latest[number] = dict(logs)
        if self.progress is not None:
            self._refresh(study)
            return
        now = self.clock()
        if now - self.last_line.get(number, now) >= self.epoch_line_seconds:
            self.last_line[number] = now
            self.console.print(
                f"  trial #{number} {self.running[number][0]}: {self.epoch_text(study, number)}",
                markup=False,
                soft_wrap=True,
            )

    def trial_finished(self, study: Any, trial: TrialRecord) -> None:
        self.running.pop(trial.number, None)
        self.latest.pop(trial.number, None)
        self.last_line.pop(trial.number, None)
        bar = self.trial_tasks.pop(trial.number, None)
        if bar is not None and self.progress is not None:
            self.progress.remove_task(bar)
        line = (
            f"trial #{trial.number} {trial.candidate_id or '(not built)'}: "
            + describe_trial(trial, study.config.settings.objective)
            + _on(study, trial.number)
        )
        if self.progress is not None:
            self.progress.console.print(line, markup=False)
        else:
            self.console.print(
                f"[{study.done}/{study.config.max_trials}] " + line,
                markup=False,
                soft_wrap=True,
            )
        self._refresh(study)

    def message(self, study: Any, text: str) -> None:
        self.console.print(text, markup=False)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def search_finished(self, study: Any) -> None:
        self.stop()


def _executor_call(study: Any, method: str, *args: Any) -> Any:
    executor = getattr(study, "executor", None)
    return getattr(executor, method)(*args) if hasattr(executor, method) else None


def _on(study: Any, number: int) -> str:
    """`` on <worker>`` when the executor says where trial ``number`` runs (a cluster's host)."""
    where = _executor_call(study, "worker_of", number)
    return f" on {where}" if where else ""


def leaderboard_table(
    trials: list[TrialRecord], objective: str, limit: int | None = 10
) -> Table:
    table = Table(title="Leaderboard", title_justify="left")
    for column in (
        "rank",
        "trial",
        "candidate",
        objective,
        "epochs",
        "parameters",
        "FLOPs",
        "train time",
    ):
        table.add_column(
            column, justify="right" if column not in ("candidate",) else "left"
        )
    shown = trials[:limit] if limit else trials
    if len(shown) < len(trials):  # never cut the table short without saying so
        table.caption = (
            f"the best {len(shown)} of {len(trials)} ranked trials; "
            "nascompile trials --limit 0 lists them all"
        )
        table.caption_justify = "left"
    for rank, trial in enumerate(shown, start=1):
        table.add_row(
            str(rank),
            f"#{trial.number}",
            trial.candidate_id,
            format_objective(trial.objective),
            epochs_text(trial),
            f"{trial.params:,}" if trial.params is not None else "-",
            format_count(trial.flops) if trial.flops is not None else "-",
            format_seconds(trial.fit_seconds),
        )
    return table


def failures_table(trials: list[TrialRecord]) -> Table:
    table = Table(title="Failed trials", title_justify="left")
    for column in ("trial", "candidate", "reason"):
        table.add_column(column, overflow="fold")
    for trial in trials:
        table.add_row(
            f"#{trial.number}", trial.candidate_id or "(not built)", trial.error or ""
        )
    return table


def objective_text(name: str, value: float | None) -> str:
    """One objective's value as the tables show it: counts grouped, latency in ms."""
    if value is None:
        return "-"
    if name in ("params", "flops"):
        return format_count(int(value)) if name == "flops" else f"{int(value):,}"
    if name == "latency_ms":
        return f"{value:.2f} ms"
    return format_objective(value)


def pareto_table(
    front: list[TrialRecord], names: tuple[str, ...], directions: tuple[str, ...]
) -> Table:
    """The Pareto front, best first by the first objective; one column per objective."""
    table = Table(
        title=f"Pareto front ({len(front)} trial{'s' if len(front) != 1 else ''})",
        title_justify="left",
    )
    table.add_column("place", justify="right")
    table.add_column("trial", justify="right")
    table.add_column("candidate")
    for name, direction in zip(names, directions):
        table.add_column(f"{name} ({direction})", justify="right")
    table.add_column("epochs", justify="right")
    for place, trial in enumerate(front, start=1):
        values = trial.objective_values or {names[0]: trial.objective}
        table.add_row(
            str(place),
            f"#{trial.number}",
            trial.candidate_id,
            *(objective_text(n, values.get(n)) for n in names),
            epochs_text(trial),
        )
    return table
