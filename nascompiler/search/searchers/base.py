"""The searcher interface: ask for an assignment, tell how it did.

Searchers see only the SpaceIR's parameter table (names, domains, activation conditions).
They are deterministic: the same seed and the same sequence of ``ask``/``tell`` calls (with the
same results) give the same proposals. The study relies on that to resume: it rebuilds a
searcher by replaying the stored trials through ``ask`` and ``tell`` instead of pickling it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...literals import Literal

DIRECTIONS = ("max", "min")


def assignment_key(assignment: Mapping[str, Literal]) -> str:
    """A hashable identity for a normalised assignment (as ``SpaceIR.validate`` returns it).

    ``repr`` rather than the dict itself: ``1``, ``1.0`` and ``True`` compare equal in Python
    but are different values of a parameter.
    """
    return repr(tuple(assignment.items()))


def int_option(name: str, value: Any, minimum: int) -> int:
    """``value`` checked as an integer option of at least ``minimum``; a ``UsageError`` otherwise,
    since options come from the user's command line or space file."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(
            f"option {name} must be an integer of at least {minimum}, got {value!r}"
        )
    return value


class Searcher(ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`ask` and :meth:`tell`."""

    name: ClassVar[str]

    def __init__(
        self, space: SpaceIR, *, seed: int = 0, direction: str = "max", **options: Any
    ):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
        if options:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s): {', '.join(sorted(options))}"
            )
        self.space = space
        self.seed = seed
        self.direction = direction

    @abstractmethod
    def ask(self) -> Assignment | None:
        """The next assignment to evaluate (a valid one: only active parameters, values in
        their domains), or ``None`` when the searcher has nothing left to propose."""

    @abstractmethod
    def tell(self, assignment: Assignment, objective: float | None) -> None:
        """The result of an assignment ``ask`` returned earlier; ``objective`` is ``None`` when
        the trial failed. Results may arrive in a different order than the asks."""

    def update(self, assignment: Assignment, objective: float | None) -> None:
        """A later result of an assignment already told: under a multi-fidelity scheduler a
        promoted trial reports again after each rung (``None``: it failed in that rung).

        By default the searcher keeps learning from the first result, which every trial has and
        which compares like with like; searchers that can use better estimates override this.
        """

    def score(self, objective: float | None) -> float | None:
        """``objective`` oriented so that higher is better, or ``None`` for a failed trial.

        A NaN objective (a diverged training run) counts as failed: it compares false with
        everything and would otherwise corrupt rankings.
        """
        if objective is None or math.isnan(objective):
            return None
        return float(objective) if self.direction == "max" else -float(objective)
