"""Searchers for the Python API, spelled as Hypernets spells them.

``RandomSearcher(space_fn, optimize_direction="max")`` names a search strategy and the space it
explores; :class:`~nascompiler.HyperKeras` compiles the space and runs the strategy (one of
:mod:`nascompiler.search.searchers`) inside a study, as ``nascompile search`` does.
"""

from __future__ import annotations

from typing import Any, Callable

from .config.settings import DEFAULT_SEED
from .errors import UsageError
from .ir import SpaceIR, compile_space
from .ir.keras_rules import check_keras_arguments
from .kinds import Direction
from .space import HyperSpace

# Hypernets' spellings -> the direction strings the settings hold.
_DIRECTIONS = {
    "max": Direction.MAX.value,
    "maximize": Direction.MAX.value,
    "min": Direction.MIN.value,
    "minimize": Direction.MIN.value,
}


class SearcherSpec:
    """A searcher to be run by :class:`~nascompiler.HyperKeras`."""

    name = ""

    def __init__(
        self,
        space_fn: Callable[[], HyperSpace],
        optimize_direction: str = "max",
        seed: int = DEFAULT_SEED,
        **options: Any,
    ):
        if not callable(space_fn):
            raise UsageError(
                f"{type(self).__name__}: space_fn must be a function returning a HyperSpace"
            )
        if optimize_direction not in _DIRECTIONS:
            raise UsageError(
                f"{type(self).__name__}: optimize_direction must be 'max' or 'min', "
                f"got {optimize_direction!r}"
            )
        self.space_fn = space_fn
        self.optimize_direction = _DIRECTIONS[optimize_direction]
        self.seed = seed
        self.options = options

    def compile(self) -> SpaceIR:
        space = self.space_fn()
        if not isinstance(space, HyperSpace):
            raise UsageError(
                f"space_fn returned {type(space).__name__}, not a HyperSpace"
            )
        ir = compile_space(space, source=getattr(self.space_fn, "__name__", None))
        check_keras_arguments(
            ir
        )  # what Keras refuses in every trial fails here, at its line
        return ir


class RandomSearcher(SearcherSpec):
    """Independent random samples of the space."""

    name = "random"


class GridSearcher(SearcherSpec):
    """Every assignment of a finite space (``resolution=N`` for continuous parameters)."""

    name = "grid"


class EvolutionSearcher(SearcherSpec):
    """Regularized (aging) evolution, the recommended searcher: ``population_size``,
    ``sample_size``, ``startup_trials``."""

    name = "evolution"


class MCTSSearcher(SearcherSpec):
    """Monte-Carlo tree search over the parameter decisions (not recommended: it trails
    evolution on NAS-Bench-201): ``exploration``, ``resolution``."""

    name = "mcts"


class TPESearcher(SearcherSpec):
    """Optuna's tree-structured Parzen estimator: ``startup_trials`` (random ones first)."""

    name = "tpe"


class GPSearcher(SearcherSpec):
    """Optuna's Gaussian-process sampler (needs ``pip install "nascompiler[gp]"``):
    ``startup_trials``."""

    name = "gp"


class NSGA2Searcher(SearcherSpec):
    """Optuna's NSGA-II, a genetic algorithm ranked by Pareto dominance: ``population_size``."""

    name = "nsga2"


__all__ = [
    "SearcherSpec",
    "RandomSearcher",
    "GridSearcher",
    "EvolutionSearcher",
    "MCTSSearcher",
    "TPESearcher",
    "GPSearcher",
    "NSGA2Searcher",
]
