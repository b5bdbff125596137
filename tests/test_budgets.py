"""Hard budgets (--max-params, --max-flops) in a real search, and resuming a TPE search after
kill -9 with exactly the proposals of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from helpers import (
    NASCOMPILE,
    SPACE,
    env,
    nascompile,
    trials,
    wait_for_running_trial,
    workers_in,
)

pytestmark = pytest.mark.slow


def test_candidates_over_the_parameter_budget_are_never_trained(tmp_path):
    result = nascompile(
        "search", str(SPACE), "--max-params", "1k", "--max-trials", "4", "--seed", "0",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = trials(tmp_path / "generated" / "digits_tiny")
    trained = [r for r in rows if r["status"] in ("complete", "failed")]
    rejected = [r for r in rows if r["status"] == "over_budget"]
    assert len(trained) == 4  # rejected candidates do not count towards --max-trials
    assert rejected, "digits_tiny has candidates of 1,040 to 3,466 parameters"
    for r in trained:
        if r["status"] == "complete":
            assert r["params"] <= 1000
    for r in rejected:
        assert r["params"] > 1000 and "params > 1,000 (--max-params)" in r["error"]
        assert r["fit_seconds"] is None and r["epochs"] == 0  # no training time at all
        assert r["flops"] > 0
        assert not (
            tmp_path
            / "generated"
            / "digits_tiny"
            / "candidates"
            / f"{r['candidate_id']}.py"
        ).exists()
    assert (
        f"{len(rejected)} candidate(s) over the budget were rejected untrained"
        in result.stdout
    )
    listed = nascompile(
        "trials", "--json", "--study", "generated/digits_tiny", cwd=tmp_path
    )
    statuses = [json.loads(line)["status"] for line in listed.stdout.splitlines()]
    assert statuses.count("over_budget") == len(rejected)


def test_a_space_entirely_over_budget_ends_with_its_reason(tmp_path):
    result = nascompile(
        "search",
        str(SPACE),
        "--max-flops",
        "10",
        "--max-trials",
        "3",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = trials(tmp_path / "generated" / "digits_tiny")
    assert rows and all(r["status"] == "over_budget" for r in rows)
    assert "search finished:" in result.stdout


def test_bad_budgets_are_one_line_errors(tmp_path):
    result = nascompile("search", str(SPACE), "--max-params", "lots", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: --max-params")
        and len(result.stderr.splitlines()) == 1
    )


def test_kill_9_then_resume_under_tpe_proposes_what_an_uninterrupted_run_did(tmp_path):
    args = ["search", str(SPACE), "--searcher", "tpe", "--max-trials", "7", "--seed", "3",
            "--max-params", "3k"]  # fmt: skip
    slow = {
        "DIGITS_TINY_REPEAT": "12"
    }  # time to kill it mid-trial; the same data for both runs
    straight = tmp_path / "straight"
    straight.mkdir()
    result = nascompile(*args, cwd=straight, timeout=600, **slow)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [r["assignment"] for r in trials(straight / "generated" / "digits_tiny")]

    killed = tmp_path / "killed"
    killed.mkdir()
    process = subprocess.Popen(
        [NASCOMPILE, *args], cwd=killed, env=env(**slow),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    study = killed / "generated" / "digits_tiny"
    wait_for_running_trial(study / "study.db", process, after_complete=2, timeout=400)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 15
    while workers_in(killed) and time.monotonic() < deadline:
        time.sleep(0.2)
    resumed = nascompile(*args, cwd=killed, timeout=600, **slow)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "proposes differently" not in resumed.stdout
    assert [r["assignment"] for r in trials(study)] == expected
