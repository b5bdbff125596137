"""``nascompile report``: a study as one self-contained HTML page.

The page opens offline and requests nothing from any host: plotly.js, the styles and the data
are inlined. Everything that comes from the study (parameter names and values, errors, file
names, the candidates' source) is user data and is escaped on the way in: text through Jinja's
autoescape or Pygments, figure data as JSON inside a ``<script type="application/json">`` with
``<``, ``>`` and ``&`` written as ``\\u`` escapes, and plotly labels HTML-escaped because
plotly renders a subset of HTML in them.

Records are read with ``getattr`` and defaults for fields that later schedulers add (``rung``,
rung history, ``flops``), so the report works on old and new studies alike.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import json
import math
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
from ..errors import UsageError
from ..fileio import Product, check_target, head, write_atomic
from ..kinds import Direction, TrialStatus
from ..literals import literal_key
from ..search.console import format_objective, format_seconds
from ..storage.layout import StudyLayout
from ..storage.pareto import pareto_front
from ..storage.store import Store, TrialRecord
from ..storage.summary import epochs_trained

TEMPLATE = "report.html.j2"
TEMPLATE_NAME = "plotly_white"  # plotly's figure template (colours, grid)
MAX_PARAMETER_PLOTS = 60
HIGHLIGHTED_ROWS = 30  # leaderboard rows whose code is syntax-highlighted
STATUS_STYLE = {  # status -> (marker symbol, colour) on the objective plots
    TrialStatus.COMPLETE: ("circle", "#1f77b4"),
    TrialStatus.DUPLICATE: ("circle-open", "#7f7f7f"),
    TrialStatus.FAILED: ("x", "#d62728"),
}
OTHER_STATUS_STYLE = ("triangle-up", "#ff7f0e")  # over budget, pruned, stopped ...
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


class ReportUnavailable(UsageError):
    """plotly (the ``report`` extra) is not installed."""


def default_report_path(directory: Path) -> Path:
    return StudyLayout(directory).report


def write_report(directory: Path, out: Path | None = None, force: bool = False) -> Path:
    """Write the report of the study in ``directory``; returns the file written. An existing
    file there is replaced only when it is a report (or with ``force``), and never a folder,
    a link or a device (see :mod:`nascompiler.fileio`)."""
    path = Path(out) if out else default_report_path(directory)
    check_target(path, REPORT, force)  # before the work of building the page
    return write_atomic(path, build_report(directory), REPORT, force)


GENERATOR = '<meta name="generator" content="nascompiler report">'


def _is_report(path: Path) -> bool:
    start = head(path, 8192)
    # The generator line; reports written before it had only their title.
    return GENERATOR.encode() in start or b": nascompiler report</title>" in start


REPORT = Product("nascompile report", _is_report, force_hint="pass --force")


def _plotly():
    try:
        import plotly.graph_objects as go
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ReportUnavailable(
            "the HTML report needs plotly: pip install 'nascompiler[report]'"
        ) from None
    return go, get_plotlyjs


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


def _safe_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in, whatever strings it holds."""
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(value, cls=PlotlyJSONEncoder, sort_keys=True, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@functools.lru_cache(maxsize=1)
def _template_json() -> dict[str, Any]:
    import plotly.io

    return plotly.io.templates[TEMPLATE_NAME].to_plotly_json()


def _highlight(source: str, lexer_name: str) -> str:
    """Source as escaped, highlighted HTML (Pygments escapes every character it emits)."""
    from markupsafe import Markup
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    formatter = HtmlFormatter(cssclass="code", nowrap=False)
    return Markup(highlight(source, get_lexer_by_name(lexer_name), formatter))


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".code")


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

    @property
    def name(self) -> str:
        return self.directory.resolve().name

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


META_KEYS = (
    "space_file",
    "searcher",
    "searcher_options",
    "seed",
    "scheduler",
    "settings",
    "data_summary",
    "fingerprint",
    "created_at",
    "last_used",
)


def load_study(directory: Path) -> StudyView:
    with Store(directory) as store:
        keys = [r[0] for r in store.db.execute("SELECT key FROM meta ORDER BY key")]
        meta = {key: store.get_meta(key) for key in keys}
        raw = meta.get("settings")
        settings = TrainingSettings.from_json(raw) if raw else None
        direction = settings.direction if settings else Direction.MAX.value
        trials = store.trials()
        view = StudyView(
            directory=Path(directory),
            meta=meta,
            settings=settings,
            trials=trials,
            board=store.leaderboard(direction),
            counts=store.counts(),
            objective=settings.objective if settings else "objective",
            direction=direction,
        )
    starts = [t.started_at for t in trials] + (
        [meta["created_at"]] if isinstance(meta.get("created_at"), (int, float)) else []
    )
    view.start = min(starts) if starts else 0.0
    return view


# ------------------------------------------------------------------------------ figures


def _base_layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": label(title)},
        "template": TEMPLATE_NAME,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def _trial_hover(view: StudyView, t: TrialRecord) -> str:
    lines = [
        f"trial #{t.number} {t.candidate_id or '(not built)'}",
        f"status: {t.status}",
    ]
    if t.objective is not None:
        lines.append(f"{view.objective}: {objective_text(finite(t.objective))}")
    if t.duplicate_of is not None:
        lines.append(f"same architecture as trial #{t.duplicate_of}")
    if t.params is not None:
        lines.append(f"{t.params:,} parameters")
    if t.error:
        lines.append(
            "error: " + (t.error if len(t.error) < 200 else t.error[:200] + "...")
        )
    return "<br>".join(label(line) for line in lines)


def _finished(view: StudyView) -> list[TrialRecord]:
    return [t for t in view.trials if t.status != TrialStatus.RUNNING]


def _baseline(view: StudyView) -> float:
    """Where trials without an objective are drawn: at the worst objective seen."""
    values = [finite(t.objective) for t in view.trials]
    values = [v for v in values if v is not None]
    if not values:
        return 0.0
    # The least good value: the minimum when maximising, the maximum when minimising.
    return min(values, key=Direction(view.direction).oriented)


def progress_figures(go, view: StudyView) -> dict[str, Any]:
    """Best objective so far against wall time and trial number, every trial a point."""
    finished = _finished(view)
    if not finished:
        return {}
    baseline = _baseline(view)
    figures = {}
    for key, title, x_of, order in (
        (
            "progress-time",
            f"Best {view.objective} so far against wall time",
            lambda t: (t.finished_at or t.started_at) - view.start,
            lambda t: (t.finished_at or t.started_at, t.number),
        ),
        (
            "progress-trials",
            f"Best {view.objective} so far against trial number",
            lambda t: t.number,
            lambda t: (t.number,),
        ),
    ):
        ordered = sorted(finished, key=order)
        best = best_so_far(
            [
                finite(t.objective) if t.status == TrialStatus.COMPLETE else None
                for t in ordered
            ],
            view.direction,
        )
        fig = go.Figure()
        fig.add_trace(
            go.Scatter(
                x=[x_of(t) for t in ordered],
                y=best,
                mode="lines",
                line={"shape": "hv", "color": "#2ca02c", "width": 2},
                name="best so far",
                hoverinfo="skip",
            )
        )
        statuses = sorted({t.status for t in ordered}, key=_status_order)
        for status in statuses:
            group = [t for t in ordered if t.status == status]
            symbol, colour = STATUS_STYLE.get(status, OTHER_STATUS_STYLE)
            fig.add_trace(
                go.Scatter(
                    x=[x_of(t) for t in group],
                    y=[
                        (
                            finite(t.objective)
                            if finite(t.objective) is not None
                            else baseline
                        )
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
        x_title = (
            "seconds since the study started" if key == "progress-time" else "trial"
        )
        fig.update_layout(
            **_base_layout(
                title,
                xaxis={"title": {"text": x_title}},
                yaxis={"title": {"text": label(view.objective)}},
                height=420,
                legend={"orientation": "h", "y": -0.25},
            )
        )
        figures[key] = fig
    return figures


def _status_order(status: str) -> tuple:
    known = (TrialStatus.COMPLETE, TrialStatus.DUPLICATE, TrialStatus.FAILED)
    return (known.index(status) if status in known else len(known), status)


def learning_curve_figure(go, view: StudyView) -> dict[str, Any] | None:
    """Train and validation curves per epoch, one line per trial; rungs as diamonds.

    The traces are plain dicts, not plotly objects: a study has several per trial, and
    plotly's validation of each would make the report of a few hundred trials take seconds.
    """
    from plotly.subplots import make_subplots

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
    titles = []
    for base in bases:
        titles += [f"{base} (train)", f"val_{base} (validation)"]
    fig = make_subplots(
        rows=len(bases),
        cols=2,
        subplot_titles=[label(t) for t in titles],
        horizontal_spacing=0.08,
        # plotly refuses a spacing over 1 / (rows - 1): many metrics, tighter rows
        vertical_spacing=min(0.12, 0.5 / (len(bases) - 1)) if len(bases) > 1 else 0.0,
    )
    traces: list[dict[str, Any]] = []
    for index, t in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
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
                axis = "" if (row, col) == (1, 1) else str((row - 1) * 2 + col)
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
    fig.update_xaxes(
        title_text="epoch", dtick=1 if max(map(epochs_trained, curves)) <= 20 else None
    )
    fig.update_layout(
        **_base_layout(
            (
                "Learning curves (diamonds: rungs reached under a multi-fidelity scheduler)"
                if any(rung_marks(t) for t in curves)
                else "Learning curves"
            ),
            height=320 * len(bases) + 60,
            legend={"title": {"text": "trial"}},
        )
    )
    return {"data": traces, "layout": fig.to_plotly_json()["layout"]}


def parameter_figures(go, view: StudyView) -> tuple[dict[str, Any], int]:
    """For each parameter: the objective of the complete trials by value (box + every point)."""
    complete = [
        t
        for t in view.trials
        if t.status == TrialStatus.COMPLETE and finite(t.objective) is not None
    ]
    names: list[str] = []
    for t in view.trials:
        names.extend(n for n in t.assignment if n not in names)
    hover = {t.number: _trial_hover(view, t) for t in complete}
    figures: dict[str, Any] = {}
    for index, name in enumerate(names[:MAX_PARAMETER_PLOTS]):
        groups: dict[str, list[TrialRecord]] = {}
        keys: dict[str, tuple] = {}
        for t in complete:
            if name in t.assignment:
                value = t.assignment[name]
                text = value_text(value)
                keys.setdefault(text, (0, literal_key(value)))
            else:
                text = "(not active)"
                keys.setdefault(text, (1,))
            groups.setdefault(text, []).append(t)
        if not groups:
            continue
        traces = []
        for text in sorted(groups, key=lambda k: keys[k]):
            group = groups[text]
            traces.append(
                {
                    "type": "box",
                    "x": [label(text)] * len(group),
                    "y": [finite(t.objective) for t in group],
                    "name": label(text),
                    "boxpoints": "all",
                    "jitter": 0.4,
                    "pointpos": 0,
                    "marker": {"size": 6},
                    "hovertext": [hover[t.number] for t in group],
                    "hoverinfo": "text",
                    "showlegend": False,
                }
            )
        # Plain dicts, not plotly objects: with one figure per parameter, plotly's validation
        # would dominate the report's time. The template is resolved once, by plotly.
        layout = _base_layout(
            name,
            height=300,
            xaxis={"type": "category", "title": {"text": "value"}},
            yaxis={"title": {"text": label(view.objective)}},
        )
        layout["template"] = _template_json()
        figures[f"parameter-{index}"] = {"data": traces, "layout": layout}
    return figures, len(names)


def cost_figures(go, view: StudyView) -> tuple[dict[str, Any], list[tuple]]:
    """Objective against each known cost with its Pareto front; also returns the params front."""
    complete = [
        t
        for t in view.trials
        if t.status == TrialStatus.COMPLETE and finite(t.objective) is not None
    ]
    figures: dict[str, Any] = {}
    params_front: list[tuple] = []
    for cost in ("params", "flops"):
        costed = [
            t for t in complete if isinstance(getattr(t, cost, None), (int, float))
        ]
        if not costed:
            continue
        points = [(getattr(t, cost), finite(t.objective), t.number) for t in costed]
        # The study's own Pareto function: the cheaper and the better; ties both stay.
        on = pareto_front([p[:2] for p in points], (Direction.MIN, view.direction))
        front = sorted((points[i] for i in on), key=lambda p: (p[0], p[2]))
        if cost == "params":
            params_front = front
        on_front = {p[2] for p in front}
        by_number = {t.number: t for t in costed}
        fig = go.Figure()
        rest = [t for t in costed if t.number not in on_front]
        fig.add_trace(
            go.Scatter(
                x=[getattr(t, cost) for t in rest],
                y=[finite(t.objective) for t in rest],
                mode="markers",
                marker={"color": "#9ecae1", "size": 8},
                name="dominated",
                hovertext=[_trial_hover(view, t) for t in rest],
                hoverinfo="text",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in front],
                y=[p[1] for p in front],
                mode="lines+markers",
                line={"shape": "hv", "color": "#d62728"},
                marker={"color": "#d62728", "size": 11, "symbol": "star"},
                name="Pareto front",
                hovertext=[_trial_hover(view, by_number[p[2]]) for p in front],
                hoverinfo="text",
            )
        )
        spread = [p[0] for p in points if p[0] > 0]
        log = bool(spread) and max(spread) / min(spread) > 10
        fig.update_layout(
            **_base_layout(
                f"{view.objective} against {cost} (Pareto front highlighted)",
                height=400,
                xaxis={"title": {"text": cost}, "type": "log" if log else "linear"},
                yaxis={"title": {"text": label(view.objective)}},
            )
        )
        figures[f"cost-{cost}"] = fig
    return figures, params_front


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
    return json.dumps(value, sort_keys=True)


def _definition(view: StudyView) -> list[tuple[str, str]]:
    meta = view.meta
    rows = [
        ("space file", _meta_text(meta.get("space_file") or "-")),
        ("searcher", _meta_text(meta.get("searcher") or "-")),
        ("searcher options", _meta_text(meta.get("searcher_options") or {})),
        ("seed", _meta_text(meta.get("seed"))),
        (
            "scheduler",
            _meta_text(
                meta.get("scheduler") or "full (every trial trains all its epochs)"
            ),
        ),
    ]
    if view.settings is not None:
        s = view.settings
        rows += [
            ("objective", f"{s.objective} ({s.direction})"),
            ("training", s.describe()),
        ]
    rows += [
        ("created", utc(meta.get("created_at"))),
        ("last used", utc(meta.get("last_used"))),
    ]
    for key in sorted(
        meta
    ):  # keys written by later versions show up without a change here
        if key not in META_KEYS and key != "schema_version":
            rows.append((key, _meta_text(meta[key])))
    return rows


def _row(view: StudyView, rank: int, t: TrialRecord) -> dict[str, Any]:
    source = view.source(t)
    if source is None:
        code = None
    elif rank <= HIGHLIGHTED_ROWS:
        code = _highlight(source, "python")
    else:  # Pygments takes ~20 ms a module; further down the board, plain escaped text
        code = _plain_code(source)
    return {
        "rank": rank,
        "number": t.number,
        "candidate_id": t.candidate_id,
        "objective": objective_text(finite(t.objective)),
        "objective_epoch": getattr(t, "objective_epoch", None),
        "params": f"{t.params:,}" if t.params is not None else "-",
        "epochs": epochs_trained(t),
        "rung": getattr(t, "rung", None),
        "fit": seconds_text(t.fit_seconds),
        "assignment": ", ".join(
            f"{k}={value_text(v)}" for k, v in t.assignment.items()
        ),
        "code": code,
    }


def _plain_code(source: str) -> Any:
    from markupsafe import Markup

    return Markup('<div class="code"><pre>') + source + Markup("</pre></div>")


def _winner(view: StudyView) -> dict[str, Any] | None:
    if not view.board:
        return None
    best = view.board[0]
    source = view.source(best)
    winner: dict[str, Any] = {
        "number": best.number,
        "candidate_id": best.candidate_id,
        "objective": objective_text(finite(best.objective)),
        "params": f"{best.params:,}" if best.params is not None else "-",
        "code": _highlight(source, "python") if source is not None else None,
        "runner_up": None,
    }
    runner_up = next(
        (t for t in view.board[1:] if t.candidate_id != best.candidate_id), None
    )
    if runner_up is not None and source is not None and view.source(runner_up):
        diff = diff_trials(view.directory, runner_up, best)
        winner["runner_up"] = {
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
            "diff": (
                _highlight("\n".join(diff.lines) + "\n", "diff") if diff.lines else None
            ),
        }
    return winner


def build_report(directory: Path) -> str:
    """The report of the study in ``directory``, as one HTML page."""
    go, get_plotlyjs = _plotly()
    view = load_study(Path(directory))

    figures: dict[str, Any] = {}
    figures.update(progress_figures(go, view))
    curves = learning_curve_figure(go, view)
    if curves is not None:
        figures["learning-curves"] = curves
    parameter_plots, parameter_count = parameter_figures(go, view)
    figures.update(parameter_plots)
    cost_plots, params_front = cost_figures(go, view)
    figures.update(cost_plots)

    counts = view.counts
    finished = [t for t in view.trials if t.status != TrialStatus.RUNNING]
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no trials yet"
    if counts.get(TrialStatus.RUNNING):
        status += (
            " (running now, or interrupted: they run again when the search is resumed)"
        )
    page = template(TEMPLATE).render(
        name=view.name,
        directory=str(view.directory),
        version=__version__,
        objective=view.objective,
        direction=view.direction,
        status=status,
        finished=len(finished),
        best=_row(view, 1, view.board[0]) if view.board else None,
        definition=_definition(view),
        settings=view.settings,
        data_rows=_data_rows(view.meta.get("data_summary")),
        figure_ids=list(figures),
        parameter_ids=[k for k in figures if k.startswith("parameter-")],
        parameter_count=parameter_count,
        max_parameter_plots=MAX_PARAMETER_PLOTS,
        cost_ids=[k for k in figures if k.startswith("cost-")],
        pareto=[
            {"number": n, "cost": f"{int(c):,}", "objective": objective_text(o)}
            for c, o, n in params_front
        ],
        leaderboard=[_row(view, rank, t) for rank, t in enumerate(view.board, start=1)],
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
            )
        ],
        winner=_winner(view),
        code_css=_pygments_css(),
        plotly_js=_inline_script(get_plotlyjs()),
        figures_json=_figures_json(figures),
    )
    return page


def _inline_script(code: str) -> Any:
    from markupsafe import Markup

    # An inline script ends at the first "</script"; plotly.js has none, keep it that way.
    return Markup(code.replace("</script", "<\\/script"))


def _figures_json(figures: dict[str, Any]) -> Any:
    from markupsafe import Markup

    payload = {
        key: fig if isinstance(fig, dict) else fig.to_plotly_json()
        for key, fig in figures.items()
    }
    return Markup(_safe_json(payload))
