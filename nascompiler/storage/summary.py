"""One trial as a flat, machine-readable record: what ``nascompile trials --json`` / ``--csv``
print and what the HTML report and TensorBoard export read.

Tools and tests read this, not the database schema, so the schema can change without breaking
them. :func:`trial_summary` is the one place that decides the fields: add a field here and every
output has it. Fields the store may not have yet (``rung`` under multi-fidelity schedulers) are
read with ``getattr`` and a default, so this module works with older and newer records alike.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable, Mapping

from .store import TrialRecord

# The order of the CSV columns and of the keys of every JSON object.
FIELDS = (
    "number",
    "candidate_id",
    "status",
    "objective",
    "objective_values",
    "objective_epoch",
    "epochs",
    "rung",
    "bracket",
    "pruned",
    "rungs",
    "params",
    "flops",
    "activation_bytes",
    "seed",
    "fit_seconds",
    "wall_seconds",
    "started_at",
    "finished_at",
    "error",
    "duplicate_of",
    "proxies",
    "oneshot_score",
    "assignment",
)


def epochs_trained(record: TrialRecord) -> int:
    """Epochs the trial trained in total (0 for a duplicate, which reuses another's result);
    for a record without that count, the length of its per-epoch metric lists."""
    epochs = getattr(record, "epochs", None)
    if epochs is None:
        return max((len(v) for v in record.metrics.values()), default=0)
    return epochs


def _json_value(value: Any) -> Any:
    """Tuples (how the store gives back lists) as lists, so the output is plain JSON."""
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def trial_summary(
    record: TrialRecord, proxies: Mapping[int, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The trial as a dict of JSON values, keys in :data:`FIELDS` order. ``proxies`` is
    :meth:`Store.proxies`: the zero-cost proxy scores of the trials that computed them.
    """
    values = {
        "number": record.number,
        "candidate_id": record.candidate_id or None,
        "status": record.status,
        "objective": record.objective,
        "objective_values": dict(getattr(record, "objective_values", None) or {}),
        "objective_epoch": getattr(record, "objective_epoch", None),
        "epochs": epochs_trained(record),
        "rung": record.rung,
        "bracket": record.bracket,
        "pruned": record.pruned,
        "rungs": [dict(entry) for entry in record.rungs],
        "params": record.params,
        "flops": record.flops,
        "activation_bytes": record.activation_bytes,
        "seed": record.seed,
        "fit_seconds": record.fit_seconds,
        "wall_seconds": record.wall_seconds,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "error": record.error,
        "duplicate_of": record.duplicate_of,
        "proxies": {
            name: value
            for name, (value, _seconds) in (proxies or {})
            .get(record.number, {})
            .items()
        },
        "assignment": {k: _json_value(v) for k, v in record.assignment.items()},
    }
    # --prescreen oneshot: the score with the supernet's shared weights (higher is better:
    # a minimised objective's value negated), beside the trained one in "objective".
    values["oneshot_score"] = (
        (proxies or {}).get(record.number, {}).get("oneshot", (None, None))[0]
    )
    return {name: values[name] for name in FIELDS}


def json_lines(
    records: Iterable[TrialRecord],
    proxies: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """One JSON object per line per trial (JSON Lines); NaN/inf are written as null."""
    lines = []
    for record in records:
        summary = {k: _finite(v) for k, v in trial_summary(record, proxies).items()}
        summary["proxies"] = {k: _finite(v) for k, v in summary["proxies"].items()}
        lines.append(json.dumps(summary, allow_nan=False))
    return "".join(line + "\n" for line in lines)


def _finite(value: Any) -> Any:
    # A diverged trial can store a NaN objective; JSON has no NaN, and null says "no value".
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def csv_text(
    records: Iterable[TrialRecord],
    proxies: Mapping[int, Mapping[str, Any]] | None = None,
) -> str:
    """A CSV table with a header row; the assignment is one column holding a JSON object."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    for record in records:
        summary = trial_summary(record, proxies)
        row = []
        for name in FIELDS:
            value = summary[name]
            if name in ("assignment", "rungs", "objective_values", "proxies"):
                row.append(json.dumps(value))
            else:
                row.append("" if value is None else value)
        writer.writerow(row)
    return buffer.getvalue()
