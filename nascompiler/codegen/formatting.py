"""Formatting generated source with black (default settings, as ``black --check`` uses).

Black takes about half a millisecond per output line, which for a large ENAS candidate is
most of the cost of emitting it. Black formats the statements of a function body one by one
(no statement's layout depends on its neighbours), and across the candidates of one search
the same layer calls recur, so :func:`format_module` formats the module skeleton and the body
statements separately and remembers each formatted statement. The result is byte-identical to
``black.format_str`` on the whole module; a test checks that on random candidates.
"""

from __future__ import annotations

from collections import OrderedDict

import black

_MODE = black.Mode()
BODY_PLACEHOLDER = "__nascompiler_body__ = None"
FUNCTIONS_PLACEHOLDER = "__nascompiler_functions__ = None"
_SPLIT = "    # nascompiler:statement-boundary\n"
_CACHE_SIZE = 20_000
_cache: OrderedDict[str, str] = OrderedDict()


def format_source(source: str) -> str:
    """Plain black."""
    return black.format_str(source, mode=_MODE)


def format_module(skeleton: str, statements: list[str]) -> str:
    """Black-format a module whose function body (``statements``, unindented) replaces the
    line ``BODY_PLACEHOLDER`` (indented by four spaces) in ``skeleton``."""
    head, tail = format_source(skeleton).split(f"    {BODY_PLACEHOLDER}\n")
    return head + format_statements(statements) + tail


def format_function(head: str, statements: list[str], tail: str) -> str:
    """A black-formatted top-level function: ``head`` (its ``def`` line and docstring, body
    lines indented by four spaces), then ``statements`` (unindented), then ``tail`` (indented).
    Its statements go through the same cache as a module body's."""
    return format_module(head + f"    {BODY_PLACEHOLDER}\n" + tail, statements)


def format_statements(statements: list[str]) -> str:
    """The black-formatted body of a function holding ``statements``."""
    missing = [s for s in dict.fromkeys(statements) if s not in _cache]
    if missing:
        # One black call for every new statement, separated by comment lines black keeps.
        source = "def f():\n" + _SPLIT.join(f"    {s}\n" for s in missing)
        formatted = format_source(source).split("\n", 1)[1]
        parts = formatted.split(_SPLIT)
        if len(parts) != len(
            missing
        ):  # never expected; fall back to one call per statement
            parts = [
                format_source(f"def f():\n    {s}\n").split("\n", 1)[1] for s in missing
            ]
        for statement, text in zip(missing, parts):
            _cache[statement] = text
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    for s in statements:
        _cache.move_to_end(s)
    return "".join(_cache[s] for s in statements)
