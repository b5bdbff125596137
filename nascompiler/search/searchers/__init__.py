"""Searchers: strategies that propose assignments of a SpaceIR and learn from the results.

>>> from nascompiler.ir import compile_space
>>> from nascompiler.spaces import dnn_search_space
>>> space = compile_space(dnn_search_space(input_shape=(4,), output_units=2, output_activation="softmax"))
>>> searcher = make_searcher("evolution", space, seed=1, population_size=20)
>>> space.validate(searcher.ask()) is not None
True
"""

from __future__ import annotations

import inspect
from typing import Any

from ...errors import UsageError
from ...ir import SpaceIR
from .base import DIRECTIONS, Searcher
from .evolution import EvolutionSearcher
from .grid import ContinuousParameterError, GridSearcher
from .mcts import MCTSSearcher
from .random import RandomSearcher

__all__ = [
    "SEARCHERS",
    "make_searcher",
    "searcher_options",
    "Searcher",
    "RandomSearcher",
    "GridSearcher",
    "EvolutionSearcher",
    "MCTSSearcher",
    "ContinuousParameterError",
]

SEARCHERS: dict[str, type[Searcher]] = {
    cls.name: cls
    for cls in (RandomSearcher, GridSearcher, EvolutionSearcher, MCTSSearcher)
}


def searcher_options(cls: type[Searcher]) -> dict[str, Any]:
    """The options a searcher class takes, with their defaults (its keyword-only arguments
    beyond ``seed`` and ``direction``), so that help texts and checks never go stale."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name not in ("seed", "direction")
    }


def make_searcher(
    name: str, space: SpaceIR, *, seed: int = 0, direction: str = "max", **options: Any
) -> Searcher:
    """The searcher registered as ``name``; a ``UsageError`` for an unknown name, direction or
    option, since all three come from the user."""
    if name not in SEARCHERS:
        raise UsageError(
            f"unknown searcher {name!r}; the searchers are: {', '.join(SEARCHERS)}"
        )
    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be 'max' or 'min', got {direction!r}")
    cls = SEARCHERS[name]
    known = searcher_options(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = ", ".join(f"{k} (default {v!r})" for k, v in known.items()) or "none"
        raise UsageError(
            f"searcher {name!r} has no option {', '.join(map(repr, unknown))}; its options: {takes}"
        )
    return cls(space, seed=seed, direction=direction, **options)
