"""``nascompile search``: train a space's candidates and keep the results in a study.

Which setting wins is :func:`nascompiler.config.settings.resolve_search`'s rule (flags over the
space file over the stored study over the defaults); this module reads the inputs, builds the
study and runs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer

from ..config.settings import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS
from ..errors import UsageError
from ..storage.layout import StudyLayout
from .common import DEFAULT_ROOT, console

if TYPE_CHECKING:
    from ..config.settings import SearchSettings
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
        help="random, grid, evolution, mcts, tpe, gp or nsga2 [random].",
    ),
    max_trials: Optional[int] = typer.Option(
        None, "--max-trials", help="Trials to run, duplicates not counted [10]."
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
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed of the searcher and of every trial [0]."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Trials run at once, one process each [1]."
    ),
    keep_weights: Optional[int] = typer.Option(
        None, "--keep-weights", help="Keep the weights of the best N [3]."
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="full (every trial trains all epochs), asha, hyperband or median [full].",
    ),
    min_epochs: Optional[int] = typer.Option(
        None, "--min-epochs", help="asha/hyperband: epochs of the lowest rung [1]."
    ),
    max_epochs: Optional[int] = typer.Option(
        None,
        "--max-epochs",
        help="Epochs of the highest rung (sets --epochs) [--epochs].",
    ),
    reduction_factor: Optional[int] = typer.Option(
        None,
        "--reduction-factor",
        help="asha/hyperband: eta; the top 1/eta of a rung go up [3].",
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
    from ..config.settings import check_study_name, resolve_search
    from ..spacefile import load_space_file

    if cluster is not None and workers is not None:
        raise UsageError(
            "give --workers (processes on this machine) or --cluster, not both"
        )
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
    _prepare_directory(directory, fresh)
    stored = _stored_definition(directory)
    flags = {
        "searcher": searcher,
        "max_trials": max_trials,
        "seed": seed,
        "workers": workers,
        "keep_weights": keep_weights,
        "scheduler": scheduler,
        "min_epochs": min_epochs,
        "max_epochs": max_epochs,
        "reduction_factor": reduction_factor,
        "time_budget": time_budget,
        "trial_timeout": trial_timeout,
        "max_params": max_params,
        "max_flops": max_flops,
        "cluster": cluster,
        "ship_data": ship_data or None,
        "searcher_options": (
            {"resolution": grid_resolution} if grid_resolution is not None else None
        ),
    }
    resolved = resolve_search(
        flags=flags,
        training_flags={
            "epochs": epochs,
            "batch_size": batch_size,
            "objective": objective or None,
            "direction": direction,
        },
        stored=stored,
        file_search=space.search,
        file_training=space.training,
        training_source=f"{space_file}: TRAINING",
    )
    config = _study_config(resolved, directory, ir, space_file, allow_new_data)
    executor = _executor(resolved, config, directory, space_file, ship_data)
    _run(config, executor, tensorboard, live_report=not no_report)
    if not no_report:
        _write_report(directory)


def _prepare_directory(directory: Path, fresh: bool) -> None:
    """Refuse a study another search is running and a folder that is not a study; with
    ``--fresh``, move the old study aside."""
    from ..search.study import fresh_directory
    from ..storage.lock import check_not_running
    from ..storage.store import is_study

    check_not_running(directory)  # before --fresh moves a running study aside
    if fresh:
        moved = fresh_directory(directory)
        if moved is not None:
            console.print(f"Moved the previous study to {moved}")
    elif directory.exists() and not is_study(directory):
        if any(directory.iterdir()):
            raise UsageError(
                f"{directory} exists and is not a study; choose another --study or --out"
            )


def _stored_definition(directory: Path) -> dict[str, Any]:
    """What the study in ``directory`` stored of its definition (empty for a new study)."""
    from ..config.settings import STUDY_META_KEYS
    from ..storage.store import Store, is_study

    if not is_study(directory):
        return {}
    with Store(directory) as store:
        return {key: store.get_meta(key) for key in STUDY_META_KEYS}


def _study_config(
    resolved: SearchSettings,
    directory: Path,
    ir: SpaceIR,
    space_file: Path,
    allow_new_data: bool,
) -> StudyConfig:
    """The study's configuration from the resolved settings, durations and counts parsed."""
    from ..ir.cost import parse_count
    from ..run.data import SpaceFileData
    from ..search.study import StudyConfig, parse_duration

    chosen = resolved.options

    def parsed(key: str, parse: Any, flag: str | None = None) -> Any:
        value = chosen[key]
        if value is None:
            return None
        return parse(value) if flag is None else parse(value, flag)

    return StudyConfig(
        directory=directory,
        space=ir,
        data=SpaceFileData(str(space_file)),
        settings=resolved.training,
        max_trials=chosen["max_trials"],
        searcher=chosen["searcher"],
        searcher_options=dict(chosen["searcher_options"]),
        seed=chosen["seed"],
        workers=chosen["workers"],
        keep_weights=chosen["keep_weights"],
        space_file=str(space_file),
        scheduler=chosen["scheduler"],
        min_epochs=chosen["min_epochs"],
        max_epochs=chosen["max_epochs"],
        reduction_factor=chosen["reduction_factor"],
        time_budget=parsed("time_budget", parse_duration),
        trial_timeout=parsed("trial_timeout", parse_duration, "--trial-timeout"),
        allow_new_data=allow_new_data,
        max_params=parsed("max_params", parse_count, "--max-params"),
        max_flops=parsed("max_flops", parse_count, "--max-flops"),
    )


def _executor(
    resolved: SearchSettings,
    config: StudyConfig,
    directory: Path,
    space_file: Path,
    ship_data_flag: bool,
) -> Executor | None:
    """A Dask executor when a cluster was chosen, else ``None`` (the study's local one)."""
    chosen = resolved.options
    if chosen["cluster"] is None:
        if ship_data_flag:
            raise UsageError(
                "--ship-data goes with --cluster (there is no cluster to send the data to)"
            )
        return None
    from ..run.dask_executor import DaskExecutor

    if not isinstance(chosen["ship_data"], bool):
        raise UsageError(f"{space_file}: SEARCH['ship_data'] must be True or False")
    return DaskExecutor(
        config.data,
        resolved.training.to_json(),
        _cluster_address(chosen["cluster"]),
        ship_data=chosen["ship_data"],
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
    try:
        runner.run()
    except KeyboardInterrupt:
        reporter.stop()
        if live is not None and live.writes:
            _write_report(directory)  # the final page: it stops reloading itself
        counts = runner.store.counts()
        console.print(
            f"\nInterrupted. {StudyLayout(directory).database} keeps {counts['complete']} complete, {counts['failed']} failed "
            f"and {counts['duplicate']} duplicate trial(s); {len(runner.in_flight)} running trial(s) will run again "
            f"when you re-run this command."
        )
        raise SystemExit(130) from None
    _print_summary(runner.store, config.settings, directory)
    if tensorboard:
        console.print(
            f"TensorBoard logs: tensorboard --logdir {StudyLayout(directory).tensorboard}",
            markup=False,
            soft_wrap=True,
        )


def _write_report(directory: Path) -> None:
    """The search's last step: write or refresh the HTML report. Without the ``report`` extra
    the search still succeeds; it says in one line what to install."""
    from ..report import ReportUnavailable, write_report

    try:
        path = write_report(directory)
    except ReportUnavailable as exc:
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
            f"Export the front with:  nascompile export --pareto {directory.name}_pareto "
            f"--study {directory}"
        )
    elif board:
        console.print(
            f"Export the winner with:  nascompile export --best --study {directory}"
        )
