"""``HyperKeras``: the seed-compatible Python API over the same study as ``nascompile search``.

>>> from nascompiler import HyperKeras
>>> from nascompiler.searchers import RandomSearcher
>>> hk = HyperKeras(RandomSearcher(space_fn, optimize_direction="max"), optimizer="adam",
...                 loss="sparse_categorical_crossentropy", metrics=["accuracy"])   # doctest: +SKIP
>>> hk.search(x, y, x_val, y_val, max_trials=10, epochs=2)                           # doctest: +SKIP
>>> hk.get_best_trial().module_path                                                  # doctest: +SKIP

Every candidate is emitted, written to the study's ``candidates/`` folder and trained from
that file in a worker process; the arrays given to :meth:`HyperKeras.search` are saved in the
study folder for the workers to read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .config.settings import DEFAULT_API_EPOCHS, SearchConfig, argument_name
from .deliver.export import Exported, export_trial
from .errors import UsageError
from .run.data import Dataset, save_arrays
from .search.events import StudyListener
from .search.resolve import resolve_search, stored_definition
from .search.study import Study, StudyConfig
from .searchers import SearcherSpec
from .storage.layout import StudyLayout
from .storage.store import TrialRecord


@dataclass(frozen=True)
class Trial:
    """A finished trial: what was tried, how it scored, and where its module is."""

    number: int
    candidate_id: str
    assignment: dict[str, Any]
    reward: float | None
    status: str
    metrics: dict[str, list[float]]
    params: int | None
    module_path: Path
    weights_path: Path | None
    rewards: dict[str, float] = field(default_factory=dict)  # every objective, by name

    @property
    def space_sample(self) -> dict[str, Any]:
        """Hypernets' name for the assignment."""
        return self.assignment


class HyperKeras:
    """Searches a space with a searcher and Keras training settings.

    ``reward_metric`` (Hypernets' spelling) picks the objective: ``"accuracy"`` means
    ``val_accuracy``. Studies go to ``out/<study>``; by default each :meth:`search` call starts
    a new study named ``hyperkeras-<date>-<time>``; give ``study=`` to resume one.
    ``cluster="tcp://HOST:PORT"`` or ``"local:N"`` trains on Dask instead of ``workers``
    processes here (``pip install "nascompiler[dask]"``). What the study says (why the search
    stopped, say) goes to ``printer``; after the search the HTML report is written into the
    study folder (``report_path``) unless ``report=False`` or plotly is not installed.

    A setting left ``None`` here or in :meth:`search` is not given: a resumed study keeps what
    it stored, a new one gets the default (``DEFAULT_*`` in :mod:`nascompiler.config.settings`:
    ``adam``, ``sparse_categorical_crossentropy``, ``["accuracy"]``, 1 worker, the weights of
    the best 3 kept). The settings are resolved exactly as ``nascompile search`` resolves its
    flags (:func:`nascompiler.search.resolve.resolve_search`).
    """

    def __init__(
        self,
        searcher: SearcherSpec,
        optimizer: Any = None,
        loss: Any = None,
        metrics: Iterable[str] | None = None,
        callbacks: Iterable[StudyListener] = (),
        reward_metric: str | None = None,
        study: str | None = None,
        out: str | Path = "generated",
        workers: int | None = None,
        keep_weights: int | None = None,
        cluster: str | None = None,
        report: bool = True,
        printer: Any = print,
    ):
        if not isinstance(searcher, SearcherSpec):
            raise UsageError(
                "searcher must come from nascompiler.searchers, e.g. RandomSearcher(space_fn)"
            )
        self.searcher = searcher
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = list(metrics) if metrics is not None else None
        self.callbacks = list(callbacks)
        self.reward_metric = reward_metric
        self.study_name = study
        self.out = Path(out)
        self.workers = workers
        self.keep_weights = keep_weights
        self.report = report
        self.printer = printer
        self.report_path: Path | None = None
        self.cluster = cluster
        if cluster is not None:  # checked now: a bad address fails before any training
            from .run.dask_executor import parse_cluster, require_distributed

            parse_cluster(cluster)
            require_distributed()
        self.study: Study | None = None

    def search(
        self,
        x: Any,
        y: Any,
        x_val: Any,
        y_val: Any,
        max_trials: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        scheduler: str | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = None,
        reduction_factor: int | None = None,
        time_budget: float | str | None = None,
        trial_timeout: float | str | None = None,
        max_params: int | str | None = None,
        max_flops: int | str | None = None,
        objectives: Iterable[str] | None = None,
        score: str | None = None,
        backend: str | None = None,
        resident: int | None = None,
        prescreen: str | None = None,
        supernet_epochs: int | None = None,
        **unused: Any,
    ) -> "HyperKeras":
        """Run the search (or resume it, for a named study) until ``max_trials`` trials are
        done (default 10; a new study trains ``epochs=1`` by default, like ``keras.Model.fit``).

        ``scheduler`` is ``"full"`` (every trial trains ``epochs``), ``"asha"``, ``"hyperband"``
        (rungs from ``min_epochs`` to ``max_epochs``, which is the ``epochs`` setting: give one
        of them, or the same number) or ``"median"``; ``time_budget`` (seconds, or text such as
        ``"30m"``) stops starting work when it is spent. ``objectives`` (e.g.
        ``["val_accuracy:max", "params:min"]``, with an ``NSGA2Searcher`` or a
        ``RandomSearcher``) makes it a Pareto search: see :meth:`pareto_front`. ``score`` is
        ``"best"`` (a trial scores its best epoch and keeps that epoch's weights; the default
        for one objective) or ``"last"``. ``backend`` (``"tensorflow"``, ``"jax"`` or
        ``"torch"``) is the Keras backend the workers train on (default: ``KERAS_BACKEND`` if
        set, else the package's default); ``resident`` is how many trained models each worker
        keeps in memory for their promotions (default 2; 0: none). ``prescreen``
        (``"PROXY:K"``, e.g. ``"naswot:3"``) proposes K candidates per trial, scores them
        untrained with the zero-cost proxy (or ``params``/``flops``) and trains only the best;
        the others are stored as ``screened``; ``"oneshot:K"`` scores them with the space's
        weight-sharing supernet, trained for ``supernet_epochs`` (default: ``epochs``).
        """
        if unused:
            raise UsageError(
                f"search() got unsupported argument(s): {', '.join(sorted(unused))}"
            )
        name = self.study_name or time.strftime("hyperkeras-%Y%m%d-%H%M%S")
        directory = self.out / name
        settings = self.search_config(
            directory,
            max_trials=max_trials,
            epochs=epochs,
            batch_size=batch_size,
            scheduler=scheduler,
            min_epochs=min_epochs,
            max_epochs=max_epochs,
            reduction_factor=reduction_factor,
            time_budget=time_budget,
            trial_timeout=trial_timeout,
            max_params=max_params,
            max_flops=max_flops,
            objectives=objectives,
            score=score,
            backend=backend,
            resident=resident,
            prescreen=prescreen,
            supernet_epochs=supernet_epochs,
        )
        space = self.searcher.compile()
        data = save_arrays(
            StudyLayout(directory).data, Dataset.from_arrays(x, y, x_val, y_val)
        )
        config = StudyConfig.of(settings, directory=directory, space=space, data=data)
        executor = None
        if config.cluster is not None:
            from .run.dask_executor import DaskExecutor, parse_cluster

            # The arrays were saved in the study folder, which workers cannot see: the
            # executor ships them.
            executor = DaskExecutor(
                data, config.settings.to_json(), parse_cluster(config.cluster)
            )
        listeners = [*self.callbacks, _Messages(self.printer)]
        self.study = Study(config, listeners=listeners, executor=executor)
        self.study.run()
        if self.report:
            self.report_path = _write_report(directory, self.printer)
        return self

    def search_config(
        self,
        directory: str | Path,
        *,
        max_trials: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        scheduler: str | None = None,
        min_epochs: int | None = None,
        max_epochs: int | None = None,
        reduction_factor: int | None = None,
        time_budget: float | str | None = None,
        trial_timeout: float | str | None = None,
        max_params: int | str | None = None,
        max_flops: int | str | None = None,
        objectives: Iterable[str] | None = None,
        score: str | None = None,
        backend: str | None = None,
        resident: int | None = None,
        prescreen: str | None = None,
        supernet_epochs: int | None = None,
    ) -> SearchConfig:
        """The settings :meth:`search` runs the study in ``directory`` with: these arguments
        and the constructor's over what the study stored (if it exists) over the defaults,
        through the same resolver as ``nascompile search``; errors name the arguments.
        """
        objective: Any = None
        if self.reward_metric:
            objective = (
                self.reward_metric
                if self.reward_metric.startswith("val_")
                else f"val_{self.reward_metric}"
            )
        direction: str | None = self.searcher.optimize_direction
        if objectives is not None:
            objective = (
                [objectives] if isinstance(objectives, str) else list(objectives)
            )
            direction = None
            if not objective:
                raise UsageError(
                    "objectives needs at least one name, e.g. ['val_accuracy']"
                )
        return resolve_search(
            flags={
                "searcher": self.searcher.name,
                "searcher_options": dict(self.searcher.options),
                "seed": self.searcher.seed,
                "max_trials": max_trials,
                "workers": self.workers,
                "keep_weights": self.keep_weights,
                "scheduler": scheduler,
                "min_epochs": min_epochs,
                "max_epochs": max_epochs,
                "reduction_factor": reduction_factor,
                "resident": resident,
                "prescreen": prescreen,
                "supernet_epochs": supernet_epochs,
                "time_budget": time_budget,
                "trial_timeout": trial_timeout,
                "max_params": max_params,
                "max_flops": max_flops,
                "cluster": self.cluster,
            },
            training_flags={
                "optimizer": self.optimizer,
                "loss": self.loss,
                "metrics": self.metrics,
                "epochs": epochs,
                "batch_size": batch_size,
                "objective": objective,
                "direction": direction,
                "score": score,
                "backend": backend,
            },
            stored=stored_definition(Path(directory)),
            training_source="HyperKeras",
            name=argument_name,
            default_epochs=DEFAULT_API_EPOCHS,
        )

    def _require_study(self) -> Study:
        if self.study is None:
            raise UsageError("call search() first")
        return self.study

    def get_best_trial(self) -> Trial | None:
        """The best complete trial, or ``None`` if no trial completed."""
        best = self._require_study().best()
        return None if best is None else self._trial(best)

    def pareto_front(self) -> list[Trial]:
        """The trials no other trial beats in every objective, best first by the first
        objective (a single-objective study's front is its best trial)."""
        study = self._require_study()
        return [self._trial(t) for t in study.pareto_front()]

    def trials(self) -> list[Trial]:
        """Every trial of the study, in order."""
        return [self._trial(t) for t in self._require_study().store.trials()]

    def _trial(self, record: TrialRecord) -> Trial:
        study = self._require_study()
        weights = (
            study.weights_path(record.candidate_id) if record.candidate_id else None
        )
        return Trial(
            number=record.number,
            candidate_id=record.candidate_id,
            assignment=dict(record.assignment),
            reward=record.objective,
            rewards=dict(record.objective_values),
            status=record.status,
            metrics=dict(record.metrics),
            params=record.params,
            module_path=study.candidate_path(record.candidate_id),
            weights_path=weights if weights is not None and weights.exists() else None,
        )

    def export_best(
        self, path: str | Path = "best_model.py", force: bool = False
    ) -> Exported:
        """Write the best trial as a standalone module at ``path`` and its weights beside it."""
        study = self._require_study()
        best = study.best()
        if best is None:
            raise UsageError("no trial completed; nothing to export")
        return export_trial(study.store, best, Path(path), force=force)


class _Messages(StudyListener):
    """What the study says to its user (why the search stopped, a searcher that ran out of
    candidates, a worker replaced), printed as the command line prints it."""

    def __init__(self, printer: Any):
        self.printer = printer

    def message(self, study: Any, text: str) -> None:
        self.printer(text)


def _write_report(directory: Path, printer: Any) -> Path | None:
    """The study's HTML report, as ``nascompile search`` writes it, when plotly is installed
    (the ``report`` extra); otherwise nothing, said in one line."""
    from .report import ReportUnavailable, write_report

    try:
        path = write_report(directory)
    except ReportUnavailable as exc:
        printer(f"No HTML report: {exc}")
        return None
    printer(f"Report: {path}")
    return Path(path)
