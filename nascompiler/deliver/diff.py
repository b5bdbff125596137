"""Two candidates of a study compared as code: the hyperparameters that differ, then a unified
diff of their modules. ``nascompile diff`` prints it; the HTML report shows the winner against
the runner-up with the same function.

Every candidate is a source file (``candidates/<id>.py``), so a search can be reviewed the way
code is: what changed between two architectures is exactly what changed in their modules.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..kinds import EVALUATED
from ..storage.layout import StudyLayout
from ..storage.store import Store, TrialRecord

_CANDIDATE_ID = re.compile(r"^[0-9a-f]+$")
_MISSING = object()


@dataclass(frozen=True)
class ParameterChange:
    """One hyperparameter that differs; ``None`` for a side where it is not active."""

    name: str
    a: Any
    b: Any
    a_active: bool
    b_active: bool


@dataclass(frozen=True)
class CandidateDiff:
    a: TrialRecord
    b: TrialRecord
    changes: tuple[ParameterChange, ...]
    lines: tuple[str, ...]  # unified diff lines, no trailing newlines

    @property
    def identical(self) -> bool:
        return not self.lines


def candidate_path(directory: Path, candidate_id: str) -> Path:
    """Where a candidate's module lives. Only hex ids make a path: an id read from a database
    must not be able to name a file outside ``candidates/``."""
    if not _CANDIDATE_ID.match(candidate_id or ""):
        raise UsageError(f"{candidate_id!r} is not a candidate id")
    return StudyLayout(directory).candidate_path(candidate_id)


def read_candidate(directory: Path, record: TrialRecord) -> str:
    """The source of a trial's candidate module, or a one-line error saying why there is none."""
    if not record.candidate_id:
        raise UsageError(
            f"trial #{record.number} has no module: its candidate could not be built ({record.error})"
        )
    path = candidate_path(directory, record.candidate_id)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{path} is missing (candidate of trial #{record.number})"
        ) from None


def resolve_trial(store: Store, reference: str) -> TrialRecord:
    """A trial by number (``12``, ``#12``) or by a prefix of its candidate id (``3f2a9``).

    A reference of digits only is a trial number when such a trial exists, else a candidate-id
    prefix. A candidate trained several times (duplicates) resolves to its first evaluated trial.
    """
    text = reference.strip()
    number_text = text[1:] if text.startswith("#") else text
    if number_text.isdigit():
        record = store.trial(int(number_text))
        if record is not None:
            return record
        if text.startswith("#"):
            raise UsageError(f"the study has no trial #{number_text}")
    prefix = text.lower()
    if not _CANDIDATE_ID.match(prefix):
        raise UsageError(
            f"{reference!r} is neither a trial number nor a candidate-id prefix (hex digits)"
        )
    trials = store.trials()
    ids = sorted({t.candidate_id for t in trials if t.candidate_id.startswith(prefix)})
    if not ids:
        raise UsageError(f"no trial number or candidate id {reference!r} in the study")
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise UsageError(
            f"candidate-id prefix {reference!r} is ambiguous: {shown}; give more digits"
        )
    matching = [t for t in trials if t.candidate_id == ids[0]]
    evaluated = [t for t in matching if t.status in EVALUATED]
    return (evaluated or matching)[0]


def parameter_changes(a: dict[str, Any], b: dict[str, Any]) -> list[ParameterChange]:
    """Parameters whose values differ, in A's order then B's extra ones (both deterministic:
    an assignment's order is the space's parameter order)."""
    names = list(a) + [name for name in b if name not in a]
    changes = []
    for name in names:
        va, vb = a.get(name, _MISSING), b.get(name, _MISSING)
        if va is not _MISSING and vb is not _MISSING and va == vb:
            if type(va) is type(vb):
                continue
        changes.append(
            ParameterChange(
                name,
                None if va is _MISSING else va,
                None if vb is _MISSING else vb,
                va is not _MISSING,
                vb is not _MISSING,
            )
        )
    return changes


def diff_trials(
    directory: Path, a: TrialRecord, b: TrialRecord, context: int = 3
) -> CandidateDiff:
    source_a = read_candidate(directory, a)
    source_b = read_candidate(directory, b)
    lines = difflib.unified_diff(
        source_a.splitlines(),
        source_b.splitlines(),
        fromfile=f"candidates/{a.candidate_id}.py (trial #{a.number})",
        tofile=f"candidates/{b.candidate_id}.py (trial #{b.number})",
        n=context,
        lineterm="",
    )
    return CandidateDiff(
        a, b, tuple(parameter_changes(a.assignment, b.assignment)), tuple(lines)
    )


def diff_candidates(store: Store, a: str, b: str, context: int = 3) -> CandidateDiff:
    """``nascompile diff A B``: resolve both references in ``store`` and compare their modules."""
    return diff_trials(
        store.directory, resolve_trial(store, a), resolve_trial(store, b), context
    )


def describe_value(value: Any, active: bool) -> str:
    return repr(value) if active else "(not active)"


def change_lines(diff: CandidateDiff) -> list[str]:
    """The hyperparameter part of the diff, as plain lines."""
    if not diff.changes:
        return ["Hyperparameters: identical"]
    lines = [
        f"Hyperparameters that differ (trial #{diff.a.number} -> trial #{diff.b.number}):"
    ]
    for change in diff.changes:
        lines.append(
            f"  {change.name}: {describe_value(change.a, change.a_active)} -> "
            f"{describe_value(change.b, change.b_active)}"
        )
    return lines


def diff_text(diff: CandidateDiff) -> str:
    """The whole diff as plain text: changed hyperparameters, a blank line, the unified diff."""
    body = list(diff.lines) or [
        f"The modules of trial #{diff.a.number} and trial #{diff.b.number} are identical."
    ]
    return "\n".join(change_lines(diff) + [""] + body) + "\n"


def diff_rich(diff: CandidateDiff):
    """The same text with colours for a terminal (rich): additions green, removals red."""
    from rich.text import Text

    text = Text()
    for line in change_lines(diff):
        text.append(line + "\n", style="bold" if not line.startswith(" ") else "")
    text.append("\n")
    if not diff.lines:
        text.append(diff_text(diff).splitlines()[-1] + "\n")
    for line in diff.lines:
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text
