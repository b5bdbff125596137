"""The study: the driver loop of a search.

For each trial: ask the searcher -> specialize -> emit -> write ``candidates/<id>.py``
atomically -> send it to a worker -> store the result -> tell the searcher. The store is the
source of truth: re-running a study resumes it (completed trials are never trained again, a
trial left running by a dead process runs again, the searcher is rebuilt by replaying the
stored trials through ask/tell, so a seeded search continues exactly as it would have).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..codegen import emit
from ..errors import CandidateError, UsageError
from ..fileio import write_atomic
from ..ir import SpaceIR, specialize
from .data import DataSource, check_data
from .events import StudyListener
from .executor import EpochEvent, Executor, LocalExecutor, ResultEvent
from .lock import StudyLock
from .messages import TrialOutcome, TrialTask
from .searchers import make_searcher
from .settings import TrainingSettings
from .store import Store, TrialRecord

MAX_CONSECUTIVE_DUPLICATES = 200


@dataclass
class StudyConfig:
    """Everything that defines a study. ``settings``, ``searcher``, its options and ``seed``
    are fixed when the study is created; ``max_trials`` may grow on a later run."""

    directory: Path
    space: SpaceIR
    data: DataSource
    settings: TrainingSettings
    max_trials: int
    searcher: str = "random"
    searcher_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    workers: int = 1
    keep_weights: int = 3
    space_file: str | None = None


def _output_shape(ir: SpaceIR) -> tuple | None:
    """The model output's shape, from one sample candidate (to check labels against it);
    ``None`` when unknown (several outputs, or the sample cannot be built)."""
    try:
        graph = specialize(ir, ir.sample(random.Random(0)))
    except CandidateError:
        return None
    return graph.op(graph.outputs[0]).shape if len(graph.outputs) == 1 else None


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of one trial's training, derived from the study seed and the trial number."""
    return (study_seed * 1_000_003 + number * 7919 + 17) % (2**31 - 1)


def fresh_directory(directory: Path) -> Path | None:
    """``--fresh``: move an existing study aside (never delete it); returns where it went."""
    if not directory.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = directory.with_name(f"{directory.name}.old-{stamp}")
    n = 2
    while target.exists():
        target = directory.with_name(f"{directory.name}.old-{stamp}-{n}")
        n += 1
    os.replace(directory, target)
    return target


class Study:
    def __init__(
        self,
        config: StudyConfig,
        listeners: Iterable[StudyListener] = (),
        executor: Executor | None = None,
    ):
        if config.max_trials < 1:
            raise UsageError(
                f"--max-trials must be at least 1, got {config.max_trials}"
            )
        if config.keep_weights < 0:
            raise UsageError(
                f"--keep-weights must be 0 or more, got {config.keep_weights}"
            )
        self.config = config
        self.listeners = list(listeners)
        self.directory = Path(config.directory)
        self.candidates = self.directory / "candidates"
        self.weights = self.directory / "weights"
        self.store = Store(self.directory, create=True)
        self._check_or_record_definition()
        self.executor = executor or LocalExecutor(
            config.data,
            config.settings.to_json(),
            config.workers,
            log_dir=self.directory / "logs",
        )
        self.stop_reason: str | None = None
        self.in_flight: dict[int, tuple[str, float]] = (
            {}
        )  # trial number -> (candidate id, when it was sent)

    # ------------------------------------------------------------------ definition
    def _check_or_record_definition(self) -> None:
        c = self.config
        definition = {
            "fingerprint": c.space.fingerprint,
            "settings": c.settings.to_json(),
            "searcher": c.searcher,
            "searcher_options": c.searcher_options,
            "seed": c.seed,
        }
        stored = {key: self.store.get_meta(key) for key in definition}
        if stored["fingerprint"] is None or self.store.next_number() == 0:
            # A new study, or one that holds no trial yet (an earlier run stopped before its
            # first trial, say on bad data): nothing to protect, so (re)record its definition.
            self.store.set_meta(space_file=c.space_file, **definition)
            return
        if stored["fingerprint"] != definition["fingerprint"]:
            raise UsageError(
                f"{self.directory} holds a study of a different search space; use --fresh to start over (the old "
                "study is moved aside) or --study to choose another name"
            )
        for key in ("searcher", "searcher_options", "seed"):
            if stored[key] != definition[key]:
                raise UsageError(
                    f"{self.directory} was searched with {key}={stored[key]!r}, not {definition[key]!r}; "
                    "resume with the same setting, or use --fresh to start over"
                )
        for key, value in definition["settings"].items():
            if stored["settings"].get(key) != value:
                raise UsageError(
                    f"{self.directory} was trained with {key}={stored['settings'].get(key)!r}, not {value!r}; resume "
                    "with the same setting, or use --fresh to start over"
                )

    # ------------------------------------------------------------------ views
    @property
    def direction(self) -> str:
        return self.config.settings.direction

    @property
    def done(self) -> int:
        """Trials that count towards ``max_trials``: complete and failed (not duplicates)."""
        counts = self.store.counts()
        return counts["complete"] + counts["failed"]

    def best(self) -> TrialRecord | None:
        board = self.store.leaderboard(self.direction)
        return board[0] if board else None

    def request_stop(self, reason: str) -> None:
        """Stop proposing trials; the ones running finish and are stored."""
        self.stop_reason = self.stop_reason or reason

    def candidate_path(self, candidate_id: str) -> Path:
        return self.candidates / f"{candidate_id}.py"

    def weights_path(self, candidate_id: str) -> Path:
        return self.weights / f"{candidate_id}.weights.h5"

    # ------------------------------------------------------------------ run
    def run(self) -> "Study":
        """Run (or resume) the search until ``max_trials`` trials are done. Ctrl-C stops it
        cleanly: finished trials are kept, running ones run again on the next run."""
        with StudyLock(
            self.directory
        ):  # one writer per study (a second search stops here)
            return self._run()

    def _run(self) -> "Study":
        self.store.touch()
        self.searcher = make_searcher(
            self.config.searcher,
            self.config.space,
            seed=self.config.seed,
            direction=self.direction,
            **self.config.searcher_options,
        )
        reruns = self._replay()
        if self.done >= self.config.max_trials and not reruns:
            self._emit(
                "message",
                f"the study already holds {self.done} finished trials (--max-trials "
                f"{self.config.max_trials}); nothing to do",
            )
            self._emit("search_finished")
            return self
        summary = self.executor.start()
        try:
            self._check_data(summary)
            self._emit("search_started")
            self._loop(reruns)
        finally:
            self.executor.shutdown()
        self._emit("search_finished")
        return self

    def _check_data(self, summary: dict[str, Any]) -> None:
        self.store.set_meta(data_summary=summary)
        ir = self.config.space
        input_shapes = [tuple(ir.nodes[i].arg("shape") or ()) for i in ir.inputs]
        output_shape = _output_shape(ir)
        check_data(
            summary,
            input_shapes,
            output_shape,
            self.config.settings.loss,
            self.config.data.describe(),
        )

    def _replay(self) -> list[TrialRecord]:
        """Rebuild the searcher's state from the store; return the trials to run again."""
        trials = self.store.trials()
        told = sorted(
            (t for t in trials if t.told_order is not None), key=lambda t: t.told_order
        )
        position = 0
        for trial in trials:
            while position < len(told) and position < trial.asked_after:
                self._tell(told[position])
                position += 1
            proposal = self.searcher.ask()
            if proposal is not None and proposal != trial.assignment:
                self._emit(
                    "message",
                    f"the searcher now proposes differently than when trial #{trial.number} ran; "
                    "the study continues with its new proposals",
                )
        for record in told[position:]:
            self._tell(record)
        self.tells = len(told)
        return [t for t in trials if t.status == "running"]

    def _tell(self, record: TrialRecord) -> None:
        self.searcher.tell(
            record.assignment,
            record.objective if record.status in ("complete", "duplicate") else None,
        )

    def _loop(self, reruns: list[TrialRecord]) -> None:
        exhausted = announced_stop = False
        duplicates_in_a_row = 0
        waiting: dict[str, list[int]] = (
            {}
        )  # candidate id -> duplicate trials waiting for its result
        while True:
            while self.executor.free_slots() > 0:
                if reruns:
                    self._submit(reruns.pop(0), restart=True)
                    continue
                if self.stop_reason and not announced_stop:
                    self._emit("message", f"stopping the search: {self.stop_reason}")
                    announced_stop = True
                if (
                    self.stop_reason
                    or exhausted
                    or self.done + len(self.in_flight) >= self.config.max_trials
                ):
                    break
                if duplicates_in_a_row >= MAX_CONSECUTIVE_DUPLICATES:
                    self._emit(
                        "message",
                        f"the searcher proposed {duplicates_in_a_row} already-evaluated candidates "
                        "in a row; the space looks exhausted",
                    )
                    exhausted = True
                    break
                assignment = self.searcher.ask()
                if assignment is None:
                    self._emit(
                        "message",
                        "the searcher has proposed every candidate of the space",
                    )
                    exhausted = True
                    break
                record = self._new_trial(assignment)
                if record is None:
                    duplicates_in_a_row += 1
                    continue
                if any(
                    cid == record.candidate_id for cid, _ in self.in_flight.values()
                ):
                    waiting.setdefault(record.candidate_id, []).append(record.number)
                    duplicates_in_a_row += 1
                    continue
                duplicates_in_a_row = 0
                self._submit(record, restart=False)
            if not self.in_flight and not reruns:
                break
            for event in self.executor.poll(0.25):
                if isinstance(event, EpochEvent):
                    self._emit("epoch_finished", event.number, event.epoch, event.logs)
                elif isinstance(event, ResultEvent):
                    if event.outcome.number not in self.in_flight:
                        continue  # a late result of a trial already settled
                    record = self._finish(event.outcome)
                    for dup in waiting.pop(record.candidate_id, []):
                        self._finish_duplicate(self.store.trial(dup), record)

    # ------------------------------------------------------------------ trials
    def _new_trial(self, assignment: dict[str, Any]) -> TrialRecord | None:
        """Store a proposal as a trial. Returns the running trial to submit, or ``None`` when
        it was settled at once (a duplicate of an evaluated candidate, or one that cannot be built).
        """
        number = self.store.next_number()
        seed = trial_seed(self.config.seed, number)
        try:
            graph = specialize(self.config.space, assignment)
        except CandidateError as exc:
            self.store.start_trial(number, "", assignment, seed, self.tells)
            self._store_result(
                number, "failed", error=f"cannot build this candidate: {exc}"
            )
            return None
        earlier = self.store.evaluated(graph.id)
        self.store.start_trial(
            number, graph.id, dict(graph.assignment), seed, self.tells
        )
        record = self.store.trial(number)
        if earlier is not None:
            self._finish_duplicate(record, earlier)
            return None
        path = self.candidate_path(graph.id)
        if not path.exists():
            write_atomic(path, emit(graph))
        return record

    def _submit(self, record: TrialRecord, restart: bool) -> None:
        if restart:
            earlier = (
                self.store.evaluated(record.candidate_id)
                if record.candidate_id
                else None
            )
            if earlier is not None:
                self._finish_duplicate(record, earlier)
                return
            self.store.restart_trial(record.number)
        threshold = self._keep_threshold()
        keep = self.config.keep_weights > 0
        self.executor.submit(
            TrialTask(
                number=record.number,
                candidate_id=record.candidate_id,
                module_path=str(self.candidate_path(record.candidate_id)),
                seed=record.seed,
                weights_path=(
                    str(self.weights_path(record.candidate_id)) if keep else None
                ),
                keep_if_better_than=threshold,
            )
        )
        self.in_flight[record.number] = (record.candidate_id, time.monotonic())
        self._emit("trial_started", record)

    def _finish(self, outcome: TrialOutcome) -> TrialRecord:
        _, sent = self.in_flight.pop(outcome.number)
        record = self._store_result(
            outcome.number,
            outcome.status,
            objective=outcome.objective,
            metrics=outcome.metrics,
            params=outcome.params,
            fit_seconds=outcome.fit_seconds,
            wall_seconds=time.monotonic() - sent,
            error=outcome.error,
        )
        if outcome.status == "complete":
            self._prune_weights()
        return record

    def _finish_duplicate(self, record: TrialRecord, earlier: TrialRecord) -> None:
        self._store_result(
            record.number,
            "duplicate",
            objective=earlier.objective,
            params=earlier.params,
            metrics=earlier.metrics,
            duplicate_of=earlier.number,
            error=earlier.error if earlier.status == "failed" else None,
        )

    def _store_result(self, number: int, status: str, **fields: Any) -> TrialRecord:
        self.store.finish_trial(number, status=status, told_order=self.tells, **fields)
        self.tells += 1
        record = self.store.trial(number)
        self._tell(record)
        self._emit("trial_finished", record)
        return record

    # ------------------------------------------------------------------ weights
    def _kept_candidates(self) -> list[str]:
        kept: list[str] = []
        for trial in self.store.leaderboard(self.direction):
            if trial.candidate_id not in kept:
                kept.append(trial.candidate_id)
            if len(kept) == self.config.keep_weights:
                break
        return kept

    def _keep_threshold(self) -> float | None:
        """A new trial's weights are saved only if it could enter the best ``keep_weights``."""
        board = self.store.leaderboard(self.direction)
        if len(board) < self.config.keep_weights:
            return None
        return board[self.config.keep_weights - 1].objective

    def _prune_weights(self) -> None:
        if not self.weights.is_dir():
            return
        keep = {f"{cid}.weights.h5" for cid in self._kept_candidates()}
        for path in self.weights.iterdir():
            if (
                path.name.endswith(".weights.h5")
                and path.name not in keep
                and not path.name.startswith(".tmp-")
            ):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ listeners
    def _emit(self, event: str, *args: Any) -> None:
        for listener in self.listeners:
            getattr(listener, event)(self, *args)
