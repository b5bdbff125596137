"""``nascompile report``: a study as one self-contained HTML page.

The page opens offline and requests nothing from any host: plotly.js, the styles, the data and
the few lines of script that sort and filter the leaderboard are inlined. Everything that comes
from the study (parameter names and values, errors, file names, the candidates' source) is
user data and is escaped on the way in: text through Jinja's autoescape or Pygments, figure
data as JSON inside a ``<script type="application/json">`` with ``<``, ``>`` and ``&`` written
as ``\\u`` escapes, and plotly labels HTML-escaped because plotly renders a subset of HTML in
them.

Figures are plain dicts in plotly's JSON schema, not plotly objects: plotly's validation of
every trace would cost more than the rest of the report, which is rewritten while the search
runs (:mod:`.live`). A :class:`ReportCache` keeps what does not change between two rewrites
(plotly.js, highlighted modules, the winner's diagram, importances).

Under a multi-fidelity scheduler (ASHA, Hyperband) a trial has one score per rung it reached
(after 1, 3, 9 epochs, say); every plot draws those scores per rung, each rung in its own
colour and symbol with its own legend entry, so scores after different numbers of epochs are
never mixed up.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .._version import __version__
from ..codegen.templates import template
from ..config.settings import TrainingSettings
from ..deliver.diff import (
    candidate_path,
    change_lines,
    describe_value,
    diff_trials,
)
from ..errors import NascompilerError, UsageError
from ..fileio import Product, check_target, head, write_atomic
from ..kinds import Direction, TrialStatus
from ..literals import literal_key
from ..search.console import format_objective, format_seconds
from ..storage.layout import StudyLayout
from ..storage.pareto import pareto_front
from ..storage.ranking import ONESHOT, rank_correlations
from ..storage.store import Store, TrialRecord
from ..storage.summary import epochs_trained

TEMPLATE = "report.html.j2"
TEMPLATE_NAME = "plotly_white"  # plotly's figure template (colours, grid)
MAX_PARAMETER_PLOTS = 60
HIGHLIGHTED_ROWS = 30  # leaderboard rows whose code is syntax-highlighted
LIVE_REFRESH_SECONDS = 10  # a live page reloads itself this often
STATUS_STYLE = {  # status -> (marker symbol, colour) on the objective plots
    TrialStatus.COMPLETE: ("circle", "#1f77b4"),
    TrialStatus.DUPLICATE: ("circle-open", "#7f7f7f"),
    TrialStatus.FAILED: ("x", "#d62728"),
}
OTHER_STATUS_STYLE = ("triangle-up", "#ff7f0e")  # over budget, pruned, stopped ...
# One colour and symbol per rung (rung 0 = the fewest epochs); more rungs than this cycle.
RUNG_STYLE = (
    ("#ff7f0e", "circle"),
    ("#2ca02c", "square"),
    ("#1f77b4", "diamond"),
    ("#9467bd", "triangle-up"),
    ("#8c564b", "star"),
    ("#e377c2", "hexagon"),
)
FAILED_STYLE = ("x", "#d62728")
TITLE_PAD = 34  # px between the top of a figure and its title: the toolbar's row


class ReportUnavailable(UsageError):
    """plotly (the ``report`` extra) is not installed."""


def default_report_path(directory: Path) -> Path:
    return StudyLayout(directory).report


def write_report(
    directory: Path,
    out: Path | None = None,
    *,
    force: bool = False,
    live: bool = False,
    cache: "ReportCache | None" = None,
    store: Store | None = None,
    space: Any = None,
) -> Path:
    """Write the report of the study in ``directory``; returns the file written. ``live``: the
    page reloads itself every few seconds (the search or ``report --watch`` rewrites it). An
    existing file there is replaced only when it is a report (or with ``force``), and never a
    folder, a link or a device (see :mod:`nascompiler.fileio`)."""
    path = Path(out) if out else default_report_path(directory)
    check_target(path, REPORT, force)  # before the work of building the page
    page = build_report(directory, live=live, cache=cache, store=store, space=space)
    return write_atomic(path, page, REPORT, force)


GENERATOR = '<meta name="generator" content="nascompiler report">'


def _is_report(path: Path) -> bool:
    start = head(path, 8192)
    # The generator line; reports written before it had only their title.
    return GENERATOR.encode() in start or b": nascompiler report</title>" in start


REPORT = Product("nascompile report", _is_report, force_hint="pass --force")


def _plotly():
    try:
        import plotly  # noqa: F401
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ReportUnavailable(
            "the HTML report needs plotly: pip install 'nascompiler[report]'"
        ) from None
    return get_plotlyjs


# ------------------------------------------------------------------------------ helpers


def label(value: Any) -> str:
    """Text for a plotly label: plotly renders a subset of HTML in labels, so escape it."""
    return html.escape(str(value), quote=False)


def value_text(value: Any) -> str:
    """A parameter value as the user wrote it: strings bare, everything else as Python."""
    return value if isinstance(value, str) else repr(value)


def finite(value: float | None) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    moment = _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# The terminal's formats, so the report and the leaderboard read the same.
seconds_text = format_seconds
objective_text = format_objective


def duration_text(seconds: Any) -> str:
    """``3h05m12s``, ``4m03s``, ``12.5s``: a duration as people read it."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def trial_colour(index: int) -> str:
    """The colour of the ``index``-th trial: hues a golden angle apart, in three lightnesses,
    so that no two trials of a study share one (plotly's palette repeats after 10)."""
    hue = (index * 137.508) % 360
    lightness = (42, 30, 55)[(index // 7) % 3]
    return f"hsl({hue:.1f},70%,{lightness}%)"


def rung_style(rung: int) -> tuple[str, str]:
    return RUNG_STYLE[rung % len(RUNG_STYLE)]


def rung_name(rung: int, epochs: int | None) -> str:
    return f"rung {rung} ({epochs} epoch{'' if epochs == 1 else 's'})"


def best_so_far(values: Iterable[float | None], direction: str) -> list[float | None]:
    direction = Direction(direction)
    best: float | None = None
    out = []
    for value in values:
        if value is not None and (best is None or direction.better(value, best)):
            best = value
        out.append(best)
    return out


def rung_marks(record: TrialRecord) -> list[tuple[int, str]]:
    """``(epoch, text)`` where the trial reached a rung, from the record's rung history when
    the store has one (multi-fidelity schedulers), else its final rung if it has one."""
    history = getattr(record, "rungs", None) or getattr(record, "rung_history", None)
    marks: list[tuple[int, str]] = []
    for index, entry in enumerate(history or []):
        if isinstance(entry, dict):
            epochs = entry.get("epochs", entry.get("epoch"))
            rung = entry.get("rung", index)
            extra = entry.get("decision") or (
                "promoted"
                if entry.get("promoted")
                else "stopped" if entry.get("promoted") is False else ""
            )
        else:
            epochs, rung, extra = entry, index, ""
        if isinstance(epochs, int) and epochs > 0:
            marks.append(
                (
                    epochs,
                    f"rung {rung} ({epochs} epochs)" + (f", {extra}" if extra else ""),
                )
            )
    rung = getattr(record, "rung", None)
    if not marks and rung is not None:
        epochs = epochs_trained(record)
        if epochs:
            marks.append((epochs, f"rung {rung} ({epochs} epochs)"))
    return marks


def rung_results(record: TrialRecord) -> list[tuple[int, int, float]]:
    """``(rung, epochs, score)`` for every rung a complete trial reached with a finite score."""
    out = []
    for entry in getattr(record, "rungs", None) or []:
        if not isinstance(entry, dict) or entry.get("pruned"):
            continue
        score = finite(entry.get("objective"))
        rung, epochs = entry.get("rung"), entry.get("epochs")
        if score is not None and isinstance(rung, int) and isinstance(epochs, int):
            out.append((rung, epochs, score))
    return out


def _safe_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in, whatever strings it holds."""
    text = json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


@functools.lru_cache(maxsize=1)
def _template_json() -> dict[str, Any]:
    import plotly.io

    return plotly.io.templates[TEMPLATE_NAME].to_plotly_json()


# A marker no study data can spell: autoescape writes user data's "<" as "&lt;".
PLOTLY_PLACEHOLDER = "<!--plotly.js-->"


@functools.lru_cache(maxsize=1)
def _plotly_js() -> str:
    return str(_inline_script(_plotly()()))


def _highlight(source: str, lexer_name: str) -> str:
    """Source as escaped, highlighted HTML (Pygments escapes every character it emits)."""
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    formatter = HtmlFormatter(cssclass="code", nowrap=False)
    return Markup(highlight(source, get_lexer_by_name(lexer_name), formatter))


@functools.lru_cache(maxsize=1)
def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".code")


class ReportCache:
    """What two builds of the same study's report share: highlighted modules by candidate id,
    the winner's diagram, the diff against the runner-up, parameter importances (recomputed at
    most every ``importance_every`` seconds; 0 recomputes whenever the trials changed).
    """

    def __init__(self, importance_every: float = 0.0):
        self.code: dict[str, Any] = {}
        self.diagrams: dict[str, tuple[str | None, str | None]] = {}
        self.diffs: dict[tuple, Any] = {}
        self.importance: dict[str, tuple[float, tuple, Any]] = {}
        self.importance_every = importance_every

    def highlighted(self, candidate_id: str, source: str) -> Any:
        if candidate_id not in self.code:
            self.code[candidate_id] = _highlight(source, "python")
        return self.code[candidate_id]


# ------------------------------------------------------------------------------ the study


@dataclass
class StudyView:
    directory: Path
    meta: dict[str, Any]
    settings: TrainingSettings | None
    trials: list[TrialRecord]
    board: list[TrialRecord]
    counts: dict[str, int]
    objective: str = "objective"
    direction: str = Direction.MAX.value
    start: float = 0.0
    sources: dict[str, str | None] = field(default_factory=dict)
    objectives: tuple[str, ...] = ()  # every objective's name (one for most studies)
    directions: tuple[str, ...] = ()
    rungs: tuple[int, ...] = ()  # epochs of each rung under a multi-fidelity scheduler
    # the stored proxy scores: {trial number: {proxy: (value, seconds)}}
    proxies: dict[int, dict[str, tuple]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.objectives:
            self.objectives = (self.objective,)
            self.directions = (self.direction,)

    @property
    def name(self) -> str:
        return self.directory.resolve().name

    @property
    def multi_fidelity(self) -> bool:
        return len(self.rungs) > 1

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def source(self, record: TrialRecord) -> str | None:
        """The candidate's module, or ``None`` when it has none (not built, file gone)."""
        if record.candidate_id not in self.sources:
            try:
                text = candidate_path(self.directory, record.candidate_id).read_text(
                    encoding="utf-8"
                )
            except (UsageError, OSError):
                text = None
            self.sources[record.candidate_id] = text
        return self.sources[record.candidate_id]

    def values(self, t: TrialRecord) -> tuple[float | None, ...]:
        """Every objective of a trial, in the study's order (the score first)."""
        if not self.multi_objective:
            return (finite(t.objective),)
        stored = t.objective_values or {}
        out = []
        for index, name in enumerate(self.objectives):
            value = stored.get(name)
            if value is None and index == 0:
                value = t.objective
            if value is None and name in ("params", "flops"):
                value = getattr(t, name, None)
            out.append(finite(value))
        return tuple(out)

    def scored(self) -> list[TrialRecord]:
        return [
            t
            for t in self.trials
            if t.status == TrialStatus.COMPLETE and finite(t.objective) is not None
        ]

    def front(self) -> set[int]:
        """Trial numbers on the Pareto front of every objective (multi-objective studies)."""
        if not self.multi_objective:
            return set()
        scored = self.scored()
        points = [self.values(t) for t in scored]
        return {scored[i].number for i in pareto_front(points, self.directions)}


META_KEYS = (
    "space_file",
    "searcher",
    "searcher_options",
    "seed",
    "scheduler",
    "prescreen",
    "prescreen_group",  # the slot being screened (bookkeeping)
    "settings",
    "data_summary",
    "fingerprint",
    "created_at",
    "last_used",
    "search_seconds",
)


def load_study(directory: Path, store: Store | None = None) -> StudyView:
    """The study as the report reads it; ``store``: an open store of it to read (the running
    search's own), else one is opened and closed."""
    if store is None:
        with Store(directory) as opened:
            return load_study(directory, opened)
    keys = [r[0] for r in store.db.execute("SELECT key FROM meta ORDER BY key")]
    meta = {key: store.get_meta(key) for key in keys}
    raw = meta.get("settings")
    settings = TrainingSettings.from_json(raw) if raw else None
    direction = settings.direction if settings else Direction.MAX.value
    trials = store.trials()
    scheduler = meta.get("scheduler")
    rungs: tuple[int, ...] = ()
    if isinstance(scheduler, dict) and scheduler.get("name") in ("asha", "hyperband"):
        rungs = tuple(r for r in scheduler.get("rungs") or () if isinstance(r, int))
    view = StudyView(
        directory=Path(directory),
        meta=meta,
        settings=settings,
        trials=trials,
        board=store.leaderboard(direction),
        counts=store.counts(),
        objective=settings.objective if settings else "objective",
        direction=direction,
        objectives=settings.objective_names if settings else (),
        directions=settings.directions if settings else (),
        rungs=rungs,
        proxies=store.proxies(),
    )
    starts = [t.started_at for t in trials] + (
        [meta["created_at"]] if isinstance(meta.get("created_at"), (int, float)) else []
    )
    view.start = min(starts) if starts else 0.0
    return view


# ------------------------------------------------------------------------------ figures


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    """A figure's layout; the title sits below the row where plotly's toolbar appears."""
    layout = {
        "title": {
            "text": label(title),
            "x": 0.01,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": TITLE_PAD},
            "font": {"size": 15},
        },
        "margin": {"l": 60, "r": 20, "t": TITLE_PAD + 46, "b": 50},
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def _scatter(x: list, y: list, **extra: Any) -> dict[str, Any]:
    return {"type": "scatter", "x": x, "y": y, **extra}


def _trial_hover(view: StudyView, t: TrialRecord, extra: str = "") -> str:
    lines = [
        f"trial #{t.number} {t.candidate_id or '(not built)'}",
        f"status: {t.status}",
    ]
    if view.multi_objective:
        for name, value in zip(view.objectives, view.values(t)):
            lines.append(f"{name}: {_number_text(value)}")
    elif t.objective is not None:
        lines.append(
            f"{view.objective}: {objective_text(finite(t.objective))}"
            + (f" after {t.epochs} epochs" if view.multi_fidelity else "")
        )
    if extra:
        lines.append(extra)
    if t.duplicate_of is not None:
        lines.append(f"same architecture as trial #{t.duplicate_of}")
    if t.params is not None:
        lines.append(f"{t.params:,} parameters")
    if t.error:
        lines.append(
            "error: " + (t.error if len(t.error) < 200 else t.error[:200] + "...")
        )
    return "<br>".join(label(line) for line in lines)


def _number_text(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"


def _finished(view: StudyView) -> list[TrialRecord]:
    """The trials with a result to draw (not running; not screened out by --prescreen,
    which were never meant to train)."""
    return [
        t
        for t in view.trials
        if t.status not in (TrialStatus.RUNNING, TrialStatus.SCREENED)
    ]


def _baseline(view: StudyView) -> float:
    """Where trials without an objective are drawn: at the worst objective seen."""
    values = [finite(t.objective) for t in view.trials]
    values = [v for v in values if v is not None]
    if not values:
        return 0.0
    # The least good value: the minimum when maximising, the maximum when minimising.
    return min(values, key=Direction(view.direction).oriented)


def _status_order(status: str) -> tuple:
    known = (TrialStatus.COMPLETE, TrialStatus.DUPLICATE, TrialStatus.FAILED)
    return (known.index(status) if status in known else len(known), status)


def progress_figures(view: StudyView) -> dict[str, Any]:
    """Best objective so far against wall time and trial number, every trial a point; under a
    multi-fidelity scheduler one best-so-far line and one colour per rung."""
    finished = _finished(view)
    if not finished:
        return {}
    figures = {}
    for key, title, x_title in (
        (
            "progress-time",
            f"Best {view.objective} so far against wall time",
            "seconds since the study started",
        ),
        (
            "progress-trials",
            f"Best {view.objective} so far against trial number",
            "trial",
        ),
    ):
        if view.multi_fidelity:
            traces = _rung_progress(view, finished, by_time=key == "progress-time")
            title += " (per rung)"
        else:
            traces = _plain_progress(view, finished, by_time=key == "progress-time")
        figures[key] = {
            "data": traces,
            "layout": _layout(
                title,
                xaxis={"title": {"text": x_title}},
                yaxis={"title": {"text": label(view.objective)}},
                height=440,
                legend={"orientation": "h", "y": -0.22},
            ),
        }
    return figures


def _when(view: StudyView, t: TrialRecord) -> float:
    return (t.finished_at or t.started_at) - view.start


def _plain_progress(view: StudyView, finished: list, by_time: bool) -> list[dict]:
    baseline = _baseline(view)
    if by_time:
        ordered = sorted(
            finished, key=lambda t: (t.finished_at or t.started_at, t.number)
        )
    else:
        ordered = sorted(finished, key=lambda t: t.number)
    x_of = (lambda t: _when(view, t)) if by_time else (lambda t: t.number)
    best = best_so_far(
        [
            finite(t.objective) if t.status == TrialStatus.COMPLETE else None
            for t in ordered
        ],
        view.direction,
    )
    traces = [
        _scatter(
            [x_of(t) for t in ordered],
            best,
            mode="lines",
            line={"shape": "hv", "color": "#2ca02c", "width": 2},
            name="best so far",
            hoverinfo="skip",
        )
    ]
    for status in sorted({t.status for t in ordered}, key=_status_order):
        group = [t for t in ordered if t.status == status]
        symbol, colour = STATUS_STYLE.get(status, OTHER_STATUS_STYLE)
        traces.append(
            _scatter(
                [x_of(t) for t in group],
                [
                    finite(t.objective) if finite(t.objective) is not None else baseline
                    for t in group
                ],
                mode="markers",
                marker={"symbol": symbol, "color": colour, "size": 9},
                name=label(
                    status
                    + (
                        " (drawn at the worst objective)"
                        if status == TrialStatus.FAILED
                        else ""
                    )
                ),
                hovertext=[_trial_hover(view, t) for t in group],
                hoverinfo="text",
            )
        )
    return traces


def _rung_progress(view: StudyView, finished: list, by_time: bool) -> list[dict]:
    """Against trial number: every rung a trial reached is a point at its number. Against
    time: the store keeps when a trial's last result came, so each trial is drawn once, at
    that time, with the score of its highest rung."""
    points: dict[int, list[tuple[float, float, TrialRecord]]] = {}
    for t in finished:
        results = rung_results(t) if t.status == TrialStatus.COMPLETE else []
        if by_time and results:
            results = [max(results)]
        for rung, _epochs, score in results:
            x = _when(view, t) if by_time else t.number
            points.setdefault(rung, []).append((x, score, t))
    traces: list[dict] = []
    for rung in sorted(points):
        group = sorted(points[rung], key=lambda p: (p[0], p[2].number))
        colour, symbol = rung_style(rung)
        epochs = view.rungs[rung] if rung < len(view.rungs) else None
        name = rung_name(rung, epochs)
        traces.append(
            _scatter(
                [p[0] for p in group],
                best_so_far([p[1] for p in group], view.direction),
                mode="lines",
                line={"shape": "hv", "color": colour, "width": 1.5, "dash": "dot"},
                name=label(f"best so far, {name}"),
                legendgroup=f"rung-{rung}",
                hoverinfo="skip",
            )
        )
        traces.append(
            _scatter(
                [p[0] for p in group],
                [p[1] for p in group],
                mode="markers",
                marker={"symbol": symbol, "color": colour, "size": 9},
                name=label(name),
                legendgroup=f"rung-{rung}",
                hovertext=[
                    _trial_hover(view, p[2], f"{view.objective} at {name}: {p[1]:.4f}")
                    for p in group
                ],
                hoverinfo="text",
            )
        )
    failed = [t for t in finished if t.status == TrialStatus.FAILED]
    if failed:
        baseline = _baseline(view)
        traces.append(
            _scatter(
                [_when(view, t) if by_time else t.number for t in failed],
                [baseline] * len(failed),
                mode="markers",
                marker={"symbol": FAILED_STYLE[0], "color": FAILED_STYLE[1], "size": 9},
                name="failed (drawn at the worst objective)",
                hovertext=[_trial_hover(view, t) for t in failed],
                hoverinfo="text",
            )
        )
    return traces


def _axis_domains(count: int, gap: float) -> list[tuple[float, float]]:
    """``count`` equal spans of [0, 1] from the top down, ``gap`` apart."""
    if count <= 1:
        return [(0.0, 1.0)]
    size = (1.0 - gap * (count - 1)) / count
    return [
        (1.0 - i * (size + gap) - size, 1.0 - i * (size + gap)) for i in range(count)
    ]


def learning_curve_figure(view: StudyView) -> dict[str, Any] | None:
    """Train and validation curves per epoch, one line (and colour) per trial; the epochs of
    the rungs as dotted lines and each trial's rung results as diamonds."""
    curves = [
        t
        for t in view.trials
        if t.metrics and t.status != TrialStatus.DUPLICATE and epochs_trained(t) > 0
    ]
    if not curves:
        return None
    names: list[str] = []
    for t in curves:
        names.extend(n for n in t.metrics if n not in names)
    bases = [n for n in names if not n.startswith("val_")]
    bases += [n[4:] for n in names if n.startswith("val_") and n[4:] not in bases]
    rows = len(bases)
    # plotly refuses a spacing over 1 / (rows - 1): many metrics, tighter rows
    v_gap = min(0.12, 0.5 / (rows - 1)) if rows > 1 else 0.0
    y_domains = _axis_domains(rows, v_gap)
    x_domains = [(0.0, 0.46), (0.54, 1.0)]
    layout = _layout(
        (
            "Learning curves (dotted lines: the rungs' epochs; diamonds: rung results)"
            if view.multi_fidelity or any(rung_marks(t) for t in curves)
            else "Learning curves"
        ),
        height=320 * rows + 90,
        legend={"title": {"text": "trial"}},
    )
    max_epochs = max(map(epochs_trained, curves))
    annotations, shapes = [], []
    for row, base in enumerate(bases, start=1):
        for col, metric in ((1, base), (2, f"val_{base}")):
            n = (row - 1) * 2 + col
            axis = "" if n == 1 else str(n)
            layout[f"xaxis{axis}"] = {
                "domain": list(x_domains[col - 1]),
                "anchor": f"y{axis}",
                "title": {"text": "epoch"},
                **({"dtick": 1} if max_epochs <= 20 else {}),
            }
            layout[f"yaxis{axis}"] = {
                "domain": list(y_domains[row - 1]),
                "anchor": f"x{axis}",
            }
            title = f"{base} (train)" if col == 1 else f"val_{base} (validation)"
            annotations.append(
                {
                    "text": label(title),
                    "x": sum(x_domains[col - 1]) / 2,
                    "y": y_domains[row - 1][1],
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "center",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 14},
                }
            )
            for epochs in view.rungs if view.multi_fidelity else ():
                shapes.append(
                    {
                        "type": "line",
                        "xref": f"x{axis}",
                        "yref": f"y{axis} domain",
                        "x0": epochs,
                        "x1": epochs,
                        "y0": 0,
                        "y1": 1,
                        "line": {"color": "#9e9e9e", "width": 1, "dash": "dot"},
                    }
                )
    layout["annotations"] = annotations
    layout["shapes"] = shapes
    traces: list[dict[str, Any]] = []
    for index, t in enumerate(curves):
        colour = trial_colour(index)
        name = label(f"#{t.number} {t.candidate_id or ''}".strip())
        marks = dict(rung_marks(t))
        first = True
        for row, base in enumerate(bases, start=1):
            for col, metric in ((1, base), (2, f"val_{base}")):
                values = [finite(v) for v in t.metrics.get(metric, [])]
                if not values:
                    continue
                epochs = list(range(1, len(values) + 1))
                hover = [
                    label(
                        f"trial #{t.number} {t.candidate_id} epoch {e}: {metric}={v}"
                        + (f" - {marks[e]}" if e in marks else "")
                    )
                    for e, v in zip(epochs, values)
                ]
                n = (row - 1) * 2 + col
                axis = "" if n == 1 else str(n)
                traces.append(
                    {
                        "type": "scatter",
                        "x": epochs,
                        "y": values,
                        "xaxis": f"x{axis}",
                        "yaxis": f"y{axis}",
                        "mode": "lines+markers",
                        "line": {"color": colour, "width": 1.5},
                        "marker": {
                            "size": [10 if e in marks else 4 for e in epochs],
                            "symbol": [
                                "diamond" if e in marks else "circle" for e in epochs
                            ],
                        },
                        "name": name,
                        "legendgroup": f"trial-{t.number}",
                        "showlegend": first,
                        "hovertext": hover,
                        "hoverinfo": "text",
                    }
                )
                first = False
    return {"data": traces, "layout": layout}


def _parameter_names(view: StudyView) -> list[str]:
    names: list[str] = []
    for t in view.trials:
        names.extend(n for n in t.assignment if n not in names)
    return names


def _scores(view: StudyView) -> list[tuple[TrialRecord, int | None, float]]:
    """``(trial, rung, score)`` of every complete trial: one per rung reached under a
    multi-fidelity scheduler (rung ``None`` otherwise)."""
    out = []
    for t in view.scored():
        if view.multi_fidelity:
            out.extend((t, rung, score) for rung, _e, score in rung_results(t))
        else:
            out.append((t, None, finite(t.objective)))
    return out


def parameter_figures(view: StudyView) -> tuple[dict[str, Any], int]:
    """For each parameter: the objective of the complete trials by value (box + every point);
    under a multi-fidelity scheduler one box per rung beside each other for every value.
    """
    scores = _scores(view)
    names = _parameter_names(view)
    hover = {t.number: _trial_hover(view, t) for t in view.scored()}
    rungs = sorted({r for _, r, _ in scores if r is not None})
    figures: dict[str, Any] = {}
    for index, name in enumerate(names[:MAX_PARAMETER_PLOTS]):
        keys: dict[str, tuple] = {}
        texts = {}
        for t, _, _ in scores:
            if name in t.assignment:
                value = t.assignment[name]
                text = value_text(value)
                keys.setdefault(text, (0, literal_key(value)))
            else:
                text = "(not active)"
                keys.setdefault(text, (1,))
            texts[t.number] = text
        if not keys:
            continue
        order = sorted(keys, key=lambda k: keys[k])
        traces = []
        for rung in rungs or [None]:
            group = [(t, s) for t, r, s in scores if r == rung]
            group.sort(key=lambda p: (order.index(texts[p[0].number]), p[0].number))
            if not group:
                continue
            trace = {
                "type": "box",
                "x": [label(texts[t.number]) for t, _ in group],
                "y": [s for _, s in group],
                "boxpoints": "all",
                "jitter": 0.4,
                "pointpos": 0,
                "marker": {"size": 6},
                "hovertext": [hover[t.number] for t, _ in group],
                "hoverinfo": "text+y",
            }
            if rung is None:
                trace.update(name=label(view.objective), showlegend=False)
            else:
                colour, symbol = rung_style(rung)
                epochs = view.rungs[rung] if rung < len(view.rungs) else None
                trace.update(
                    name=label(rung_name(rung, epochs)),
                    legendgroup=f"rung-{rung}",
                    showlegend=True,
                    marker={"size": 6, "color": colour, "symbol": symbol},
                    line={"color": colour},
                )
            traces.append(trace)
        layout = _layout(
            name,
            height=340,
            xaxis={
                "type": "category",
                "title": {"text": "value"},
                "categoryorder": "array",
                "categoryarray": [label(k) for k in order],
            },
            yaxis={"title": {"text": label(view.objective)}},
        )
        if rungs:
            layout.update(
                boxmode="group", legend={"orientation": "h", "y": -0.3, "x": 0}
            )
            layout["height"] = 380
        figures[f"parameter-{index}"] = {"data": traces, "layout": layout}
    return figures, len(names)


def cost_figures(view: StudyView) -> tuple[dict[str, Any], list[tuple]]:
    """Objective against each known cost with its Pareto front; also returns the params front.
    Under a multi-fidelity scheduler every rung's scores are drawn in their rung's colour and
    the front is that of the highest rung with results (scores after the most epochs).
    """
    figures: dict[str, Any] = {}
    params_front: list[tuple] = []
    scores = _scores(view)
    for cost in ("params", "flops"):
        if view.multi_objective and cost in view.objectives:
            continue  # the trade-off plots show it against every objective
        costed = [
            (t, r, s)
            for t, r, s in scores
            if isinstance(getattr(t, cost, None), (int, float))
        ]
        if not costed:
            continue
        top = max((r for _, r, _ in costed if r is not None), default=None)
        front_of = [(t, s) for t, r, s in costed if r == top]
        points = [(getattr(t, cost), s, t.number) for t, s in front_of]
        # The study's own Pareto function: the cheaper and the better; ties both stay.
        on = pareto_front([p[:2] for p in points], (Direction.MIN, view.direction))
        front = sorted((points[i] for i in on), key=lambda p: (p[0], p[2]))
        if cost == "params":
            params_front = front
        on_front = {p[2] for p in front}
        by_number = {t.number: t for t, _, _ in costed}
        traces = []
        if top is None:
            rest = [(t, s) for t, s in front_of if t.number not in on_front]
            traces.append(
                _scatter(
                    [getattr(t, cost) for t, _ in rest],
                    [s for _, s in rest],
                    mode="markers",
                    marker={"color": "#9ecae1", "size": 8},
                    name="dominated",
                    hovertext=[_trial_hover(view, t) for t, _ in rest],
                    hoverinfo="text",
                )
            )
            front_name = "Pareto front"
        else:
            for rung in sorted({r for _, r, _ in costed}):
                group = [(t, s) for t, r, s in costed if r == rung]
                colour, symbol = rung_style(rung)
                name = rung_name(
                    rung, view.rungs[rung] if rung < len(view.rungs) else None
                )
                traces.append(
                    _scatter(
                        [getattr(t, cost) for t, _ in group],
                        [s for _, s in group],
                        mode="markers",
                        marker={
                            "color": colour,
                            "symbol": symbol,
                            "size": 8,
                            "opacity": 0.75,
                        },
                        name=label(name),
                        legendgroup=f"rung-{rung}",
                        hovertext=[
                            _trial_hover(
                                view, t, f"{view.objective} at {name}: {s:.4f}"
                            )
                            for t, s in group
                        ],
                        hoverinfo="text",
                    )
                )
            front_name = f"Pareto front of {rung_name(top, view.rungs[top] if top < len(view.rungs) else None)}"
        traces.append(
            _scatter(
                [p[0] for p in front],
                [p[1] for p in front],
                mode="lines+markers",
                line={"shape": "hv", "color": "#d62728"},
                marker={"color": "#d62728", "size": 12, "symbol": "star"},
                name=label(front_name),
                hovertext=[_trial_hover(view, by_number[p[2]]) for p in front],
                hoverinfo="text",
            )
        )
        spread = [getattr(t, cost) for t, _, _ in costed if getattr(t, cost) > 0]
        log = bool(spread) and max(spread) / min(spread) > 10
        figures[f"cost-{cost}"] = {
            "data": traces,
            "layout": _layout(
                f"{view.objective} against {cost} ({front_name.lower()} highlighted)",
                height=420,
                xaxis={"title": {"text": cost}, "type": "log" if log else "linear"},
                yaxis={"title": {"text": label(view.objective)}},
            ),
        }
    return figures, params_front


def tradeoff_figures(view: StudyView) -> dict[str, Any]:
    """A multi-objective study: the score against each other objective, the Pareto front of
    all objectives highlighted (with three or more, a front member may look dominated in one
    pair's projection)."""
    if not view.multi_objective:
        return {}
    scored = view.scored()
    front = view.front()
    figures = {}
    first = view.objectives[0]
    for index, other in enumerate(view.objectives[1:], start=1):
        pairs = [(t, view.values(t)) for t in scored]
        pairs = [(t, v) for t, v in pairs if v[0] is not None and v[index] is not None]
        if not pairs:
            continue
        rest = [(t, v) for t, v in pairs if t.number not in front]
        members = sorted(
            [(t, v) for t, v in pairs if t.number in front],
            key=lambda p: (p[1][index], p[0].number),
        )
        xs = [v[index] for _, v in pairs]
        positive = [x for x in xs if x > 0]
        log = (
            bool(positive) and len(positive) == len(xs) and max(xs) / min(positive) > 30
        )
        figures[f"tradeoff-{index}"] = {
            "data": [
                _scatter(
                    [v[index] for _, v in rest],
                    [v[0] for _, v in rest],
                    mode="markers",
                    marker={"color": "#9ecae1", "size": 8},
                    name="dominated",
                    hovertext=[_trial_hover(view, t) for t, _ in rest],
                    hoverinfo="text",
                ),
                _scatter(
                    [v[index] for _, v in members],
                    [v[0] for _, v in members],
                    mode="lines+markers" if len(view.objectives) == 2 else "markers",
                    line={"shape": "hv", "color": "#d62728"},
                    marker={"color": "#d62728", "size": 12, "symbol": "star"},
                    name="Pareto front",
                    hovertext=[_trial_hover(view, t) for t, _ in members],
                    hoverinfo="text",
                ),
            ],
            "layout": _layout(
                f"{first} ({view.directions[0]}) against {other} ({view.directions[index]})",
                height=440,
                xaxis={
                    "title": {"text": label(f"{other} ({view.directions[index]})")},
                    "type": "log" if log else "linear",
                },
                yaxis={"title": {"text": label(f"{first} ({view.directions[0]})")}},
            ),
        }
    return figures


def oneshot_section(view: StudyView) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A study that scored candidates with the supernet (``--prescreen oneshot:K``): each
    trained trial's one-shot score against its trained score, and how well they agree.
    """
    scores = {
        number: value
        for number, found in view.proxies.items()
        if (value := finite(found.get(ONESHOT, (None,))[0])) is not None
    }
    if not scores:
        return {}, None
    trained = [t for t in view.scored() if t.number in scores]
    screened = sum(
        1
        for t in view.trials
        if t.number in scores and t.status == TrialStatus.SCREENED
    )
    minimised = view.direction == Direction.MIN.value
    # Stored higher-is-better (a minimised objective negated): shown as the metric it is.
    shown = {n: -v if minimised else v for n, v in scores.items()}
    xs = [shown[t.number] for t in trained]
    ys = [float(t.objective or 0.0) for t in trained]  # scored(): finite objectives
    agreement = rank_correlations(
        [scores[t.number] for t in trained],
        [Direction(view.direction).oriented(y) for y in ys],
    )
    note = {
        "scored": len(scores),
        "screened": screened,
        "trained": len(trained),
        "spearman": (
            f"{agreement['spearman']:.2f}"
            if not math.isnan(agreement["spearman"])
            else None
        ),
        "kendall": (
            f"{agreement['kendall']:.2f}"
            if not math.isnan(agreement["kendall"])
            else None
        ),
    }
    if not trained:
        return {}, note
    figure = {
        "data": [
            _scatter(
                xs,
                ys,
                mode="markers",
                marker={"color": "#1f77b4", "size": 9},
                name="trained",
                hovertext=[_trial_hover(view, t) for t in trained],
                hoverinfo="text",
            )
        ],
        "layout": _layout(
            f"{view.objective}: with the supernet's shared weights against trained",
            height=420,
            xaxis={"title": {"text": label(f"one-shot {view.objective}")}},
            yaxis={"title": {"text": label(f"trained {view.objective}")}},
        ),
    }
    return {"oneshot-scores": figure}, note


# ------------------------------------------------------------------------------ importance


def _importance_points(view: StudyView) -> tuple[str, list[tuple[TrialRecord, tuple]]]:
    """Which scores importance and the parallel coordinates use, and a note saying so. Under a
    multi-fidelity scheduler: the rung with the most results (ties: the higher rung)."""
    scored = view.scored()
    if not view.multi_fidelity:
        return "", [(t, view.values(t)) for t in scored]
    counts: dict[int, int] = {}
    for t in scored:
        for rung, _e, _s in rung_results(t):
            counts[rung] = counts.get(rung, 0) + 1
    if not counts:
        return "", []
    rung = max(counts, key=lambda r: (counts[r], r))
    name = rung_name(rung, view.rungs[rung] if rung < len(view.rungs) else None)
    points = []
    for t in scored:
        for r, _e, score in rung_results(t):
            if r == rung:
                points.append((t, (score,)))
    return f"the scores at {name}, the rung with the most results", points


def importance_section(view: StudyView, cache: ReportCache) -> dict[str, Any]:
    """Per objective: fANOVA importances as a bar chart, or why there are none."""
    from .importance import ImportanceUnavailable, fanova

    basis, points = _importance_points(view)
    names = _parameter_names(view)
    objectives = view.objectives if not view.multi_fidelity else (view.objective,)
    directions = view.directions if not view.multi_fidelity else (view.direction,)
    figures: dict[str, Any] = {}
    notes: list[str] = []
    for index, (objective, direction) in enumerate(zip(objectives, directions)):
        usable = [(t.assignment, v[index]) for t, v in points if v[index] is not None]
        key = tuple((t.number, t.epochs, v[index]) for t, v in points)
        cached = cache.importance.get(objective)
        now = time.monotonic()
        if cached is not None and (
            cached[1] == key or now - cached[0] < cache.importance_every
        ):
            result = cached[2]
        else:
            try:
                result = fanova(objective, direction, usable, names)
            except ImportanceUnavailable as exc:
                result = str(exc)
            cache.importance[objective] = (now, key, result)
        if isinstance(result, str):
            notes.append(f"{objective}: {result}.")
            continue
        values = list(reversed(result.values))  # plotly draws bars bottom-up
        figures[f"importance-{index}"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [v for _, v in values],
                    "y": [label(n) for n, _ in values],
                    "marker": {"color": "#5c6bc0"},
                    "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
                    "name": label(objective),
                }
            ],
            "layout": _layout(
                f"Importance for {objective} (fANOVA, {result.trials} trials)",
                height=max(260, 90 + 26 * len(values)),
                margin={"l": 160, "r": 20, "t": TITLE_PAD + 46, "b": 50},
                xaxis={
                    "title": {"text": "share of the variance"},
                    "rangemode": "tozero",
                },
                yaxis={"automargin": True},
            ),
        }
        if result.left_out:
            notes.append(
                f"{objective}: left out (not active in every trial): "
                + ", ".join(result.left_out)
                + "."
            )
    return {"figures": figures, "notes": notes, "basis": basis}


def parallel_figure(view: StudyView) -> dict[str, Any] | None:
    """Every scored trial as a line across one axis per parameter and one per objective,
    coloured by the score; a categorical parameter's values are spread on its axis."""
    basis, points = _importance_points(view)
    if len(points) < 2:
        return None
    names = _parameter_names(view)[:MAX_PARAMETER_PLOTS]
    dimensions = []
    for name in names:
        values = [t.assignment.get(name) for t, _ in points]
        present = [v for v in values if v is not None]
        numeric = present and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in present
        )
        if numeric and len(present) == len(values):
            dimension = {"label": label(name), "values": [float(v) for v in values]}
            distinct = sorted(set(dimension["values"]))
            if len(distinct) <= 12:  # few values: tick exactly those
                dimension["tickvals"] = distinct
                dimension["ticktext"] = [f"{v:g}" for v in distinct]
            dimensions.append(dimension)
            continue
        texts = sorted(
            {value_text(v) for v in present}, key=lambda s: literal_key(s)
        ) + (["(not active)"] if len(present) < len(values) else [])
        where = {text: i for i, text in enumerate(texts)}
        dimensions.append(
            {
                "label": label(name),
                "values": [
                    where[value_text(v) if v is not None else "(not active)"]
                    for v in values
                ],
                "tickvals": list(range(len(texts))),
                "ticktext": [label(s[:18]) for s in texts],
                "range": [-0.5, len(texts) - 0.5],
            }
        )
    objectives = view.objectives if not view.multi_fidelity else (view.objective,)
    for index, objective in enumerate(objectives):
        values = [v[index] for _, v in points]
        if any(v is None for v in values):
            continue
        dimensions.append({"label": label(objective), "values": values})
    score = [v[0] if v[0] is not None else 0.0 for _, v in points]
    reverse = view.directions[0] == Direction.MIN.value
    title = "Parallel coordinates: every scored trial" + (
        f" ({basis})" if basis else ""
    )
    return {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dimensions,
                "line": {
                    "color": score,
                    "colorscale": "Viridis",
                    "reversescale": reverse,
                    "showscale": True,
                    "colorbar": {"title": {"text": label(view.objectives[0])}},
                },
                "labelangle": -20,
                "labelside": "bottom",
            }
        ],
        "layout": _layout(
            title,
            height=480,
            margin={"l": 70, "r": 90, "t": TITLE_PAD + 80, "b": 70},
        ),
    }


# ------------------------------------------------------------------------------ the page


def _data_rows(summary: Any) -> list[dict[str, str]]:
    rows = []
    if not isinstance(summary, dict):
        return rows
    for split, info in summary.items():
        arrays = info.get("inputs", [info]) if isinstance(info, dict) else []
        for index, array in enumerate(arrays):
            if not isinstance(array, dict):
                continue
            name = split if len(arrays) == 1 else f"{split}[{index}]"
            value_range = (
                f"{array['min']:g} .. {array['max']:g}"
                if isinstance(array.get("min"), (int, float))
                and isinstance(array.get("max"), (int, float))
                else "-"
            )
            rows.append(
                {
                    "name": name,
                    "shape": str(tuple(array.get("shape", ()))),
                    "dtype": str(array.get("dtype", "")),
                    "range": value_range,
                }
            )
    return rows


def _meta_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_meta_text(v) for v in value)
    if value is None:
        return "-"
    return json.dumps(value, sort_keys=True)


def _pairs(value: Any) -> Any:
    """A stored value for the definition table: a dict becomes (key, text) rows, anything else
    its text."""
    if isinstance(value, dict):
        return [(str(k).replace("_", " "), _meta_text(v)) for k, v in value.items()]
    return _meta_text(value)


def _scheduler_rows(value: Any) -> Any:
    if not isinstance(value, dict):
        return _meta_text(value or "full (every trial trains all its epochs)")
    rows = [("name", _meta_text(value.get("name")))]
    rungs = value.get("rungs")
    if isinstance(rungs, list) and rungs:
        if value.get("name") in ("asha", "hyperband"):
            rows.append(
                (
                    "rungs",
                    ", ".join(
                        f"{i}: {e} epoch{'' if e == 1 else 's'}"
                        for i, e in enumerate(rungs)
                    ),
                )
            )
        else:
            rows.append(("epochs", _meta_text(rungs[-1])))
    for key, item in value.items():
        if key not in ("name", "rungs") and item is not None:
            rows.append((key.replace("_", " "), _meta_text(item)))
    return rows


def _definition(view: StudyView) -> list[tuple[str, Any]]:
    meta = view.meta
    rows: list[tuple[str, Any]] = [
        ("space file", _meta_text(meta.get("space_file") or "-")),
        ("searcher", _meta_text(meta.get("searcher") or "-")),
        ("searcher options", _pairs(meta.get("searcher_options") or "none")),
        ("seed", _meta_text(meta.get("seed"))),
        ("scheduler", _scheduler_rows(meta.get("scheduler"))),
    ]
    if meta.get("prescreen"):
        rows.append(("prescreen", _meta_text(meta["prescreen"])))
    if view.settings is not None:
        s = view.settings
        rows.append(
            (
                "objectives" if view.multi_objective else "objective",
                ", ".join(
                    f"{n} ({d})" for n, d in zip(view.objectives, view.directions)
                ),
            )
        )
        training = {
            k: v
            for k, v in s.to_json().items()
            if k not in ("objective", "direction", "objectives")
        }
        rows.append(("training", _pairs(training)))
    rows += [
        ("created", utc(meta.get("created_at"))),
        ("last used", utc(meta.get("last_used"))),
        ("search time", duration_text(meta.get("search_seconds"))),
    ]
    for key in sorted(
        meta
    ):  # keys written by later versions show up without a change here
        if key not in META_KEYS and key != "schema_version":
            rows.append((key.replace("_", " "), _pairs(meta[key])))
    return rows


def _sort_value(value: Any) -> str:
    return "" if value is None else repr(float(value))


def _row(
    view: StudyView, rank: int, t: TrialRecord, cache: ReportCache, front: set[int]
) -> dict[str, Any]:
    source = view.source(t)
    if source is None:
        code = None
    elif rank <= HIGHLIGHTED_ROWS:
        code = cache.highlighted(t.candidate_id, source)
    else:  # Pygments takes ~20 ms a module; further down the board, plain escaped text
        code = _plain_code(source)
    values = view.values(t)
    by_rung = {rung: score for rung, _e, score in rung_results(t)}
    assignment = ", ".join(f"{k}={value_text(v)}" for k, v in t.assignment.items())
    return {
        "rank": rank,
        "number": t.number,
        "candidate_id": t.candidate_id,
        "objectives": [
            {"text": _number_text(v), "sort": _sort_value(v)} for v in values
        ],
        "on_front": t.number in front,
        "rung_scores": [
            {
                "text": objective_text(by_rung.get(r)),
                "sort": _sort_value(by_rung.get(r)),
            }
            for r in range(len(view.rungs) if view.multi_fidelity else 0)
        ],
        "objective": objective_text(finite(t.objective)),
        "objective_epoch": getattr(t, "objective_epoch", None),
        "params": f"{t.params:,}" if t.params is not None else "-",
        "params_sort": _sort_value(t.params),
        "epochs": epochs_trained(t),
        "rung": getattr(t, "rung", None),
        "fit": seconds_text(t.fit_seconds),
        "fit_sort": _sort_value(t.fit_seconds),
        "assignment": assignment,
        "search_text": f"#{t.number} {t.candidate_id} {assignment}".lower(),
        "code": code,
    }


def _running(t: TrialRecord, progress: tuple | None) -> dict[str, Any]:
    """A running trial's row: its latest epoch (of how many) and that epoch's values."""
    row = {"number": t.number, "candidate_id": t.candidate_id, "epoch": "-", "logs": ""}
    if progress is not None:
        epoch, target, logs = progress
        row["epoch"] = f"{epoch}" + (f" of {target}" if target else "")
        row["logs"] = ", ".join(
            f"{k}={v:.4f}" if isinstance(v, (int, float)) else f"{k}={v}"
            for k, v in sorted(logs.items())
        )
    return row


def _plain_code(source: str) -> Any:
    from markupsafe import Markup

    return Markup('<div class="code"><pre>') + source + Markup("</pre></div>")


def _diagram(view: StudyView, record: TrialRecord, cache: ReportCache, space: Any):
    """``(svg, None)`` or ``(None, why not)``: the candidate's graph drawn, from the space's IR
    (``space``, or the space file the study recorded) specialised with the trial's values.
    """
    if record.candidate_id in cache.diagrams:
        return cache.diagrams[record.candidate_id]
    from markupsafe import Markup

    from ..ir import specialize
    from .diagram import architecture_svg

    result: tuple[str | None, str | None]
    try:
        if space is None:
            space_file = view.meta.get("space_file")
            if not isinstance(space_file, str) or not Path(space_file).is_file():
                raise UsageError(f"the space file {space_file!r} is not there any more")
            from ..spacefile import load_space_file

            space = load_space_file(space_file).compile()
        graph = specialize(space, record.assignment)
        if graph.id != record.candidate_id:
            raise UsageError(
                "the space file no longer gives this candidate for its values "
                f"(it gives {graph.id})"
            )
        result = (Markup(architecture_svg(graph)), None)
    except (NascompilerError, OSError, SyntaxError) as exc:
        result = (None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # user code in the space file: the report still comes
        result = (None, f"{type(exc).__name__}: {exc}".splitlines()[0])
    cache.diagrams[record.candidate_id] = result
    return result


def _winner(view: StudyView, cache: ReportCache, space: Any) -> dict[str, Any] | None:
    if not view.board:
        return None
    best = view.board[0]
    source = view.source(best)
    diagram, no_diagram = _diagram(view, best, cache, space)
    winner: dict[str, Any] = {
        "number": best.number,
        "candidate_id": best.candidate_id,
        "objective": objective_text(finite(best.objective)),
        "params": f"{best.params:,}" if best.params is not None else "-",
        "epochs": best.epochs,
        "code": (
            cache.highlighted(best.candidate_id, source) if source is not None else None
        ),
        "diagram": diagram,
        "no_diagram": no_diagram,
        "runner_up": None,
    }
    runner_up = next(
        (t for t in view.board[1:] if t.candidate_id != best.candidate_id), None
    )
    if runner_up is not None and source is not None and view.source(runner_up):
        key = (runner_up.number, runner_up.candidate_id, best.number, best.candidate_id)
        if key not in cache.diffs:
            cache.diffs[key] = _runner_up(view, runner_up, best)
        winner["runner_up"] = cache.diffs[key]
    return winner


def _runner_up(view: StudyView, runner_up: TrialRecord, best: TrialRecord) -> dict:
    from .diffview import diff_hunks

    diff = diff_trials(view.directory, runner_up, best)
    header, hunks = diff_hunks(
        view.source(runner_up) or "",
        view.source(best) or "",
        f"candidates/{runner_up.candidate_id}.py (trial #{runner_up.number})",
        f"candidates/{best.candidate_id}.py (trial #{best.number})",
    )
    return {
        "number": runner_up.number,
        "candidate_id": runner_up.candidate_id,
        "objective": objective_text(finite(runner_up.objective)),
        "changes": [
            {
                "name": c.name,
                "a": describe_value(c.a, c.a_active),
                "b": describe_value(c.b, c.b_active),
            }
            for c in diff.changes
        ],
        "summary": change_lines(diff)[0],
        "header": _highlight("\n".join(header) + "\n", "diff") if header else None,
        "hunks": [
            {
                "boilerplate": h.boilerplate,
                "code": _highlight("\n".join(h.lines) + "\n", "diff"),
            }
            for h in hunks
        ],
        "hidden": sum(h.boilerplate for h in hunks),
    }


def build_report(
    directory: Path,
    *,
    live: bool = False,
    cache: ReportCache | None = None,
    store: Store | None = None,
    space: Any = None,
    progress: dict[int, tuple] | None = None,
) -> str:
    """The report of the study in ``directory``, as one HTML page. ``cache`` carries work
    over from an earlier build; ``store``: the study's open store; ``space``: its IR (for the
    winner's diagram; otherwise the recorded space file is loaded); ``progress``: running
    trials' latest epoch, ``number -> (epoch, target epochs or None, logs)``."""
    progress = progress or {}
    plotly_js = _plotly_js()
    cache = cache if cache is not None else ReportCache()
    view = load_study(Path(directory), store)

    figures: dict[str, Any] = {}
    figures.update(progress_figures(view))
    figures.update(tradeoff_figures(view))
    oneshot_figures, oneshot = oneshot_section(view)
    figures.update(oneshot_figures)
    curves = learning_curve_figure(view)
    if curves is not None:
        figures["learning-curves"] = curves
    importance = importance_section(view, cache)
    figures.update(importance["figures"])
    parallel = parallel_figure(view)
    if parallel is not None:
        figures["parallel"] = parallel
    parameter_plots, parameter_count = parameter_figures(view)
    figures.update(parameter_plots)
    cost_plots, params_front = cost_figures(view)
    figures.update(cost_plots)

    counts = view.counts
    finished = [t for t in view.trials if t.status != TrialStatus.RUNNING]
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no trials yet"
    if counts.get(TrialStatus.RUNNING) and not live:
        status += (
            " (running now, or interrupted: they run again when the search is resumed)"
        )
    front = view.front()
    front_rows = sorted(
        (t for t in view.scored() if t.number in front),
        key=lambda t: (
            tuple(
                -Direction(d).oriented(v) if v is not None else math.inf
                for v, d in zip(view.values(t), view.directions)
            ),
            t.number,
        ),
    )
    page = template(TEMPLATE).render(
        name=view.name,
        directory=str(view.directory),
        version=__version__,
        live=live,
        refresh_seconds=LIVE_REFRESH_SECONDS,
        written=utc(time.time()) if live else None,
        objective=view.objective,
        direction=view.direction,
        objectives=list(zip(view.objectives, view.directions)),
        multi_objective=view.multi_objective,
        multi_fidelity=view.multi_fidelity,
        rungs=[
            {
                "name": rung_name(i, e),
                "epochs": e,
                "colour": rung_style(i)[0],
            }
            for i, e in enumerate(view.rungs if view.multi_fidelity else ())
        ],
        status=status,
        running=[
            _running(t, progress.get(t.number))
            for t in view.trials
            if t.status == TrialStatus.RUNNING
        ],
        finished=len(finished),
        best=(_row(view, 1, view.board[0], cache, front) if view.board else None),
        definition=_definition(view),
        settings=view.settings,
        data_rows=_data_rows(view.meta.get("data_summary")),
        figure_ids=list(figures),
        tradeoff_ids=[k for k in figures if k.startswith("tradeoff-")],
        oneshot=oneshot,
        oneshot_plot="oneshot-scores" in figures,
        importance_ids=[k for k in figures if k.startswith("importance-")],
        importance_notes=importance["notes"],
        importance_basis=importance["basis"],
        parameter_ids=[k for k in figures if k.startswith("parameter-")],
        parameter_count=parameter_count,
        max_parameter_plots=MAX_PARAMETER_PLOTS,
        cost_ids=[k for k in figures if k.startswith("cost-")],
        pareto=[
            {"number": n, "cost": f"{int(c):,}", "objective": objective_text(o)}
            for c, o, n in params_front
        ],
        front=[
            {
                "number": t.number,
                "candidate_id": t.candidate_id,
                "scores": [_number_text(v) for v in view.values(t)],
            }
            for t in front_rows
        ],
        leaderboard=[
            _row(view, rank, t, cache, front)
            for rank, t in enumerate(view.board, start=1)
        ],
        show_rung=any(getattr(t, "rung", None) is not None for t in view.trials),
        failed=[
            {
                "number": t.number,
                "candidate_id": t.candidate_id or "(not built)",
                "status": t.status,
                "error": t.error or "",
            }
            for t in view.trials
            if t.status
            not in (
                TrialStatus.COMPLETE,
                TrialStatus.DUPLICATE,
                TrialStatus.RUNNING,
                TrialStatus.SCREENED,
            )
        ],
        winner=_winner(view, cache, space),
        code_css=_pygments_css(),
        plotly_js=_inline_script(PLOTLY_PLACEHOLDER),
        figures_json=_figures_json(figures),
    )
    # plotly.js (4.6 MB) is spliced in after rendering: through the template, autoescape's
    # Markup would copy it several times per build.
    before, after = page.split(PLOTLY_PLACEHOLDER, 1)
    return before + plotly_js + after


def _inline_script(code: str) -> Any:
    from markupsafe import Markup

    # An inline script ends at the first "</script"; plotly.js has none, keep it that way.
    return Markup(code.replace("</script", "<\\/script"))


def _figures_json(figures: dict[str, Any]) -> Any:
    """The figures, and plotly's template once (the page gives it to every figure)."""
    from markupsafe import Markup

    return Markup(_safe_json({"figures": figures, "template": _template_json()}))
