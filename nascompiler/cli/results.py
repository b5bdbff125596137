"""``nascompile export`` and ``nascompile trials``: what a study holds, and its winner as a
standalone module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from .common import console, study_directory

# Where export writes when --out is not given: one folder per study.
DEFAULT_EXPORT_ROOT = Path("exported")


def export(
    best: bool = typer.Option(
        False, "--best", help="Export the best trial (the default)."
    ),
    trial: Optional[int] = typer.Option(None, "--trial", help="Export trial number N."),
    candidate: Optional[str] = typer.Option(
        None, "--candidate", help="Export the candidate with this id."
    ),
    study: Optional[Path] = typer.Option(
        None,
        "--study",
        help="Study folder or name under generated/ [default: the most recently used, named on stderr; with --pareto, the most recently used of several objectives].",
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Module to write; its weights, test and other files go beside it "
        "[default: exported/<study>/best_model.py].",
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
    from ..deliver.export import choose_trial, export_pareto, export_trial
    from ..storage.store import Store

    if sum([best, trial is not None, candidate is not None, pareto is not None]) > 1:
        raise UsageError(
            "give one of --best, --trial N, --candidate ID and --pareto DIR"
        )
    directory = study_directory(study, multi_objective=pareto is not None)
    if out is None:  # a folder of its own, never loose files in the current one
        out = DEFAULT_EXPORT_ROOT / directory.name / "best_model.py"
    with Store(directory) as store:
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
        console.print(
            f"Use it with:  from {exported.module.stem} import build_model   (in {exported.module.parent})"
        )


def trials(
    study: Optional[Path] = typer.Option(
        None,
        "--study",
        help="Study folder or name under generated/ [default: the most recently used, named on stderr; with --pareto, the most recently used of several objectives].",
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
    from ..config.settings import TrainingSettings
    from ..search.console import failures_table, leaderboard_table, pareto_table
    from ..storage.pareto import study_pareto_front
    from ..storage.store import Store

    if as_json and as_csv:
        raise UsageError("give one of --json and --csv")
    directory = study_directory(study, multi_objective=pareto)
    with Store(directory) as store:
        if as_json or as_csv:
            from ..storage.summary import csv_text, json_lines

            records = (
                study_pareto_front(
                    store, TrainingSettings.from_json(store.get_meta("settings"))
                )
                if pareto
                else store.trials()
            )
            # Plain stdout, not rich: the output is data for other tools, never wrapped.
            proxies = store.proxies()
            sys.stdout.write(
                json_lines(records, proxies) if as_json else csv_text(records, proxies)
            )
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
            f"{counts['duplicate']} duplicate, {counts['over_budget']} over budget, "
            f"{counts['screened']} screened, {counts['running']} "
            "interrupted/running trial(s)."
        )
        sys.stdout.flush()
