"""The README's walk-through runs as written, so that it cannot drift from the code.

A block of README.md preceded by ``<!-- walkthrough -->`` is a shell block whose commands run
in order in one copy of the repository (the main job first, as a new user would); one preceded
by ``<!-- walkthrough: python in DIR -->`` is a Python block run with ``python -c`` in DIR of
that copy. The rule for what is skipped: in a chain of ``&&``, a segment that sets up the
environment (``python3 -m venv``, ``. .venv/bin/activate``, ``pip install``, ``sudo apt-get``)
is left out, the package being installed already; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

MARKED = re.compile(
    r"<!-- walkthrough(?:: python in (?P<cwd>\S+))? -->\n```(?P<lang>sh|python)\n(?P<code>.*?)```",
    re.S,
)
SETUP = ("python3 -m venv", ". .venv/bin/activate", "pip install", "sudo apt-get")


def walkthrough_blocks(text: str) -> list[tuple[str, str, str]]:
    """``(language, folder, code)`` of every marked block, in the README's order."""
    return [(m["lang"], m["cwd"] or ".", m["code"]) for m in MARKED.finditer(text)]


def shell_commands(code: str) -> list[str]:
    """A shell block's commands, one per line (backslash continuations joined), with the
    set-up segments of ``&&`` chains left out."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        kept = [
            part.strip()
            for part in _and_chain(line)
            if not part.strip().startswith(SETUP)
        ]
        if kept:
            commands.append(" && ".join(kept))
    return commands


def _and_chain(line: str) -> list[str]:
    """``line`` split at each ``&&`` outside quotes."""
    parts, current, quote, i = [], "", None, 0
    while i < len(line):
        ch = line[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif line.startswith("&&", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        current += ch
        i += 1
    return parts + [current]


def test_the_walkthrough_blocks_are_found_and_the_setup_is_skipped():
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    first_lang, _, first = blocks[0]
    assert first_lang == "sh"
    assert shell_commands(first) == [
        "nascompile search examples/digits_quick.py && nascompile export --best"
    ]
    # Every nascompile search after the main job names a study of its own: resuming the main
    # job's study with other settings is refused.
    later = [c for _, _, code in blocks[1:] for c in shell_commands(code)]
    searches = [c for c in later if c.startswith("nascompile search")]
    assert searches and all("--study " in c for c in searches)
    assert any(lang == "python" for lang, _, _ in blocks)


def test_shell_commands_join_continuations_and_drop_only_setup_segments():
    code = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install x && a b\n"
        "# a comment\n"
        "c --one \\\n    --two   # trailing\n"
        'sudo apt-get install -y y && d "e && f"\n'
    )
    assert shell_commands(code) == [
        "a b",
        "c --one --two   # trailing",
        'd "e && f"',
    ]


def test_the_module_shown_in_the_readme_is_the_committed_showcase():
    text = README.read_text(encoding="utf-8")
    committed = (ROOT / "generated/examples/digits_quick/best_model.py").read_text()
    shown = text.split('```python\n"""Candidate ', 1)[1].split("```", 1)[0]
    assert committed.startswith('"""Candidate ' + shown.rstrip("\n"))


def _copy_repository(target: Path) -> None:
    """The repository as a fresh clone has it: no studies, no exports, no caches."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skip = {
            n
            for n in names
            if n
            in (
                ".git",
                "__pycache__",
                ".pytest_cache",
                ".hypothesis",
                ".venv",
                "exported",
            )
            or n.endswith(".egg-info")
        }
        if here == ROOT / "generated":
            skip |= {n for n in names if n != "examples"}
        return skip

    shutil.copytree(ROOT, target, ignore=ignore)


@pytest.mark.slow
def test_every_walkthrough_command_runs_as_written_on_a_fresh_copy(tmp_path):
    work = tmp_path / "repo"
    _copy_repository(work)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(work),
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
        KERAS_BACKEND="tensorflow",
    )
    env.pop("COLUMNS", None)
    bin_dir = str(
        Path(sys.executable).parent
    )  # nascompile and python of this interpreter
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    timings = []
    outputs = {}
    errors = {}
    for lang, folder, code in walkthrough_blocks(README.read_text(encoding="utf-8")):
        cwd = work / folder
        runs = (
            [("python", [sys.executable, "-c", code])]
            if lang == "python"
            else [
                (c, ["bash", "-e", "-o", "pipefail", "-c", c])
                for c in shell_commands(code)
            ]
        )
        for label, argv in runs:
            started = time.monotonic()
            done = subprocess.run(
                argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
            )
            timings.append((round(time.monotonic() - started, 1), label[:60]))
            assert done.returncode == 0, (
                f"README command failed ({done.returncode}): {label}\n"
                + done.stdout[-3000:]
                + done.stderr[-3000:]
            )
            outputs[label] = done.stdout
            errors[label] = done.stderr
    print("walk-through timings (s):", timings)
    exported = work / "exported" / "digits_quick"
    assert (exported / "best_model.py").exists()
    assert (exported / "test_best_model.py").exists()
    accuracy = [out for label, out in outputs.items() if label == "python"]
    assert accuracy and float(accuracy[0].rsplit(" ", 1)[1]) > 0.9, accuracy
    assert (work / "exported" / "digits_pareto" / "pareto.json").exists()
    assert (work / "generated" / "digits_asha" / "study.db").exists()
    assert (work / "generated" / "digits_quick" / "report.html").exists()
    # One line per epoch in the worker's log; no TensorFlow start-up lines from the export.
    log = (work / "generated" / "digits_quick" / "logs" / "worker-0.log").read_text()
    assert re.search(r"trial #11 \w{10} epoch 8/8: .*val_accuracy=", log), log[-2000:]
    main_job = errors[shell_commands(walkthrough_blocks(README.read_text())[0][2])[0]]
    assert "absl" not in main_job and "oneDNN" not in main_job, main_job
    assert "study: generated/digits_quick (the most recently used" in main_job
