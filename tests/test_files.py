"""Files nascompiler writes: how they name the space, and their permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nascompiler.fileio import write_atomic
from nascompiler.spacefile import load_space_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_quick.py"


def test_generated_docstring_names_the_space_independently_of_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(EXAMPLE.parents[1])
    assert (
        load_space_file("examples/digits_quick.py").compile().source
        == "examples/digits_quick.py"
    )
    monkeypatch.chdir(tmp_path)
    assert load_space_file(EXAMPLE).compile().source == "digits_quick.py"
    relative_up = os.path.relpath(EXAMPLE, tmp_path)
    assert (
        ".." in relative_up
        and load_space_file(relative_up).compile().source == "digits_quick.py"
    )


def test_atomic_writes_leave_no_temporary_file_and_a_normal_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "sub" / "module.py", "x = 1\n")
    finally:
        os.umask(mask)
    assert path.read_text() == "x = 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["module.py"]
