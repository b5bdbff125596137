"""Fixtures shared by the compiler-core tests.

TensorFlow takes seconds to import, so every fixed candidate that a test wants built (the seed
spaces with chosen assignments, the seed's ENAS trial, the module with hostile names) is
emitted here and built in ONE fresh interpreter per test session; the tests then read the
report. The fresh interpreter cannot import nascompiler: it sees the modules as production
code would.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))
# The suite trains on TensorFlow unless a test names another backend (--backend jax): a search
# that names none takes KERAS_BACKEND before nascompiler's default backend, and the tests' figures
# and timings were made on TensorFlow. Subprocesses inherit it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import helpers  # noqa: E402
from nascompiler.codegen import emit  # noqa: E402
from nascompiler.ir import CandidateGraph, compile_space, specialize  # noqa: E402


@dataclass
class Built:
    """One fixed candidate: what was compiled and emitted, and what the fresh interpreter saw."""

    graph: CandidateGraph
    assignment: dict[str, Any]
    source: str
    path: Path
    report: dict


@dataclass
class FixedBuilds:
    candidates: dict[str, Built]
    workdir: Path  # the build interpreter's working directory (where relative canaries would land)
    canary: Path  # the file hostile option strings try to create
    nascompiler_importable: bool

    def __getitem__(self, key: str) -> Built:
        return self.candidates[key]


@pytest.fixture(scope="session")
def fixed_builds(tmp_path_factory) -> FixedBuilds:
    """Every fixed candidate, emitted to a file and built in one fresh interpreter."""
    root = tmp_path_factory.mktemp("fixed_builds")
    canary = root / "canary_choice"
    built: dict[str, Built] = {}
    paths: dict[str, Path] = {}
    for key, (ir, assignment) in helpers.fixed_candidates(canary).items():
        graph = specialize(ir, assignment)
        source = emit(graph)
        path = root / "modules" / f"{key}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(source, encoding="utf-8")
        paths[key] = path
        built[key] = Built(graph, assignment, source, path, {})
    report = helpers.build_in_fresh_interpreter(
        paths, root / "work", run_main={"hostile_names"}
    )
    for key, b in built.items():
        b.report = report["modules"][key]
    return FixedBuilds(built, root / "work", canary, report["nascompiler_importable"])


@pytest.fixture(scope="session")
def dnn_ir():
    return compile_space(helpers.small_dnn())


@pytest.fixture(scope="session")
def cnn_ir():
    return compile_space(helpers.small_cnn())


@pytest.fixture(scope="session")
def enas_ir():
    return compile_space(helpers.small_enas("NR"))


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory) -> Path:
    """A small finished study to break in various ways (copied per test)."""
    import subprocess
    import sys

    cwd = tmp_path_factory.mktemp("finished")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "nascompile"),
            "search",
            str(helpers.SPACE),
            "--max-trials",
            "2",
            "--seed",
            "1",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return cwd / "generated" / "digits_tiny"
