"""``nascompile report`` and ``nascompile diff``: looking at a study."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, study_directory


def report(
    study: Optional[Path] = typer.Option(
        None,
        "--study",
        help="Study folder or name under generated/ [default: the most recently used, named on stderr].",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="File to write [default: <study>/report.html]."
    ),
    force: bool = typer.Option(
        False, "--force", help="Overwrite a file at --out that is not a report."
    ),
    watch: bool = typer.Option(
        False,
        "--watch",
        help="Keep rewriting the report whenever the study changes (the page reloads itself "
        "in the browser) until Ctrl-C.",
    ),
) -> None:
    """Write a study's HTML report: one self-contained file that opens offline."""
    from ..report import write_report

    directory = study_directory(study)
    if watch:
        from ..report.live import watch as watch_study

        path = watch_study(
            directory,
            out,
            force=force,
            notify=lambda text: console.print(text, markup=False, soft_wrap=True),
        )
    else:
        path = write_report(directory, out, force=force)
    console.print(f"wrote {path}", markup=False, soft_wrap=True)


def diff(
    a: str = typer.Argument(
        ..., help="A trial number (12 or #12) or a candidate-id prefix."
    ),
    b: str = typer.Argument(
        ..., help="A trial number (12 or #12) or a candidate-id prefix."
    ),
    study: Optional[Path] = typer.Option(
        None,
        "--study",
        help="Study folder or name under generated/ [default: the most recently used, named on stderr].",
    ),
    context: int = typer.Option(
        3, "--context", "-U", help="Unchanged lines shown around each change."
    ),
) -> None:
    """Compare two candidates: the hyperparameters that differ, then a diff of their modules."""
    from ..deliver.diff import diff_candidates, diff_rich, diff_text
    from ..errors import UsageError
    from ..storage.store import Store

    if context < 0:
        raise UsageError(f"--context must be 0 or more, got {context}")
    with Store(study_directory(study)) as store:
        result = diff_candidates(store, a, b, context)
    if console.is_terminal:
        console.print(diff_rich(result), markup=False, soft_wrap=True, end="")
    else:
        # Plain text when piped: exactly a patch, no wrapping, no escape codes.
        typer.echo(diff_text(result), nl=False)
