"""Showing a search on the console: a live progress bar on a terminal, one line per trial
elsewhere (logs, CI), and the leaderboard at the end."""

from __future__ import annotations

from typing import Any

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
    if trial.status == TrialStatus.OVER_BUDGET:
        return f"not trained, {trial.error}"
    if trial.status == TrialStatus.DUPLICATE:
        return (
            f"same architecture as trial #{trial.duplicate_of}; reused its result "
            f"({objective_name}={format_objective(trial.objective)})"
        )
    return f"failed: {trial.error}"


class ConsoleReporter(StudyListener):
    """Progress on ``console``: a live bar when it is a terminal, plain lines otherwise."""

    def __init__(self, console: Console, live: bool | None = None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.progress: Progress | None = None
        self.task: Any = None
        self.running: dict[int, tuple[str, int]] = (
            {}
        )  # trial number -> (candidate id, epochs done)
        self.targets: dict[int, int] = {}  # trial number -> epochs its job trains up to

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
                TextColumn("trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[running]}"),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "search",
                total=c.max_trials,
                completed=study.done,
                best=self._best_text(study),
                running="",
            )

    def _best_text(self, study: Any) -> str:
        best = study.best()
        return (
            "-"
            if best is None
            else f"{format_objective(best.objective)} ({best.candidate_id})"
        )

    def _refresh(self, study: Any) -> None:
        if self.progress is not None:
            running = "  ".join(
                f"#{n} {cid}{_on(study, n)} epoch {e}/{self.targets.get(n, '?')}"
                for n, (cid, e) in sorted(self.running.items())
            )
            self.progress.update(
                self.task,
                completed=study.done,
                best=self._best_text(study),
                running=running,
            )

    def trial_started(self, study: Any, trial: TrialRecord) -> None:
        job = study.in_flight.get(trial.number)
        if job is not None:
            self.targets[trial.number] = study.scheduler.rungs[job.rung]
        self.running[trial.number] = (trial.candidate_id, trial.epochs)
        self._refresh(study)

    def epoch_finished(
        self, study: Any, number: int, epoch: int, logs: dict[str, float]
    ) -> None:
        if number in self.running:
            self.running[number] = (self.running[number][0], epoch)
        self._refresh(study)

    def trial_finished(self, study: Any, trial: TrialRecord) -> None:
        self.running.pop(trial.number, None)
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
    for rank, trial in enumerate(trials[:limit] if limit else trials, start=1):
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
