"""Monte-Carlo tree search over the sequence of parameter decisions.

A node is a prefix of decisions: values for the parameters before some position of the table.
Its children are the values of the next active parameter that has a choice to make (inactive
parameters are skipped, single-valued ones filled in). Each ``ask`` selects a path with UCT
(UCB1 on rewards normalised to [0, 1]), expands one untried child, and completes the assignment
with a random rollout; ``tell`` credits the result to that path.

Visits are counted when a path is asked and rewards added when it is told, so a trial still
running counts as a visit with the worst reward (a "virtual loss"): parallel workers spread out
instead of all descending the same path.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...ir import conditions as cond
from ...ir.domains import RealSteps
from .base import Searcher, assignment_key, int_option


@dataclass(eq=False)
class _Node:
    """A prefix of decisions and the statistics of the trials asked through it."""

    values: Assignment  # every active parameter before ``decision``
    decision: (
        int  # table index of the next parameter to choose; len(table) when complete
    )
    untried: "_Untried"  # positions in the decision's values that have no child yet
    parent: "_Node | None"
    children: dict[int, "_Node"] = field(
        default_factory=dict
    )  # by position, in creation order
    visits: int = 0
    successes: int = 0
    total: float = 0.0  # sum of the oriented objectives of the successes below
    exhausted: bool = False  # every complete assignment below has been proposed


class MCTSSearch(Searcher):
    """Options: ``exploration`` (0.1), UCB1's exploration constant; ``resolution`` (10), how many
    evenly spaced values a continuous ``Real`` is discretised into.

    The textbook constant 1.4 explores too much at NAS budgets (tens to hundreds of trials). On
    NAS-Bench-201 (``benchmarks/nb201.py``, 50 runs) 0.1 beat 0.25, 0.5 and 1.0 on both the
    CIFAR-10 and the ImageNet16-120 table, yet MCTS stays behind regularized evolution at 100 and
    200 queries there (so are blending the best result below a node into its value, and
    rollouts that follow the best assignment found): prefer ``evolution``.

    ``ask`` returns ``None`` once every assignment of the (discretised) space has been
    proposed or told, which happens only in small spaces.
    """

    name = "mcts"

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        exploration: float = 0.1,
        resolution: int = 10,
    ):
        super().__init__(space, seed=seed, direction=direction, directions=directions)
        if (
            not isinstance(exploration, (int, float))
            or isinstance(exploration, bool)
            or not exploration >= 0
        ):
            raise UsageError(
                f"option exploration must be a number of at least 0, got {exploration!r}"
            )
        self.exploration = float(exploration)
        self.resolution = int_option("resolution", resolution, 2)
        self._rng = random.Random(seed)
        self._choices = tuple(p.domain.grid(resolution) for p in space.parameters)
        self._root = self._make_node({}, 0, None)
        self._pending: dict[str, list[list[_Node]]] = (
            {}
        )  # asked, not yet told: key -> paths
        self._low = (
            math.inf
        )  # the worst and best oriented objectives seen: normalise rewards
        self._high = -math.inf

    # -- ask -------------------------------------------------------------------------------
    def ask(self) -> Assignment | None:
        if self._root.exhausted:
            return None
        path = [self._root]
        node = self._root
        while not self._complete(node) and not node.untried:
            node = self._select(node)
            path.append(node)
        if node.untried:
            node = self._expand(node)
            path.append(node)
        if self._complete(node):
            self._mark_exhausted(node)
            assignment = dict(node.values)
        else:
            assignment = self._rollout(node)
        for visited in path:
            visited.visits += 1
        self._pending.setdefault(assignment_key(assignment), []).append(path)
        return assignment

    def _select(self, node: _Node) -> _Node:
        """The child with the highest UCB1 score among those with something left to propose."""
        log_visits = math.log(node.visits)
        best, best_score = None, -math.inf
        for child in node.children.values():
            if child.exhausted:
                continue
            score = self._reward(child) + self.exploration * math.sqrt(
                log_visits / child.visits
            )
            if score > best_score:
                best, best_score = child, score
        return best

    def _reward(self, node: _Node) -> float:
        """Mean reward of ``node`` in [0, 1]; failures and trials still running count as 0.

        The sum of oriented objectives is kept raw and normalised here, because the best and
        worst objective seen move as results come in (normalisation is linear, so the mean of
        normalised rewards is the normalised mean).
        """
        if self._high > self._low:
            normalised = (node.total - node.successes * self._low) / (
                self._high - self._low
            )
        else:
            normalised = (
                0.5 * node.successes
            )  # no spread of results yet: each counts as middling
        return normalised / node.visits

    def _expand(self, node: _Node) -> _Node:
        """A child of ``node`` for one of its untried values, drawn at random."""
        return self._add_child(
            node, node.untried[self._rng.randrange(len(node.untried))]
        )

    def _add_child(self, node: _Node, position: int) -> _Node:
        node.untried.remove(position)
        values = dict(node.values)
        values[self.space.parameters[node.decision].name] = self._choices[
            node.decision
        ][position]
        child = self._make_node(values, node.decision + 1, node)
        node.children[position] = child
        return child

    def _make_node(self, values: Assignment, start: int, parent: _Node | None) -> _Node:
        """A node for ``values``, with the parameters from ``start`` up to the next decision
        filled in: inactive ones skipped, single-valued ones set."""
        for i in range(start, len(self._choices)):
            p = self.space.parameters[i]
            if not cond.holds(p.condition, values):
                continue
            if len(self._choices[i]) > 1:
                return _Node(values, i, _Untried(len(self._choices[i])), parent)
            values[p.name] = self._choices[i][0]
        return _Node(values, len(self._choices), _Untried(0), parent)

    def _complete(self, node: _Node) -> bool:
        return node.decision == len(self._choices)

    def _rollout(self, node: _Node) -> Assignment:
        """``node``'s prefix completed with uniformly random values of the remaining active
        parameters (discretised like the tree's, so that every proposal is a leaf of it).
        """
        values = dict(node.values)
        for i in range(node.decision, len(self._choices)):
            p = self.space.parameters[i]
            if cond.holds(p.condition, values):
                values[p.name] = self._choices[i][
                    self._rng.randrange(len(self._choices[i]))
                ]
        return values

    def _mark_exhausted(self, node: _Node) -> None:
        node.exhausted = True
        parent = node.parent
        while (
            parent is not None
            and not parent.untried
            and all(c.exhausted for c in parent.children.values())
        ):
            parent.exhausted = True
            parent = parent.parent

    # -- tell ------------------------------------------------------------------------------
    def tell(self, assignment: Assignment, objective: float | None) -> None:
        values = self.space.validate(assignment)
        path = self._take_pending(assignment_key(values)) or self._observe(values)
        score = self.score(objective)
        if score is None:  # a failure is the worst reward: a visit that adds nothing
            return
        self._low, self._high = min(self._low, score), max(self._high, score)
        for node in path:
            node.successes += 1
            node.total += score

    def _take_pending(self, key: str) -> list[_Node] | None:
        paths = self._pending.get(key)
        if not paths:
            return None
        path = paths.pop(
            0
        )  # identical asks are interchangeable: first asked, first told
        if not paths:
            del self._pending[key]
        return path

    def _observe(self, values: Assignment) -> list[_Node]:
        """The path for an assignment that was not asked (a result from elsewhere, such as a
        warm start), treated as if selection had followed it: existing nodes are followed, the
        first missing one is expanded, and the rest counts as its rollout."""
        path = [self._root]
        while not self._complete(path[-1]):
            node = path[-1]
            position = _position(
                self._choices[node.decision],
                values[self.space.parameters[node.decision].name],
            )
            if position in node.children:
                path.append(node.children[position])
            else:
                if (
                    position is not None
                ):  # None: a continuous value between the grid's points
                    path.append(self._add_child(node, position))
                break
        if self._complete(path[-1]):
            self._mark_exhausted(path[-1])
        for visited in path:
            visited.visits += 1
        return path


class _Untried:
    """The positions ``0..n-1`` not yet removed, as ``list(range(n))`` minus removals would
    list them, without the list: a ``Real`` with a fine step has millions of positions.
    """

    def __init__(self, n: int):
        self.n = n
        self.removed: list[int] = []  # sorted

    def __len__(self) -> int:
        return self.n - len(self.removed)

    def __getitem__(self, k: int) -> int:
        if not 0 <= k < len(self):
            raise IndexError(k)
        for (
            r
        ) in self.removed:  # shift past the removed positions at or below the answer
            if r <= k:
                k += 1
            else:
                break
        return k

    def remove(self, position: int) -> None:
        i = bisect.bisect_left(self.removed, position)
        if i < len(self.removed) and self.removed[i] == position:
            raise ValueError(f"position {position} was already removed")
        self.removed.insert(i, position)


def _position(choices: Sequence, value: Any) -> int | None:
    """Where ``value`` is among ``choices`` (``None``: a continuous value between them)."""
    if isinstance(choices, (range, RealSteps)):
        try:
            return choices.index(value)  # arithmetic, not a scan
        except ValueError:
            return None
    wanted = repr(value)
    return next((i for i, v in enumerate(choices) if repr(v) == wanted), None)
