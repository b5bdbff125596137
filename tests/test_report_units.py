"""The report's building blocks on hand-made studies (nothing is trained): candidate diffs,
trial summaries, the Pareto front, and the escaping of hostile user data in the HTML report.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import add_trial, clean_env
from nascompiler.codegen import emit
from nascompiler.config.settings import TrainingSettings
from nascompiler.deliver.diff import (
    diff_candidates,
    diff_rich,
    diff_text,
    resolve_trial,
)
from nascompiler.errors import UsageError
from nascompiler.ir import specialize
from nascompiler.ir.cost import candidate_cost
from nascompiler.spacefile import load_space_file
from nascompiler.storage.pareto import pareto_front
from nascompiler.storage.store import Store
from nascompiler.storage.summary import FIELDS, csv_text, json_lines, trial_summary

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
NASCOMPILE = str(Path(sys.executable).parent / "nascompile")
SETTINGS = TrainingSettings.resolve({"epochs": 2}).to_json()


@pytest.fixture(scope="module")
def tiny_ir():
    return load_space_file(SPACE).compile()


@pytest.fixture()
def two_candidates(tmp_path, tiny_ir):
    """A study holding two known candidates of digits_tiny that differ only in ``units``."""
    base = {"units": 8, "repeat_1.times": 1, "dropout": 0.1, "head": "softmax"}
    graphs = [specialize(tiny_ir, {**base, "units": u}) for u in (8, 16)]
    store = Store(tmp_path / "study", create=True)
    store.set_meta(settings=SETTINGS, searcher="random", seed=0, space_file=str(SPACE))
    (tmp_path / "study" / "candidates").mkdir()
    for number, graph in enumerate(graphs):
        (tmp_path / "study" / "candidates" / f"{graph.id}.py").write_text(emit(graph))
        add_trial(
            store,
            number,
            graph.id,
            dict(graph.assignment),
            status="complete",
            objective=0.5 + number / 10,
            metrics={"loss": [1.0, 0.5], "val_accuracy": [0.4, 0.5 + number / 10]},
            params=100 * (number + 1),
        )
    yield store, graphs
    store.close()


def test_diff_shows_exactly_the_differing_lines(two_candidates):
    store, (a, b) = two_candidates
    diff = diff_candidates(store, "0", "1")
    assert [(c.name, c.a, c.b) for c in diff.changes] == [("units", 8, 16)]
    removed = [
        l[1:] for l in diff.lines if l.startswith("-") and not l.startswith("---")
    ]
    added = [l[1:] for l in diff.lines if l.startswith("+") and not l.startswith("+++")]
    # The docstring's cost lines differ where the costs do.
    cost_a, cost_b = candidate_cost(a).lines(), candidate_cost(b).lines()
    differing = [i for i, (x, y) in enumerate(zip(cost_a, cost_b)) if x != y]
    assert differing, "8 and 16 units differ in parameters and FLOPs"
    assert removed == [
        f'"""Candidate {a.id} from space digits_tiny.py.',
        "    units = 8",
        *[f"    {cost_a[i]}" for i in differing],
        f'CANDIDATE_ID = "{a.id}"',
        'HYPERPARAMETERS = {"units": 8, "repeat_1.times": 1, "dropout": 0.1, "head": "softmax"}',
        '    x = layers.Dense(8, activation="relu", name="dense_1")(x)',
        f'    return keras.Model(inputs, outputs, name="candidate_{a.id}")',
    ]
    assert added == [
        f'"""Candidate {b.id} from space digits_tiny.py.',
        "    units = 16",
        *[f"    {cost_b[i]}" for i in differing],
        f'CANDIDATE_ID = "{b.id}"',
        'HYPERPARAMETERS = {"units": 16, "repeat_1.times": 1, "dropout": 0.1, "head": "softmax"}',
        '    x = layers.Dense(16, activation="relu", name="dense_1")(x)',
        f'    return keras.Model(inputs, outputs, name="candidate_{b.id}")',
    ]
    text = diff_text(diff)
    assert text.startswith(
        "Hyperparameters that differ (trial #0 -> trial #1):\n  units: 8 -> 16\n\n"
    )
    assert f"--- candidates/{a.id}.py (trial #0)" in text
    # The same diff applies as a patch: it turns A's module into B's.
    same = diff_candidates(store, "#1", "#1")
    assert same.identical and "identical" in diff_text(same)


def test_diff_resolves_prefixes_and_rejects_bad_references(two_candidates):
    store, (a, b) = two_candidates
    assert resolve_trial(store, b.id[:5]).number == 1
    assert resolve_trial(store, a.id.upper()[:6]).number == 0
    with pytest.raises(UsageError, match="no trial #7"):
        resolve_trial(store, "#7")
    with pytest.raises(UsageError, match="no trial number or candidate id '777'"):
        resolve_trial(store, "777")
    with pytest.raises(UsageError, match="neither a trial number nor"):
        resolve_trial(store, "units")
    if a.id[0] == b.id[0]:
        with pytest.raises(UsageError, match="ambiguous"):
            resolve_trial(store, a.id[0])
    add_trial(store, 2, "", {"units": 32}, status="failed", error="cannot build")
    with pytest.raises(UsageError, match="trial #2 has no module"):
        diff_candidates(store, "0", "2")


def test_diff_colours_on_a_terminal(two_candidates):
    from rich.console import Console

    store, _ = two_candidates
    console = Console(force_terminal=True, color_system="standard", width=200)
    with console.capture() as captured:
        console.print(diff_rich(diff_candidates(store, "0", "1")), end="")
    out = captured.get()
    assert "\x1b[31m-    units = 8" in out and "\x1b[32m+    units = 16" in out


def test_diff_command_prints_a_plain_patch_when_piped(two_candidates, tmp_path):
    store, (a, b) = two_candidates
    result = subprocess.run(
        [NASCOMPILE, "diff", a.id[:7], "1", "--study", str(tmp_path / "study")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == diff_text(diff_candidates(store, "0", "1"))
    bad = subprocess.run(
        [NASCOMPILE, "diff", "0", "9", "--study", str(tmp_path / "study")],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip() == "error: no trial number or candidate id '9' in the study"
    )


def test_trial_summary_fields_and_formats(two_candidates):
    store, (a, _) = two_candidates
    add_trial(
        store, 2, a.id, {"units": 8}, status="duplicate", duplicate_of=0, objective=0.5
    )
    records = store.trials()
    first = trial_summary(records[0])
    assert tuple(first) == FIELDS
    assert first["epochs"] == 2 and first["rung"] is None and first["params"] == 100
    assert first["assignment"] == dict(a.assignment)
    # A field a later scheduler adds to the record is picked up without a schema change.
    promoted = dataclasses.replace(records[0], rung=2)
    assert trial_summary(promoted)["rung"] == 2
    lines = [json.loads(line) for line in json_lines(records).splitlines()]
    assert [l["number"] for l in lines] == [0, 1, 2]
    assert lines[2]["status"] == "duplicate" and lines[2]["duplicate_of"] == 0
    rows = list(csv.DictReader(io.StringIO(csv_text(records))))
    assert [r["candidate_id"] for r in rows] == [a.id, records[1].candidate_id, a.id]
    assert json.loads(rows[0]["assignment"]) == first["assignment"]
    assert rows[0]["rung"] == "" and float(rows[1]["objective"]) == pytest.approx(0.6)


def test_nan_objective_is_null_in_json(tmp_path):
    store = Store(tmp_path / "s", create=True)
    add_trial(store, 0, "ab", {"x": (3, 3)}, status="complete", objective=float("nan"))
    line = json.loads(json_lines(store.trials()))
    assert line["objective"] is None and line["assignment"] == {"x": [3, 3]}


def test_the_report_draws_the_studys_pareto_front_and_best_so_far():
    import nascompiler.report.html as report
    from nascompiler.report.html import best_so_far

    # One Pareto function (storage/pareto.py) for the search and the report: the report has
    # none of its own, and an exact tie keeps both trials, as the study's front does.
    assert report.pareto_front is pareto_front
    points = [
        (100, 0.5),
        (50, 0.4),
        (200, 0.7),
        (150, 0.6),
        (150, 0.65),
        (50, 0.4),
        (300, 0.7),
    ]
    assert pareto_front(points, ("min", "max")) == [0, 1, 2, 4, 5]
    losses = [(10, 0.3), (20, 0.2), (30, 0.25)]
    assert pareto_front(losses, ("min", "min")) == [0, 1]
    assert best_so_far([None, 0.2, 0.1, 0.3], "max") == [None, 0.2, 0.2, 0.3]
    assert best_so_far([0.2, None, 0.1, 0.3], "min") == [0.2, 0.2, 0.1, 0.1]


def test_rung_marks_read_optional_fields():
    from nascompiler.report.html import rung_marks

    plain = SimpleNamespace(metrics={"loss": [1, 2, 3]})
    assert rung_marks(plain) == []
    final = SimpleNamespace(metrics={"loss": [1, 2, 3]}, rung=1)
    assert rung_marks(final) == [(3, "rung 1 (3 epochs)")]
    history = SimpleNamespace(
        metrics={"loss": [1] * 9},
        rung=2,
        rungs=[
            {"epochs": 1, "promoted": True},
            {"epochs": 3, "promoted": True},
            {"epochs": 9},
        ],
    )
    assert [m[0] for m in rung_marks(history)] == [1, 3, 9]
    assert rung_marks(history)[0][1] == "rung 0 (1 epochs), promoted"


# ------------------------------------------------------------------------------ hostile data

HOSTILE_NAME = "<img src=x onerror=window.__pwned=1>"
HOSTILE_VALUE = "</script><script>window.__pwned=2</script>"
HOSTILE_METRIC = "<svg onload=window.__pwned=3>"
HOSTILE_ERROR = "boom <iframe src=javascript:window.__pwned=4></iframe> & more"
SECRET = "SECRET-OUTSIDE-THE-STUDY"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


@pytest.fixture()
def hostile_study(tmp_path):
    directory = tmp_path / "study"
    store = Store(directory, create=True)
    store.set_meta(
        settings=SETTINGS,
        searcher="random",
        seed=0,
        space_file="<script>window.__pwned=5</script>.py",
        data_summary={"x_train": {"shape": [3, 2], "dtype": "<b>float32</b>"}},
        extra_key_from_a_newer_version="<style>body{display:none}</style>",
    )
    (directory / "candidates").mkdir()
    (tmp_path / "secret.py").write_text(SECRET)
    for number, cid in enumerate(("aaaa000001", "bbbb000002")):
        (directory / "candidates" / f"{cid}.py").write_text(
            f'"""{HOSTILE_VALUE}"""\nCANDIDATE_ID = "{cid}"\nX = "</script><b>{number}</b>"\n'
        )
        add_trial(
            store,
            number,
            cid,
            {HOSTILE_NAME: HOSTILE_VALUE + str(number), "units": 8 * (number + 1)},
            status="complete",
            objective=0.5 + number / 10,
            metrics={
                "loss": [1.0, 0.8],
                HOSTILE_METRIC: [0.1, 0.2],
                "val_accuracy": [0.3, 0.5 + number / 10],
            },
            params=10 + number,
        )
    add_trial(
        store,
        2,
        "../secret",
        {HOSTILE_NAME: "x"},
        status="complete",
        objective=0.9,
        params=5,
    )
    add_trial(
        store,
        3,
        "cccc000003",
        {HOSTILE_NAME: "y"},
        status="failed",
        error=HOSTILE_ERROR,
    )
    store.close()
    return directory


def test_hostile_user_data_is_text_not_markup(hostile_study):
    from nascompiler.report import build_report

    page = build_report(hostile_study)
    parser = _Tags()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert (
        tags.count("script") == 3
    )  # plotly.js, the figure data, the code that draws them
    body = tags[tags.index("body") :]
    for tag in ("img", "iframe", "svg", "b", "style", "object"):
        assert tag not in body, tag
    events = [a for _, attrs in parser.tags for a, _ in attrs if a.startswith("on")]
    assert events == []
    assert tags.count("style") == 1
    # The hostile strings are on the page as text.
    assert html_escape(HOSTILE_NAME) in page and html_escape(HOSTILE_ERROR) in page
    # A candidate id from the database never reads a file outside candidates/.
    assert SECRET not in page
    # Rows far down the leaderboard show their code unhighlighted: escaped all the same.
    from nascompiler.report.html import _plain_code

    assert str(_plain_code(HOSTILE_VALUE)) == (
        '<div class="code"><pre>&lt;/script&gt;&lt;script&gt;window.__pwned=2'
        "&lt;/script&gt;</pre></div>"
    )


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


@pytest.mark.slow
def test_hostile_report_runs_no_script_in_chromium(hostile_study, tmp_path):
    from browser import open_report

    from nascompiler.report import write_report

    path = write_report(hostile_study)
    with open_report(path) as page:
        assert page.evaluate("window.__pwned") is None
        assert page.requests == [] and page.errors == [] and page.dialogs == []
        text = page.inner_text("body")
        assert (
            HOSTILE_NAME in text
            and HOSTILE_ERROR in text
            and HOSTILE_VALUE + "0" in text
        )
        assert page.locator(".js-plotly-plot").count() >= 4


def test_report_needs_plotly_and_says_so(tmp_path, hostile_study):
    fake = tmp_path / "fake"
    (fake / "plotly").mkdir(parents=True)
    (fake / "plotly" / "__init__.py").write_text(
        "raise ImportError('no plotly here')\n"
    )
    result = subprocess.run(
        [NASCOMPILE, "report", "--study", str(hostile_study)],
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPATH=str(fake)),
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "error: the HTML report needs plotly: pip install 'nascompiler[report]'\n"
    )
    assert os.listdir(hostile_study).count("report.html") == 0


def test_report_of_a_study_without_trials(tmp_path):
    from nascompiler.report import build_report

    store = Store(tmp_path / "empty", create=True)
    store.set_meta(settings=SETTINGS, searcher="random", seed=0)
    store.close()
    page = build_report(tmp_path / "empty")
    assert "No trial has finished yet." in page and "no trials yet" in page
    with pytest.raises(UsageError, match="is not a study"):
        build_report(tmp_path / "nothing-here")


def test_tensorboard_domains_of_mixed_numbers_and_tuples(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams import plugin_data_pb2

    from nascompiler.report.tensorboard import export_study

    store = Store(tmp_path / "s", create=True)
    store.set_meta(settings=SETTINGS)
    values = [(1, (3, 3), True, "relu"), (0.5, (5, 5), False, "tanh")]
    for number, (rate, kernel, flag, act) in enumerate(values):
        add_trial(
            store,
            number,
            f"ab{number}",
            {"rate": rate, "kernel": kernel, "flag": flag, "act": act},
            status="complete",
            objective=0.5,
            metrics={"val_accuracy": [0.5]},
        )
    store.close()
    logdir = export_study(tmp_path / "s")
    events = EventAccumulator(str(logdir))
    events.Reload()
    infos = plugin_data_pb2.HParamsPluginData.FromString(
        events.PluginTagToContent("hparams")["_hparams_/experiment"]
    ).experiment.hparam_infos
    domains = {
        i.name: [getattr(v, v.WhichOneof("kind")) for v in i.domain_discrete.values]
        for i in infos
    }
    assert domains == {
        "rate": [0.5, 1.0],
        "kernel": ["(3, 3)", "(5, 5)"],
        "flag": [False, True],
        "act": ["relu", "tanh"],
    }
    assert sorted(p.name for p in logdir.iterdir() if p.is_dir()) == [
        "trial-0000-ab0",
        "trial-0001-ab1",
    ]
    # Written once: a second export leaves the runs alone.
    stamp = next((logdir / "trial-0000-ab0").glob("events.*")).stat().st_mtime_ns
    export_study(tmp_path / "s")
    assert (
        next((logdir / "trial-0000-ab0").glob("events.*")).stat().st_mtime_ns == stamp
    )


def test_report_with_many_metrics(tmp_path):
    from nascompiler.report import build_report

    store = Store(tmp_path / "s", create=True)
    store.set_meta(settings=SETTINGS)
    metrics = {}
    for name in ["loss"] + [f"m{i}" for i in range(11)]:
        metrics[name] = [0.1, 0.2]
        metrics["val_" + name] = [0.3, 0.4]
    add_trial(
        store,
        0,
        "ab0",
        {"u": 1},
        status="complete",
        objective=0.4,
        metrics=metrics,
        params=3,
    )
    store.close()
    page = build_report(tmp_path / "s")
    payload = json.loads(page.split('id="figures">')[1].split("</script>")[0])
    curves = payload["figures"]["learning-curves"]["data"]
    assert len(curves) == 24  # 12 metrics, train and validation
    assert {c["yaxis"] for c in curves} == {"y"} | {f"y{i}" for i in range(2, 25)}


def test_progress_marks_failed_and_over_budget_trials():
    from nascompiler.report.html import StudyView, progress_figures
    from nascompiler.storage.store import TrialRecord

    def record(number, status, objective=None):
        return TrialRecord(
            number,
            f"c{number}",
            {},
            status,
            0,
            0,
            100.0 + number,
            objective=objective,
            finished_at=101.0 + number,
        )

    trials = [
        record(0, "complete", 0.5),
        record(1, "failed"),
        record(2, "over_budget"),
        record(3, "complete", 0.7),
        record(4, "duplicate", 0.7),
        record(5, "running"),
    ]
    view = StudyView(Path("."), {}, None, trials, [], {}, "val_accuracy", "max", 100.0)
    for fig in progress_figures(view).values():
        data = fig["data"]
        assert list(data[0]["y"]) == [0.5, 0.5, 0.5, 0.7, 0.7]  # best so far
        by_name = {t["name"]: t for t in data[1:]}
        assert (
            by_name["failed (drawn at the worst objective)"]["marker"]["symbol"] == "x"
        )
        assert list(by_name["failed (drawn at the worst objective)"]["y"]) == [0.5]
        assert by_name["over_budget"]["marker"]["symbol"] == "triangle-up"
        assert by_name["duplicate"]["marker"]["symbol"] == "circle-open"
        assert (
            sum(len(t["x"]) for t in data[1:]) == 5
        )  # the running trial is not a point


@pytest.mark.parametrize("direction", ["max", "min"])
def test_the_oneshot_section_sets_shared_weight_scores_against_trained_ones(
    tmp_path, direction
):
    from nascompiler.report.html import load_study, oneshot_section

    minimise = direction == "min"
    settings = TrainingSettings.resolve(
        {"epochs": 1, "objective": "val_loss" if minimise else "val_accuracy"}
    )
    store = Store(tmp_path / "study", create=True)
    store.set_meta(settings=settings.to_json(), searcher="random", seed=0)
    trained = {0: 0.9, 1: 0.7, 2: 0.8, 3: 0.6}  # how good each trial trained
    oneshot = {0: 0.5, 1: 0.3, 2: 0.2, 3: 0.1, 4: 0.05}  # 1 and 2 in the other order

    def metric(goodness):  # a loss falls as the goodness rises
        return 1.0 - goodness if minimise else goodness

    for number, goodness in trained.items():
        add_trial(
            store,
            number,
            f"c{number}",
            {},
            status="complete",
            objective=metric(goodness),
        )
    add_trial(store, 4, "c4", {}, status="screened")
    for number, goodness in oneshot.items():  # stored higher-is-better
        stored = -metric(goodness) if minimise else metric(goodness)
        store.set_proxies(number, {"oneshot": stored}, {"oneshot": 0.1})
    figures, note = oneshot_section(load_study(tmp_path / "study", store))
    store.close()
    assert note == {
        "scored": 5, "screened": 1, "trained": 4, "spearman": "0.80", "kendall": "0.67"
    }  # fmt: skip
    points = figures["oneshot-scores"]["data"][0]
    # Each trained trial at (its one-shot metric, its trained metric): a loss is a loss.
    got = sorted(zip(points["x"], points["y"]))
    expected = sorted((metric(oneshot[n]), metric(trained[n])) for n in range(4))
    assert [p for pair in got for p in pair] == pytest.approx(
        [p for pair in expected for p in pair]
    )
