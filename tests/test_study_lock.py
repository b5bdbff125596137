"""One writer per study: a second search on a running study stops at once with one line that
names the running process; reading commands still work; a lock left by a killed process is
not in the way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nascompiler.errors import UsageError
from nascompiler.storage import lock as lock_module
from nascompiler.storage.lock import LOCK_NAME, StudyLock, check_not_running

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"
NASCOMPILE = str(Path(sys.executable).parent / "nascompile")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    e.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", COLUMNS="160")
    e.update(extra)
    return e


def wait_for(predicate, what: str, timeout: float = 120, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            assert process.poll() is None, process.communicate()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def lock_owner(study: Path) -> dict | None:
    try:
        return json.loads((study / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_second_search_on_a_running_study_stops_at_once(tmp_path):
    study = tmp_path / "generated" / "digits_tiny"
    first = subprocess.Popen(
        [NASCOMPILE, "search", str(SPACE), "--max-trials", "3", "--seed", "1"],
        cwd=tmp_path,
        env=env(DIGITS_TINY_REPEAT="12"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (lock_owner(study) or {}).get("pid") == first.pid,
            "the first search to take the lock",
            process=first,
        )
        second = subprocess.run(
            [NASCOMPILE, "search", str(SPACE), "--max-trials", "3", "--seed", "1"],
            cwd=tmp_path,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2, second.stderr
        assert len(lines) == 1 and lines[0].startswith("error: "), second.stderr
        assert f"being searched by process {first.pid}" in lines[0]
        assert "Traceback" not in second.stderr
        # --fresh must not move a running study aside either.
        fresh = subprocess.run(
            [NASCOMPILE, "search", str(SPACE), "--fresh"],
            cwd=tmp_path,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert fresh.returncode == 2 and str(first.pid) in fresh.stderr, fresh.stderr
        assert not list(study.parent.glob("digits_tiny.old-*"))
        # Reading the study while the search runs works.
        listing = subprocess.run(
            [NASCOMPILE, "trials", "--study", str(study)],
            cwd=tmp_path,
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listing.returncode == 0, listing.stderr
        assert first.poll() is None, "the first search is untouched"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    # kill -9 left the lock file behind, but not the lock.
    assert lock_owner(study)["pid"] == first.pid
    with StudyLock(study):
        assert lock_owner(study)["pid"] == os.getpid()


HOLDER = textwrap.dedent("""
    import sys, time
    from nascompiler.storage.lock import StudyLock
    StudyLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(120)
    """)


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_lock_names_the_owner_and_is_free_after_kill_9(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    check_not_running(plain)  # a folder never searched: nothing held, nothing written
    assert not any(plain.iterdir())
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(UsageError, match=f"process {holder.pid} on "):
            StudyLock(tmp_path).acquire()
        with pytest.raises(UsageError, match="being searched"):
            check_not_running(tmp_path)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with StudyLock(tmp_path):
        with StudyLock(tmp_path):  # re-entrant within one process
            pass
        # Still held after the inner release: another process cannot take it.
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from nascompiler.storage.lock import check_not_running; "
                "check_not_running(sys.argv[1])",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            env=env(),
            timeout=60,
        )
        assert probe.returncode != 0 and str(os.getpid()) in probe.stderr
    check_not_running(tmp_path)  # released


def test_without_flock_a_dead_owner_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module, "fcntl", None)  # as on a file system without flock
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    excl = tmp_path / (LOCK_NAME + ".excl")
    excl.write_text(
        json.dumps({"pid": dead.pid, "host": lock_module.socket.gethostname()})
    )
    with StudyLock(tmp_path):
        assert json.loads(excl.read_text())["pid"] == os.getpid()
        # A live owner (this process, seen from a fresh StudyLock state) is not stale.
        saved = dict(lock_module._held)
        lock_module._held.clear()
        try:
            with pytest.raises(UsageError, match=f"process {os.getpid()}"):
                StudyLock(tmp_path).acquire()
        finally:
            lock_module._held.update(saved)
    assert not excl.exists()
