"""The study store: ``generated/<study>/study.db``, one SQLite database per study.

One row per trial, written in a transaction at each change of state, in WAL mode: a search
killed at any moment leaves a consistent database that holds every finished trial. The schema
is versioned; a database from a newer nascompiler is refused rather than misread.

Besides the results, the store keeps what a resumed search needs to rebuild its searcher by
replay: each trial's ``asked_after`` (how many results the searcher had been told when it
proposed this trial) and the ``tells`` table, every result told to the searcher in order (a
trial trained in rungs is told once per rung).

Schema history: version 1 (nascompiler 0.1) had one result per trial and a ``told_order``
column; version 2 adds rungs (``epochs``, ``rung``, ``bracket``, ``rungs``, ``checkpoint``) and
the ``tells`` table; version 3 adds ``objective_values`` (every objective of a multi-objective
study, by name); version 4 adds the ``proxies`` table (zero-cost proxy scores of a trial's
untrained model, one row per proxy). Older databases are migrated in place when a search opens
them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import UsageError
from ..kinds import EVALUATED, STATUSES, TOLD_OBJECTIVE, Direction, TrialStatus
from ..literals import from_json
from .layout import DB_NAME, StudyLayout

SCHEMA_VERSION = 4

# Statuses are checked in Python rather than by a CHECK constraint, so that a new status does
# not need a table rebuild.
_TRIALS_TABLE = """
CREATE TABLE trials (
    number INTEGER PRIMARY KEY,
    candidate_id TEXT NOT NULL,
    assignment TEXT NOT NULL,
    status TEXT NOT NULL,
    objective REAL,
    metrics TEXT,
    params INTEGER,
    seed INTEGER NOT NULL,
    asked_after INTEGER NOT NULL,
    duplicate_of INTEGER REFERENCES trials (number),
    started_at REAL NOT NULL,
    finished_at REAL,
    fit_seconds REAL,
    wall_seconds REAL,
    error TEXT,
    epochs INTEGER NOT NULL DEFAULT 0,
    rung INTEGER,
    bracket INTEGER,
    rungs TEXT NOT NULL DEFAULT '[]',
    checkpoint TEXT,
    flops INTEGER,
    activation_bytes INTEGER,
    objective_values TEXT
)"""
_PROXIES_TABLE = """
CREATE TABLE proxies (
    number INTEGER NOT NULL REFERENCES trials (number),
    name TEXT NOT NULL,
    value REAL,
    seconds REAL,
    PRIMARY KEY (number, name)
)"""
_SCHEMA = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{_TRIALS_TABLE};
CREATE INDEX trials_by_candidate ON trials (candidate_id);
CREATE TABLE tells (
    position INTEGER PRIMARY KEY,
    number INTEGER NOT NULL REFERENCES trials (number),
    rung INTEGER,
    objective REAL
);
{_PROXIES_TABLE};
"""


@dataclass
class TrialRecord:
    """A row of the trials table, decoded."""

    number: int
    candidate_id: str
    assignment: dict[str, Any]
    status: str  # a TrialStatus value as stored: a plain str, equal to its member
    seed: int
    asked_after: int
    started_at: float
    objective: float | None = None
    metrics: dict[str, list[float]] = field(default_factory=dict)
    params: int | None = None
    duplicate_of: int | None = None
    finished_at: float | None = None
    fit_seconds: float | None = None
    wall_seconds: float | None = None
    error: str | None = None
    epochs: int = 0  # trained in total
    rung: int | None = (
        None  # highest rung reached (None unless a multi-fidelity scheduler ran it)
    )
    bracket: int | None = None  # the rung the trial started at (Hyperband's bracket)
    rungs: list[dict[str, Any]] = field(
        default_factory=list
    )  # one entry per rung reached
    checkpoint: str | None = None  # the latest checkpoint, relative to the study folder
    flops: int | None = None  # static cost: FLOPs per sample, forward
    activation_bytes: int | None = (
        None  # static cost: peak activation memory per sample
    )
    # Every objective of a multi-objective study by name (training values, costs, latency_ms);
    # empty for a single-objective study, whose one objective is ``objective``.
    objective_values: dict[str, float] = field(default_factory=dict)

    @property
    def objective_epoch(self) -> int | None:
        """The epoch (from 1) whose value is the trial's objective: its best epoch so far when
        the study scores the best epoch, else its last (``None`` without a result). Kept in
        the last rung entry (``"epoch"``); older records scored their last epoch."""
        if self.objective is None or not self.rungs:
            return None
        entry = self.rungs[-1]
        return entry.get("epoch", entry.get("epochs"))

    @property
    def pruned(self) -> bool:
        """Stopped by median pruning before its last epoch."""
        return any(entry.get("pruned") for entry in self.rungs)


@dataclass(frozen=True)
class Tell:
    """One result told to the searcher, in the order it was told."""

    position: int
    number: int
    rung: int | None
    objective: float | None


class Store:
    """Reads and writes one study's database.

    A Study holds its store for as long as it lives; anything else that opens one (export,
    trials, the report, diff) uses ``with Store(folder) as store:`` so that the connection,
    and on read-only media the file, is released when it is done.
    """

    def __init__(self, directory: str | os.PathLike, *, create: bool = False):
        self.layout = StudyLayout(directory)
        self.directory = self.layout.root
        self.path = self.layout.database
        if not self.path.exists():
            if not create:
                raise UsageError(
                    f"{self.directory} is not a study: it has no {DB_NAME}"
                )
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"cannot create the study folder {self.directory}: {exc.strerror}"
                ) from None
        self.read_only = not create and not os.access(self.directory, os.W_OK)
        try:
            if (
                self.read_only
            ):  # read-only media: WAL needs a -shm file it cannot create
                self.db = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?immutable=1", uri=True
                )
            else:
                self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            tables = {
                r[0]
                for r in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            }
            if not tables:
                if not create:
                    raise UsageError(f"{self.path} is empty, not a study database")
                self._create()
            elif tables not in (
                {"meta", "trials"},
                {"meta", "trials", "tells"},
                {"meta", "trials", "tells", "proxies"},
            ):
                raise UsageError(
                    f"{self.path} is not a nascompiler study database (tables: {', '.join(sorted(tables))})"
                )
            version = self._check_version()
            if version < SCHEMA_VERSION:
                self._migrate(version)
        except sqlite3.DatabaseError as exc:
            if "readonly" in str(exc) or not os.access(self.directory, os.W_OK):
                raise UsageError(
                    f"{self.directory} is on read-only storage ({exc}); nascompile trials and "
                    "export can read it, but a search cannot write to it"
                ) from None
            damaged = (
                "; try `sqlite3 study.db .recover`, or start over with --fresh"
                if "malformed" in str(exc)
                else ""
            )
            raise UsageError(
                f"{self.path} is not a valid study database ({exc}){damaged}"
            ) from None

    def _create(self) -> None:
        with self._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT INTO meta VALUES ('schema_version', ?)",
                (json.dumps(SCHEMA_VERSION),),
            )
            db.execute(
                "INSERT INTO meta VALUES ('created_at', ?)", (json.dumps(time.time()),)
            )

    def _check_version(self) -> int:
        row = self.db.execute(
            "SELECT value FROM meta WHERE key='schema_version'"
        ).fetchone()
        if row is None:
            raise UsageError(
                f"{self.path} has no schema version; it is not a nascompiler study database"
            )
        try:
            version = int(json.loads(row[0]))
        except (ValueError, TypeError):
            raise UsageError(
                f"{self.path} has a corrupt schema version {row[0]!r}"
            ) from None
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} was written by a newer nascompiler (schema {version}; this version reads up to "
                f"{SCHEMA_VERSION}); upgrade nascompiler to use this study"
            )
        return version

    def _migrate(self, version: int) -> None:
        """Bring an older database up to :data:`SCHEMA_VERSION`, in one transaction."""
        if version in (2, 3):
            with self._transaction() as db:
                if version == 2:
                    db.execute("ALTER TABLE trials ADD COLUMN objective_values TEXT")
                db.execute(_PROXIES_TABLE)
                _record_migration(db, version)
            return
        if version != 1:
            raise UsageError(f"{self.path} has an unknown schema version {version}")
        self.db.execute(
            "PRAGMA foreign_keys=OFF"
        )  # the table is rebuilt under its references
        with self._transaction() as db:
            db.execute("ALTER TABLE trials RENAME TO trials_v1")
            db.execute(_TRIALS_TABLE)
            db.execute(
                "CREATE TABLE tells (position INTEGER PRIMARY KEY, number INTEGER NOT NULL REFERENCES trials "
                "(number), rung INTEGER, objective REAL)"
            )
            cursor = db.execute("SELECT * FROM trials_v1 ORDER BY number")
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                old = dict(zip(names, row))
                metrics = json.loads(old["metrics"]) if old["metrics"] else {}
                epochs = max((len(v) for v in metrics.values()), default=0)
                rungs = []
                if (
                    old["status"] == TrialStatus.COMPLETE
                    and old["objective"] is not None
                ):
                    rungs = [
                        {"rung": 0, "epochs": epochs, "objective": old["objective"]}
                    ]
                db.execute(
                    "INSERT INTO trials (number, candidate_id, assignment, status, objective, metrics, params, "
                    "seed, asked_after, duplicate_of, started_at, finished_at, fit_seconds, wall_seconds, error, "
                    "epochs, rungs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        old["number"],
                        old["candidate_id"],
                        old["assignment"],
                        old["status"],
                        old["objective"],
                        old["metrics"],
                        old["params"],
                        old["seed"],
                        old["asked_after"],
                        old["duplicate_of"],
                        old["started_at"],
                        old["finished_at"],
                        old["fit_seconds"],
                        old["wall_seconds"],
                        old["error"],
                        epochs if old["status"] != TrialStatus.DUPLICATE else 0,
                        _dumps(rungs),
                    ),
                )
                if old["told_order"] is not None:
                    told = old["objective"] if old["status"] in TOLD_OBJECTIVE else None
                    db.execute(
                        "INSERT INTO tells VALUES (?, ?, NULL, ?)",
                        (old["told_order"], old["number"], told),
                    )
            db.execute("DROP TABLE trials_v1")
            db.execute("CREATE INDEX trials_by_candidate ON trials (candidate_id)")
            db.execute(_PROXIES_TABLE)
            _record_migration(db, version)
        self.db.execute("PRAGMA foreign_keys=ON")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, **values: Any) -> None:
        with self._transaction() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (key, json.dumps(value, sort_keys=True)),
                )

    def touch(self) -> None:
        """Record that the study was just used (``export`` with no ``--study`` picks the latest)."""
        self.set_meta(last_used=time.time())

    # ------------------------------------------------------------------ trials
    def trials(self, status: str | None = None) -> list[TrialRecord]:
        query = (
            "SELECT * FROM trials"
            + (" WHERE status=?" if status else "")
            + " ORDER BY number"
        )
        cursor = self.db.execute(query, (status,) if status else ())
        names = [d[0] for d in cursor.description]
        return [_decode(dict(zip(names, row))) for row in cursor.fetchall()]

    def trial(self, number: int) -> TrialRecord | None:
        cursor = self.db.execute("SELECT * FROM trials WHERE number=?", (number,))
        row = cursor.fetchone()
        return (
            None
            if row is None
            else _decode(dict(zip([d[0] for d in cursor.description], row)))
        )

    def next_number(self) -> int:
        row = self.db.execute("SELECT MAX(number) FROM trials").fetchone()
        return 0 if row[0] is None else row[0] + 1

    def evaluated(self, candidate_id: str) -> TrialRecord | None:
        """The first finished (complete or failed) trial of a candidate, if any."""
        cursor = self.db.execute(
            "SELECT * FROM trials WHERE candidate_id=? AND status IN (?, ?) ORDER BY number LIMIT 1",
            (candidate_id, *EVALUATED),
        )
        row = cursor.fetchone()
        return (
            None
            if row is None
            else _decode(dict(zip([d[0] for d in cursor.description], row)))
        )

    def start_trial(
        self,
        number: int,
        candidate_id: str,
        assignment: dict[str, Any],
        seed: int,
        asked_after: int,
        bracket: int | None = None,
        cost: dict[str, int | None] | None = None,
    ) -> None:
        cost = cost or {}
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trials (number, candidate_id, assignment, status, seed, asked_after, started_at, "
                "bracket, flops, activation_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    number,
                    candidate_id,
                    _dumps(assignment),
                    TrialStatus.RUNNING,
                    seed,
                    asked_after,
                    time.time(),
                    bracket,
                    cost.get("flops"),
                    cost.get("activation_bytes"),
                ),
            )

    def restart_trial(self, number: int) -> None:
        """A trial that was running when the search died runs again."""
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET started_at=? WHERE number=? AND status=?",
                (time.time(), number, TrialStatus.RUNNING),
            )

    def promote_trial(self, number: int) -> None:
        """A trial goes up a rung: it runs again, from its checkpoint."""
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status=? WHERE number=? AND status=?",
                (TrialStatus.RUNNING, number, TrialStatus.COMPLETE),
            )

    def finish_trial(
        self,
        number: int,
        *,
        status: str,
        tell: tuple[int | None, float | None] | None = None,
        objective: float | None = None,
        metrics: dict[str, list[float]] | None = None,
        params: int | None = None,
        fit_seconds: float | None = None,
        wall_seconds: float | None = None,
        error: str | None = None,
        duplicate_of: int | None = None,
        epochs: int = 0,
        rung: int | None = None,
        rungs: list[dict[str, Any]] | None = None,
        checkpoint: str | None = None,
        objective_values: dict[str, float] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Store a trial's result (of its last rung) and, in the same transaction, the
        ``(rung, objective)`` told to the searcher about it and the ``meta`` values given (the
        search time spent so far, so that a kill -9 loses none of it up to this result).
        """
        if status not in STATUSES or status == TrialStatus.RUNNING:
            raise ValueError(f"cannot finish a trial with status {status!r}")
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status=?, objective=?, metrics=?, params=?, fit_seconds=?, wall_seconds=?, "
                "error=?, duplicate_of=?, finished_at=?, epochs=?, rung=?, rungs=?, checkpoint=?, objective_values=? "
                "WHERE number=?",
                (
                    status,
                    objective,
                    _dumps(metrics or {}),
                    params,
                    fit_seconds,
                    wall_seconds,
                    error,
                    duplicate_of,
                    time.time(),
                    epochs,
                    rung,
                    _dumps(rungs or []),
                    checkpoint,
                    _dumps(objective_values) if objective_values else None,
                    number,
                ),
            )
            if tell is not None:
                db.execute(
                    "INSERT INTO tells (number, rung, objective) VALUES (?, ?, ?)",
                    (number, tell[0], tell[1]),
                )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_used', ?)",
                (json.dumps(time.time()),),
            )
            for key, value in (meta or {}).items():
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    (key, json.dumps(value)),
                )

    def set_checkpoint(self, number: int, checkpoint: str | None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET checkpoint=? WHERE number=?", (checkpoint, number)
            )

    def set_bracket(self, number: int, bracket: int | None) -> None:
        """The rung trial ``number`` starts at (``--prescreen`` sets it when the trial is chosen)."""
        with self._transaction() as db:
            db.execute("UPDATE trials SET bracket=? WHERE number=?", (bracket, number))

    def set_proxies(
        self, number: int, scores: dict[str, float], seconds: dict[str, float]
    ) -> None:
        """Store trial ``number``'s zero-cost proxy scores (and the seconds each took)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO proxies VALUES (?, ?, ?, ?)",
                [
                    (number, name, value, seconds.get(name))
                    for name, value in scores.items()
                ],
            )

    def proxies(self) -> dict[int, dict[str, tuple[float | None, float | None]]]:
        """Every stored proxy score: ``{trial number: {proxy: (value, seconds)}}``."""
        found: dict[int, dict[str, tuple[float | None, float | None]]] = {}
        for number, name, value, seconds in self.db.execute(
            "SELECT number, name, value, seconds FROM proxies ORDER BY number, name"
        ):
            found.setdefault(number, {})[name] = (value, seconds)
        return found

    def tells(self) -> list[Tell]:
        rows = self.db.execute(
            "SELECT position, number, rung, objective FROM tells ORDER BY position"
        ).fetchall()
        return [Tell(*row) for row in rows]

    def tell_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM tells").fetchone()[0]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM trials GROUP BY status"
        ).fetchall()
        counts = {s: 0 for s in STATUSES}
        counts.update(dict(rows))
        return counts

    def leaderboard(self, direction: str) -> list[TrialRecord]:
        """Complete trials, best first: more epochs trained first (a score after one epoch never
        beats one after nine), then by objective, then the earlier trial."""
        complete = [
            t for t in self.trials(TrialStatus.COMPLETE) if t.objective is not None
        ]
        return sorted(complete, key=lambda t: rank_key(t, direction))


def rank_key(trial: TrialRecord, direction: str) -> tuple[int, float, int]:
    """Sort key of a complete trial on the leaderboard (smaller is better)."""
    return (
        -trial.epochs,
        -Direction(direction).oriented(trial.objective),
        trial.number,
    )


def _record_migration(db: sqlite3.Connection, version: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
        (json.dumps(SCHEMA_VERSION),),
    )
    db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('migrated_from', ?)",
        (json.dumps(version),),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=False, allow_nan=True)


def _decode(row: dict[str, Any]) -> TrialRecord:
    try:
        row["assignment"] = {
            k: from_json(v) for k, v in json.loads(row["assignment"]).items()
        }
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else {}
        row["rungs"] = json.loads(row["rungs"]) if row["rungs"] else []
        row["objective_values"] = (
            json.loads(row["objective_values"]) if row.get("objective_values") else {}
        )
    except (ValueError, TypeError, AttributeError) as exc:  # edited or damaged by hand
        raise UsageError(
            f"{DB_NAME}: trial #{row.get('number')} holds unreadable data ({type(exc).__name__}: "
            f"{exc}); repair that row or start over with --fresh"
        ) from None
    return TrialRecord(**row)


def is_study(directory: str | os.PathLike) -> bool:
    return StudyLayout(directory).database.is_file()


def latest_study(root: str | os.PathLike) -> Path | None:
    """The study under ``root`` used most recently (by its recorded last use, then file time)."""
    found = studies_by_use(root)
    return found[0] if found else None


def studies_by_use(root: str | os.PathLike) -> list[Path]:
    """The studies under ``root``, the most recently used first (by their recorded last use,
    then file time; ties by name)."""
    root = Path(root)
    if not root.is_dir():
        return []
    keyed: list[tuple[float, str, Path]] = []
    for db_path in root.glob(f"*/{DB_NAME}"):
        stamp = db_path.stat().st_mtime
        try:
            with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
                row = db.execute(
                    "SELECT value FROM meta WHERE key='last_used'"
                ).fetchone()
            if row is not None:
                stamp = max(stamp, float(json.loads(row[0])))
        except (sqlite3.DatabaseError, ValueError):
            stamp = db_path.stat().st_mtime  # unreadable: judge it by its file time
        keyed.append((stamp, db_path.parent.name, db_path.parent))
    return [path for _, _, path in sorted(keyed, reverse=True)]
