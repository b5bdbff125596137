"""Grid search: every assignment of a finite space, once, in a fixed order.

Only active parameters are enumerated, so a conditional space yields the leaves of its
decision tree (``SpaceIR.count()`` of them), not the product of all domains. The enumeration is
lazy: the ENAS micro space has about 3 * 10^19 assignments.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...ir import conditions as cond
from .base import Searcher, int_option


class ContinuousParameterError(UsageError, ValueError):
    """A grid search met a continuous ``Real`` and was given no resolution to discretise it."""


class GridSearch(Searcher):
    """Odometer over the active parameters in table order, the last one turning fastest.

    Option ``resolution``: how many evenly spaced values (``Domain.grid``) a continuous ``Real``
    contributes; required when the space has one, ignored by finite domains. The seed and the
    results play no part: the order is fixed.
    """

    name = "grid"
    multi_objective = True  # it ignores results, so it takes any number of objectives

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        resolution: int | None = None,
    ):
        super().__init__(space, seed=seed, direction=direction, directions=directions)
        if resolution is not None:
            int_option("resolution", resolution, 2)
        for p in space.parameters:
            if p.domain.size is None and resolution is None:
                raise ContinuousParameterError(
                    f"grid search needs finitely many values, but parameter {p.name!r} is the continuous range "
                    f"{p.domain.describe()}; give a grid resolution (option resolution=N) to try N evenly "
                    "spaced values, or give the Real a step"
                )
        self._grids = tuple(p.domain.grid(resolution) for p in space.parameters)
        self._assignments = self._enumerate()

    def ask(self) -> Assignment | None:
        return next(self._assignments, None)

    def tell(self, assignment: Assignment, objective: float | None) -> None:
        """The grid's order does not depend on results."""

    def _enumerate(self) -> Iterator[Assignment]:
        # positions[i] indexes the grid of parameter i, or is None while it is inactive. An
        # odometer rather than recursion: spaces can have more parameters than Python's
        # recursion limit allows nested generators.
        positions: list[int | None] = [None] * len(self._grids)
        self._reset_from(positions, 0)
        while True:
            yield self._assignment(positions)
            i = len(positions) - 1
            while i >= 0 and (
                positions[i] is None or positions[i] == len(self._grids[i]) - 1
            ):
                i -= 1
            if i < 0:
                return
            positions[i] += 1
            # A parameter switching others on or off changes what follows it; re-derive it.
            self._reset_from(positions, i + 1)

    def _reset_from(self, positions: list[int | None], start: int) -> None:
        """Put every parameter from ``start`` on at its first value, or at None where inactive."""
        values = self._assignment(positions[:start])
        for i in range(start, len(positions)):
            p = self.space.parameters[i]
            if cond.holds(p.condition, values):
                positions[i] = 0
                values[p.name] = self._grids[i][0]
            else:
                positions[i] = None

    def _assignment(self, positions: list[int | None]) -> Assignment:
        return {
            p.name: grid[pos]
            for p, grid, pos in zip(self.space.parameters, self._grids, positions)
            if pos is not None
        }
