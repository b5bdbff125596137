"""Storage that fails under a study: a full disk, a read-only folder or medium, a damaged
database page, a row edited by hand. One line each, exit code 2, and what was stored stays.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import (  # noqa: E402
    SPACE,
    assert_one_line_error,
    copy_study,
    run,
)


def rows(study: Path) -> list[tuple]:
    with sqlite3.connect(study / "study.db") as db:
        return db.execute(
            "SELECT number, status FROM trials ORDER BY number"
        ).fetchall()


@pytest.mark.slow
def test_disk_full_while_writing_a_candidate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import nascompiler.search.study as study_module

    real_write = study_module.write_atomic
    calls = []

    def full_disk(path, text):
        calls.append(path)
        if len(calls) >= 2:  # the first candidate fits, the second does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write(path, text)

    monkeypatch.setattr(study_module, "write_atomic", full_disk)
    code, _, err = run(capsys, "search", str(SPACE), "--max-trials", "3", "--seed", "3")
    assert_one_line_error(code, err, "No space left on device", "re-run", "resume")
    study = tmp_path / "generated" / "digits_tiny"
    assert len(calls) == 2
    # The study is intact and readable: the first trial's result is kept.
    code, out, err = run_ok(capsys, "trials", "--study", str(study))
    assert rows(study)[0][1] in ("complete", "failed")


def run_ok(capsys, *args):
    from nascompiler.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out, err


def test_write_atomic_names_the_file_it_could_not_write(tmp_path, monkeypatch):
    from nascompiler import fileio

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        fileio.write_atomic(tmp_path / "c.py", "x = 1\n")
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(tmp_path / "c.py")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_out_that_cannot_be_a_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    code, _, err = run(capsys, "search", str(SPACE), "--out", "afile")
    assert_one_line_error(code, err, "cannot create the study folder afile/digits_tiny")


@pytest.mark.slow
def test_a_damaged_page_in_study_db(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    with sqlite3.connect(study / "study.db") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    assert pages >= 3
    data = bytearray((study / "study.db").read_bytes())
    for page in range(1, pages):  # every page but the first (the schema stays readable)
        start = page * page_size
        data[start : start + page_size] = b"\xa5" * page_size
    (study / "study.db").write_bytes(bytes(data))
    for args in (
        ["trials", "--study", str(study)],
        ["export", "--study", str(study), "--out", "x.py"],
        ["search", str(SPACE), "--max-trials", "2", "--seed", "1"],
    ):
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, "study.db", "malformed", "recover")


@pytest.mark.slow
def test_unreadable_json_in_a_stored_row(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = copy_study(finished_study, tmp_path)
    with sqlite3.connect(study / "study.db") as db:
        db.execute("UPDATE trials SET metrics='{\"loss\": [0.5' WHERE number=0")
    code, _, err = run(capsys, "trials", "--study", str(study))
    assert_one_line_error(code, err, "trial #0 holds unreadable data", "--fresh")


def _mount_read_only(source: Path, target: Path) -> bool:
    """Bind-mount ``source`` read-only at ``target`` (root only); False where we cannot."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    target.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(target)]).returncode == 0
    if done:
        done = (
            subprocess.run(
                ["mount", "-o", "remount,ro,bind", str(target)],
                capture_output=True,
            ).returncode
            == 0
        )
        if not done:
            subprocess.run(["umount", str(target)])
    return done


@pytest.mark.slow
def test_study_on_read_only_media(finished_study, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "src"
    shutil.copytree(finished_study, source / "digits_tiny")
    with sqlite3.connect(source / "digits_tiny" / "study.db") as db:
        before = db.execute(
            "SELECT COUNT(*) FROM trials WHERE status='complete'"
        ).fetchone()[0]
    media = tmp_path / "media"
    if not _mount_read_only(source, media):
        # Without root no folder is read-only to us; the store then sees an unwritable
        # folder the same way, and the reading commands must still work.
        real_access = os.access
        monkeypatch.setattr(
            "nascompiler.storage.store.os.access",
            lambda path, mode: False if mode == os.W_OK else real_access(path, mode),
        )
        study = source / "digits_tiny"
        run_ok(capsys, "trials", "--study", str(study))
        run_ok(capsys, "export", "--study", str(study), "--out", str(tmp_path / "m.py"))
        assert (tmp_path / "m.py").exists()
        return
    try:
        study = media / "digits_tiny"
        code, out, err = run_ok(capsys, "trials", "--study", str(study))
        assert f"{before} complete" in " ".join(out.split()), out
        code, out, err = run_ok(
            capsys, "export", "--study", str(study), "--out", str(tmp_path / "m.py")
        )
        assert (tmp_path / "m.py").exists()
        code, _, err = run(
            capsys, "search", str(SPACE), "--out", str(media), "--max-trials", "9"
        )
        assert_one_line_error(code, err, "read-only")
        assert "not a valid study" not in err
        # A new study in a read-only --out.
        code, _, err = run(
            capsys, "search", str(SPACE), "--out", str(media), "--study", "new"
        )
        assert_one_line_error(code, err, "new", "Read-only file system")
    finally:
        subprocess.run(["umount", "-l", str(media)])  # lazily: a connection may linger
