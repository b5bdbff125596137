"""``nascompile export``: hand over a trained candidate as a module plus its weights.

The exported module is the file the trial trained, with one more docstring section saying what
it scored, on what data, with which settings and when. Its code is byte-for-byte the trained
candidate's; the weights are copied beside it as ``<name>.weights.h5``.
"""

from __future__ import annotations

import datetime
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..codegen import add_docstring_section
from ..errors import UsageError
from ..fileio import write_atomic
from .console import format_objective
from .data import SPLITS
from .settings import TrainingSettings
from .store import Store, TrialRecord

EXPORT_MARKER = "Exported by nascompiler"


@dataclass(frozen=True)
class Exported:
    trial: TrialRecord
    module: Path
    weights: Path | None


def choose_trial(
    store: Store, *, trial: int | None = None, candidate: str | None = None
) -> TrialRecord:
    """The trial to export: ``--trial N``, ``--candidate ID`` (a unique prefix will do) or the best."""
    settings = TrainingSettings.from_json(store.get_meta("settings"))
    if trial is not None:
        record = store.trial(trial)
        if record is None:
            raise UsageError(f"{store.directory} has no trial #{trial}")
    elif candidate is not None:
        matches = [
            t
            for t in store.trials()
            if t.candidate_id.startswith(candidate) and t.status == "complete"
        ]
        ids = {t.candidate_id for t in matches}
        if not ids:
            raise UsageError(
                f"{store.directory} has no complete trial of a candidate {candidate!r}"
            )
        if len(ids) > 1:
            raise UsageError(
                f"{candidate!r} matches several candidates: {', '.join(sorted(ids))}"
            )
        record = matches[0]
    else:
        board = store.leaderboard(settings.direction)
        if not board:
            raise UsageError(
                f"{store.directory} has no complete trial yet; run nascompile search first"
            )
        record = board[0]
    if record.status == "duplicate" and record.duplicate_of is not None:
        record = store.trial(record.duplicate_of) or record
    if record.status == "failed":
        raise UsageError(
            f"trial #{record.number} failed ({record.error}); there is no trained model to export"
        )
    if record.status == "running":
        raise UsageError(
            f"trial #{record.number} has not finished; resume the search to run it"
        )
    return record


def export_trial(
    store: Store, record: TrialRecord, out: Path, force: bool = False
) -> Exported:
    source_path = store.directory / "candidates" / f"{record.candidate_id}.py"
    if not source_path.exists():
        raise UsageError(f"{source_path} is missing; the study folder is incomplete")
    if out.suffix != ".py":
        raise UsageError(f"--out must name a .py file, got {out}")
    if (
        out.exists()
        and not force
        and EXPORT_MARKER
        not in out.read_text(encoding="utf-8", errors="replace")[:4000]
    ):
        raise UsageError(
            f"{out} exists and was not written by nascompile export; choose another --out or pass --force"
        )
    weights_src = store.directory / "weights" / f"{record.candidate_id}.weights.h5"
    weights_out = (
        out.with_name(out.stem + ".weights.h5") if weights_src.exists() else None
    )
    source = source_path.read_text(encoding="utf-8")
    exported = add_docstring_section(
        source, "Search result", _result_lines(store, record, out, weights_out)
    )
    write_atomic(out, exported)
    if weights_out is not None:
        tmp = weights_out.with_name(f".{weights_out.name}.tmp")
        shutil.copyfile(weights_src, tmp)
        tmp.replace(weights_out)
    return Exported(record, out, weights_out)


def _result_lines(
    store: Store, record: TrialRecord, out: Path, weights: Path | None
) -> list[str]:
    settings = TrainingSettings.from_json(store.get_meta("settings"))
    board = store.leaderboard(settings.direction)
    rank = next((i for i, t in enumerate(board, 1) if t.number == record.number), None)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in sorted(record.metrics.items()) if v)
    lines = [
        f"{EXPORT_MARKER} {__version__} on {now} from study {store.directory}.",
        f"trial #{record.number}, candidate {record.candidate_id}"
        + (f", rank {rank} of {len(board)} complete trials" if rank else ""),
        f"objective: {settings.objective} = {format_objective(record.objective)} ({settings.direction})",
        f"last epoch: {last}" if last else "last epoch: (no metrics recorded)",
        (
            f"parameters: {record.params:,}"
            if record.params is not None
            else "parameters: unknown"
        ),
        f"data: {_data_text(store.get_meta('data_summary'))}",
        f"training: {settings.describe()}, seed={record.seed}",
    ]
    if weights is not None:
        lines.append(
            f"weights: {weights.name} (model = build_model(); model.load_weights('{weights.name}'))"
        )
    else:
        lines.append(
            "weights: not kept for this trial (only the best few are); the module is the architecture"
        )
    return lines


def _data_text(summary: dict | None) -> str:
    if not summary:
        return "unknown"
    parts = []
    for name in SPLITS:
        arrays = summary[name].get("inputs", [summary[name]])
        shapes = " + ".join(str(tuple(a["shape"])) for a in arrays)
        parts.append(f"{name} {shapes} {arrays[0]['dtype']}")
    return ", ".join(parts)
