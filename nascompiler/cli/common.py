"""What the commands share: the consoles and where studies live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Optional

from rich.console import Console

from ..errors import UsageError

# Output that is not a terminal (a file, a pipe, CI's log) is never wrapped: rich would
# otherwise break lines and squeeze tables at 80 columns. COLUMNS still sets a width.
UNWRAPPED_WIDTH = 10_000


def make_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console for the commands' output: as wide as the terminal on a terminal; unwrapped
    (lines as long as they are, tables at their natural width) elsewhere."""
    made = Console(highlight=False, stderr=stderr, file=file)
    if made.is_terminal or os.environ.get("COLUMNS"):
        return made
    return Console(
        highlight=False,
        stderr=stderr,
        file=file,
        width=UNWRAPPED_WIDTH,
        soft_wrap=True,
    )


console = make_console()
err_console = make_console(stderr=True)

DEFAULT_ROOT = Path("generated")  # the folder that holds the studies (search --out)


def study_directory(
    study: Optional[Path], *, multi_objective: bool = False, quiet: bool = False
) -> Path:
    """The study a command reads: ``--study`` as a folder or as a name under ``generated/``,
    else the most recently used one (with ``multi_objective``, the most recently used study
    of several objectives), which is said on stderr unless ``quiet``."""
    from ..storage.store import is_study, studies_by_use

    if study is not None:
        if is_study(study):
            return study
        if is_study(DEFAULT_ROOT / study):
            return DEFAULT_ROOT / study
        raise UsageError(f"{study} is not a study (no study.db in it)")
    found = studies_by_use(DEFAULT_ROOT)
    if not found:
        raise UsageError(
            f"no study under {DEFAULT_ROOT}/; run nascompile search first, or pass --study"
        )
    if not multi_objective:
        chosen, why = found[0], "the most recently used"
    else:
        several = [path for path in found if _objectives(path) > 1]
        if not several:
            raise UsageError(
                f"no study under {DEFAULT_ROOT}/ has several objectives (a Pareto front needs a "
                "search with --objective given more than once); pass --study to choose one"
            )
        chosen, why = several[0], "the most recently used of several objectives"
    if not quiet:
        err_console.print(
            f"study: {chosen} ({why}; --study NAME chooses another)", markup=False
        )
    return chosen


def _objectives(directory: Path) -> int:
    """How many objectives the study in ``directory`` optimises (0 when unreadable)."""
    from ..config.settings import TrainingSettings
    from ..storage.store import Store

    try:
        with Store(directory) as store:
            recorded = store.get_meta("settings")
        return (
            len(TrainingSettings.from_json(recorded).objective_names) if recorded else 0
        )
    except Exception:  # a damaged or foreign study is simply not a candidate here
        return 0
