"""End-to-end tests of ``nascompile search`` / ``export`` / ``trials`` on real data (digits).

They run the installed ``nascompile`` script in a subprocess, as a user would: killing it with
SIGKILL mid-trial, resuming it, interrupting it with Ctrl-C, and loading the exported module in
a fresh interpreter that cannot import nascompiler.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

import helpers
from helpers import (
    NASCOMPILE,
    SPACE,
    env,
    nascompile,
    trained,
    trials,
    wait_for_running_trial,
    workers_in,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """A seeded 6-trial search that ran to the end without interruption."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    result = nascompile(
        "search", str(SPACE), "--max-trials", "6", "--seed", "7", cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    return cwd / "generated" / "digits_tiny"


def test_search_runs_trains_and_prints_a_leaderboard(uninterrupted):
    rows = trials(uninterrupted)
    assert len(trained(rows)) == 6
    complete = [r for r in rows if r["status"] == "complete"]
    assert complete, "some candidates must train"
    for r in complete:
        assert (uninterrupted / "candidates" / f"{r['candidate_id']}.py").exists()
        metrics = json.loads(r["metrics"])
        assert r["objective"] == metrics["val_accuracy"][-1]
        assert r["params"] > 0 and r["fit_seconds"] > 0 and r["seed"] is not None
    # Candidates with the unknown activation fail with their reason and never win.
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        assert "NOT_AN_ACTIVATION" in r["error"]
    assert {r["status"] for r in rows} <= {"complete", "failed", "duplicate"}


def test_seeded_search_is_reproducible(uninterrupted, tmp_path):
    result = nascompile(
        "search", str(SPACE), "--max-trials", "6", "--seed", "7", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    again = trials(tmp_path / "generated" / "digits_tiny")
    first = trials(uninterrupted)
    assert [r["candidate_id"] for r in again] == [r["candidate_id"] for r in first]
    assert [r["assignment"] for r in again] == [r["assignment"] for r in first]
    other = nascompile(
        "search",
        str(SPACE),
        "--max-trials",
        "6",
        "--seed",
        "8",
        "--study",
        "other",
        cwd=tmp_path,
    )
    assert other.returncode == 0, other.stderr
    assert [r["assignment"] for r in trials(tmp_path / "generated" / "other")] != [
        r["assignment"] for r in first
    ]


def test_sigkill_mid_trial_then_resume_keeps_every_trial_once(uninterrupted, tmp_path):
    # Slower trials (the training set repeated) leave time to kill the search mid-trial.
    slow = {"DIGITS_TINY_REPEAT": "12"}
    # Far more trials than are trained before the signal: with 6, a slow poll of the store once
    # saw the last trial running and the search had finished (exit 0) when the signal came.
    args = [NASCOMPILE, "search", str(SPACE), "--max-trials", "30", "--seed", "7"]
    process = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env(**slow),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    study = tmp_path / "generated" / "digits_tiny"
    wait_for_running_trial(study / "study.db", process, after_complete=2)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    deadline = time.monotonic() + 10
    while (
        workers_in(tmp_path) and time.monotonic() < deadline
    ):  # orphaned workers notice and exit
        time.sleep(0.2)
    assert not workers_in(tmp_path)

    rows = trials(study)
    killed = [r for r in rows if r["status"] == "running"]
    assert len(killed) == 1, rows
    assert (
        sqlite3.connect(study / "study.db")
        .execute("PRAGMA integrity_check")
        .fetchone()[0]
        == "ok"
    )
    kept = {r["number"]: r for r in rows if r["status"] != "running"}

    resumed = nascompile(
        "search", str(SPACE), "--max-trials", "6", "--seed", "7", cwd=tmp_path, **slow
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout
    after = trials(study)
    assert len(trained(after)) == 6
    assert not [r for r in after if r["status"] == "running"]
    # Completed trials were kept as they were, not trained again...
    for number, row in kept.items():
        assert after[number]["finished_at"] == row["finished_at"]
    # ...the killed trial ran again under its number, and every candidate was trained once.
    assert after[killed[0]["number"]]["status"] in ("complete", "failed")
    complete_ids = [r["candidate_id"] for r in after if r["status"] == "complete"]
    assert len(complete_ids) == len(set(complete_ids))
    # The resumed seeded search proposed what the uninterrupted one did, in the same order.
    assert [r["assignment"] for r in after] == [
        r["assignment"] for r in trials(uninterrupted)
    ]


def test_rerunning_a_finished_study_trains_nothing(uninterrupted, tmp_path):
    import shutil

    study = tmp_path / "generated" / "digits_tiny"
    shutil.copytree(uninterrupted, study)
    before = trials(study)
    result = nascompile(
        "search", str(SPACE), "--max-trials", "6", "--seed", "7", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert trials(study) == before
    # A larger --max-trials extends the same study.
    more = nascompile(
        "search", str(SPACE), "--max-trials", "8", "--seed", "7", cwd=tmp_path
    )
    assert more.returncode == 0, more.stderr
    after = trials(study)
    assert len(trained(after)) == 8 and after[: len(before)] == before


def test_ctrl_c_stops_cleanly_and_says_what_was_kept(tmp_path):
    slow = {"DIGITS_TINY_REPEAT": "12"}
    # Far more trials than are trained before the signal: with 6, a slow poll of the store once
    # saw the last trial running and the search had finished (exit 0) when the signal came.
    args = [NASCOMPILE, "search", str(SPACE), "--max-trials", "30", "--seed", "7"]
    process = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env(**slow),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As in a terminal, where Ctrl-C reaches the search: a shell starts a background job
        # (CI run as `... &`) with SIGINT ignored, and that would pass down to the search.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    study = tmp_path / "generated" / "digits_tiny"
    wait_for_running_trial(study / "study.db", process, after_complete=1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (
        f"exit {process.returncode}; SIGINT here: {signal.getsignal(signal.SIGINT)}; "
        f"trials: {[r['status'] for r in trials(study)]}; stderr: {err[-2000:]}; "
        f"stdout: {out[-2000:]}"
    )
    assert "Interrupted" in out and "will run again" in out
    assert "Traceback" not in err
    rows = trials(study)
    assert [
        r for r in rows if r["status"] == "running"
    ], "the interrupted trial stays to be run again"
    # The workers exit with their driver.
    helpers.wait_until(lambda: not workers_in(tmp_path), 10, "the workers to exit")


def test_duplicates_are_not_trained_again(tmp_path):
    space = tmp_path / "tiny_space.py"
    space.write_text(textwrap.dedent("""
        from nascompiler.datasets import load_digits
        from nascompiler.layers import Dense, Flatten, Input
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Flatten()(Input(shape=(8, 8, 1)))
                Dense(10, activation=Choice(["softmax", "sigmoid"]))(x)
            return space

        def load_data():
            return load_digits()

        TRAINING = {"epochs": 1}
    """))
    result = nascompile(
        "search", str(space), "--max-trials", "2", "--seed", "3", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = trials(tmp_path / "generated" / "tiny_space")
    assert len(trained(rows)) == 2
    assert len({r["candidate_id"] for r in trained(rows)}) == 2
    duplicates = [r for r in rows if r["status"] == "duplicate"]
    assert duplicates, "a random searcher on a 2-candidate space proposes duplicates"
    for d in duplicates:
        original = rows[d["duplicate_of"]]
        assert (
            original["candidate_id"] == d["candidate_id"]
            and d["objective"] == original["objective"]
        )
    assert "same architecture as trial" in result.stdout


def test_export_best_gives_the_trials_predictions_without_nascompiler(
    uninterrupted, tmp_path
):
    result = nascompile(
        "export",
        "--best",
        "--study",
        str(uninterrupted),
        "--out",
        str(tmp_path / "best_model.py"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    exported = (tmp_path / "best_model.py").read_text()
    best = max(
        (r for r in trials(uninterrupted) if r["status"] == "complete"),
        key=lambda r: (r["objective"], -r["number"]),
    )
    trained_source = (
        uninterrupted / "candidates" / f"{best['candidate_id']}.py"
    ).read_text()
    # The code is the trained module's, byte for byte; only the docstring gained a section.
    code = exported[exported.index('\n"""\n') :]
    assert code == trained_source[trained_source.index('\n"""\n') :]
    assert (
        "Search result:" in exported
        and "val_accuracy" in exported
        and "batch_size=64" in exported
    )
    assert (tmp_path / "best_model.weights.h5").exists()

    program = textwrap.dedent(f"""
        import sys, importlib.util
        sys.path.append({sysconfig.get_paths()["purelib"]!r})  # keras, numpy, sklearn; not the editable install
        if importlib.util.find_spec("nascompiler") is not None:
            raise SystemExit("nascompiler must not be importable here")
        import numpy as np
        from sklearn.datasets import load_digits

        def load(path, name):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module

        digits = load_digits()
        order = np.random.default_rng(0).permutation(len(digits.images))
        x_val = (digits.images[order[:359]].astype("float32") / 16.0)[..., None]

        exported = load("{tmp_path / 'best_model.py'}", "best_model").build_model()
        exported.load_weights("{tmp_path / 'best_model.weights.h5'}")
        trial = load("{uninterrupted / 'candidates' / (best['candidate_id'] + '.py')}", "trial").build_model()
        trial.load_weights("{uninterrupted / 'weights' / (best['candidate_id'] + '.weights.h5')}")
        a, b = exported.predict(x_val, verbose=0), trial.predict(x_val, verbose=0)
        assert a.shape == (359, 10)
        np.testing.assert_array_equal(a, b)
        accuracy = float((a.argmax(1) == digits.target[order[:359]]).mean())
        print("accuracy", accuracy)
    """)
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    accuracy = float(run.stdout.split()[-1])
    assert (
        abs(accuracy - best["objective"]) < 1e-6
    )  # the stored score is the exported weights' score


def test_export_and_trials_commands(uninterrupted, tmp_path):
    rows = trials(uninterrupted)
    complete = [r for r in rows if r["status"] == "complete"]
    listing = nascompile("trials", "--study", str(uninterrupted), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert (
        "Leaderboard" in listing.stdout
        and complete[0]["candidate_id"] in listing.stdout
    )
    if any(r["status"] == "failed" for r in rows):
        assert (
            "Failed trials" in listing.stdout and "NOT_AN_ACTIVATION" in listing.stdout
        )
    by_trial = nascompile(
        "export",
        "--trial",
        str(complete[-1]["number"]),
        "--study",
        str(uninterrupted),
        "--out",
        str(tmp_path / "chosen.py"),
        cwd=tmp_path,
    )
    assert by_trial.returncode == 0, by_trial.stderr
    assert (
        f"CANDIDATE_ID = \"{complete[-1]['candidate_id']}\""
        in (tmp_path / "chosen.py").read_text()
    )
    by_id = nascompile(
        "export",
        "--candidate",
        complete[0]["candidate_id"],
        "--study",
        str(uninterrupted),
        "--out",
        str(tmp_path / "by_id.py"),
        cwd=tmp_path,
    )
    assert by_id.returncode == 0, by_id.stderr
    # A file the user wrote is not overwritten.
    mine = tmp_path / "mine.py"
    mine.write_text("print('my code')\n")
    refused = nascompile(
        "export",
        "--best",
        "--study",
        str(uninterrupted),
        "--out",
        str(mine),
        cwd=tmp_path,
    )
    assert (
        refused.returncode == 2 and "not written by nascompile export" in refused.stderr
    )
    assert mine.read_text() == "print('my code')\n"
