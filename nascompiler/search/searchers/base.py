"""The searcher interface: ask for an assignment, tell how it did.

Searchers see only the SpaceIR's parameter table (names, domains, activation conditions).
They are deterministic: the same seed and the same sequence of ``ask``/``tell`` calls (with the
same results) give the same proposals. The study relies on that to resume: it rebuilds a
searcher by replaying the stored trials through ``ask`` and ``tell`` instead of pickling it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Mapping, Sequence

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...kinds import DIRECTIONS, Direction
from ...literals import Literal


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


def check_objective_count(cls: type, count: int) -> None:
    """A ``UsageError`` when a single-objective searcher class is asked for several objectives."""
    if count > 1 and not getattr(cls, "multi_objective", False):
        raise UsageError(
            f"searcher {cls.name!r} optimises a single objective, not {count}; "
            "for several objectives use nsga2 (or random)"
        )


class Searcher(ABC):
    """Base class. Subclasses set ``name`` and implement :meth:`ask` and :meth:`tell`.

    A searcher optimises ``direction`` (one objective), or ``directions`` (one per objective,
    in the order of the values ``tell`` then receives) if its class sets ``multi_objective``;
    ``directions`` of length one is the same as ``direction``.
    """

    name: ClassVar[str]
    multi_objective: ClassVar[bool] = False

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        **options: Any,
    ):
        directions = (direction,) if directions is None else tuple(directions)
        if not directions or any(d not in DIRECTIONS for d in directions):
            raise ValueError(
                f"directions must be 'max' or 'min', got {directions!r}"
                if len(directions) != 1
                else f"direction must be 'max' or 'min', got {directions[0]!r}"
            )
        check_objective_count(type(self), len(directions))
        if options:
            raise TypeError(
                f"{type(self).__name__} got unknown option(s): {', '.join(sorted(options))}"
            )
        self.space = space
        self.seed = seed
        self.directions = tuple(Direction(d) for d in directions)
        self.direction = self.directions[0]

    @abstractmethod
    def ask(self) -> Assignment | None:
        """The next assignment to evaluate (a valid one: only active parameters, values in
        their domains), or ``None`` when the searcher has nothing left to propose."""

    @abstractmethod
    def tell(
        self, assignment: Assignment, objective: float | Sequence[float] | None
    ) -> None:
        """The result of an assignment ``ask`` returned earlier; ``objective`` is ``None`` when
        the trial failed. Results may arrive in a different order than the asks. A searcher
        built with several ``directions`` gets a tuple of values in their order."""

    def tell_infeasible(self, assignment: Assignment, violation: float = 1.0) -> None:
        """``assignment`` was not trained because it breaks a hard budget (``violation`` > 0 says
        by how much). Searchers without a notion of constraints count it as a failure.
        """
        self.tell(assignment, None)

    def tell_screened(self, assignment: Assignment) -> None:
        """``assignment`` was proposed for a trial slot under ``--prescreen`` and lost to
        another proposal of that slot on a zero-cost proxy: it is never trained and has no
        objective. By default the searcher closes the open ask and learns no result from it
        (as ``tell(assignment, None)``: random and grid ignore it, evolution adds nothing to
        its population, MCTS counts a visit without reward); Optuna-based searchers record it
        as a pruned trial. It is not a failure of the candidate."""
        self.tell(assignment, None)

    # How many rungs the study trains trials in (a multi-fidelity scheduler sets more than one
    # with set_rungs, before the first ask).
    rungs: int = 1

    def set_rungs(self, count: int) -> None:
        """The study trains each trial in up to ``count`` rungs of growing epochs and tells its
        results per rung (:meth:`tell_rung`). Called once, before the first :meth:`ask`.
        """
        self.rungs = int_option("rungs", count, 1)

    def tell_rung(
        self, assignment: Assignment, objective: float | None, rung: int, first: bool
    ) -> None:
        """Under a multi-fidelity scheduler: ``assignment``'s result at rung ``rung`` (0 is the
        fewest epochs); ``first`` when it is the trial's first result (a Hyperband bracket may
        start a trial above rung 0). By default the first result is told and later ones update
        it; searchers that model each rung (BOHB) override this."""
        if first:
            self.tell(assignment, objective)
        else:
            self.update(assignment, objective)

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
        return self.direction.oriented(float(objective))


def model_rung(counts: Mapping[int, int], least: int) -> int | None:
    """The rung whose results a model-based searcher learns from (BOHB, Falkner et al. 2018):
    the highest rung with at least ``least`` results; before any has that many, the rung with
    the most (ties: the higher one); ``None`` with no result at all.

    >>> model_rung({0: 12, 1: 4, 2: 1}, 10), model_rung({0: 12, 1: 10}, 10), model_rung({0: 3, 2: 3}, 10)
    (0, 1, 2)
    """
    ready = [rung for rung, n in counts.items() if n >= least]
    if ready:
        return max(ready)
    seen = [(n, rung) for rung, n in counts.items() if n > 0]
    return max(seen)[1] if seen else None
