"""The report tells the whole story (issue 22), on hand-made studies (nothing is trained): every
objective named, rungs told apart, readable settings, importances, the winner's architecture
from its graph, the diff's boilerplate hunks, the live rewrite and ``report --watch``.

Chromium opens one ASHA-style and one Pareto study (marked slow, ~15 s together); the report of
a real search is opened in tests/test_report.py.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from nascompiler.codegen import emit
from nascompiler.config.settings import TrainingSettings
from nascompiler.ir import specialize
from nascompiler.spacefile import load_space_file
from nascompiler.storage.store import Store

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
BASE = {"units": 8, "repeat_1.times": 1, "dropout": 0.1, "head": "softmax"}


def figures(page: str) -> dict:
    return json.loads(page.split('id="figures">')[1].split("</script>")[0])["figures"]


@pytest.fixture(scope="module")
def tiny_ir():
    return load_space_file(SPACE).compile()


def _study(tmp_path: Path, ir, settings: dict, scheduler: dict | None, trials: list):
    """A study of digits_tiny candidates; each trial is (assignment changes, result fields)."""
    directory = tmp_path / "study"
    store = Store(directory, create=True)
    store.set_meta(
        settings=TrainingSettings.resolve(settings).to_json(),
        searcher="random",
        seed=0,
        space_file=str(SPACE),
        scheduler=scheduler,
        search_seconds=3725.4,
    )
    (directory / "candidates").mkdir()
    for number, (changes, result) in enumerate(trials):
        graph = specialize(ir, {**BASE, **changes})
        (directory / "candidates" / f"{graph.id}.py").write_text(emit(graph))
        store.start_trial(
            number, graph.id, dict(graph.assignment), seed=number, asked_after=0
        )
        store.finish_trial(number, tell=(None, result.get("objective")), **result)
    store.close()
    return directory


def _asha_trials():
    """Nine trials: every one reached rung 0 (1 epoch), three rung 1 (3), one rung 2 (9)."""
    trials = []
    for n in range(9):
        units = (8, 16, 32)[n % 3]
        scores = [0.3 + 0.05 * n, 0.6 + 0.03 * n, 0.95][: 1 + (n % 4 == 0) + (n == 8)]
        epochs = [1, 3, 9][: len(scores)]
        if n == 4:
            scores, epochs = [0.5, 0.7], [1, 3]
        rungs = [
            {"rung": r, "epochs": e, "objective": s}
            for r, (e, s) in enumerate(zip(epochs, scores))
        ]
        curve = [0.2 + 0.07 * e for e in range(1, epochs[-1] + 1)]
        trials.append(
            (
                {"units": units, "dropout": (0.0, 0.1, 0.2)[n % 3]},
                {
                    "status": "complete",
                    "objective": scores[-1],
                    "epochs": epochs[-1],
                    "rung": len(scores) - 1,
                    "rungs": rungs,
                    "metrics": {"loss": [1.0] * epochs[-1], "val_accuracy": curve},
                    "params": 100 * units,
                },
            )
        )
    return trials


@pytest.fixture()
def asha_study(tmp_path, tiny_ir):
    return _study(
        tmp_path,
        tiny_ir,
        {"epochs": 9},
        {"name": "asha", "rungs": [1, 3, 9], "reduction_factor": 3},
        _asha_trials(),
    )


def _pareto_trials():
    trials = []
    for n, (units, accuracy) in enumerate(
        [(8, 0.80), (16, 0.86), (32, 0.90), (16, 0.84), (8, 0.70), (32, 0.85)]
    ):
        params = 10 * units + n
        trials.append(
            (
                {"units": units, "dropout": (0.0, 0.1, 0.2)[n % 3]},
                {
                    "status": "complete",
                    "objective": accuracy,
                    "epochs": 2,
                    "metrics": {"loss": [1.0, 0.5], "val_accuracy": [0.5, accuracy]},
                    "params": params,
                    "objective_values": {"val_accuracy": accuracy, "params": params},
                },
            )
        )
    return trials


@pytest.fixture()
def pareto_study(tmp_path, tiny_ir):
    return _study(
        tmp_path,
        tiny_ir,
        {"epochs": 2, "objective": ["val_accuracy", "params:min"]},
        {"name": "full", "rungs": [2], "reduction_factor": None},
        _pareto_trials(),
    )


@pytest.fixture()
def no_fanova(monkeypatch):
    """Pages without importances: scikit-learn's import alone would make a test slow."""
    from nascompiler.report import importance

    def unavailable(*args, **kwargs):
        raise importance.ImportanceUnavailable("left out by this test")

    monkeypatch.setattr(importance, "fanova", unavailable)


# ------------------------------------------------------------------------------ pure parts


def test_durations_and_a_colour_per_trial():
    from nascompiler.report.html import duration_text, trial_colour

    assert duration_text(12.34) == "12.3s"
    assert duration_text(243) == "4m03s"
    assert duration_text(3725.4) == "1h02m05s"
    assert duration_text(None) == "-"
    colours = [trial_colour(i) for i in range(60)]
    assert len(set(colours)) == 60  # plotly's palette repeats after 10


def test_diff_hunks_of_docstrings_and_constants_are_boilerplate(tiny_ir):
    from nascompiler.report.diffview import boilerplate_lines, diff_hunks

    a = emit(specialize(tiny_ir, {**BASE, "units": 8}))
    b = emit(specialize(tiny_ir, {**BASE, "units": 16}))
    header, hunks = diff_hunks(a, b, "a.py", "b.py")
    assert header == ["--- a.py", "+++ b.py"]
    # difflib makes one hunk of this short module; it is cut where boilerplate changes end,
    # and every changed line is still there, once, in order.
    expected = [
        l
        for l in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="")
        if l[:1] in "+-" and l[:3] not in ("---", "+++")
    ]
    changed = [l for h in hunks for l in h.lines[1:] if l[:1] in "+-"]
    assert changed == expected
    assert [h.boilerplate for h in hunks] == [True, False]
    assert any("layers.Dense(16" in l for l in hunks[1].lines)
    assert not any("layers." in l for l in hunks[0].lines[1:] if l[:1] in "+-")
    assert hunks[0].lines[0].startswith("@@ -1,")
    first_code = a.splitlines().index("def build_model() -> keras.Model:") + 1
    assert first_code not in boilerplate_lines(a)
    assert boilerplate_lines("def broken(:\n") == set()
    # No change: no hunk, no header.
    assert diff_hunks(a, a, "a.py", "a.py") == ([], [])


def test_architecture_svg_has_every_layer_and_edge(tiny_ir):
    from nascompiler.report.diagram import architecture_svg, levels, op_label

    graph = specialize(tiny_ir, {**BASE, "repeat_1.times": 2, "units": 16})
    svg = architecture_svg(graph)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<g class="layer"') == len(graph.ops)
    assert svg.count('class="edge"') == sum(len(op.inputs) for op in graph.ops)
    for op in graph.ops:
        assert f'data-name="{op.name}"' in svg
        assert op_label(op).split(" ")[0] == op.layer
    dense = [op for op in graph.ops if op.layer == "Dense"]
    assert any(op_label(op).startswith("Dense 16") for op in dense)
    assert [op.layer for op in levels(graph)[0]] == ["Input"]
    # Names come from the user's space: escaped.
    from nascompiler.ir.graph import CandidateGraph, Op

    hostile = CandidateGraph(
        (
            Op("<b>x</b>", "Input", (("shape", (3,)),), ()),
            Op("d", "Dense", (("units", "<script>"),), ("<b>x</b>",)),
        ),
        ("d",),
    )
    text = architecture_svg(hostile)
    assert "<b>" not in text and "<script>" not in text and "&lt;script&gt;" in text


@pytest.mark.slow  # scikit-learn's import alone takes seconds
def test_fanova_finds_the_parameter_that_decides_the_score():
    from nascompiler.report.importance import (
        ImportanceUnavailable,
        fanova,
    )

    points = []
    for i in range(24):
        assignment = {
            "units": (8, 16, 32)[i % 3],
            "act": ("relu", "tanh")[i // 3 % 2],
            "noise": (i * 7) % 5 / 10,
        }
        score = {8: 0.2, 16: 0.5, 32: 0.9}[assignment["units"]] + 0.01 * (i % 2)
        if i % 2:
            assignment["optional"] = 1  # not active in every trial: left out
        points.append((assignment, score))
    names = ["units", "act", "noise", "optional", "constant"]
    for p, _ in points:
        p["constant"] = "same"
    result = fanova("val_accuracy", "max", points, names)
    assert result.values[0][0] == "units" and result.values[0][1] > 0.8
    assert result.left_out == ("optional",)
    assert dict(result.values)["constant"] == 0.0
    assert fanova("val_accuracy", "max", points, names) == result  # seeded
    with pytest.raises(ImportanceUnavailable, match="at least 5"):
        fanova("val_accuracy", "max", points[:3], names)


# ------------------------------------------------------------------------------ the page


@pytest.mark.slow  # fANOVA: scikit-learn's import alone takes seconds
def test_asha_report_tells_rungs_apart(asha_study):
    from nascompiler.report import build_report

    page = build_report(asha_study)
    found = figures(page)
    rung_names = ["rung 0 (1 epoch)", "rung 1 (3 epochs)", "rung 2 (9 epochs)"]
    progress = found["progress-trials"]["data"]
    markers = {t["name"]: t for t in progress if t["mode"] == "markers"}
    assert list(markers) == rung_names
    # Every rung a trial reached is a point: 9 at rung 0, 3 at rung 1, 1 at rung 2.
    assert [len(markers[n]["x"]) for n in rung_names] == [9, 3, 1]
    assert len({m["marker"]["color"] for m in markers.values()}) == 3
    assert len({m["marker"]["symbol"] for m in markers.values()}) == 3
    assert markers["rung 2 (9 epochs)"]["y"] == [0.95]
    # Against time each trial is drawn once, at its highest rung.
    by_time = [t for t in found["progress-time"]["data"] if t["mode"] == "markers"]
    assert sum(len(t["x"]) for t in by_time) == 9
    # Parameter plots: one box per rung, side by side.
    parameter = found["parameter-0"]
    assert [t["name"] for t in parameter["data"]] == rung_names
    assert parameter["layout"]["boxmode"] == "group"
    # The size plot: rungs coloured, the front of the 9-epoch results.
    cost = found["cost-params"]["data"]
    assert [t["name"] for t in cost[:3]] == rung_names
    assert cost[-1]["name"] == "Pareto front of rung 2 (9 epochs)"
    # Learning curves: the rungs' epochs as dotted lines on every subplot.
    shapes = found["learning-curves"]["layout"]["shapes"]
    assert sorted({s["x0"] for s in shapes}) == [1, 3, 9]
    # Importance on the rung with the most results; the leaderboard has a column per rung.
    assert "on the scores at rung 0 (1 epoch), the rung with the most results" in page
    assert "importance-0" in found and "parallel" in found
    for epochs in (1, 3, 9):
        assert f"val_accuracy at {epochs} ep</th>" in page
    # Readable settings: the scheduler as a table, the search time as a duration.
    assert "0: 1 epoch, 1: 3 epochs, 2: 9 epochs" in page
    assert "1h02m05s" in page and "3725.4" not in page
    assert '{"name"' not in page.split('id="figures"')[0]
    # Titles sit below the toolbar's row.
    for figure in found.values():
        assert figure["layout"]["title"]["pad"]["t"] >= 30
        assert figure["layout"]["margin"]["t"] > figure["layout"]["title"]["pad"]["t"]


@pytest.mark.slow  # fANOVA: scikit-learn's import alone takes seconds
def test_pareto_report_names_every_objective(pareto_study):
    from nascompiler.report import build_report

    page = build_report(pareto_study)
    header = page.split("<header>")[1].split("</header>")[0]
    assert re.search(
        r"Objectives: <strong>val_accuracy</strong> \(max\), <strong>params</strong> \(min\)",
        header,
    )
    found = figures(page)
    tradeoff = found["tradeoff-1"]
    front = tradeoff["data"][1]
    assert front["name"] == "Pareto front"
    # Front: (80, 0.80) (160, 0.86) (320, 0.90) -- sorted by params; (163, 0.84), (84, 0.70)
    # and (325, 0.85) are dominated.
    assert front["x"] == [80, 161, 322] and front["y"] == [0.8, 0.86, 0.9]
    assert (
        "cost-params" not in found
    )  # params is an objective: the trade-off plot shows it
    assert "val_accuracy (max)</th>" in page and "params (min)</th>" in page
    front_table = page.split('<table id="front">')[1].split("</table>")[0]
    assert front_table.count("<tr>") == 4  # header and three members
    assert found["importance-0"]["layout"]["title"]["text"].startswith(
        "Importance for val_accuracy"
    )
    assert found["importance-1"]["layout"]["title"]["text"].startswith(
        "Importance for params"
    )


@pytest.mark.slow  # fANOVA: scikit-learn's import alone takes seconds
def test_winner_architecture_is_drawn_from_the_space_or_says_why_not(
    pareto_study, tmp_path
):
    from nascompiler.report import build_report

    page = build_report(pareto_study)
    box = page.split('id="winner-architecture">')[1].split("</div>")[0]
    assert box.startswith("<svg") and "Dense 32" in box
    # The space file gone: the report still comes, and says why there is no diagram.
    store = Store(pareto_study)
    store.set_meta(space_file=str(tmp_path / "gone.py"))
    store.close()
    page = build_report(pareto_study)
    assert "winner-architecture-missing" in page and "gone.py" in page


def test_live_page_reloads_and_the_final_page_does_not(asha_study, no_fanova):
    from nascompiler.report import build_report

    store = Store(asha_study)
    store.start_trial(9, "abcdef0123", {"units": 8}, seed=9, asked_after=9)
    store.close()
    live = build_report(
        asha_study, live=True, progress={9: (3, 9, {"val_accuracy": 0.91, "loss": 0.3})}
    )
    final = build_report(asha_study)
    assert "location.reload()" in live and 'id="live-note"' in live
    assert "location.reload()" not in final and "live-note" not in final
    running = live.split('<table id="running">')[1].split("</table>")[0]
    assert "#9" in running and "3 of 9" in running
    assert "loss=0.3000, val_accuracy=0.9100" in running
    assert "val_accuracy: left out by this test." in live  # why there is no importance


def test_live_report_is_throttled_and_never_raises():
    from nascompiler.report.live import COST_FACTOR, MAX_FAILURES, LiveReport

    now = [0.0]
    calls, progress = [], []

    def writer(directory, **kwargs):
        calls.append((now[0], kwargs["live"]))
        progress.append(kwargs["progress"])
        now[0] += 0.5  # a write takes half a second

    live = LiveReport(min_interval=2.0, clock=lambda: now[0], writer=writer)
    study = SimpleNamespace(
        directory=".", store=None, config=SimpleNamespace(space=None)
    )
    live.search_started(study)
    assert calls == [(0.0, True)] and live.interval == COST_FACTOR * 0.5
    now[0] = 5.0
    live.trial_finished(study, SimpleNamespace(number=0))  # 4.5 s after: too soon
    assert len(calls) == 1 and live.stale
    now[0] = 10.6
    live.epoch_finished(study, 1, 1, {})  # the next event after the interval writes it
    assert len(calls) == 2 and not live.stale
    assert progress[-1] == {1: (1, None, {})}  # trial 1's latest epoch, for the page
    now[0] = 30.0
    live.trial_finished(study, SimpleNamespace(number=1))
    assert len(calls) == 3 and live.progress == {}
    now[0] = 60.0
    live.search_finished(study)  # the caller writes the final page
    assert len(calls) == 3

    def failing(directory, **kwargs):
        raise RuntimeError("disk full")

    broken = LiveReport(min_interval=0.0, clock=lambda: now[0], writer=failing)
    for n in range(MAX_FAILURES + 2):
        broken.trial_finished(study, SimpleNamespace(number=n))  # never raises
    assert broken.disabled and broken.failures == MAX_FAILURES
    assert broken.error == "RuntimeError: disk full"


def test_watch_rewrites_on_change_and_ends_with_a_final_page(
    asha_study, tmp_path, no_fanova
):
    from nascompiler.report.live import watch

    out = tmp_path / "watched.html"
    rounds = []

    def stop():
        rounds.append(out.read_text())
        if len(rounds) == 2:  # the study changes between the first and second look
            store = Store(asha_study)
            store.set_meta(last_used=1.0)
            store.close()
        return len(rounds) > 3

    messages = []
    path = watch(asha_study, out, every=0.0, notify=messages.append, stop=stop)
    assert path == out and messages[0].startswith(f"watching {asha_study}")
    assert all("location.reload()" in r for r in rounds)
    assert "location.reload()" not in out.read_text()


# ------------------------------------------------------------------------------ in Chromium


@pytest.mark.slow
def test_asha_and_pareto_reports_in_chromium(asha_study, tmp_path, tiny_ir):
    from browser import open_report

    from nascompiler.report import write_report

    with open_report(write_report(asha_study)) as page:
        assert page.errors == [] and page.requests == []
        legend = page.eval_on_selector(
            "#progress-trials",
            "e => Array.from(e.querySelectorAll('.legendtext')).map(t => t.textContent)",
        )
        for name in ("rung 0 (1 epoch)", "rung 1 (3 epochs)", "rung 2 (9 epochs)"):
            assert name in legend
        assert page.locator("#parallel .parcoords").count() == 1
        assert page.locator("#importance-0 .bars .point").count() >= 2
        # Sort by the 1-epoch score, descending: trial #8 (0.70) first.
        header = page.locator("#leaderboard-table th", has_text="val_accuracy at 1 ep")
        header.click()
        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        first = page.locator("#leaderboard-table tbody").first
        assert first.locator("td").nth(1).inner_text() == "#8"
    pareto = tmp_path / "pareto"
    pareto.mkdir()
    directory = _study(
        pareto,
        tiny_ir,
        {"epochs": 2, "objective": ["val_accuracy", "params:min"]},
        None,
        _pareto_trials(),
    )
    with open_report(write_report(directory)) as page:
        assert page.errors == [] and page.requests == []
        assert "params (min)" in page.inner_text("#objectives")
        assert page.locator("#tradeoff-1 .scatterlayer .point").count() == 6
        assert page.locator("#winner-architecture svg g.layer").count() >= 4
