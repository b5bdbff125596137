"""``nascompile search``, ``export`` and ``trials``: the search commands of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from .cli import app, console
from .errors import UsageError
from .search.layout import StudyLayout
from .search.settings import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS

DEFAULT_ROOT = Path("generated")
SEARCH_KEYS = (
    "searcher",
    "max_trials",
    "seed",
    "workers",
    "keep_weights",
    "searcher_options",
    "scheduler",
    "min_epochs",
    "max_epochs",
    "reduction_factor",
    "time_budget",
    "trial_timeout",
    "max_params",
    "max_flops",
    "cluster",
    "ship_data",
)
SEARCH_DEFAULTS: dict[str, Any] = {
    "searcher": "random",
    "max_trials": 10,
    "seed": 0,
    "workers": 1,
    "keep_weights": 3,
    "searcher_options": {},
    "scheduler": "full",
    "min_epochs": None,
    "max_epochs": None,
    "reduction_factor": None,
    "time_budget": None,
    "trial_timeout": None,
    "max_params": None,
    "max_flops": None,
    "cluster": None,
    "ship_data": False,
}


@app.command()
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
    from .search.console import ConsoleReporter
    from .search.data import SpaceFileData
    from .search.lock import check_not_running
    from .search.settings import (
        TrainingSettings,
        check_search_values,
        check_study_name,
        stored_training,
    )
    from .search.store import Store, is_study
    from .ir.cost import parse_count
    from .search.study import Study, StudyConfig, fresh_directory, parse_duration
    from .spacefile import load_space_file

    if cluster is not None and workers is not None:
        raise UsageError(
            "give --workers (processes on this machine) or --cluster, not both"
        )
    if cluster is not None:
        _cluster_address(
            cluster
        )  # a bad address or a missing extra fails before any work
    space = load_space_file(space_file)
    ir = space.compile()
    if not space.has_load_data:
        raise UsageError(
            f"{space_file}: defines no load_data() function; it should return "
            "(x_train, y_train), (x_val, y_val)"
        )
    directory = out / (check_study_name(study) if study is not None else space.stem)
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

    stored_settings: dict[str, Any] = {}
    stored_search: dict[str, Any] = {}
    if is_study(directory):
        with Store(directory) as store:
            stored_settings = stored_training(store.get_meta("settings"))
            stored_search = {
                k: store.get_meta(k)
                for k in ("searcher", "seed", "searcher_options")
                if store.get_meta(k) is not None
            }
            stored_search.update(_stored_scheduler(store.get_meta("scheduler")))
    file_search = _search_dict(space)
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
    }
    if grid_resolution is not None:
        flags["searcher_options"] = {"resolution": grid_resolution}
    given = {k: v for k, v in flags.items() if v is not None}
    check_search_values(given)
    chosen = {**SEARCH_DEFAULTS, **stored_search, **file_search, **given}
    if chosen["max_epochs"] is not None:
        # The highest rung is the full training: --max-epochs is the epochs setting.
        if epochs is not None and epochs != chosen["max_epochs"]:
            raise UsageError(
                f"--epochs {epochs} and --max-epochs {chosen['max_epochs']} disagree; give one of them"
            )
        epochs = chosen["max_epochs"]
    settings = TrainingSettings.resolve(
        {**stored_settings, **space.training},
        source=f"{space_file}: TRAINING",
        epochs=epochs,
        batch_size=batch_size,
        objective=objective or None,
        direction=direction,
    )
    config = StudyConfig(
        directory=directory,
        space=ir,
        data=SpaceFileData(str(space_file)),
        settings=settings,
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
        time_budget=(
            parse_duration(chosen["time_budget"])
            if chosen["time_budget"] is not None
            else None
        ),
        trial_timeout=(
            parse_duration(chosen["trial_timeout"], "--trial-timeout")
            if chosen["trial_timeout"] is not None
            else None
        ),
        allow_new_data=allow_new_data,
        max_params=(
            parse_count(chosen["max_params"], "--max-params")
            if chosen["max_params"] is not None
            else None
        ),
        max_flops=(
            parse_count(chosen["max_flops"], "--max-flops")
            if chosen["max_flops"] is not None
            else None
        ),
    )
    reporter = ConsoleReporter(console)
    executor = None
    if chosen["cluster"] is not None:
        from .search.dask_executor import DaskExecutor

        if not isinstance(chosen["ship_data"], bool):
            raise UsageError(f"{space_file}: SEARCH['ship_data'] must be True or False")
        executor = DaskExecutor(
            config.data,
            settings.to_json(),
            _cluster_address(chosen["cluster"]),
            ship_data=chosen["ship_data"],
            notify=lambda text: console.print(text, markup=False),
            log_dir=StudyLayout(directory).logs,
        )
    elif ship_data:
        raise UsageError(
            "--ship-data goes with --cluster (there is no cluster to send the data to)"
        )
    listeners: list[Any] = [reporter]
    if tensorboard:
        from .report.tensorboard import TensorBoardWriter

        listeners.append(TensorBoardWriter(directory))
    runner = Study(config, listeners=listeners, executor=executor)
    try:
        runner.run()
    except KeyboardInterrupt:
        reporter.stop()
        counts = runner.store.counts()
        console.print(
            f"\nInterrupted. {StudyLayout(directory).database} keeps {counts['complete']} complete, {counts['failed']} failed "
            f"and {counts['duplicate']} duplicate trial(s); {len(runner.in_flight)} running trial(s) will run again "
            f"when you re-run this command."
        )
        raise SystemExit(130) from None
    _print_summary(runner.store, settings, directory)
    if tensorboard:
        console.print(
            f"TensorBoard logs: tensorboard --logdir {StudyLayout(directory).tensorboard}",
            markup=False,
            soft_wrap=True,
        )
    if not no_report:
        _write_report(directory)


def _write_report(directory: Path) -> None:
    """The search's last step: write or refresh the HTML report. Without the ``report`` extra
    the search still succeeds; it says in one line what to install."""
    from .report import ReportUnavailable, write_report

    try:
        path = write_report(directory)
    except ReportUnavailable as exc:
        console.print(f"No HTML report: {exc}", markup=False, soft_wrap=True)
        return
    console.print(f"Report: {path}", markup=False, soft_wrap=True)


def _stored_scheduler(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The scheduler options a study was created with, as SEARCH keys (so that re-running
    the command without them resumes it)."""
    if not stored:
        return {}
    name = stored["name"]
    options: dict[str, Any] = {"scheduler": name}
    if name in ("asha", "hyperband"):
        options.update(
            min_epochs=stored["rungs"][0],
            max_epochs=stored["rungs"][-1],
            reduction_factor=stored["reduction_factor"],
        )
    return options


def _cluster_address(value: Any) -> Any:
    from .search.dask_executor import parse_cluster, require_distributed

    if not isinstance(value, str):
        raise UsageError(
            f"the cluster must be an address such as 'tcp://HOST:8786' or 'local:2', got {value!r}"
        )
    address = parse_cluster(value)
    require_distributed()
    return address


def _search_dict(space: Any) -> dict[str, Any]:
    value = getattr(space.module, "SEARCH", None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{space.path}: SEARCH must be a dict")
    unknown = set(value) - set(SEARCH_KEYS)
    if unknown:
        raise UsageError(
            f"{space.path}: SEARCH has unknown key(s) {', '.join(sorted(unknown))}; known keys are "
            f"{', '.join(SEARCH_KEYS)}"
        )
    from .search.settings import check_search_values

    check_search_values(value, f"{space.path}: SEARCH")
    return dict(value)


def _print_summary(store: Any, settings: Any, directory: Path) -> None:
    from .search.console import failures_table, leaderboard_table

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
        from .search.console import pareto_table
        from .search.pareto import study_pareto_front

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


def _study_directory(study: Optional[Path]) -> Path:
    from .search.store import is_study, latest_study

    if study is None:
        found = latest_study(DEFAULT_ROOT)
        if found is None:
            raise UsageError(
                f"no study under {DEFAULT_ROOT}/; run nascompile search first, or pass --study"
            )
        return found
    if is_study(study):
        return study
    if is_study(DEFAULT_ROOT / study):
        return DEFAULT_ROOT / study
    raise UsageError(f"{study} is not a study (no study.db in it)")


@app.command()
def export(
    best: bool = typer.Option(
        False, "--best", help="Export the best trial (the default)."
    ),
    trial: Optional[int] = typer.Option(None, "--trial", help="Export trial number N."),
    candidate: Optional[str] = typer.Option(
        None, "--candidate", help="Export the candidate with this id."
    ),
    study: Optional[Path] = typer.Option(
        None, "--study", help="Study folder [default: the most recently used]."
    ),
    out: Path = typer.Option(
        Path("best_model.py"),
        "--out",
        help="Module to write; its weights, test and other files go beside it.",
    ),
    no_test: bool = typer.Option(
        False, "--no-test", help="Do not write the golden test (test_<name>.py)."
    ),
    with_training: bool = typer.Option(
        False,
        "--with-training",
        help="Also write train_<name>.py, the search's training recipe.",
    ),
    data: Optional[Path] = typer.Option(
        None,
        "--data",
        help="Space file whose load_data() gives the data (golden inputs; imported by the "
        "training script) [the study's space file; the script imports my_data].",
    ),
    formats: Optional[list[str]] = typer.Option(
        None,
        "--format",
        help="Also write the model as keras, savedmodel, tflite or onnx (repeatable); each is "
        "checked against the Keras model.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Overwrite (or delete) files beside --out that nascompile export did not write.",
    ),
    pareto: Optional[Path] = typer.Option(
        None,
        "--pareto",
        help="Export every member of a multi-objective study's Pareto front into this folder "
        "(pareto_1.py, pareto_2.py, ... and pareto.json).",
    ),
) -> None:
    """Write a trained candidate as a standalone module, with its weights, golden test and
    (on request) training script and deployment formats beside it."""
    from .search.export import choose_trial, export_pareto, export_trial
    from .search.store import Store

    if sum([best, trial is not None, candidate is not None, pareto is not None]) > 1:
        raise UsageError(
            "give one of --best, --trial N, --candidate ID and --pareto DIR"
        )
    with Store(_study_directory(study)) as store:
        if pareto is not None:
            front = export_pareto(
                store,
                pareto,
                force=force,
                test=not no_test,
                training=with_training,
                data_file=data,
                formats=formats or (),
            )
            for place, member in enumerate(front.members, start=1):
                kept = "with its weights" if member.weights else "architecture only"
                console.print(
                    f"wrote {member.module} (place {place}: trial #{member.trial.number}, "
                    f"candidate {member.trial.candidate_id}, {kept})"
                )
                for note in member.notes:
                    console.print(f"  {note}")
            for path in front.removed:
                console.print(
                    f"removed {path} (left by an earlier export of a larger front)"
                )
            console.print(f"wrote {front.index} (the front as data)")
            return
        record = choose_trial(store, trial=trial, candidate=candidate)
        exported = export_trial(
            store,
            record,
            out,
            force=force,
            test=not no_test,
            training=with_training,
            data_file=data,
            formats=formats or (),
        )
        console.print(
            f"wrote {exported.module} (trial #{record.number}, candidate {record.candidate_id})"
        )
        for path in exported.files:
            console.print(f"wrote {path}")
        for line in exported.checks:
            console.print(f"checked {line}")
        for path in exported.removed:
            console.print(f"removed {path} (left by an earlier export to this name)")
        if exported.weights is None:
            console.print(
                "its weights were not kept (only the best trials' are); the module holds the architecture"
            )
        for note in exported.notes:
            console.print(note)
        console.print(f"Use it with:  from {exported.module.stem} import build_model")


@app.command()
def trials(
    study: Optional[Path] = typer.Option(
        None, "--study", help="Study folder [default: the most recently used]."
    ),
    limit: int = typer.Option(
        20, "--limit", help="Rows of the leaderboard to show (0: all)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Every trial as one JSON object per line, by number."
    ),
    as_csv: bool = typer.Option(
        False, "--csv", help="Every trial as a CSV row, by number, with a header."
    ),
    pareto: bool = typer.Option(
        False,
        "--pareto",
        help="Only the Pareto front: the trials no other beats in every objective.",
    ),
) -> None:
    """Print a study's leaderboard and its failed trials (or every trial as JSON or CSV)."""
    from .search.console import failures_table, leaderboard_table, pareto_table
    from .search.pareto import study_pareto_front
    from .search.settings import TrainingSettings
    from .search.store import Store

    if as_json and as_csv:
        raise UsageError("give one of --json and --csv")
    directory = _study_directory(study)
    with Store(directory) as store:
        if as_json or as_csv:
            from .search.summary import csv_text, json_lines

            records = (
                study_pareto_front(
                    store, TrainingSettings.from_json(store.get_meta("settings"))
                )
                if pareto
                else store.trials()
            )
            # Plain stdout, not rich: the output is data for other tools, never wrapped.
            sys.stdout.write(json_lines(records) if as_json else csv_text(records))
            sys.stdout.flush()
            return
        settings = TrainingSettings.from_json(store.get_meta("settings"))
        if pareto:
            front = study_pareto_front(store, settings)
            console.print(
                pareto_table(front, settings.objective_names, settings.directions)
            )
            if not settings.multi_objective:
                console.print(
                    f"{directory} optimises one objective ({settings.objective}); its front is its "
                    "best trial. Search with --objective given several times for a trade-off."
                )
            sys.stdout.flush()
            return
        board = store.leaderboard(settings.direction)
        console.print(leaderboard_table(board, settings.objective, limit or None))
        failed = store.trials("failed")
        if failed:
            console.print(failures_table(failed))
        counts = store.counts()
        console.print(
            f"{directory}: {counts['complete']} complete, {counts['failed']} failed, "
            f"{counts['duplicate']} duplicate, {counts['over_budget']} over budget, {counts['running']} "
            "interrupted/running trial(s)."
        )
        sys.stdout.flush()
