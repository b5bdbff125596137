"""``nascompile search --tensorboard``: each trial's training scalars and hyperparameters as
TensorBoard event files under ``generated/<study>/tensorboard/``.

Written by the driver from each finished trial's stored per-epoch metrics, so the workers need
no change and a trial's curves are written once, complete, whether they came from a worker or
were already in the store when an older study is resumed with ``--tensorboard``. Each trial is
a run (``trial-0007-3f2a9c1e07``) holding one scalar per metric and epoch and the HParams
plugin's session summary; the log directory's root holds the experiment's HParams
configuration (every parameter with the values seen, every metric), so ``tensorboard
--logdir`` compares trials in its HParams tab.

Only tensorboard's protocol buffers and record writer are used: importing tensorboard's
``EventFileWriter`` would import TensorFlow into the driver.
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fileio import write_atomic
from ..kinds import TrialStatus
from ..literals import literal_key
from ..search.events import StudyListener
from ..storage.layout import StudyLayout
from ..storage.store import Store, TrialRecord

DONE_MARKER = (
    ".written"  # holds the epochs written: a run is written again only if it grew
)


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError:
        raise UsageError(
            "--tensorboard needs tensorboard: pip install 'nascompiler[tensorboard]'"
        ) from None
    return event_pb2, summary_pb2, summary_v2, RecordWriter


def check_available() -> None:
    """Fail with one line before a search starts, not after its first trial."""
    _tensorboard()


def run_name(record: TrialRecord) -> str:
    return f"trial-{record.number:04d}-{record.candidate_id or 'not-built'}"


def hparam_value(value: Any) -> bool | int | float | str:
    """HParams holds bools, numbers and strings; tuples (kernel sizes ...) become their text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _write_events(path: Path, events: list) -> None:
    event_pb2, _, _, RecordWriter = _tensorboard()
    handle = io.BytesIO()
    writer = RecordWriter(handle)
    first = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    for event in [first, *events]:
        writer.write(event.SerializeToString())
    write_atomic(path, handle.getvalue())


def _event_file(folder: Path) -> Path:
    return folder / f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"


def has_run(record: TrialRecord) -> bool:
    """Whether a trial gets a run: it trained (a duplicate reuses another trial's run)."""
    return record.status not in (
        TrialStatus.RUNNING,
        TrialStatus.DUPLICATE,
    ) and bool(record.metrics)


def write_trial(logdir: Path, record: TrialRecord) -> Path | None:
    """Write one finished trial's run; ``None`` when there is nothing to write (a duplicate,
    a trial that never trained) or it was written before."""
    if not has_run(record):
        return None
    folder = Path(logdir) / run_name(record)
    epochs = max(len(v) for v in record.metrics.values())
    marker = folder / DONE_MARKER
    if marker.exists() and _written_epochs(marker) >= epochs:
        return None  # a trial promoted to a later rung has more epochs: written again
    event_pb2, summary_pb2, hp, _ = _tensorboard()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("events.out.tfevents.*"):
        stale.unlink()  # left by a run killed before its marker was written
    wall = record.finished_at or record.started_at
    hparams = {k: hparam_value(v) for k, v in record.assignment.items()}
    session = hp.hparams_pb(
        hparams, trial_id=run_name(record), start_time_secs=record.started_at
    )
    events = [event_pb2.Event(wall_time=record.started_at, step=0, summary=session)]
    for epoch in range(epochs):
        values = [
            summary_pb2.Summary.Value(tag=name, simple_value=float(series[epoch]))
            for name, series in record.metrics.items()
            if epoch < len(series) and series[epoch] is not None
        ]
        events.append(
            event_pb2.Event(
                wall_time=wall,
                step=epoch + 1,
                summary=summary_pb2.Summary(value=values),
            )
        )
    _write_events(_event_file(folder), events)
    write_atomic(marker, f"{epochs}\n")
    return folder


def _written_epochs(marker: Path) -> int:
    try:
        return int(marker.read_text().split()[0])
    except (ValueError, IndexError, OSError):
        return 0


def write_experiment(logdir: Path, trials: list[TrialRecord], objective: str) -> None:
    """The HParams configuration: each parameter with the values the trials took, each metric.
    Rewritten as trials finish, so the HParams tab's filters list every value seen."""
    event_pb2, _, hp, _ = _tensorboard()
    values: dict[str, dict[Any, Any]] = {}
    metrics: list[str] = []
    for record in filter(has_run, trials):  # the values of the runs TensorBoard lists
        for name, value in record.assignment.items():
            v = hparam_value(value)
            values.setdefault(name, {})[(type(v).__name__, v)] = v
        metrics.extend(m for m in record.metrics if m not in metrics)
    if objective not in metrics:
        metrics.insert(0, objective)
    hparams = []
    for name, seen in values.items():
        options = sorted(seen.values(), key=literal_key)
        kinds = {type(v) for v in options}
        if kinds == {
            int,
            float,
        }:  # Discrete wants one Python type; HParams stores floats
            options = [float(v) for v in options]
        if kinds in ({bool}, {str}) or kinds <= {int, float}:
            hparams.append(hp.HParam(name, hp.Discrete(options)))
        else:  # mixed kinds (say a bool and a string): HParams wants one dtype per domain
            hparams.append(hp.HParam(name))
    config = hp.hparams_config_pb(
        hparams, [hp.Metric(m) for m in metrics], time_created_secs=time.time()
    )
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("events.out.tfevents.*"):
        old.unlink()
    _write_events(
        _event_file(logdir), [event_pb2.Event(wall_time=time.time(), summary=config)]
    )


def export_study(directory: Path) -> Path:
    """Write (or complete) the TensorBoard log directory of the study in ``directory``."""
    with Store(directory) as store:
        settings = store.get_meta("settings") or {}
        trials = store.trials()
    logdir = StudyLayout(directory).tensorboard
    for record in trials:
        write_trial(logdir, record)
    write_experiment(logdir, trials, settings.get("objective", "val_loss"))
    return logdir


class TensorBoardWriter(StudyListener):
    """Writes each trial's run as it finishes, and the experiment's configuration."""

    def __init__(self, directory: Path):
        check_available()
        self.logdir = StudyLayout(directory).tensorboard

    def _experiment(self, study: Any) -> None:
        write_experiment(
            self.logdir, study.store.trials(), study.config.settings.objective
        )

    def search_started(self, study: Any) -> None:
        for (
            record
        ) in study.store.trials():  # trials finished before --tensorboard was given
            write_trial(self.logdir, record)
        self._experiment(study)

    def trial_finished(self, study: Any, trial: TrialRecord) -> None:
        if write_trial(self.logdir, trial) is not None:
            self._experiment(study)

    def search_finished(self, study: Any) -> None:
        self._experiment(study)
