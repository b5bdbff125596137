"""The package's import structure, read from the source (ast; nothing is imported).

Two rules (issue 13): no import cycle among nascompiler's modules, and no module imports a
later stage of the pipeline. Every import counts: at the top of a module, inside a function
(lazy) and under ``if TYPE_CHECKING:``, since each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nascompiler"

# The stages, first to last; a module may import its own stage and earlier ones only. A module
# belongs to the stage of the longest prefix below that matches its name (a new module in a
# listed package lands in that package's stage; a new top-level module must be added here).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    # Leaves that every stage uses: errors, literal values, atomic file writes, the version,
    # the status and direction vocabularies, the parsers of durations and counts.
    (
        "base",
        (
            "nascompiler.errors",
            "nascompiler.literals",
            "nascompiler.fileio",
            "nascompiler._version",
            "nascompiler.kinds",
            "nascompiler.units",
        ),
    ),
    # What a user writes a space with (the Hypernets vocabulary), and the sample datasets.
    (
        "dsl",
        (
            "nascompiler.space",
            "nascompiler.ops",
            "nascompiler.catalog",
            "nascompiler.layers",
            "nascompiler.spaces",
            "nascompiler.datasets",
        ),
    ),
    # A space compiled: parameters, conditions, shapes, costs, specialised candidate graphs.
    ("ir", ("nascompiler.ir",)),
    # A candidate graph as a Keras module (and the golden test / training script beside it).
    ("codegen", ("nascompiler.codegen",)),
    # A search's settings: which value wins, and the rules they are checked by.
    ("config", ("nascompiler.config",)),
    # The space file (search_space(), load_data(), TRAINING, SEARCH) is the search's input: its
    # loader checks SEARCH with the config's rules, and the workers load data through it.
    ("spacefile", ("nascompiler.spacefile",)),
    # A study on disk: its folder layout, the one-writer lock, the SQLite store, Pareto fronts,
    # trial summaries.
    ("storage", ("nascompiler.storage",)),
    # Running trials: the messages, data sources, executors (local, Dask), worker and trainer.
    ("run", ("nascompiler.run",)),
    # The search driver: the study loop, schedulers, searchers, events and the console.
    ("search", ("nascompiler.search",)),
    # The deliverable: export, deployment formats, diffs between candidates.
    ("deliver", ("nascompiler.deliver",)),
    # Reading a study: the HTML report and the TensorBoard export.
    ("report", ("nascompiler.report",)),
    # The Python API (HyperKeras, the user-facing searchers and callbacks); the package's
    # __init__ hands out HyperKeras.
    (
        "api",
        (
            "nascompiler.api",
            "nascompiler.searchers",
            "nascompiler.callbacks",
            "nascompiler",
        ),
    ),
    # The command line.
    ("cli", ("nascompiler.cli",)),
]
ORDER = {name: rank for rank, (name, _) in enumerate(STAGES)}


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = module_files()


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def stage_of(module: str) -> str:
    best = None
    for stage, prefixes in STAGES:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (stage, prefix)
    assert (
        best is not None
    ), f"{module} has no stage; add it (or its package) to STAGES in {Path(__file__).name}"
    return best[0]


def _existing(name: str) -> str | None:
    """``name`` or the nearest enclosing module of the package that exists."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> list[tuple[str, int]]:
    """The package modules that ``module`` imports, each with the line of the import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if is_package(module) else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nascompiler":
                    target = _existing(alias.name)
                    if target:
                        found.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != "nascompiler":
                continue
            for alias in node.names:
                # ``from pkg import sub`` imports the submodule; ``from pkg import name``
                # imports pkg (its __init__).
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in MODULES else _existing(base)
                if target:
                    found.append((target, node.lineno))
    return [(t, line) for t, line in dict.fromkeys(found) if t != module]


GRAPH = {name: imports_of(name) for name in MODULES}


def describe(module: str, target: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {module} imports {target}"


def test_every_module_has_a_stage():
    for name in MODULES:
        stage_of(name)


def test_no_module_imports_a_later_stage():
    upward = [
        describe(module, target, line)
        + f" (stage {stage_of(module)} imports the later stage {stage_of(target)})"
        for module, targets in GRAPH.items()
        for target, line in targets
        if ORDER[stage_of(target)] > ORDER[stage_of(module)]
    ]
    assert not upward, "imports against the pipeline's order:\n" + "\n".join(upward)


def find_cycle() -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target, _ in GRAPH[name]:
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(MODULES):
        if name not in state:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle()
    if cycle:
        steps = [
            describe(a, b, next(line for t, line in GRAPH[a] if t == b))
            for a, b in zip(cycle, cycle[1:])
        ]
        raise AssertionError("an import cycle:\n" + "\n".join(steps))


def test_the_checks_see_imports():
    """The walker itself: relative, lazy, submodule and TYPE_CHECKING imports are all seen."""
    targets = {t for t, _ in GRAPH["nascompiler.ir.compile"]}
    assert "nascompiler.ir.conditions" in targets  # from . import conditions as cond
    assert "nascompiler.space" in targets  # from ..space import (...)
    lazy = {t for t, _ in GRAPH["nascompiler.run.data"]}
    assert "nascompiler.spacefile" in lazy  # imported inside a function
    assert stage_of("nascompiler.ir.specialize") == "ir"
    assert stage_of("nascompiler") == "api"
    assert stage_of("nascompiler.spaces.enas_ops") == "dsl"


def test_every_class_name_is_defined_once():
    """One class per name (issue 23): the Python API's ``MCTSSearcher`` and the strategy it
    runs are not two classes of one name; the strategies are ``MCTSSearch`` and so on.
    """
    where: dict[str, list[str]] = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module)
    twice = {name: modules for name, modules in where.items() if len(modules) > 1}
    assert not twice, f"class names defined more than once: {twice}"


def test_no_test_module_imports_another():
    """Tests share helpers through tests/helpers.py and conftest.py, never through another
    test module (importing one runs its module-level code and couples the two files)."""
    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            found += [
                f"{path.name}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[-1].startswith("test_")
            ]
    assert not found, "test modules imported by others:\n" + "\n".join(found)
