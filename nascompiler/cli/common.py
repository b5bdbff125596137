"""What the commands share: the consoles and where studies live."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console

from ..errors import UsageError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_ROOT = Path("generated")  # the folder that holds the studies (search --out)


def study_directory(study: Optional[Path]) -> Path:
    """The study a command reads: ``--study`` as a folder or as a name under ``generated/``,
    else the most recently used one."""
    from ..storage.store import is_study, latest_study

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
