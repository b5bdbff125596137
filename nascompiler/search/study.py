"""The study: the driver loop of a search.

For each trial: ask the searcher -> specialize -> emit -> write ``candidates/<id>.py``
atomically -> send it to a worker -> store the result -> tell the searcher. Under a
multi-fidelity scheduler (ASHA, Hyperband) a trial is trained in jobs, one per rung: whenever a
worker is free the scheduler may promote a trial instead, which continues from its checkpoint.

The store is the source of truth: re-running a study resumes it (finished work is never trained
again, a job left running by a dead process runs again from its last checkpoint, the searcher
is rebuilt by replaying the stored tells through ask/tell, so a seeded search continues exactly
as it would have).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from ..codegen import emit
from ..codegen.supernet import emit_supernet
from ..config.settings import LEGACY_BACKEND, SearchConfig
from ..errors import CandidateError, UsageError
from ..fileio import write_atomic
from ..ir import SpaceIR, specialize
from ..ir.compile import fingerprint_without_dynamic_results
from ..ir.cost import candidate_cost
from ..kinds import TOLD_OBJECTIVE, TrialStatus
from ..run.data import DataSource, check_data, data_changes
from ..run.executor import EpochEvent, Executor, LocalExecutor, ResultEvent
from ..run.messages import TrialOutcome, TrialTask
from ..storage.layout import WEIGHTS_SUFFIX, StudyLayout
from ..storage.lock import StudyLock
from ..storage.pareto import study_pareto_front
from ..storage.ranking import ONESHOT, STATIC_PROXIES
from ..storage.store import Store, TrialRecord
from .events import StudyListener
from .schedulers import Scheduler, build_scheduler
from .searchers import make_searcher

# Proposals in a row that train nothing (already evaluated, or over --max-params/--max-flops)
# before the search concludes the space holds nothing new for it: each is stored as a row.
MAX_CONSECUTIVE_REJECTED = 30
HEARTBEAT_SECONDS = 2.0  # how often the time spent is stored while a search runs


@dataclass(frozen=True, kw_only=True)
class StudyConfig(SearchConfig):
    """Everything that defines a study: its settings (a :class:`SearchConfig`, built and
    checked by :func:`nascompiler.search.resolve.resolve_search`) and what it runs on. The
    settings, searcher, its options, seed and scheduler are fixed when the study is created;
    ``max_trials`` may grow on a later run."""

    directory: Path
    space: SpaceIR
    data: DataSource
    space_file: str | None = None
    allow_new_data: bool = False  # resume although load_data() now gives other data
    # zero-cost proxies computed on each new trial's untrained model (nascompile proxies)
    proxies: tuple[str, ...] = ()

    @classmethod
    def of(cls, search: SearchConfig, **inputs: Any) -> "StudyConfig":
        """The study of ``search``'s settings on ``inputs`` (``directory``, ``space``...)."""
        return cls(
            **{f.name: getattr(search, f.name) for f in fields(SearchConfig)}, **inputs
        )

    @property
    def search(self) -> SearchConfig:
        """The settings alone, as the resolver returned them."""
        return SearchConfig(
            **{f.name: getattr(self, f.name) for f in fields(SearchConfig)}
        )


@dataclass
class ScreeningGroup:
    """``--prescreen PROXY:K``: the proposals of one trial slot. Trials ``first`` onwards were
    asked for it (``K`` asks in all); ``pool`` holds those that need training (new candidates,
    running), of which only the best by the proxy is trained. ``scores`` holds the proxy
    values known so far, ``queued`` the pool members whose screening job is not sent yet.
    """

    first: int
    pool: list[int]
    scores: dict[int, float]
    queued: list[int]
    asked_all: bool = False


def best_screened(pool: Iterable[int], scores: dict[int, float]) -> int:
    """The trial of ``pool`` to train: the highest proxy score (NaN, a proxy that could not be
    computed, ranks last; ties: the earliest trial).

    >>> best_screened([4, 5, 6], {4: 1.0, 5: 3.0, 6: 3.0}), best_screened([1, 2], {1: float("nan"), 2: -9.0})
    (5, 2)
    """

    def key(number: int) -> tuple[bool, float, int]:
        value = scores.get(number, math.nan)
        value = math.nan if value is None else float(value)
        return (math.isnan(value), -value if not math.isnan(value) else 0.0, number)

    return min(pool, key=key)


@dataclass
class Job:
    """A trial's training job in flight: from ``initial_epoch`` up to rung ``rung``."""

    candidate_id: str
    rung: int
    initial_epoch: int
    sent: float


def _output_shape(ir: SpaceIR) -> tuple | None:
    """The model output's shape, from one sample candidate (to check labels against it);
    ``None`` when unknown (several outputs, or the sample cannot be built)."""
    try:
        graph = specialize(ir, ir.sample(random.Random(0)))
    except CandidateError:
        return None
    return graph.op(graph.outputs[0]).shape if len(graph.outputs) == 1 else None


def _proxy_text(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def _rejected_text(duplicates: int, over: int) -> str:
    """Why a search stopped asking: its last proposals were all duplicates or over budget."""
    parts = [
        f"{duplicates} already evaluated" if duplicates else "",
        f"{over} over the budget" if over else "",
    ]
    where = " within the budget" if over else ""
    return (
        f"stopped asking for candidates: the searcher's last {duplicates + over} proposals were "
        f"{' and '.join(p for p in parts if p)}; the space looks to hold no new candidate{where}"
    )


def _scheduler_text(stored: dict[str, Any]) -> str:
    rungs = ", ".join(map(str, stored["rungs"]))
    if stored["name"] in ("asha", "hyperband"):
        return f"{stored['name']} scheduler (rungs {rungs}, reduction factor {stored['reduction_factor']})"
    return f"{stored['name']} scheduler ({rungs} epochs)"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


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
        # The config was checked when it was resolved: nothing is checked again here.
        self.config = config
        self.scheduler: Scheduler = build_scheduler(
            config.scheduler,
            direction=config.settings.direction,
            objective=config.settings.objective,
        )
        self.listeners = list(listeners)
        self.layout = StudyLayout(config.directory)
        self.directory = self.layout.root
        self.store = Store(self.directory, create=True)
        self._check_or_record_definition()
        if executor is not None and getattr(executor, "trial_timeout", 0) is None:
            executor.trial_timeout = (
                config.trial_timeout
            )  # a cluster's jobs honour it too
        self.executor = executor or LocalExecutor(
            config.data,
            config.settings.to_json(),
            config.workers,
            log_dir=self.layout.logs,
            trial_timeout=config.trial_timeout,
            resident_keep=config.resident,
        )
        self.stop_reason: str | None = None
        self.end_reason: str | None = None  # why the last run ended, in words
        self.in_flight: dict[int, Job] = {}  # trial number -> its job
        # --prescreen: the slot whose proposals are being scored, the screening jobs in flight
        # (trial number -> when sent), and the chosen trials waiting for a worker
        self._group: ScreeningGroup | None = None
        self._screening: dict[int, float] = {}
        self._chosen: list[int] = []
        self._waiting: dict[str, list[int]] = {}
        self.deadline: float | None = None

    # ------------------------------------------------------------------ definition
    def _check_or_record_definition(self) -> None:
        c = self.config
        definition: dict[str, Any] = {
            "fingerprint": c.space.fingerprint,
            "settings": c.settings.to_json(),
            "searcher": c.searcher,
            "searcher_options": dict(c.searcher_options),
            "seed": c.seed,
            "scheduler": c.scheduler.to_json(),
            "prescreen": str(c.prescreen) if c.prescreen is not None else None,
            "supernet_epochs": c.supernet_epochs,
        }
        stored = {key: self.store.get_meta(key) for key in definition}
        if stored["fingerprint"] is None or self.store.next_number() == 0:
            # A new study, or one that holds no trial yet (an earlier run stopped before its
            # first trial, say on bad data): nothing to protect, so (re)record its definition.
            self.store.set_meta(space_file=c.space_file, **definition)
            return
        if stored["fingerprint"] != definition["fingerprint"]:
            if stored["fingerprint"] != fingerprint_without_dynamic_results(c.space):
                raise UsageError(
                    self._conflict(
                        "another search space (other parameters or graph)",
                        resumable=False,
                    )
                )
            # Recorded before the fingerprint covered what a Dynamic computes, and the rest of
            # the space is the same: resume as it did then, and record the full fingerprint.
            self.store.set_meta(fingerprint=definition["fingerprint"])
        if (
            stored["scheduler"] is None
        ):  # a study from before schedulers: it trained fully
            stored["scheduler"] = {
                "name": "full",
                "rungs": [stored["settings"].get("epochs")],
                "reduction_factor": None,
            }
            self.store.set_meta(scheduler=stored["scheduler"])
        for key in (
            "searcher",
            "searcher_options",
            "seed",
            "prescreen",
            "supernet_epochs",
        ):
            if stored[key] != definition[key]:
                raise UsageError(
                    self._conflict(f"{key}={stored[key]!r}, not {definition[key]!r}")
                )
        # A setting recorded without a score scored the last epoch (TrainingSettings.to_json);
        # one from before the backend was a setting ran TensorFlow. Another backend is refused
        # like any other setting: the same seed draws other initial weights there.
        legacy = {"score": "last", "backend": LEGACY_BACKEND}
        was = {**legacy, **stored["settings"]}
        now = {**legacy, **definition["settings"]}
        for key in sorted(set(now) | set(was)):
            value = now.get(key)
            if was.get(key) != value:
                raise UsageError(
                    self._conflict(f"{key}={was.get(key)!r}, not {value!r}")
                )
        if stored["scheduler"] != definition["scheduler"]:
            raise UsageError(
                self._conflict(
                    f"the {_scheduler_text(stored['scheduler'])}, not the "
                    f"{_scheduler_text(definition['scheduler'])}"
                )
            )

    def _conflict(self, difference: str, resumable: bool = True) -> str:
        """Why a search cannot resume the study already in its folder, and the two ways on:
        another study beside it, or this one started over."""
        name = self.directory.name
        return (
            f"the existing study {name!r} ({self.directory}) was made with {difference}; "
            f"search under another name with --study NAME (e.g. --study {name}_2), or start "
            f"{name!r} over with --fresh (the old one is moved aside)"
            + (
                "; the same command without the new settings resumes it"
                if resumable
                else ""
            )
        )

    # ------------------------------------------------------------------ views
    @property
    def direction(self) -> str:
        return self.config.settings.direction

    @property
    def done(self) -> int:
        """Finished trials that count towards ``max_trials``: complete and failed (not
        duplicates). Under ASHA a complete trial may still be promoted later."""
        counts = self.store.counts()
        return counts[TrialStatus.COMPLETE] + counts[TrialStatus.FAILED]

    @property
    def started(self) -> int:
        """Trials started (``max_trials`` counts these): all but duplicates, candidates over
        the budget and screened ones; the proposals of a slot still being screened count as
        the one trial they will give."""
        counts = self.store.counts()
        pending = len(self._group.pool) if self._group is not None else 0
        return (
            counts[TrialStatus.COMPLETE]
            + counts[TrialStatus.FAILED]
            + counts[TrialStatus.RUNNING]
            - max(pending - 1, 0)
        )

    def best(self) -> TrialRecord | None:
        board = self.store.leaderboard(self.direction)
        return board[0] if board else None

    def request_stop(self, reason: str) -> None:
        """Stop proposing trials; the ones running finish and are stored."""
        self.stop_reason = self.stop_reason or reason

    def candidate_path(self, candidate_id: str) -> Path:
        return self.layout.candidate_path(candidate_id)

    def weights_path(self, candidate_id: str) -> Path:
        return self.layout.weights_path(candidate_id)

    # ------------------------------------------------------------------ run
    def run(self) -> "Study":
        """Run (or resume) the search until ``max_trials`` trials are done, the time budget is
        spent or the space is exhausted; ``end_reason`` says which. Ctrl-C stops it cleanly:
        finished work is kept, running jobs run again on the next run."""
        with StudyLock(
            self.directory
        ):  # one writer per study: a second search stops here
            return self._run()

    def _run(self) -> "Study":
        self.store.touch()
        self.searcher = make_searcher(
            self.config.searcher,
            self.config.space,
            seed=self.config.seed,
            directions=self.config.settings.directions,
            **self.config.searcher_options,
        )
        if self.scheduler.multi_fidelity:
            self.searcher.set_rungs(len(self.scheduler.rungs))
        reruns = self._replay()
        # A study whose searcher ran out of candidates stays exhausted until it learns something
        # new; re-running it must not ask (and store) hundreds of duplicates again.
        self._exhausted = self.store.get_meta("exhausted_after_tells") == self.tells
        if not reruns and not self._more_work():
            self.end_reason = self.stop_reason or (
                "the searcher already proposed every candidate of the space; nothing to do"
                if self._exhausted
                else f"the study already holds {self.started} trials (--max-trials "
                f"{self.config.max_trials}); nothing to do"
            )
            self._emit("message", self.end_reason)
            self._emit("search_finished")
            return self
        if self._oneshot:
            self._write_supernet()
        summary = self.executor.start()
        # The time budget counts the search's own time (from its workers being up), over all
        # runs of the study.
        self._run_started = time.monotonic()
        self._spent_before = float(self.store.get_meta("search_seconds", 0.0))
        if self.config.time_budget is not None:
            self.deadline = (
                self._run_started + self.config.time_budget - self._spent_before
            )
        try:
            self._check_data(summary)
            self._emit("search_started")
            self._loop(reruns)
        finally:
            self._record_time()
            self.executor.shutdown()
        self._emit("message", f"search finished: {self.end_reason}")
        self._emit("search_finished")
        return self

    def _spent(self) -> float | None:
        """Seconds of search over every run of the study so far (``None`` before this run's
        workers are up)."""
        if not hasattr(self, "_run_started"):
            return None
        return self._spent_before + time.monotonic() - self._run_started

    def _record_time(self) -> None:
        spent = self._spent()
        if spent is not None:
            self.store.set_meta(search_seconds=spent)
            self._recorded_at = time.monotonic()

    def _heartbeat(self) -> None:
        """Store the time spent every few seconds, so that a driver killed with kill -9 loses at
        most that much of it and the next run honours ``--time-budget`` over both."""
        if time.monotonic() - self._recorded_at >= HEARTBEAT_SECONDS:
            self._record_time()

    _recorded_at = 0.0

    def _check_data(self, summary: dict[str, Any]) -> None:
        stored = self.store.get_meta("data_summary")
        if stored is not None and self.store.next_number() > 0:
            changes = data_changes(stored, summary)
            if changes and not self.config.allow_new_data:
                raise UsageError(
                    f"{self.config.data.describe()} gives other data than when {self.directory} was searched "
                    f"({'; '.join(changes[:3])}); its results would not compare. Use --allow-new-data to "
                    "go on with it (recorded in the study), or --fresh to start over"
                )
            if changes:
                history = self.store.get_meta("data_changes", [])
                history.append({"at": time.time(), "changes": changes})
                self.store.set_meta(data_changes=history)
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
        by_number = {t.number: t for t in trials}
        tells = self.store.tells()
        self._told: set[int] = set()
        position = 0
        for trial in trials:
            while position < len(tells) and position < trial.asked_after:
                told = tells[position]
                self._tell(by_number[told.number], told.objective, told.rung)
                position += 1
            proposal = self.searcher.ask()
            if proposal is not None and proposal != trial.assignment:
                self._emit(
                    "message",
                    f"the searcher now proposes differently than when trial #{trial.number} ran; "
                    "the study continues with its new proposals",
                )
        for told in tells[position:]:
            self._tell(by_number[told.number], told.objective, told.rung)
        self.tells = len(tells)
        running = [t for t in trials if t.status == TrialStatus.RUNNING]
        first = self.store.get_meta("prescreen_group")
        if first is None or self.config.prescreen is None:
            return running
        # A slot whose proposals were being screened when the search stopped: its running
        # trials compete again (scores already stored are kept), the rest of its asks follow.
        self._resume_group(first, [t for t in running if t.number >= first])
        return [t for t in running if t.number < first]

    def _tell(
        self, record: TrialRecord, objective: float | None, rung: int | None = None
    ) -> None:
        """The searcher learns from a trial's first result; later rungs' results update it.
        Under a multi-fidelity scheduler each result is told with its rung (``tell_rung``).
        A multi-objective searcher is told every objective's value, in order."""
        if objective is not None and self.config.settings.multi_objective:
            objective = tuple(
                record.objective_values.get(name)
                for name in self.config.settings.objective_names
            )
        per_rung = rung is not None and self.scheduler.multi_fidelity
        if record.number in self._told:
            if per_rung:
                self.searcher.tell_rung(record.assignment, objective, rung, first=False)
            else:
                self.searcher.update(record.assignment, objective)
        elif record.status == TrialStatus.OVER_BUDGET:
            self._told.add(record.number)
            self.searcher.tell_infeasible(record.assignment, self._violation(record))
        elif record.status == TrialStatus.SCREENED:
            self._told.add(record.number)
            self.searcher.tell_screened(record.assignment)
        else:
            self._told.add(record.number)
            if per_rung:
                self.searcher.tell_rung(record.assignment, objective, rung, first=True)
            else:
                self.searcher.tell(record.assignment, objective)

    def _out_of_time(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.request_stop(
                f"the time budget of {format_duration(self.config.time_budget)} is spent"
            )
        return self.stop_reason is not None

    def _more_work(self) -> bool:
        """Whether anything is left to start: a promotion or a new trial."""
        if self._out_of_time():
            return False
        if self.scheduler.promotion(self.store.trials()) is not None:
            return True
        if self._group is not None or self._chosen:
            return True
        return not self._exhausted and self.started < self.config.max_trials

    _exhausted = False

    def _loop(self, reruns: list[TrialRecord]) -> None:
        announced_stop = False
        duplicates_in_a_row = over_in_a_row = 0
        # candidate id -> duplicate trials waiting for its result
        waiting: dict[str, list[int]] = self._waiting
        while True:
            while self.executor.free_slots() > 0:
                if reruns:
                    self._resubmit(reruns.pop(0))
                    continue
                if self._chosen:  # the best of a screened slot: trained now
                    self._submit_chosen(self._chosen.pop(0))
                    continue
                if self._out_of_time():
                    if not announced_stop:
                        self._emit(
                            "message", f"stopping the search: {self.stop_reason}"
                        )
                        announced_stop = True
                    break
                promotion = self.scheduler.promotion(self.store.trials())
                if promotion is not None:
                    self.store.promote_trial(promotion.number)
                    self._submit(self.store.trial(promotion.number), promotion.rung)
                    continue
                group = self._group
                if (
                    group is not None
                    and not group.asked_all
                    and self.store.next_number() - group.first
                    >= self.config.prescreen.k
                ):
                    self._close_group()  # all K proposals are in: score them
                    continue
                if group is not None and group.asked_all:
                    if group.queued:  # score the slot's proposals, one job each
                        self._submit_screening(group.queued.pop(0))
                        continue
                    break  # its scores are on their way
                if group is None and (
                    self._exhausted or self.started >= self.config.max_trials
                ):
                    break
                if duplicates_in_a_row + over_in_a_row >= MAX_CONSECUTIVE_REJECTED:
                    self._emit(
                        "message", _rejected_text(duplicates_in_a_row, over_in_a_row)
                    )
                    self._exhausted = True
                    self._close_group()
                    break
                if group is None and self.config.prescreen is not None:
                    group = self._open_group()
                assignment = self.searcher.ask()
                if assignment is None:
                    self._emit(
                        "message",
                        "the searcher has proposed every candidate of the space",
                    )
                    self._exhausted = True
                    self._close_group()
                    break
                record = self._new_trial(assignment)
                if record is None and self._rejected_in_a_row:
                    over_in_a_row += 1
                    continue
                if record is None:
                    if self.store.trial(self.store.next_number() - 1).status == (
                        TrialStatus.DUPLICATE
                    ):
                        duplicates_in_a_row += 1
                    continue
                if any(
                    job.candidate_id == record.candidate_id
                    for job in self.in_flight.values()
                ):
                    waiting.setdefault(record.candidate_id, []).append(record.number)
                    duplicates_in_a_row += 1
                    continue
                duplicates_in_a_row = over_in_a_row = 0
                if group is not None:
                    group.pool.append(record.number)
                    continue
                self._submit(record, self.scheduler.bracket(record.number))
            if (
                not self.in_flight
                and not self._screening
                and not reruns
                and not self._more_work()
            ):
                break
            # With nothing in flight and no free slot, workers are starting (a recycled or
            # replaced one): wait for them rather than ending the search.
            self._heartbeat()
            for event in self.executor.poll(0.25):
                if isinstance(event, EpochEvent):
                    self._emit("epoch_finished", event.number, event.epoch, event.logs)
                elif isinstance(event, ResultEvent):
                    if event.outcome.number in self._screening:
                        self._screened(event.outcome)
                        continue
                    if event.outcome.number not in self.in_flight:
                        continue  # a late result of a trial already settled
                    record = self._finish(event.outcome)
                    for dup in waiting.pop(record.candidate_id, []):
                        self._finish_duplicate(self.store.trial(dup), record)
        self.end_reason = self.stop_reason or (
            "the searcher has proposed every candidate of the space"
            if self._exhausted
            else f"all {self.config.max_trials} trials are done"
        )
        if self._exhausted:
            self.store.set_meta(exhausted_after_tells=self.tells)
        if self.stop_reason is None:
            self._drop_checkpoints()
        screened = self.store.counts()[TrialStatus.SCREENED]
        if screened and self.config.prescreen is not None:
            self.end_reason += (
                f"; {screened} candidate(s) were screened out untrained by "
                f"{self.config.prescreen.proxy}"
            )
        rejected = self.store.counts()[TrialStatus.OVER_BUDGET]
        if rejected:
            self.end_reason += (
                f"; {rejected} candidate(s) over the budget were rejected untrained"
            )

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
            self._rejected_in_a_row = 0
            self.store.start_trial(number, "", assignment, seed, self.tells)
            self._store_result(
                number, TrialStatus.FAILED, error=f"cannot build this candidate: {exc}"
            )
            return None
        cost = candidate_cost(graph)
        over = self._over_budget(cost)
        if over is not None:
            self.store.start_trial(
                number,
                graph.id,
                dict(graph.assignment),
                seed,
                self.tells,
                cost=cost.to_json(),
            )
            self._store_result(
                number, TrialStatus.OVER_BUDGET, params=cost.params, error=over
            )
            self._rejected_in_a_row += 1
            return None
        self._rejected_in_a_row = 0
        earlier = self.store.evaluated(graph.id)
        path = self.candidate_path(graph.id)
        if earlier is None and not path.exists():
            # The module is on disk before its trial is stored as running, so a crash in
            # between never leaves a trial that cannot run.
            write_atomic(path, emit(graph))
        bracket = (
            self.scheduler.bracket(number) if self.scheduler.multi_fidelity else None
        )
        self.store.start_trial(
            number,
            graph.id,
            dict(graph.assignment),
            seed,
            self.tells,
            bracket,
            cost=cost.to_json(),
        )
        record = self.store.trial(number)
        if earlier is not None:
            self._finish_duplicate(record, earlier)
            return None
        return record

    _rejected_in_a_row = 0

    def _budgets(self) -> list[tuple[str, str, int | None]]:
        return [
            ("params", "--max-params", self.config.max_params),
            ("flops", "--max-flops", self.config.max_flops),
        ]

    def _over_budget(self, cost: Any) -> str | None:
        """Why a candidate of this cost breaks a hard budget, or ``None``."""
        for field, flag, limit in self._budgets():
            value = getattr(cost, field)
            if limit is not None and value is not None and value > limit:
                return f"over budget: {value:,} {field} > {limit:,} ({flag})"
        return None

    def _violation(self, record: TrialRecord) -> float:
        """How far over its budget a rejected candidate is (relative), for the searcher."""
        ratios = [
            getattr(record, field) / limit - 1
            for field, _, limit in self._budgets()
            if limit and getattr(record, field) is not None
        ]
        return max([r for r in ratios if r > 0], default=1.0)

    def _resubmit(self, record: TrialRecord) -> None:
        """A job that was running when the search died: run it again, from the trial's last
        checkpoint (a rung already recorded is never trained again)."""
        earlier = (
            self.store.evaluated(record.candidate_id) if record.candidate_id else None
        )
        if earlier is not None and earlier.number != record.number:
            self._finish_duplicate(record, earlier)
            return
        self.store.restart_trial(record.number)
        rung = (
            record.rungs[-1]["rung"] + 1 if record.rungs else self._bracket_of(record)
        )
        if record.rungs and not self._checkpoint_file(record):
            self._emit(
                "message",
                f"trial #{record.number}: its checkpoint is missing; it trains again from scratch",
            )
        self._submit(record, rung)

    def _bracket_of(self, record: TrialRecord) -> int:
        """The rung a new trial starts at: the bracket it was stored with (a prescreened trial's
        counts the trials trained before it, not the screened ones), else by its number.
        """
        if self.scheduler.multi_fidelity and record.bracket is not None:
            return record.bracket
        return self.scheduler.bracket(record.number)

    # ------------------------------------------------------------------ prescreening
    @property
    def _oneshot(self) -> bool:
        return (
            self.config.prescreen is not None and self.config.prescreen.proxy == ONESHOT
        )

    @property
    def supernet_path(self) -> Path:
        return self.directory / "supernet.py"

    def _write_supernet(self) -> None:
        """``--prescreen oneshot:K``: the space's supernet module, in the study folder; the
        first screening job trains it there (run/oneshot.py). A space it cannot express stops
        the search before any work."""
        write_atomic(self.supernet_path, emit_supernet(self.config.space))

    def _open_group(self) -> ScreeningGroup:
        """A new trial slot under ``--prescreen``: its K proposals follow. The store notes where
        the slot starts before the first of them, so that a search killed in the middle
        resumes it (its running trials are the slot's candidates, not trials to train).
        """
        first = self.store.next_number()
        self.store.set_meta(prescreen_group=first)
        self._group = ScreeningGroup(first, [], {}, [])
        return self._group

    def _resume_group(self, first: int, running: list[TrialRecord]) -> None:
        """The slot the last run was screening: proxy scores already stored are kept, the other
        candidates are scored again (the same model and batch: the same score)."""
        assert self.config.prescreen is not None
        proxy = self.config.prescreen.proxy
        rerun = {
            t.candidate_id
            for t in self.store.trials(TrialStatus.RUNNING)
            if t.number < first
        }
        group = ScreeningGroup(first, [], {}, [])
        stored = self.store.proxies()
        for trial in running:
            if trial.candidate_id in rerun:  # waits for the result of the trial rerun
                self._waiting.setdefault(trial.candidate_id, []).append(trial.number)
                continue
            group.pool.append(trial.number)
            if proxy in stored.get(trial.number, {}):
                value = stored[trial.number][proxy][0]
                group.scores[trial.number] = math.nan if value is None else value
        self._group = group

    def _close_group(self) -> None:
        """The slot's proposals are all in (K, or fewer when the searcher ran out): score them
        (static proxies at once, the others by a job each) or, with none to train, end it.
        """
        group = self._group
        if group is None or group.asked_all:
            return
        group.asked_all = True
        if not group.pool:
            self._end_group()
            return
        assert self.config.prescreen is not None
        proxy = self.config.prescreen.proxy
        if proxy in STATIC_PROXIES:
            for number in group.pool:
                if number not in group.scores:
                    record = self.store.trial(number)
                    cost = candidate_cost(
                        specialize(self.config.space, record.assignment)
                    )
                    value = getattr(cost, proxy)
                    value = math.nan if value is None else float(value)
                    self.store.set_proxies(number, {proxy: value}, {})
                    group.scores[number] = value
        group.queued = [n for n in group.pool if n not in group.scores]
        if not group.queued:
            self._select()

    def _end_group(self) -> None:
        self.store.set_meta(prescreen_group=None)
        self._group = None

    def _submit_screening(self, number: int) -> None:
        """Send the job that builds trial ``number``'s untrained model and scores it with the
        proxy, on the slot's one batch of training data."""
        group = self._group
        assert group is not None and self.config.prescreen is not None
        record = self.store.trial(number)
        self.executor.submit(
            TrialTask(
                number=number,
                candidate_id=record.candidate_id,
                module_path=str(self.candidate_path(record.candidate_id)),
                seed=record.seed,
                weights_path=None,
                keep_if_better_than=None,
                proxies=(self.config.prescreen.proxy,),
                screen_only=True,
                proxy_seed=trial_seed(self.config.seed, group.first),
                supernet_path=str(self.supernet_path) if self._oneshot else None,
                supernet_epochs=self.config.supernet_epochs,
            )
        )
        self._screening[number] = time.monotonic()

    def _screened(self, outcome: TrialOutcome) -> None:
        """A screening job's score: stored at once (a resumed slot keeps it); the last of the
        slot's scores picks the trial to train."""
        assert self.config.prescreen is not None
        self._screening.pop(outcome.number, None)
        proxy = self.config.prescreen.proxy
        value = (outcome.proxies or {}).get(proxy, math.nan)
        self.store.set_proxies(
            outcome.number, {proxy: value}, outcome.proxy_seconds or {}
        )
        if outcome.status != TrialStatus.COMPLETE:
            self._emit(
                "message",
                f"trial #{outcome.number}: its {proxy} could not be computed "
                f"({outcome.error}); it ranks last in its slot",
            )
        group = self._group
        if group is None or outcome.number not in group.pool:
            return
        group.scores[outcome.number] = value
        if not group.queued and all(n in group.scores for n in group.pool):
            self._select()

    def _select(self) -> None:
        """Train the slot's best candidate by the proxy; the others are stored as screened
        (told to the searcher as such, never trained, not counted as trials)."""
        group = self._group
        assert group is not None and self.config.prescreen is not None
        proxy = self.config.prescreen.proxy
        winner = best_screened(group.pool, group.scores)
        best = group.scores.get(winner, math.nan)
        for number in group.pool:
            record = self.store.trial(number)
            if number == winner or record.status != TrialStatus.RUNNING:
                continue
            self._store_result(
                number,
                TrialStatus.SCREENED,
                error=f"screened out: {proxy} {_proxy_text(group.scores.get(number))}; "
                f"trial #{winner} of its slot scored {_proxy_text(best)} and trains",
            )
        if self.scheduler.multi_fidelity:
            # Hyperband's brackets take turns over the trials trained, not the screened ones.
            screened = sum(
                1
                for t in self.store.trials(TrialStatus.SCREENED)
                if t.number < group.first
            )
            self.store.set_bracket(
                winner, self.scheduler.bracket(group.first - screened)
            )
        self._end_group()
        self._chosen.append(winner)
        if len(group.pool) > 1:
            self._emit(
                "message",
                f"trial #{winner}: the best of {len(group.pool)} candidates by {proxy} "
                f"({_proxy_text(best)}); it trains, the others are screened out",
            )

    def _submit_chosen(self, number: int) -> None:
        record = self.store.trial(number)
        if record is None or record.status != TrialStatus.RUNNING:
            return
        self._submit(record, self._bracket_of(record))

    def _checkpoint_file(self, record: TrialRecord) -> Path | None:
        if record.checkpoint is None:
            return None
        path = self.directory / record.checkpoint
        return path if path.exists() else None

    def _submit(self, record: TrialRecord, rung: int) -> None:
        """Send the job that trains ``record`` up to rung ``rung``."""
        target = self.scheduler.rungs[rung]
        resume = self._checkpoint_file(record) if record.rungs else None
        initial = record.epochs if resume is not None else 0
        checkpoint = None
        if rung < self.scheduler.top:  # it may be promoted later: keep where it got to
            checkpoint = self.layout.checkpoint_path(record.number, target)
        threshold, keep = self._keep_decision(target)
        prune = self.scheduler.prune_thresholds(self.store.trials())
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
                epochs=target,
                initial_epoch=initial,
                resume_path=str(resume) if resume is not None else None,
                checkpoint_path=str(checkpoint) if checkpoint is not None else None,
                prune_below=tuple(prune) if prune is not None else None,
                proxies=self.config.proxies if not initial else (),
                keep_resident=checkpoint is not None and self.config.resident > 0,
                # held models are those still likely promoted (_evict_unlikely)
                resident_wanted=tuple(sorted(self.executor.resident())),
            )
        )
        self.in_flight[record.number] = Job(
            record.candidate_id, rung, initial, time.monotonic()
        )
        self._emit("trial_started", record)

    def _finish(self, outcome: TrialOutcome) -> TrialRecord:
        job = self.in_flight.pop(outcome.number)
        record = self.store.trial(outcome.number)
        wall = time.monotonic() - job.sent
        # A continued job's history follows the earlier rungs': one learning curve.
        metrics = {
            key: (record.metrics.get(key, []) if job.initial_epoch else [])
            + list(values)
            for key, values in (outcome.metrics or {}).items()
        } or (record.metrics if job.initial_epoch else {})
        previous_rungs = record.rungs if job.initial_epoch else []
        totals = {
            "fit_seconds": (record.fit_seconds or 0.0) + outcome.fit_seconds,
            "wall_seconds": (record.wall_seconds or 0.0) + wall,
        }
        old_checkpoint = self._checkpoint_file(record)
        if outcome.proxies:
            self.store.set_proxies(
                outcome.number, outcome.proxies, outcome.proxy_seconds or {}
            )
        if outcome.status == TrialStatus.COMPLETE:
            entry: dict[str, Any] = {
                "rung": job.rung,
                "epochs": outcome.epochs,
                "objective": outcome.objective,
                # the epoch whose value the objective is (its best so far, or its last)
                "epoch": outcome.best_epoch or outcome.epochs,
            }
            if outcome.pruned:
                entry["pruned"] = True
            if outcome.resident:
                entry["resident"] = True  # continued in memory, not from the checkpoint
            checkpoint = None
            if outcome.checkpoint_saved:
                path = self.layout.checkpoint_path(record.number, outcome.epochs)
                checkpoint = str(path.relative_to(self.directory))
            if not outcome.weights_saved:  # weights of an earlier rung are stale now
                self.weights_path(record.candidate_id).unlink(missing_ok=True)
            stored = self._store_result(
                outcome.number,
                TrialStatus.COMPLETE,
                rung=job.rung if self.scheduler.multi_fidelity else None,
                objective=outcome.objective,
                objective_values=self._objective_values(outcome, metrics, record),
                metrics=metrics,
                params=outcome.params,
                error=None,
                epochs=outcome.epochs,
                rungs=previous_rungs + [entry],
                checkpoint=checkpoint,
                **totals,
            )
            if (
                old_checkpoint is not None
                and str(old_checkpoint.relative_to(self.directory)) != checkpoint
            ):
                old_checkpoint.unlink(missing_ok=True)
            self._prune_weights()
        elif record.rungs and record.objective is not None:
            stored = self._stop_at_last_rung(record, job, outcome, totals)
            if old_checkpoint is not None:
                old_checkpoint.unlink(missing_ok=True)
            self._prune_weights()
        else:
            stored = self._store_result(
                outcome.number,
                TrialStatus.FAILED,
                told_rung=job.rung if self.scheduler.multi_fidelity else None,
                rung=record.rung,
                metrics=metrics,
                params=outcome.params,
                error=outcome.error,
                epochs=outcome.epochs or record.epochs,
                rungs=previous_rungs,
                checkpoint=None,
                **totals,
            )
            if old_checkpoint is not None:
                old_checkpoint.unlink(missing_ok=True)
            self._prune_weights()
        self._prune_checkpoints()
        self._evict_unlikely()
        return stored

    def _stop_at_last_rung(
        self,
        record: TrialRecord,
        job: Job,
        outcome: TrialOutcome,
        totals: dict[str, float],
    ) -> TrialRecord:
        """A promoted job failed (its worker was killed, it timed out, it diverged): the trial
        keeps the result of its last valid rung, marked as stopped there (never promoted again),
        and the failure is told to the searcher at the rung it failed in."""
        rungs = [dict(entry) for entry in record.rungs]
        rungs[-1]["stopped"] = True
        return self._store_result(
            record.number,
            TrialStatus.COMPLETE,
            told_rung=job.rung,
            tell_objective=False,
            rung=record.rung,
            objective=record.objective,
            objective_values=record.objective_values or None,
            metrics=record.metrics,
            params=record.params,
            error=f"stopped at rung {record.rung}: its promotion to rung {job.rung} failed "
            f"({outcome.error})",
            epochs=record.epochs,
            rungs=rungs,
            checkpoint=None,
            **totals,
        )

    def _finish_duplicate(self, record: TrialRecord, earlier: TrialRecord) -> None:
        self._store_result(
            record.number,
            TrialStatus.DUPLICATE,
            objective=earlier.objective,
            params=earlier.params,
            metrics=earlier.metrics,
            objective_values=earlier.objective_values,
            duplicate_of=earlier.number,
            error=earlier.error if earlier.status == TrialStatus.FAILED else None,
        )

    def _store_result(
        self,
        number: int,
        status: TrialStatus,
        told_rung: int | None = None,
        tell_objective: bool = True,
        **fields: Any,
    ) -> TrialRecord:
        """Store a result; the tell is recorded at ``told_rung`` (default: the trial's rung),
        with no objective when ``tell_objective`` is false (a rung that failed)."""
        told = (
            fields.get("objective")
            if status in TOLD_OBJECTIVE and tell_objective
            else None
        )
        rung = told_rung if told_rung is not None else fields.get("rung")
        spent = self._spent()
        self.store.finish_trial(
            number,
            status=status,
            tell=(rung, told),
            meta={"search_seconds": spent} if spent is not None else None,
            **fields,
        )
        if spent is not None:
            self._recorded_at = time.monotonic()
        self.tells += 1
        record = self.store.trial(number)
        self._tell(record, told, rung)
        self._emit("trial_finished", record)
        return record

    def _objective_values(
        self,
        outcome: TrialOutcome,
        metrics: dict[str, list[float]],
        record: TrialRecord,
    ) -> dict[str, float] | None:
        """Every objective's value of a complete multi-objective trial (None otherwise): the
        last epoch's training values, the parameter count Keras reports, the static FLOPs and
        the latency measured in the worker."""
        if not self.config.settings.multi_objective:
            return None
        sources = {
            "params": outcome.params,
            "flops": record.flops,
            "latency_ms": outcome.latency_ms,
        }
        values = {}
        for name in self.config.settings.objective_names:
            value = sources[name] if name in sources else metrics[name][-1]
            if value is not None:
                values[name] = value
        return values

    # ------------------------------------------------------------------ weights
    def pareto_front(self) -> list[TrialRecord]:
        """The complete trials no other complete trial dominates in the study's objectives
        (all of them trained fully), best first by the first objective."""
        return study_pareto_front(self.store, self.config.settings)

    def _kept_candidates(self) -> list[str]:
        kept: list[str] = []
        for trial in self.store.leaderboard(self.direction):
            if trial.candidate_id not in kept:
                kept.append(trial.candidate_id)
            if len(kept) == self.config.keep_weights:
                break
        if self.config.settings.multi_objective and self.config.keep_weights:
            # Every member of the front may be exported (export --pareto), so its weights stay.
            for trial in self.pareto_front():
                if trial.candidate_id not in kept:
                    kept.append(trial.candidate_id)
        return kept

    def _keep_decision(self, epochs: int) -> tuple[float | None, bool]:
        """Whether a job that trains to ``epochs`` should save its weights, and the objective
        it must beat: its result is kept only if it could enter the best ``keep_weights``.
        """
        if self.config.keep_weights == 0:
            return None, False
        if self.config.settings.multi_objective:
            return None, True  # whether it joins the front is known only afterwards
        board = self.store.leaderboard(self.direction)
        if len(board) < self.config.keep_weights:
            return None, True
        last = board[self.config.keep_weights - 1]
        if last.epochs != epochs:
            return None, last.epochs < epochs  # more epochs always rank higher
        return last.objective, True

    def _prune_weights(self) -> None:
        if not self.layout.weights.is_dir():
            return
        # A trial still in flight may have written its weights already (a local worker writes
        # them as it ends; a Dask result's files land when it is collected, with others): its
        # result, stored later, decides whether they stay.
        in_flight = [job.candidate_id for job in self.in_flight.values()]
        keep = {
            self.weights_path(cid).name for cid in self._kept_candidates() + in_flight
        }
        for path in self.layout.weights.iterdir():
            if (
                path.name.endswith(WEIGHTS_SUFFIX)
                and path.name not in keep
                and not path.name.startswith(".tmp-")
            ):
                path.unlink(missing_ok=True)

    def _drop_checkpoints(self) -> None:
        """The search is done (every trial, or the space): a re-run with the same settings has
        nothing to continue, so no checkpoint is needed any more. (A search stopped early, by
        Ctrl-C or its time budget, keeps those of running and promotable trials for its resume;
        a later run with a larger --max-trials trains a promoted trial again from its start.)
        """
        for trial in self.store.trials():
            if trial.checkpoint is not None and trial.status != TrialStatus.RUNNING:
                (self.directory / trial.checkpoint).unlink(missing_ok=True)
                self.store.set_checkpoint(trial.number, None)
        if self.layout.checkpoints.is_dir():
            kept = {t.checkpoint for t in self.store.trials() if t.checkpoint}
            for path in self.layout.checkpoints.iterdir():  # orphans of killed jobs too
                if str(path.relative_to(self.directory)) not in kept and path.is_file():
                    path.unlink(missing_ok=True)

    def _prune_checkpoints(self) -> None:
        """Delete the checkpoints of trials that can no longer be promoted: at most
        ``max_trials // reduction_factor`` trials per rung below the top keep one."""
        trials = self.store.trials()
        for trial in trials:
            if trial.checkpoint is None or trial.status == TrialStatus.RUNNING:
                continue
            if not self.scheduler.promotable(trial, trials, self.config.max_trials):
                (self.directory / trial.checkpoint).unlink(missing_ok=True)
                self.store.set_checkpoint(trial.number, None)

    def _evict_unlikely(self) -> None:
        """Workers drop the models of trials no longer likely to be promoted (resident
        promotion); the rest stay, up to the workers' keep count."""
        held = self.executor.resident()
        if not held:
            return
        trials = self.store.trials()
        by_number = {t.number: t for t in trials}
        self.executor.evict(
            [
                n
                for n in sorted(held)
                if n not in by_number
                or not self.scheduler.likely_promoted(by_number[n], trials)
            ]
        )

    # ------------------------------------------------------------------ listeners
    def _emit(self, event: str, *args: Any) -> None:
        for listener in self.listeners:
            getattr(listener, event)(self, *args)
