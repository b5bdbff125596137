"""The report, TensorBoard export and machine-readable trials of a real search (digits, six
one-epoch trials, one failed candidate), as a user gets them from ``nascompile search``.

The report is opened in headless Chromium (tests/browser.py): no console error, the winner's
id and code on the page, every plot drawn, no request leaving the machine.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from browser import open_report

from helpers import clean_env

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
NASCOMPILE = str(Path(sys.executable).parent / "nascompile")


def nascompile(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [NASCOMPILE, *args],
        cwd=cwd,
        env=clean_env(COLUMNS="160", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(study: Path) -> list[dict]:
    with sqlite3.connect(study / "study.db") as db:
        db.row_factory = sqlite3.Row
        found = [dict(r) for r in db.execute("SELECT * FROM trials ORDER BY number")]
    for row in found:
        row["metrics"] = json.loads(row["metrics"] or "{}")
        row["assignment"] = json.loads(row["assignment"])
    return found


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("report")
    result = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "6",
        "--seed",
        "7",
        "--tensorboard",
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return cwd, result


@pytest.fixture(scope="module")
def study(searched) -> Path:
    return searched[0] / "generated" / "digits_tiny"


@pytest.mark.slow
def test_the_search_writes_the_report_and_names_it(searched, study):
    _, result = searched
    assert "Report: generated/digits_tiny/report.html" in result.stdout
    assert (study / "report.html").stat().st_size > 1_000_000  # plotly.js is inlined
    statuses = [r["status"] for r in rows(study)]
    assert (
        "failed" in statuses and "complete" in statuses
    )  # the case the report must show


@pytest.mark.slow
def test_report_in_headless_chromium(study):
    trials = rows(study)
    complete = [r for r in trials if r["status"] == "complete"]
    winner = max(complete, key=lambda r: (r["objective"], -r["number"]))
    source = (study / "candidates" / f"{winner['candidate_id']}.py").read_text()
    with open_report(study / "report.html") as page:
        assert page.errors == [], page.errors
        assert page.requests == [], page.requests
        assert page.inner_text("#best-candidate") == winner["candidate_id"]
        code = page.inner_text("#winner-code")
        assert code.strip() == source.strip()
        # Every plot is drawn with data: the progress plots, learning curves, one per
        # parameter (units, repeat_1.times, dropout, head) and the size/Pareto plot.
        plot_ids = page.eval_on_selector_all(".plot", "els => els.map(e => e.id)")
        assert plot_ids[:3] == ["progress-time", "progress-trials", "learning-curves"]
        assert len([i for i in plot_ids if i.startswith("parameter-")]) == 4
        assert "cost-params" in plot_ids
        for plot_id in plot_ids:
            drawn = page.eval_on_selector(
                f"#{plot_id}",
                "e => e.querySelectorAll('.scatterlayer .trace, .boxlayer .trace,"
                " .barlayer .trace, .parcoords').length",
            )
            assert drawn > 0, plot_id
        points = page.eval_on_selector(
            "#progress-trials", "e => e.querySelectorAll('.scatterlayer .point').length"
        )
        assert points == len([r for r in trials if r["status"] != "running"])
        # The leaderboard: one row per complete trial, each expanding into its module.
        details = page.locator("#leaderboard details")
        assert details.count() == len(complete)
        details.first.locator("summary").click()
        assert (
            f'CANDIDATE_ID = "{winner["candidate_id"]}"' in details.first.inner_text()
        )
        failed = [r for r in trials if r["status"] == "failed"]
        assert "NOT_AN_ACTIVATION" in page.inner_text("#leaderboard")
        assert len(failed) >= 1
        # The winner against the runner-up: the differing hyperparameters and the diff.
        assert page.locator("#winner-diff").count() == 1
        assert "+++ candidates/" + winner["candidate_id"] in page.inner_text(
            "#winner-diff"
        )
        # Docstring and constant hunks are hidden until the toggle shows them.
        quiet = page.locator("#winner-diff .hunk.boilerplate")
        assert quiet.count() >= 1 and not quiet.first.is_visible()
        assert page.locator("#winner-diff .hunk:not(.boilerplate)").first.is_visible()
        page.uncheck("#hide-boilerplate")
        assert quiet.first.is_visible()
        # The winner's architecture, drawn from its graph: one box per layer of its module.
        layers = page.locator("#winner-architecture svg g.layer")
        assert layers.count() == source.count("= layers.") + source.count(
            "keras.Input("
        )
        # No plot's title lies under its toolbar.
        for plot_id in plot_ids:
            overlap = page.eval_on_selector(
                f"#{plot_id}",
                """e => { const t = e.querySelector('.gtitle'), m = e.querySelector('.modebar');
                  if (!t || !m) return false;
                  const a = t.getBoundingClientRect(), b = m.getBoundingClientRect();
                  return a.top < b.bottom && b.top < a.bottom; }""",
            )
            assert not overlap, plot_id
        # A colour per trial in the learning curves.
        colours = page.eval_on_selector(
            "#learning-curves",
            "e => e.data.filter(t => t.showlegend).map(t => t.line.color)",
        )
        assert len(colours) == len(set(colours))
        # The leaderboard sorts by a column (twice: reversed) and filters on what is typed.
        numbers = lambda: page.eval_on_selector_all(  # noqa: E731
            "#leaderboard-table tbody:not([style*='none']) tr:first-child td:nth-child(2)",
            "cells => cells.map(c => parseInt(c.textContent.slice(1)))",
        )
        best_first = numbers()
        assert len(best_first) == len(complete)
        page.click("#leaderboard-table th:has-text('trial')")
        assert numbers() == sorted(best_first)
        page.click("#leaderboard-table th:has-text('trial')")
        assert numbers() == sorted(best_first, reverse=True)
        # Filter on a hyperparameter value: only the trials that have it stay.
        units = complete[0]["assignment"]["units"]
        page.fill("#leaderboard-filter", f"units={units}")
        expected = sorted(
            r["number"] for r in complete if r["assignment"]["units"] == units
        )
        assert sorted(numbers()) == expected
        assert page.inner_text("#leaderboard-count") == (
            f"{len(expected)} of {len(complete)} trials"
        )
        page.fill("#leaderboard-filter", "no-such-thing")
        assert numbers() == []
        assert page.errors == []


@pytest.mark.slow
def test_report_command_rewrites_the_same_page(study, tmp_path):
    result = nascompile(
        "report",
        "--study",
        "generated/digits_tiny",
        "--out",
        str(tmp_path / "r.html"),
        cwd=study.parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {tmp_path / 'r.html'}"
    # Deterministic: the same study gives the same bytes.
    assert (tmp_path / "r.html").read_bytes() == (study / "report.html").read_bytes()


@pytest.mark.slow
def test_trials_json_and_csv(study):
    stored = rows(study)
    result = nascompile("trials", "--study", str(study), "--json", cwd=study.parents[1])
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [l["number"] for l in lines] == [r["number"] for r in stored]
    for line, row in zip(lines, stored):
        for key in ("candidate_id", "status", "objective", "params", "seed", "error"):
            assert line[key] == row[key], key
        assert line["fit_seconds"] == row["fit_seconds"]
        assert line["assignment"] == row["assignment"]
        assert line["epochs"] == row["epochs"]
        if row["status"] == "complete":
            assert line["epochs"] == max(map(len, row["metrics"].values()))
        assert (
            line["rung"] is None and "duplicate_of" in line and "wall_seconds" in line
        )
    assert {l["epochs"] for l in lines if l["status"] == "complete"} == {1}
    as_csv = nascompile("trials", "--study", str(study), "--csv", cwd=study.parents[1])
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [int(r["number"]) for r in table] == [l["number"] for l in lines]
    assert [r["status"] for r in table] == [l["status"] for l in lines]
    assert [json.loads(r["assignment"]) for r in table] == [
        l["assignment"] for l in lines
    ]
    both = nascompile(
        "trials", "--study", str(study), "--json", "--csv", cwd=study.parents[1]
    )
    assert (
        both.returncode == 2 and both.stderr == "error: give one of --json and --csv\n"
    )


@pytest.mark.slow
def test_tensorboard_holds_every_trials_scalars_and_hparams(study):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams import plugin_data_pb2

    logdir = study / "tensorboard"
    trained = [r for r in rows(study) if r["metrics"]]
    assert trained
    runs = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    assert runs == [f"trial-{r['number']:04d}-{r['candidate_id']}" for r in trained]
    for row in trained:
        events = EventAccumulator(
            str(logdir / f"trial-{row['number']:04d}-{row['candidate_id']}")
        )
        events.Reload()
        assert sorted(events.Tags()["scalars"]) == sorted(row["metrics"])
        for name, series in row["metrics"].items():
            scalars = events.Scalars(name)
            assert [s.step for s in scalars] == list(range(1, len(series) + 1))
            assert [s.value for s in scalars] == pytest.approx(series)
        content = events.PluginTagToContent("hparams")
        session = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]
        ).session_start_info
        hparams = {
            k: (v.string_value if v.HasField("string_value") else v.number_value)
            for k, v in session.hparams.items()
        }
        assert hparams == row["assignment"]
    experiment = EventAccumulator(str(logdir))
    experiment.Reload()
    config = plugin_data_pb2.HParamsPluginData.FromString(
        experiment.PluginTagToContent("hparams")["_hparams_/experiment"]
    ).experiment
    assert [h.name for h in config.hparam_infos] == list(trained[0]["assignment"])
    for info in config.hparam_infos:  # each domain lists the values the trials took
        seen = sorted({r["assignment"][info.name] for r in trained})
        domain = [getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values]
        assert domain == seen, info.name
    assert "val_accuracy" in [m.name.tag for m in config.metric_infos]


@pytest.mark.slow
def test_no_report_skips_it_and_a_missing_plotly_is_one_line(searched, study, tmp_path):
    cwd, _ = searched
    (study / "report.html").rename(tmp_path / "kept.html")
    try:
        skipped = nascompile(
            "search",
            str(SPACE),
            "--max-trials",
            "6",
            "--seed",
            "7",
            "--no-report",
            cwd=cwd,
        )
        assert skipped.returncode == 0, skipped.stderr
        assert "Report:" not in skipped.stdout and not (study / "report.html").exists()
        fake = tmp_path / "fake"
        for package in ("plotly", "tensorboard"):
            (fake / package).mkdir(parents=True)
            (fake / package / "__init__.py").write_text(
                "raise ImportError('not here')\n"
            )
        degraded = nascompile(
            "search",
            str(SPACE),
            "--max-trials",
            "6",
            "--seed",
            "7",
            cwd=cwd,
            PYTHONPATH=str(fake),
        )
        assert degraded.returncode == 0, degraded.stderr
        assert (
            "No HTML report: the HTML report needs plotly: pip install 'nascompiler[report]'"
            in degraded.stdout
        )
        no_tb = nascompile(
            "search",
            str(SPACE),
            "--max-trials",
            "6",
            "--seed",
            "7",
            "--tensorboard",
            cwd=cwd,
            PYTHONPATH=str(fake),
        )
        assert no_tb.returncode == 2
        assert (
            no_tb.stderr
            == "error: --tensorboard needs tensorboard: pip install 'nascompiler[tensorboard]'\n"
        )
    finally:
        (tmp_path / "kept.html").replace(study / "report.html")
