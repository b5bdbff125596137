"""Where things live in a study folder (``generated/<study>/``): the one place that names them.

::

    study.db          the store (trials, tells, meta)
    search.lock       held by the search that writes the study
    candidates/<id>.py                     every candidate's module, as trained
    weights/<id>.weights.h5                the best trials' weights
    checkpoints/trial-<n>-epoch-<e>.npz    where a promotable trial got to
    logs/             worker processes' output
    data/             the arrays the Python API saved for the workers
    report.html       ``nascompile report``'s default output
    tensorboard/      ``search --tensorboard``'s log directory

The study, the store, the lock, export, the report and the API build paths from a
:class:`StudyLayout` instead of spelling these names. This module is a leaf: it imports
nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DB_NAME = "study.db"
LOCK_NAME = "search.lock"
REPORT_NAME = "report.html"
TENSORBOARD_NAME = "tensorboard"
WEIGHTS_SUFFIX = ".weights.h5"  # Keras' save_weights insists on it


@dataclass(frozen=True)
class StudyLayout:
    """The paths of the study folder ``root`` (nothing is created or checked here)."""

    root: Path

    def __post_init__(self) -> None:
        # Callers hand over what they have (a str from a flag, a Path): keep a Path.
        object.__setattr__(self, "root", Path(self.root))

    @property
    def database(self) -> Path:
        return self.root / DB_NAME

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    @property
    def candidates(self) -> Path:
        return self.root / "candidates"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def report(self) -> Path:
        return self.root / REPORT_NAME

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_NAME

    def candidate_path(self, candidate_id: str) -> Path:
        """A candidate's module (the file its trials train and export hands over)."""
        return self.candidates / f"{candidate_id}.py"

    def weights_path(self, candidate_id: str) -> Path:
        return self.weights / f"{candidate_id}{WEIGHTS_SUFFIX}"

    def checkpoint_path(self, number: int, epoch: int) -> Path:
        """Trial ``number``'s checkpoint after ``epoch`` epochs in total."""
        return self.checkpoints / f"trial-{number}-epoch-{epoch}.npz"
