"""Pareto dominance over several objectives, each maximised or minimised.

Pure functions of the points; the study, ``trials --pareto`` and ``export --pareto`` share them.

>>> points = [(0.90, 5000), (0.95, 9000), (0.85, 7000), (0.95, 12000)]
>>> pareto_front(points, ("max", "min"))
[0, 1]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from ..kinds import Direction

if TYPE_CHECKING:
    from ..config.settings import TrainingSettings
    from .store import Store, TrialRecord

Point = Sequence[float]


def dominates(a: Point, b: Point, directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one."""
    return _dominates(a, b, [Direction(d) for d in directions])


def _dominates(a: Point, b: Point, directions: Sequence[Direction]) -> bool:
    # pareto_front calls this for every pair of points: the directions are parsed once there.
    better = False
    for x, y, direction in zip(a, b, directions):
        if direction.better(y, x):
            return False
        better = better or direction.better(x, y)
    return better


def pareto_front(points: Sequence[Point], directions: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates, in input order. Points holding NaN or
    None are never on the front (a failed measurement is not a trade-off)."""
    valid = [
        i
        for i, p in enumerate(points)
        if len(p) == len(directions)
        and all(v is not None and not math.isnan(v) for v in p)
    ]
    parsed = [Direction(d) for d in directions]
    return [
        i
        for i in valid
        if not any(_dominates(points[j], points[i], parsed) for j in valid if j != i)
    ]


def hypervolume_2d(
    points: Sequence[Point], directions: Sequence[str], reference: Point
) -> float:
    """The area dominated by ``points`` and bounded by ``reference`` (a point worse than all of
    them in both objectives): the usual quality measure of a two-objective front, higher is
    better. Points not better than ``reference`` in both objectives add nothing.

    >>> hypervolume_2d([(0.9, 10.0), (0.8, 5.0)], ("max", "min"), (0.0, 20.0))
    13.0
    """
    if len(directions) != 2:
        raise ValueError("hypervolume_2d needs exactly two objectives")
    # Orient both objectives as "larger is better", measured from the reference.
    oriented = []
    for p in points:
        gains = [
            Direction(d).oriented(v - r) for v, r, d in zip(p, reference, directions)
        ]
        if all(g > 0 for g in gains):
            oriented.append(gains)
    oriented.sort(key=lambda g: (-g[0], -g[1]))
    area, height = 0.0, 0.0
    for x, y in oriented:  # sweep from the largest first gain down
        if y > height:
            area += x * (y - height)
            height = y
    return area


def study_pareto_front(store: Store, settings: TrainingSettings) -> list[TrialRecord]:
    """The Pareto front of a study's complete trials over ``settings``' objectives: the trials
    that no other dominates, ordered best first by the first objective, then by number. A
    single-objective study's front is its best trial."""
    board = store.leaderboard(settings.direction)
    if not settings.multi_objective:
        return board[:1]
    names = settings.objective_names
    trials = [t for t in board if t.epochs == board[0].epochs]
    # A value the trial lacks is NaN: never on the front.
    points = [tuple(t.objective_values.get(n, math.nan) for n in names) for t in trials]
    return [trials[i] for i in pareto_front(points, settings.directions)]
