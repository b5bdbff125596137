"""``nascompile search``: train a space's candidates and keep the results in a study.

Which setting wins is :func:`nascompiler.search.resolve.resolve_search`'s rule (flags over the
space file over the stored study over the defaults), the same resolver ``HyperKeras.search``
uses; this module reads the inputs, builds the study and runs it."""

from __future__ import annotations

import contextlib
import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import typer

from ..config.settings import (
    DEFAULT_BACKEND,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_KEEP_WEIGHTS,
    DEFAULT_MAX_TRIALS,
    DEFAULT_RESIDENT,
    DEFAULT_SCHEDULER,
    DEFAULT_SEARCHER,
    DEFAULT_SEED,
    DEFAULT_WORKERS,
    search_label,
)
from ..errors import UsageError
from ..search.schedulers import DEFAULT_MIN_EPOCHS, DEFAULT_REDUCTION_FACTOR
from ..storage.layout import StudyLayout
from .common import DEFAULT_ROOT, console

if TYPE_CHECKING:
    from ..config.settings import SearchConfig
    from ..ir import SpaceIR
    from ..run.executor import Executor
    from ..search.study import StudyConfig


def search(
    space_file: Path = typer.Argument(
        ..., help="The space file: search_space(), load_data(), optional TRAINING."
    ),
    study: Optional[str] = typer.Option(
        None, "--study", help="Study name [default: the space file's name]."
    ),
    out: Path = typer.Option(
        DEFAULT_ROOT, "--out", help="Folder that holds the studies."
    ),
    searcher: Optional[str] = typer.Option(
        None,
        "--searcher",
        help="random, grid, evolution (recommended: best on NAS-Bench-201, see README), mcts "
        f"(not recommended), tpe, gp or nsga2 [{DEFAULT_SEARCHER}].",
    ),
    max_trials: Optional[int] = typer.Option(
        None,
        "--max-trials",
        help=f"Trials to run, duplicates not counted [{DEFAULT_MAX_TRIALS}].",
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", help=f"Training epochs per trial [{DEFAULT_EPOCHS}]."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help=f"Training batch size [{DEFAULT_BATCH_SIZE}]."
    ),
    objective: Optional[List[str]] = typer.Option(
        None,
        "--objective",
        help="What to optimise, as name[:max|:min]: a history value [val_<metric>]; repeat it "
        "for a Pareto search, where later ones may also be params, flops or latency_ms.",
    ),
    direction: Optional[str] = typer.Option(
        None, "--direction", help="max or min [from the objective]."
    ),
    score: Optional[str] = typer.Option(
        None,
        "--score",
        help="A trial's score: its best epoch so far, whose weights are kept, or its last "
        "(best or last) [best].",
    ),
    seed: Optional[int] = typer.Option(
        None,
        "--seed",
        help=f"Seed of the searcher and of every trial [{DEFAULT_SEED}].",
    ),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        help=f"Trials run at once, one process each [{DEFAULT_WORKERS}].",
    ),
    keep_weights: Optional[int] = typer.Option(
        None,
        "--keep-weights",
        help=f"Keep the weights of the best N [{DEFAULT_KEEP_WEIGHTS}].",
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="full (every trial trains all epochs), asha, hyperband or median "
        f"[{DEFAULT_SCHEDULER}].",
    ),
    min_epochs: Optional[int] = typer.Option(
        None,
        "--min-epochs",
        help=f"asha/hyperband: epochs of the lowest rung [{DEFAULT_MIN_EPOCHS}].",
    ),
    max_epochs: Optional[int] = typer.Option(
        None,
        "--max-epochs",
        help="Epochs of the highest rung (sets --epochs) [--epochs].",
    ),
    reduction_factor: Optional[int] = typer.Option(
        None,
        "--reduction-factor",
        help=f"asha/hyperband: eta; the top 1/eta of a rung go up [{DEFAULT_REDUCTION_FACTOR}].",
    ),
    resident: Optional[int] = typer.Option(
        None,
        "--resident",
        help="asha/hyperband: trained models each worker keeps in memory so that their "
        f"promotions skip the rebuild and checkpoint reload (0: none) [{DEFAULT_RESIDENT}].",
    ),
    prescreen: Optional[str] = typer.Option(
        None,
        "--prescreen",
        metavar="PROXY:K",
        help="For each trial the searcher proposes K candidates, scored untrained by PROXY "
        "(synflow, naswot, grad_norm, jacob_cov: seconds each in a worker; params, flops: "
        "static); only the best is trained, the others are stored as screened. Measure the "
        "proxies first with `nascompile proxies` [off]. oneshot:K scores them with the "
        "space's weight-sharing supernet, trained once per study.",
    ),
    supernet_epochs: Optional[int] = typer.Option(
        None,
        "--supernet-epochs",
        help="--prescreen oneshot:K: the supernet's training epochs (it needs more than one "
        "candidate does: every path shares them) [the study's epochs].",
    ),
    backend: Optional[str] = typer.Option(
        None,
        "--backend",
        help="Keras backend the workers train on: tensorflow, jax or torch "
        f"[KERAS_BACKEND if set, else {DEFAULT_BACKEND}].",
    ),
    time_budget: Optional[str] = typer.Option(
        None,
        "--time-budget",
        help="Stop starting work after this long (90s, 30m, 2h); running jobs finish.",
    ),
    max_params: Optional[str] = typer.Option(
        None,
        "--max-params",
        help="Never train a candidate with more parameters (50k, 1.5M).",
    ),
    max_flops: Optional[str] = typer.Option(
        None,
        "--max-flops",
        help="Never train a candidate with more FLOPs per sample (2G).",
    ),
    trial_timeout: Optional[str] = typer.Option(
        None,
        "--trial-timeout",
        help="Fail a job that runs longer than this (30m, 2h) [none].",
    ),
    grid_resolution: Optional[int] = typer.Option(
        None,
        "--grid-resolution",
        help="Values per continuous parameter for --searcher grid.",
    ),
    cluster: Optional[str] = typer.Option(
        None,
        "--cluster",
        help="Run trials on Dask: tcp://HOST:PORT (a scheduler) or local:N (N processes here).",
    ),
    ship_data: bool = typer.Option(
        False,
        "--ship-data",
        help="With --cluster: load the data here once and send it to the workers.",
    ),
    allow_new_data: bool = typer.Option(
        False,
        "--allow-new-data",
        help="Resume although load_data() now gives other data (recorded in the study).",
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start the study over (the old one is moved aside)."
    ),
    no_report: bool = typer.Option(
        False, "--no-report", help="Do not write the HTML report at the end."
    ),
    tensorboard: bool = typer.Option(
        False,
        "--tensorboard",
        help="Write each trial's scalars and hyperparameters under <study>/tensorboard/.",
    ),
) -> None:
    """Search a space: train its candidates and keep the results in a study."""
    from ..config.settings import check_study_name
    from ..spacefile import load_space_file

    if cluster is not None:
        # A bad address or a missing extra fails before any work.
        _cluster_address(cluster)
    space = load_space_file(space_file)
    ir = space.compile()
    if not space.has_load_data:
        raise UsageError(
            f"{space_file}: defines no load_data() function; it should return "
            "(x_train, y_train), (x_val, y_val)"
        )
    directory = out / (check_study_name(study) if study is not None else space.stem)
    _check_directory(directory, fresh)
    settings = search_config(
        space_file,
        space.search,
        space.training,
        directory,
        searcher=searcher,
        max_trials=max_trials,
        epochs=epochs,
        batch_size=batch_size,
        objective=objective,
        direction=direction,
        score=score,
        seed=seed,
        workers=workers,
        keep_weights=keep_weights,
        scheduler=scheduler,
        min_epochs=min_epochs,
        max_epochs=max_epochs,
        reduction_factor=reduction_factor,
        resident=resident,
        prescreen=prescreen,
        supernet_epochs=supernet_epochs,
        backend=backend,
        time_budget=time_budget,
        trial_timeout=trial_timeout,
        max_params=max_params,
        max_flops=max_flops,
        grid_resolution=grid_resolution,
        cluster=cluster,
        ship_data=ship_data,
        fresh=fresh,
    )
    config = _study_config(settings, directory, ir, space_file, allow_new_data)
    _check_searcher(config, space_file, space.search)
    executor = _executor(config, directory)
    # Every setting is checked: only now may --fresh move the old study aside (a bad
    # flag must neither move it nor leave an empty study behind).
    if fresh:
        _move_aside(directory)
    _run(config, executor, tensorboard, live_report=not no_report)
    if not no_report:
        _write_report(directory)


def search_config(
    space_file: Path,
    file_search: dict[str, Any] | None,
    file_training: dict[str, Any] | None,
    directory: Path,
    *,
    searcher: str | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    objective: list[str] | None = None,
    direction: str | None = None,
    score: str | None = None,
    seed: int | None = None,
    workers: int | None = None,
    keep_weights: int | None = None,
    scheduler: str | None = None,
    min_epochs: int | None = None,
    max_epochs: int | None = None,
    reduction_factor: int | None = None,
    resident: int | None = None,
    prescreen: str | None = None,
    supernet_epochs: int | None = None,
    backend: str | None = None,
    time_budget: str | None = None,
    trial_timeout: str | None = None,
    max_params: str | None = None,
    max_flops: str | None = None,
    grid_resolution: int | None = None,
    cluster: str | None = None,
    ship_data: bool = False,
    fresh: bool = False,
) -> SearchConfig:
    """The search's settings from the flags (``None``: not given), the space file and the
    study in ``directory`` it resumes (none with ``fresh``), through the one resolver.
    """
    from ..search.resolve import resolve_search, stored_definition

    return resolve_search(
        flags={
            "searcher": searcher,
            "max_trials": max_trials,
            "seed": seed,
            "workers": workers,
            "keep_weights": keep_weights,
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
            "cluster": cluster,
            "ship_data": ship_data or None,
            "searcher_options": (
                {"resolution": grid_resolution} if grid_resolution is not None else None
            ),
        },
        training_flags={
            "epochs": epochs,
            "batch_size": batch_size,
            "objective": objective or None,
            "direction": direction,
            "score": score,
            "backend": backend,
        },
        stored={} if fresh else stored_definition(directory),
        file_search=file_search,
        file_training=file_training,
        training_source=f"{space_file}: TRAINING",
        search_source=f"{space_file}: SEARCH",
    )


def _check_directory(directory: Path, fresh: bool) -> None:
    """Refuse a study another search is running, a file, and a folder that is not a study
    (unless ``--fresh`` is to move it aside)."""
    from ..storage.lock import check_not_running
    from ..storage.store import is_study

    if directory.exists() and not directory.is_dir():
        raise UsageError(
            f"{directory} is a file, not a study folder; choose another --study or --out"
        )
    check_not_running(directory)  # before --fresh moves a running study aside
    if not fresh and directory.exists() and not is_study(directory):
        if any(directory.iterdir()):
            raise UsageError(
                f"{directory} exists and is not a study; choose another --study or --out"
            )


def _move_aside(directory: Path) -> None:
    """``--fresh``: move the old study aside (never delete it)."""
    from ..search.study import fresh_directory
    from ..storage.lock import check_not_running

    check_not_running(directory)
    moved = fresh_directory(directory)
    if moved is not None:
        console.print(f"Moved the previous study to {moved}", markup=False)


def _check_searcher(
    config: StudyConfig, space_file: Path, file_search: dict[str, Any] | None
) -> None:
    """The searcher's options, checked as the study will when it starts, but before the study
    folder is made or moved: a bad setting must leave no empty study behind (it would become
    the most recently used one). The resolver checked the scheduler already."""
    from ..search.searchers import make_searcher

    try:
        make_searcher(
            config.searcher,
            config.space,
            seed=config.seed,
            directions=config.settings.directions,
            **config.searcher_options,
        )
    except UsageError as exc:
        text = str(exc)
        key = "searcher_options" if config.searcher_options else "searcher"
        if "--" in text or "SEARCH[" in text or key not in (file_search or {}):
            raise
        raise UsageError(
            f"{search_label(key, f'{space_file}: SEARCH')}: {text}"
        ) from exc


def _study_config(
    settings: SearchConfig,
    directory: Path,
    ir: SpaceIR,
    space_file: Path,
    allow_new_data: bool,
) -> StudyConfig:
    """The study of the resolved settings on this space file's space and data."""
    from ..run.data import SpaceFileData
    from ..search.study import StudyConfig

    return StudyConfig.of(
        settings,
        directory=directory,
        space=ir,
        data=SpaceFileData(str(space_file)),
        space_file=str(space_file),
        allow_new_data=allow_new_data,
    )


def _executor(config: StudyConfig, directory: Path) -> Executor | None:
    """A Dask executor when a cluster was chosen, else ``None`` (the study's local one)."""
    if config.cluster is None:
        return None
    from ..run.dask_executor import DaskExecutor

    return DaskExecutor(
        config.data,
        config.settings.to_json(),
        _cluster_address(config.cluster),
        ship_data=config.ship_data,
        notify=lambda text: console.print(text, markup=False),
        log_dir=StudyLayout(directory).logs,
    )


def _run(
    config: StudyConfig,
    executor: Executor | None,
    tensorboard: bool,
    live_report: bool = False,
) -> None:
    """Run the study with the console's progress display; Ctrl-C ends it with exit code 130
    after saying what was kept."""
    from ..search.console import ConsoleReporter
    from ..search.study import Study

    directory = config.directory
    reporter = ConsoleReporter(console)
    listeners: list[Any] = [reporter]
    if tensorboard:
        from ..report.tensorboard import TensorBoardWriter

        listeners.append(TensorBoardWriter(directory))
    live = None
    if live_report:  # the report, rewritten as jobs finish (report/live.py)
        from ..report.live import LiveReport

        live = LiveReport()
        listeners.append(live)
    runner = Study(config, listeners=listeners, executor=executor)
    terminated: list[bool] = []
    try:
        with _sigterm_as_interrupt(terminated):
            runner.run()
    except KeyboardInterrupt:
        reporter.stop()
        if live is not None and live.writes:
            _write_report(directory)  # the final page: it stops reloading itself
        counts = runner.store.counts()
        console.print(
            f"\n{'Terminated (SIGTERM)' if terminated else 'Interrupted'}. {StudyLayout(directory).database} keeps {counts['complete']} complete, {counts['failed']} failed "
            f"and {counts['duplicate']} duplicate trial(s); {len(runner.in_flight)} running trial(s) will run again "
            f"when you re-run this command."
        )
        raise SystemExit(130) from None
    _print_summary(runner.store, config.settings, directory)
    if tensorboard:
        console.print(
            "TensorBoard logs: tensorboard --logdir "
            + shlex.quote(str(StudyLayout(directory).tensorboard)),
            markup=False,
            soft_wrap=True,
        )


@contextlib.contextmanager
def _sigterm_as_interrupt(terminated: list[bool]) -> Iterator[None]:
    """SIGTERM (``kill``, a scheduler's stop) ends the search as Ctrl-C does: no new work, the
    time spent and the results so far stored, the summary printed, exit code 130."""

    def handler(signum: int, frame: Any) -> None:
        terminated.append(True)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (the Python API in a thread): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _write_report(directory: Path) -> None:
    """The search's last step: write or refresh the HTML report. Without the ``report`` extra
    the search still succeeds; it says in one line what to install."""
    from ..fileio import FileRefused
    from ..report import ReportUnavailable, write_report

    try:
        path = write_report(directory)
    except (ReportUnavailable, FileRefused) as exc:
        console.print(f"No HTML report: {exc}", markup=False, soft_wrap=True)
        return
    console.print(f"Report: {path}", markup=False, soft_wrap=True)


def _cluster_address(value: Any) -> Any:
    from ..run.dask_executor import parse_cluster, require_distributed

    if not isinstance(value, str):
        raise UsageError(
            f"the cluster must be an address such as 'tcp://HOST:8786' or 'local:2', got {value!r}"
        )
    address = parse_cluster(value)
    require_distributed()
    return address


def _print_summary(store: Any, settings: Any, directory: Path) -> None:
    from ..search.console import failures_table, leaderboard_table

    board = store.leaderboard(settings.direction)
    failed = store.trials("failed")
    counts = store.counts()
    if board:
        console.print(leaderboard_table(board, settings.objective))
    if failed:
        console.print(failures_table(failed))
    rejected = (
        f", {counts['over_budget']} over budget (not trained)"
        if counts["over_budget"]
        else ""
    ) + (
        f", {counts['screened']} screened out by a proxy (not trained)"
        if counts["screened"]
        else ""
    )
    console.print(
        f"{counts['complete']} complete, {counts['failed']} failed, {counts['duplicate']} duplicate "
        f"trial(s){rejected} in {directory}."
    )
    if board and settings.multi_objective:
        from ..search.console import pareto_table
        from ..storage.pareto import study_pareto_front

        front = study_pareto_front(store, settings)
        console.print(
            pareto_table(front, settings.objective_names, settings.directions)
        )
        console.print(
            "Export the front with:  nascompile export --pareto "
            f"{shlex.quote(directory.name + '_pareto')} --study {shlex.quote(str(directory))}",
            markup=False,
            soft_wrap=True,
        )
    elif board:
        console.print(
            "Export the winner with:  nascompile export --best --study "
            f"{shlex.quote(str(directory))}",
            markup=False,
            soft_wrap=True,
        )
