"""Random search: independent draws from the space's prior.

The baseline every other searcher has to beat, and a fair one: on many NAS benchmarks random
search is competitive with far more elaborate methods.
"""

from __future__ import annotations

import random
from typing import Sequence

from ...ir import Assignment, SpaceIR
from .base import Searcher


class RandomSearch(Searcher):
    """Samples every active parameter from its domain's prior; ignores results."""

    name = "random"
    multi_objective = True  # it ignores results, so it takes any number of objectives

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
    ):
        super().__init__(space, seed=seed, direction=direction, directions=directions)
        self._rng = random.Random(seed)

    def ask(self) -> Assignment:
        return self.space.sample(self._rng)

    def tell(
        self, assignment: Assignment, objective: float | Sequence[float] | None
    ) -> None:
        """Random search learns nothing from results."""
