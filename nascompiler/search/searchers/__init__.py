"""Searchers: strategies that propose assignments of a SpaceIR and learn from the results.

Each strategy is a ``Searcher`` class named ``<Name>Search`` (``RandomSearch``, ``MCTSSearch``...),
registered under its ``name`` in :data:`SEARCHERS`. The Python API's Hypernets-style classes
(``nascompiler.searchers.RandomSearcher``...) are not strategies but their specs: a name, a
space function, a seed and options, which a study turns into one of these.

>>> from nascompiler.ir import compile_space
>>> from nascompiler.spaces import dnn_search_space
>>> space = compile_space(dnn_search_space(input_shape=(4,), output_units=2, output_activation="softmax"))
>>> searcher = make_searcher("evolution", space, seed=1, population_size=20)
>>> space.validate(searcher.ask()) is not None
True
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from ...errors import UsageError
from ...ir import SpaceIR
from .base import DIRECTIONS, Searcher, check_objective_count
from .evolution import EvolutionSearch
from .grid import ContinuousParameterError, GridSearch
from .mcts import MCTSSearch
from .model_based import GPSearch, NSGA2Search, OptunaSearch, TPESearch
from .random import RandomSearch

__all__ = [
    "SEARCHERS",
    "make_searcher",
    "searcher_options",
    "Searcher",
    "RandomSearch",
    "GridSearch",
    "EvolutionSearch",
    "MCTSSearch",
    "TPESearch",
    "GPSearch",
    "NSGA2Search",
    "OptunaSearch",
    "ContinuousParameterError",
]

SEARCHERS: dict[str, type[Searcher]] = {
    cls.name: cls
    for cls in (
        RandomSearch,
        GridSearch,
        EvolutionSearch,
        MCTSSearch,
        TPESearch,
        GPSearch,
        NSGA2Search,
    )
}


def searcher_options(cls: type[Searcher]) -> dict[str, Any]:
    """The options a searcher class takes, with their defaults (its keyword-only arguments
    beyond ``seed``, ``direction`` and ``directions``), so that help texts and checks never go
    stale."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name not in ("seed", "direction", "directions")
    }


def make_searcher(
    name: str,
    space: SpaceIR,
    *,
    seed: int = 0,
    direction: str = "max",
    directions: Sequence[str] | None = None,
    **options: Any,
) -> Searcher:
    """The searcher registered as ``name``; a ``UsageError`` for an unknown name, direction or
    option, or several ``directions`` for a single-objective searcher, since all of these come
    from the user. ``directions`` (one per objective) replaces ``direction`` when given.
    """
    if name not in SEARCHERS:
        raise UsageError(
            f"unknown searcher {name!r}; the searchers are: {', '.join(SEARCHERS)}"
        )
    for d in (direction,) if directions is None else tuple(directions):
        if d not in DIRECTIONS:
            raise UsageError(f"direction must be 'max' or 'min', got {d!r}")
    if directions is not None and not tuple(directions):
        raise UsageError("directions needs at least one of 'max' or 'min'")
    cls = SEARCHERS[name]
    if directions is not None:
        check_objective_count(cls, len(tuple(directions)))
    known = searcher_options(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = ", ".join(f"{k} (default {v!r})" for k, v in known.items()) or "none"
        raise UsageError(
            f"searcher {name!r} has no option {', '.join(map(repr, unknown))}; its options: {takes}"
        )
    return cls(space, seed=seed, direction=direction, directions=directions, **options)
