"""Regularized (aging) evolution, after Real et al. 2019, "Regularized Evolution for Image
Classifier Architecture Search".

A population of the most recent results; each new candidate mutates one parameter of the best
of a few randomly drawn members (a tournament). The oldest member dies, not the worst: a lucky
evaluation cannot dominate forever, which the paper found regularises the search against noisy
objectives.

The defaults make it a mutation-based local search with aging: a population of 20, tournaments
as large as the population (drawn with replacement, so the best member is the parent about
64 % of the time, the runners-up otherwise), and mutation from the 11th result on instead of
after a whole random population. On NAS-Bench-201 (``benchmarks/nb201.py``, 50 runs) this beat
the paper's population 10 / tournament 3 at every budget from 25 to 200 queries on all three
tables (CIFAR-10, CIFAR-100, ImageNet16-120), and matched or beat Optuna's TPE on CIFAR-10.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Callable, Sequence

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from .base import Searcher, assignment_key, int_option, model_rung

# How often a proposal that repeats an earlier one is drawn again before it is accepted
# anyway: in a small or nearly exhausted space repeats are unavoidable.
_DRAWS = 10


class EvolutionSearch(Searcher):
    """Options: ``population_size`` (20), the number of results kept; ``sample_size`` (``None``:
    the population size), how many members a tournament draws (with replacement, as in the
    paper; Real et al. used 10 and 3 on their budgets of thousands); ``startup_trials``
    (``None``: half the population), how many random samples come before the first mutation
    (trials still running count). Under a multi-fidelity scheduler a tournament compares
    members at the highest rung that ``sample_size`` members reached (see :meth:`_fitness`)."""

    name = "evolution"

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        population_size: int = 20,
        sample_size: int | None = None,
        startup_trials: int | None = None,
    ):
        super().__init__(space, seed=seed, direction=direction, directions=directions)
        self.population_size = int_option("population_size", population_size, 1)
        self.sample_size = (
            population_size
            if sample_size is None
            else int_option("sample_size", sample_size, 1)
        )
        if self.sample_size > population_size:
            raise UsageError(
                f"option sample_size ({sample_size}) cannot exceed population_size ({population_size})"
            )
        self.startup_trials = (
            max(1, population_size // 2)
            if startup_trials is None
            else int_option("startup_trials", startup_trials, 1)
        )
        if self.startup_trials > population_size:
            raise UsageError(
                f"option startup_trials ({startup_trials}) cannot exceed population_size ({population_size})"
            )
        self._rng = random.Random(seed)
        self._population: deque[tuple[Assignment, float]] = deque(
            maxlen=population_size
        )
        self._asked: set[str] = set()
        # Under a multi-fidelity scheduler: each member's results by rung (tell_rung).
        self._rung_scores: dict[str, dict[int, float]] = {}
        # Asked, not yet told: key -> how many times.
        self._in_flight: dict[str, int] = {}

    @property
    def population(self) -> tuple[Assignment, ...]:
        """The members that tournaments draw from, oldest first."""
        return tuple(member for member, _ in self._population)

    def ask(self) -> Assignment:
        # Trials still running will join the population, so they count towards it: the first
        # startup_trials proposals are random samples however many workers ask, and a failed
        # one is replaced by another random sample. Until some result is in, there is no parent.
        in_flight = sum(self._in_flight.values())
        if (
            not self._population
            or len(self._population) + in_flight < self.startup_trials
        ):
            child = self._fresh(lambda: self.space.sample(self._rng), None)
        else:
            parent = self._tournament()
            child = self._fresh(lambda: self._mutate(parent), self._mutate)
        key = assignment_key(child)
        self._asked.add(key)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        return child

    def tell(self, assignment: Assignment, objective: float | None) -> None:
        values = self.space.validate(assignment)
        key = assignment_key(values)
        if self._in_flight.get(key, 0) > 1:
            self._in_flight[key] -= 1
        else:
            self._in_flight.pop(key, None)
        score = self.score(objective)
        if score is not None:  # a failed trial has nothing to pass on
            self._population.append((values, score))  # the deque drops the oldest

    def update(self, assignment: Assignment, objective: float | None) -> None:
        """A promoted member's fitness becomes its result at the higher rung (a failure in a
        later rung removes it from the population)."""
        values = self.space.validate(assignment)
        key = assignment_key(values)
        score = self.score(objective)
        for i, (member, _) in enumerate(self._population):
            if assignment_key(member) == key:
                if score is None:
                    del self._population[i]
                else:
                    self._population[i] = (member, score)
                return

    def tell_rung(
        self, assignment: Assignment, objective: float | None, rung: int, first: bool
    ) -> None:
        """As tell/update, and the member's result at ``rung`` is kept for parent choice."""
        super().tell_rung(assignment, objective, rung, first)
        score = self.score(objective)
        if score is not None:
            key = assignment_key(self.space.validate(assignment))
            self._rung_scores.setdefault(key, {})[rung] = score

    def _fitness(self, member: tuple[Assignment, float], rung: int | None) -> tuple:
        """How a member ranks in a tournament. Without rungs: its score. With rungs (BOHB's
        rule): compared at rung ``rung``, the highest rung that at least ``sample_size``
        members of the population reached; a member that stopped below it ranks by the
        highest rung it reached, then by its score there (a member that started above it, by
        its first result)."""
        scores = self._rung_scores.get(assignment_key(member[0]))
        if rung is None or not scores:
            return (0, member[1])
        below = [r for r in scores if r <= rung]
        level = max(below) if below else min(scores)
        return (min(level, rung), scores[level])

    def _parent_rung(self) -> int | None:
        if self.rungs <= 1 or not self._rung_scores:
            return None
        counts: dict[int, int] = {}
        for member, _ in self._population:
            for rung in self._rung_scores.get(assignment_key(member), {}):
                counts[rung] = counts.get(rung, 0) + 1
        return model_rung(counts, self.sample_size)

    def _tournament(self) -> Assignment:
        """The best of ``sample_size`` members drawn uniformly; the first drawn wins ties."""
        drawn = [
            self._population[self._rng.randrange(len(self._population))]
            for _ in range(self.sample_size)
        ]
        rung = self._parent_rung()
        best = drawn[0]
        for member in drawn[1:]:
            if self._fitness(member, rung) > self._fitness(best, rung):
                best = member
        return best[0]

    def _mutate(self, parent: Assignment) -> Assignment:
        """``parent`` with one of its active parameters changed, then the parameters that change
        switched on sampled and those it switched off dropped."""
        mutable = [
            p for p in self.space.parameters if p.name in parent and p.domain.size != 1
        ]
        if not mutable:
            return dict(parent)
        target = mutable[self._rng.randrange(len(mutable))]
        child = dict(parent)
        child[target.name] = target.domain.mutate(parent[target.name], self._rng)
        return self.space.sample(self._rng, keep=child)

    def _fresh(
        self,
        propose: Callable[[], Assignment],
        walk: Callable[[Assignment], Assignment] | None,
    ) -> Assignment:
        """A proposal not asked before, if one of a few draws gives one; else the last draw.

        With ``walk``, the second half of the draws walks on from the last repeated proposal,
        one more mutation each: once the neighbourhoods of the best members have all been
        asked, the search moves further out instead of repeating itself.
        """
        candidate = propose()
        for draw in range(1, _DRAWS):
            if assignment_key(candidate) not in self._asked:
                return candidate
            if walk is not None and draw >= _DRAWS // 2:
                candidate = walk(candidate)
            else:
                candidate = propose()
        return candidate
