"""``nascompile search``, ``export`` and ``trials``: the search commands of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .cli import app, console
from .errors import UsageError

DEFAULT_ROOT = Path("generated")
SEARCH_KEYS = (
    "searcher",
    "max_trials",
    "seed",
    "workers",
    "keep_weights",
    "searcher_options",
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
        None, "--searcher", help="random, grid, evolution or mcts [random]."
    ),
    max_trials: Optional[int] = typer.Option(
        None, "--max-trials", help="Trials to run, duplicates not counted [10]."
    ),
    epochs: Optional[int] = typer.Option(
        None, "--epochs", help="Training epochs per trial [3]."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Training batch size [32]."
    ),
    objective: Optional[str] = typer.Option(
        None, "--objective", help="History value to optimise [val_<metric>]."
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
    fresh: bool = typer.Option(
        False, "--fresh", help="Start the study over (the old one is moved aside)."
    ),
) -> None:
    """Search a space: train its candidates and keep the results in a study."""
    from .search.console import ConsoleReporter
    from .search.data import SpaceFileData
    from .search.settings import TrainingSettings
    from .search.store import Store, is_study
    from .search.study import Study, StudyConfig, fresh_directory
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
    directory = out / (study or space.stem)
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
        store = Store(directory)
        stored_settings = store.get_meta("settings") or {}
        stored_search = {
            k: store.get_meta(k)
            for k in ("searcher", "seed", "searcher_options")
            if store.get_meta(k) is not None
        }
        store.close()
    file_search = _search_dict(space)
    flags = {
        "searcher": searcher,
        "max_trials": max_trials,
        "seed": seed,
        "workers": workers,
        "keep_weights": keep_weights,
        "cluster": cluster,
        "ship_data": ship_data or None,
    }
    if grid_resolution is not None:
        flags["searcher_options"] = {"resolution": grid_resolution}
    chosen = {
        **SEARCH_DEFAULTS,
        **stored_search,
        **file_search,
        **{k: v for k, v in flags.items() if v is not None},
    }
    settings = TrainingSettings.resolve(
        {**stored_settings, **space.training},
        source=f"{space_file}: TRAINING",
        epochs=epochs,
        batch_size=batch_size,
        objective=objective,
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
            log_dir=directory / "logs",
        )
    elif ship_data:
        raise UsageError(
            "--ship-data goes with --cluster (there is no cluster to send the data to)"
        )
    runner = Study(config, listeners=[reporter], executor=executor)
    try:
        runner.run()
    except KeyboardInterrupt:
        reporter.stop()
        counts = runner.store.counts()
        console.print(
            f"\nInterrupted. {directory / 'study.db'} keeps {counts['complete']} complete, {counts['failed']} failed "
            f"and {counts['duplicate']} duplicate trial(s); {len(runner.in_flight)} running trial(s) will run again "
            f"when you re-run this command."
        )
        raise SystemExit(130) from None
    _print_summary(runner.store, settings, directory)


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
    console.print(
        f"{counts['complete']} complete, {counts['failed']} failed, {counts['duplicate']} duplicate "
        f"trial(s) in {directory}."
    )
    if board:
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
        Path("best_model.py"), "--out", help="Module to write; weights go beside it."
    ),
    force: bool = typer.Option(
        False, "--force", help="Overwrite --out even if nascompile did not write it."
    ),
) -> None:
    """Write a trained candidate as a standalone module, with its weights beside it."""
    from .search.export import choose_trial, export_trial
    from .search.store import Store

    if sum([best, trial is not None, candidate is not None]) > 1:
        raise UsageError("give one of --best, --trial N and --candidate ID")
    store = Store(_study_directory(study))
    record = choose_trial(store, trial=trial, candidate=candidate)
    exported = export_trial(store, record, out, force=force)
    console.print(
        f"wrote {exported.module} (trial #{record.number}, candidate {record.candidate_id})"
    )
    if exported.weights is not None:
        console.print(f"wrote {exported.weights}")
    else:
        console.print(
            "its weights were not kept (only the best trials' are); the module holds the architecture"
        )
    name = exported.module.stem
    usage = (
        f"from {name} import build_model"
        if name.isidentifier()
        else f"import {exported.module} by path"
    )
    console.print(f"Use it with:  {usage}")


@app.command()
def trials(
    study: Optional[Path] = typer.Option(
        None, "--study", help="Study folder [default: the most recently used]."
    ),
    limit: int = typer.Option(
        20, "--limit", help="Rows of the leaderboard to show (0: all)."
    ),
) -> None:
    """Print a study's leaderboard and its failed trials."""
    from .search.console import failures_table, leaderboard_table
    from .search.settings import TrainingSettings
    from .search.store import Store

    directory = _study_directory(study)
    store = Store(directory)
    settings = TrainingSettings.from_json(store.get_meta("settings"))
    board = store.leaderboard(settings.direction)
    console.print(leaderboard_table(board, settings.objective, limit or None))
    failed = store.trials("failed")
    if failed:
        console.print(failures_table(failed))
    counts = store.counts()
    console.print(
        f"{directory}: {counts['complete']} complete, {counts['failed']} failed, "
        f"{counts['duplicate']} duplicate, {counts['running']} interrupted/running trial(s)."
    )
    sys.stdout.flush()
