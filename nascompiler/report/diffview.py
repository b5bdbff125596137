"""The winner-against-runner-up diff, split into hunks that the report can hide or show.

Two candidates' modules differ in their docstrings (id, hyperparameters, cost) and in their
module constants (``CANDIDATE_ID``, ``HYPERPARAMETERS``) as soon as they differ at all; those
hunks repeat what the table of differing hyperparameters says. A hunk is *boilerplate* when
every line it adds or removes lies in a docstring or in a module-level assignment to an
upper-case name, in its own file; the report hides those hunks by default (a toggle shows
them) so that the hunks that change layers come first.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Hunk:
    lines: tuple[str, ...]  # the ``@@`` line, then the hunk's lines
    boilerplate: bool


def boilerplate_lines(source: str) -> set[int]:
    """1-based numbers of the lines of ``source`` in a docstring or a module-level assignment
    to an upper-case name. Source that does not parse has none (every hunk then shows).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[int] = set()

    def docstring(body: list[ast.stmt]) -> None:
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            found.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))

    docstring(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            docstring(node.body)
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if targets and all(
            isinstance(t, ast.Name) and _CONSTANT.match(t.id) for t in targets
        ):
            found.update(range(node.lineno, (node.end_lineno or 0) + 1))
    return found


def split_hunks(lines: tuple[str, ...] | list[str], source_a: str, source_b: str):
    """``(header lines, hunks)`` of a unified diff of ``source_a`` against ``source_b``."""
    quiet_a, quiet_b = boilerplate_lines(source_a), boilerplate_lines(source_b)
    header: list[str] = []
    hunks: list[Hunk] = []
    current: list[str] = []
    changed: list[bool] = []  # per changed line: is it boilerplate?
    line_a = line_b = 0

    def close() -> None:
        if current:
            hunks.append(Hunk(tuple(current), bool(changed) and all(changed)))

    for line in lines:
        match = _HUNK.match(line)
        if match:
            close()
            current, changed = [line], []
            line_a, line_b = int(match.group(1)), int(match.group(2))
            continue
        if not current:
            header.append(line)
            continue
        current.append(line)
        if line.startswith("-"):
            changed.append(line_a in quiet_a)
            line_a += 1
        elif line.startswith("+"):
            changed.append(line_b in quiet_b)
            line_b += 1
        else:
            line_a += 1
            line_b += 1
    close()
    return header, hunks
