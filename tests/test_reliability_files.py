"""Issue 21's file findings: every file nascompiler writes goes through one writer that never
replaces what is not its own (a folder, a device, a FIFO, a link, a file it did not write),
never makes a temporary name longer than the file system takes, and re-export deletes only
its own set; every OS error is one line; and the CLI's rough edges (an empty study left by a
bad flag, an unquoted hint, a SEARCH value named by its flag, a multi-line error, "run search
first" for a study whose trials all failed).

Everything here runs in-process on hand-made studies: nothing is trained.
"""

from __future__ import annotations

import errno
import os
import shlex
import stat
from pathlib import Path

import pytest

from helpers import SPACE, add_trial, assert_one_line_error, run
from nascompiler import fileio
from nascompiler.codegen import emit
from nascompiler.config.settings import TrainingSettings
from nascompiler.ir import specialize
from nascompiler.spacefile import load_space_file
from nascompiler.storage.store import Store

SETTINGS = TrainingSettings.resolve({"epochs": 2}).to_json()

HDF5 = b"\x89HDF\r\n\x1a\n" + bytes(64)  # what a weights file starts with


def product(recognise=lambda p: True):
    return fileio.Product("the test", recognise)


def make_study(
    directory: Path, *, failed: int = 0, complete: int = 1, weights: bool = True
) -> list[str]:
    """A study of digits_tiny with ``complete`` complete trials (the first with a weights
    file when ``weights``) and ``failed`` failed ones; returns the candidate ids."""
    ir = load_space_file(SPACE).compile()
    store = Store(directory, create=True)
    store.set_meta(settings=SETTINGS, searcher="random", seed=0, space_file=str(SPACE))
    (directory / "candidates").mkdir()
    (directory / "weights").mkdir()
    ids = []
    for number in range(complete + failed):
        base = {"units": 8, "repeat_1.times": 1, "dropout": 0.1, "head": "softmax"}
        graph = specialize(ir, {**base, "units": (8, 16, 32, 64)[number % 4]})
        (directory / "candidates" / f"{graph.id}.py").write_text(emit(graph))
        ids.append(graph.id)
        if number < complete:
            add_trial(
                store,
                number,
                graph.id,
                dict(graph.assignment),
                status="complete",
                objective=0.5 + number / 10,
                metrics={"loss": [1.0], "val_accuracy": [0.5 + number / 10]},
                params=100,
            )
        else:
            add_trial(
                store,
                number,
                graph.id,
                dict(graph.assignment),
                status="failed",
                error="ValueError: cannot build",
            )
    store.close()
    if weights and complete:
        best = ids[complete - 1]  # the highest objective
        (directory / "weights" / f"{best}.weights.h5").write_bytes(HDF5)
    return ids


@pytest.fixture()
def study(tmp_path) -> Path:
    make_study(tmp_path / "study")
    return tmp_path / "study"


# ------------------------------------------------------------------------- the writer


def test_the_writer_refuses_what_is_not_a_regular_file_of_its_own(tmp_path):
    folder = tmp_path / "a folder"
    folder.mkdir()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    target = tmp_path / "target.txt"
    target.write_text("the user's")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    cases = {
        folder: "is a directory",
        fifo: "is a FIFO",
        link: "is a symbolic link",
        Path("/dev/null"): "is a device",
    }
    for path, words in cases.items():
        for force in (False, True):  # --force never replaces these
            with pytest.raises(fileio.FileRefused) as info:
                fileio.check_target(path, product(), force)
            assert words in str(info.value) and str(path) in str(info.value)
            assert "\n" not in str(info.value)
    with pytest.raises(fileio.FileRefused):
        fileio.write_atomic(link, "x", product(), force=True)
    assert link.is_symlink() and target.read_text() == "the user's"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    # A regular file that is not its product: only with force.
    with pytest.raises(fileio.FileRefused) as info:
        fileio.write_atomic(target, "new", product(lambda p: False))
    assert str(info.value) == (
        f"{target} exists and was not written by the test; move it away or pass --force"
    )
    assert target.read_text() == "the user's"
    fileio.write_atomic(target, "new", product(lambda p: False), force=True)
    assert target.read_text() == "new"
    fileio.write_atomic(target, "again", product())  # its own product: no force needed
    assert target.read_text() == "again"


def test_temporary_names_stay_short_and_long_names_are_one_line(tmp_path):
    limit = fileio.name_limit(tmp_path)
    longest = tmp_path / ("m" * (limit - 3) + ".py")
    # The old temporary name ".<name>.XXXX.tmp" was too long for this one.
    fileio.write_atomic(longest, "x = 1\n")
    assert longest.read_text() == "x = 1\n"
    assert [p.name for p in tmp_path.iterdir()] == [longest.name]
    too_long = tmp_path / ("m" * (limit + 1) + ".py")
    with pytest.raises(fileio.FileRefused) as info:
        fileio.write_atomic(too_long, "x = 1\n")
    assert f"more than the {limit} its file system allows" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == [longest.name]
    staging = fileio.temporary_folder(tmp_path / "sub")
    assert len(staging.name) < 32


def test_remove_product_deletes_only_what_it_recognises(tmp_path):
    mine, theirs = tmp_path / "mine.bin", tmp_path / "theirs.bin"
    mine.write_bytes(HDF5)
    theirs.write_bytes(b"user data")
    weights = fileio.Product("w", lambda p: fileio.head(p, 8) == HDF5[:8])
    assert not fileio.remove_product(theirs, weights) and theirs.exists()
    assert fileio.remove_product(mine, weights) and not mine.exists()
    link = tmp_path / "link"
    link.symlink_to(theirs)
    assert not fileio.remove_product(link, product()) and link.is_symlink()
    folder = tmp_path / "folder"
    folder.mkdir()
    assert not fileio.remove_product(folder, product()) and folder.is_dir()


# ------------------------------------------------------------------------- report --out


def test_report_out_never_replaces_what_is_not_a_report(study, tmp_path, capsys):
    folder = tmp_path / "reports"
    folder.mkdir()
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    target = tmp_path / "target.html"
    target.write_text("the user's page")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    base = ["report", "--study", str(study), "--out"]
    for out, words in [
        (folder, "is a directory"),
        ("", "is a directory"),  # '' is the current folder
        (fifo, "is a FIFO"),
        (link, "is a symbolic link"),
    ]:
        code, _, err = run(capsys, *base, str(out))
        assert_one_line_error(code, err, words)
    assert link.is_symlink() and target.read_text() == "the user's page"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not any(folder.iterdir())
    # An exported module at --out: not a report, so not without --force.
    module = tmp_path / "best.py"
    module.write_text('"""Exported by nascompiler 1.0."""\n')
    code, _, err = run(capsys, *base, str(module))
    assert_one_line_error(
        code, err, f"{module} exists and was not written by nascompile report"
    )
    assert module.read_text() == '"""Exported by nascompiler 1.0."""\n'
    code, _, err = run(capsys, *base, str(tmp_path / ("r" * 300 + ".html")))
    assert_one_line_error(code, err, "file name is 305 bytes long")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.slow  # builds three reports, about 3 s
def test_report_out_rewrites_its_own_and_takes_the_longest_names(
    study, tmp_path, capsys
):
    base = ["report", "--study", str(study), "--out"]
    page = tmp_path / (
        "r" * 250 + ".html"
    )  # its final name fits; the old temp name did not
    code, out, err = run_ok(capsys, *base, str(page))
    assert code == 0, err
    assert "nascompiler report" in page.read_text()[:2000]
    assert run_ok(capsys, *base, str(page))[0] == 0  # its own: rewritten, no --force
    module = tmp_path / "best.py"
    module.write_text('"""Exported by nascompiler 1.0."""\n')
    assert run_ok(capsys, *base, str(module), "--force")[0] == 0
    assert module.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["best.py", page.name, "study"]
    )


def run_ok(capsys, *args):
    from nascompiler.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_search_leaves_a_foreign_report_html_alone(study, capsys):
    from nascompiler.cli.search import _write_report

    (study / "report.html").write_text("my notes")
    _write_report(study)
    out = capsys.readouterr().out
    assert "No HTML report:" in out and "was not written by nascompile report" in out
    assert (study / "report.html").read_text() == "my notes"


# ------------------------------------------------------------------------- export


def export(capsys, study: Path, out: Path, *extra: str):
    try:
        from nascompiler.cli import main

        main(["export", "--study", str(study), "--out", str(out), *extra])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out_text, err = capsys.readouterr()
    return code, out_text, err


def test_reexport_deletes_only_its_own_set(study, tmp_path, capsys):
    folder = tmp_path / "out"
    best = folder / "best.py"
    code, out, err = export(capsys, study, best, "--no-test", "--with-training")
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.py",
        "best.weights.h5",
        "train_best.py",
    ]
    # The user puts their own things beside it, and an edited files: line names them (a
    # folder, a file, and a file of the set's names that export did not write).
    (folder / "data").mkdir()
    (folder / "data" / "keep.npy").write_bytes(b"precious")
    (folder / "notes.txt").write_text("mine")
    text = best.read_text()
    assert "files: best.weights.h5, train_best.py" in text
    best.write_text(
        text.replace(
            "files: best.weights.h5, train_best.py",
            "files: best.weights.h5, train_best.py, data, notes.txt, best.golden.npz",
        )
    )
    (folder / "best.golden.npz").write_text("the user's file, not a zip")
    code, out, err = export(capsys, study, best, "--no-test")
    assert code == 0, err
    # train_best.py (its own, no longer asked for) went; nothing of the user's did.
    assert sorted(p.name for p in folder.iterdir()) == [
        "best.golden.npz",
        "best.py",
        "best.weights.h5",
        "data",
        "notes.txt",
    ]
    assert (folder / "data" / "keep.npy").read_bytes() == b"precious"
    assert f"removed {folder / 'train_best.py'}" in " ".join(out.split())
    # A training script the user wrote under the set's name is not export's either.
    (folder / "train_best.py").write_text("print('my own training')\n")
    code, _, err = export(capsys, study, best, "--no-test", "--with-training")
    assert_one_line_error(
        code,
        err,
        f"{folder / 'train_best.py'} exists and was not written by nascompile",
    )
    assert (folder / "train_best.py").read_text() == "print('my own training')\n"


def test_export_refuses_links_folders_and_names_too_long(study, tmp_path, capsys):
    target = tmp_path / "elsewhere.py"
    target.write_text("x = 1\n")
    link = tmp_path / "linked.py"
    link.symlink_to(target)
    code, _, err = export(capsys, study, link, "--no-test")
    assert_one_line_error(code, err, "is a symbolic link")
    assert link.is_symlink() and target.read_text() == "x = 1\n"
    (tmp_path / "m.weights.h5").mkdir()
    code, _, err = export(capsys, study, tmp_path / "m.py", "--no-test", "--force")
    assert_one_line_error(code, err, "m.weights.h5 is a directory")
    assert not (tmp_path / "m.py").exists()
    # The module's name fits, its weights file's name (11 bytes longer) does not: refused
    # before anything is written (it used to fail on a temporary name, with a traceback).
    limit = fileio.name_limit(tmp_path)
    long_out = tmp_path / ("b" * (limit - 10) + ".py")
    code, _, err = export(capsys, study, long_out, "--no-test")
    assert_one_line_error(
        code, err, f".weights.h5: the file name is {limit + 1} bytes long"
    )
    assert not long_out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # One byte shorter, every name of the set fits, and so do the temporary names.
    longest = tmp_path / ("b" * (limit - 11) + ".py")
    code, _, err = export(capsys, study, longest, "--no-test", "--with-training")
    assert code == 0, err
    assert len((tmp_path / (longest.stem + ".weights.h5")).name) == limit
    assert (tmp_path / f"train_{longest.name}").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_of_a_study_whose_trials_all_failed(tmp_path, capsys):
    make_study(tmp_path / "s", complete=0, failed=2)
    code, _, err = export(capsys, tmp_path / "s", tmp_path / "m.py")
    assert_one_line_error(
        code, err, "all 2 of its trials failed", "nascompile trials --study", "logs"
    )
    assert "search first" not in err
    empty = tmp_path / "empty"
    with Store(empty, create=True) as store:
        store.set_meta(settings=SETTINGS)
    code, _, err = export(capsys, empty, tmp_path / "m.py")
    assert_one_line_error(code, err, "has no trial yet; run nascompile search first")


# ------------------------------------------------------------------------- OS errors


def test_os_errors_are_one_line_naming_the_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    long_name = "s" * 300
    code, _, err = run(capsys, "trials", "--study", long_name)
    assert_one_line_error(code, err, long_name, "File name too long")
    code, _, err = run(capsys, "report", "--study", long_name)
    assert_one_line_error(code, err, "File name too long")
    code, _, err = run(
        capsys, "search", str(SPACE), "--study", long_name, "--max-trials", "1"
    )
    assert_one_line_error(code, err, "File name too long")
    Path("afile").write_text("x")
    code, _, err = run(capsys, "search", str(SPACE), "--out", ".", "--study", "afile")
    assert_one_line_error(code, err, "afile is a file, not a study folder")
    assert Path("afile").read_text() == "x"

    # Any other OS error, with or without a hint of what to do: the path and the cause.
    import nascompiler.cli.report as report_module

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/x/report.html")

    monkeypatch.setattr(report_module, "study_directory", denied)
    code, _, err = run(capsys, "report")
    assert_one_line_error(code, err, "/x/report.html: Permission denied")

    def loop(*args, **kwargs):
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), "/a/b")

    monkeypatch.setattr(report_module, "study_directory", loop)
    code, _, err = run(capsys, "report")
    assert_one_line_error(code, err, "/a/b: Too many levels of symbolic links")
    with pytest.raises(OSError):
        run(capsys, "report", "--debug")


# ------------------------------------------------------------------------- rough edges


def test_a_bad_setting_leaves_no_study_and_moves_none_aside(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    for flags in (
        ["--searcher", "nope"],
        ["--searcher", "grid", "--grid-resolution", "0"],
        ["--scheduler", "asha", "--min-epochs", "5", "--epochs", "2"],
    ):
        code, _, err = run(capsys, "search", str(SPACE), "--study", "s", *flags)
        assert code == 2 and err.startswith("error: "), err
        assert not (tmp_path / "generated").exists(), flags
    # --fresh with a bad flag: the existing study stays where it is.
    make_study(tmp_path / "generated" / "kept")
    code, _, err = run(
        capsys, "search", str(SPACE), "--study", "kept", "--fresh", "--searcher", "nope"
    )
    assert code == 2, err
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == ["kept"]


def test_search_values_from_the_space_file_are_named_by_their_key(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    cases = {
        '{"time_budget": "0s"}': 'SEARCH["time_budget"] must be positive',
        '{"trial_timeout": "5x"}': 'SEARCH["trial_timeout"] must be a duration',
        '{"max_params": "lots"}': 'SEARCH["max_params"] must be a whole number',
        '{"scheduler": "asha", "min_epochs": 5}': 'SEARCH["min_epochs"] (5) must not',
        '{"scheduler": "nope"}': 'SEARCH["scheduler"]: unknown scheduler',
        '{"searcher": "grid", "searcher_options": {"resolution": 0}}': (
            'SEARCH["searcher_options"]: option resolution'
        ),
    }
    for search, expected in cases.items():
        space = tmp_path / "space.py"
        space.write_text(SPACE.read_text() + f"\nSEARCH = {search}\n")
        code, _, err = run(capsys, "search", str(space), "--epochs", "2")
        assert_one_line_error(code, err, f"space.py: {expected}")
        flag = "--" + expected.split('"')[1].replace("_", "-")
        assert flag not in err, err
    # Given as a flag, it is still named as the flag.
    code, _, err = run(capsys, "search", str(SPACE), "--time-budget", "0s")
    assert_one_line_error(code, err, "--time-budget must be positive")


def test_a_multi_line_message_is_one_line(tmp_path, capsys):
    space = tmp_path / "space.py"
    space.write_text(
        "def search_space():\n"
        "    raise ValueError('first line\\nsecond line\\n\\n   third')\n"
    )
    code, _, err = run(capsys, "compile", str(space), "--random", "1")
    assert_one_line_error(code, err, "first line | second line | third")
    from nascompiler.cli.app import one_line

    assert one_line("a\n\n  b  \n") == "a | b" and one_line("\n") == "(no message)"


def test_the_export_hint_is_shell_quoted(tmp_path, capsys):
    from nascompiler.cli.search import _print_summary
    from nascompiler.config.settings import TrainingSettings

    directory = tmp_path / "my study; rm -rf ~ 'x'"
    make_study(directory)
    with Store(directory) as store:
        _print_summary(store, TrainingSettings.from_json(SETTINGS), directory)
    out = capsys.readouterr().out
    hint = next(l for l in out.splitlines() if l.startswith("Export the winner with:"))
    command = hint.split(":", 1)[1].strip()
    assert shlex.split(command) == [
        "nascompile",
        "export",
        "--best",
        "--study",
        str(directory),
    ]
