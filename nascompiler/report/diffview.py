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
import difflib
import re
from dataclasses import dataclass

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


def _range(start: int, length: int) -> str:
    """A unified diff's range, as difflib writes it."""
    if length == 1:
        return f"{start + 1}"
    return f"{start + (1 if length else 0)},{length}"


def diff_hunks(
    source_a: str, source_b: str, fromfile: str, tofile: str, context: int = 3
) -> tuple[list[str], list[Hunk]]:
    """``(header lines, hunks)``: a unified diff of ``source_a`` against ``source_b`` whose
    hunks never mix boilerplate changes with others. Where difflib would join a docstring
    change and a layer change into one hunk (short modules), the hunk is cut in the unchanged
    lines between them, each part keeping up to ``context`` lines of them."""
    a, b = source_a.splitlines(), source_b.splitlines()
    quiet_a, quiet_b = boilerplate_lines(source_a), boilerplate_lines(source_b)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks: list[Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        parts: list[tuple[bool, list]] = []
        current: list = []
        status: bool | None = None
        for op in group:
            tag, i1, i2, j1, j2 = op
            if tag == "equal":
                current.append(op)
                continue
            quiet = all(i + 1 in quiet_a for i in range(i1, i2)) and all(
                j + 1 in quiet_b for j in range(j1, j2)
            )
            if status is not None and quiet != status:
                tail: list = []
                if current and current[-1][0] == "equal":
                    _, e1, e2, f1, f2 = current.pop()
                    keep = min(context, e2 - e1)
                    current.append(("equal", e1, e1 + keep, f1, f1 + keep))
                    tail = [("equal", e2 - keep, e2, f2 - keep, f2)]
                parts.append((status, current))
                current = tail
            current.append(op)
            status = quiet
        parts.append((bool(status), current))
        for quiet, ops in parts:
            hunks.append(Hunk(_format(ops, a, b), quiet))
    header = [f"--- {fromfile}", f"+++ {tofile}"] if hunks else []
    return header, hunks


def _format(ops: list, a: list[str], b: list[str]) -> tuple[str, ...]:
    first, last = ops[0], ops[-1]
    lines = [
        f"@@ -{_range(first[1], last[2] - first[1])} "
        f"+{_range(first[3], last[4] - first[3])} @@"
    ]
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            lines.extend(" " + line for line in a[i1:i2])
            continue
        if tag in ("replace", "delete"):
            lines.extend("-" + line for line in a[i1:i2])
        if tag in ("replace", "insert"):
            lines.extend("+" + line for line in b[j1:j2])
    return tuple(lines)
