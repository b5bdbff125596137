"""SpaceIR: a compiled search space.

Two parts, both static:

- the **supergraph**: one :class:`Node` per module of the space, every branch of every choice
  and every step up to the largest repeat count included, with arguments that are literals,
  :class:`ParamRef` s or :class:`Expr` s (a ``Dynamic``);
- the **parameter table**: one :class:`Parameter` per searchable parameter, with a stable name,
  its domain and the condition under which it is active, in an order where a parameter's
  condition only mentions parameters before it.

Searchers work on the table alone; :func:`~nascompiler.ir.specialize` turns an assignment into
a concrete graph.
"""

from __future__ import annotations

import difflib
import operator
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ..errors import AssignmentError, CandidateError, SourceLocation
from ..literals import Literal, NotALiteral, to_literal
from . import conditions as cond
from .domains import Domain

Assignment = dict[str, Literal]


@dataclass(frozen=True)
class ParamRef:
    """An argument whose value is the value of a searchable parameter."""

    name: str


@dataclass(frozen=True, eq=False)
class Expr:
    """An argument computed from parameters by a user function (a ``Dynamic``)."""

    fn: Callable[..., Any]
    deps: tuple[tuple[str, Any], ...]  # dependency name -> literal | ParamRef | Expr
    location: SourceLocation | None

    def evaluate(self, values: Mapping[str, Literal]) -> Literal:
        kwargs = {name: resolve(dep, values) for name, dep in self.deps}
        try:
            result = self.fn(**kwargs)
        except Exception as exc:  # the user's function failed for these values
            raise CandidateError(
                f"{self.location}: Dynamic raised {type(exc).__name__}: {exc} (arguments {kwargs})"
            ) from exc
        try:
            return to_literal(result)
        except NotALiteral as exc:
            raise CandidateError(
                f"{self.location}: Dynamic returned a value that is not a literal: {exc}"
            ) from None

    def parameters(self) -> Iterator[str]:
        for _, dep in self.deps:
            if isinstance(dep, ParamRef):
                yield dep.name
            elif isinstance(dep, Expr):
                yield from dep.parameters()


def resolve(value: Any, values: Mapping[str, Literal]) -> Literal:
    """The literal an argument has under ``values``."""
    if isinstance(value, ParamRef):
        return values[value.name]
    if isinstance(value, Expr):
        return value.evaluate(values)
    return value


@dataclass(frozen=True)
class Node:
    """One module of the supergraph.

    ``inbound`` lists the nodes feeding it (for ``InputChoice`` and ``ConnectLooseEnd``: the
    inputs to choose among). ``children`` are the tails of the sub-graphs a connection op
    feeds; ``control`` is the op's parameter (a ``ParamRef``, or a literal when fixed).
    """

    index: int
    kind: str
    name: str
    args: tuple[tuple[str, Any], ...]
    inbound: tuple[int, ...]
    children: tuple[int, ...] = ()
    control: Any = None
    keep_link: bool = False
    location: SourceLocation | None = None

    def arg(self, key: str, default: Any = None) -> Any:
        for k, v in self.args:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Parameter:
    """A row of the parameter table."""

    name: str
    domain: Domain
    condition: cond.Condition
    kind: str  # the DSL class: Choice, Bool, Int, Real, MultipleChoice
    location: SourceLocation | None = None

    @property
    def always_active(self) -> bool:
        return self.condition == cond.ALWAYS


@dataclass(frozen=True, eq=False)
class SpaceIR:
    parameters: tuple[Parameter, ...]
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    entries: Mapping[
        int, tuple[int, ...]
    ]  # child tail -> the open modules its op feeds
    source: str | None = None
    fingerprint: str = ""
    _by_name: dict[str, Parameter] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.parameters})

    # -- the table -----------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        try:
            return self._by_name[name]
        except KeyError:
            raise AssignmentError(
                f"unknown parameter {name!r}{self._suggest(name)}", name
            ) from None

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names, n=1)
        if close:
            return f"; did you mean {close[0]!r}?"
        return f"; the space's parameters are {', '.join(self.names) or '(none)'}"

    def is_active(self, parameter: Parameter, values: Mapping[str, Literal]) -> bool:
        return cond.holds(parameter.condition, values)

    def active_parameters(self, values: Mapping[str, Literal]) -> list[Parameter]:
        """The parameters active under ``values`` (which must hold the active controllers)."""
        return [p for p in self.parameters if cond.holds(p.condition, values)]

    def validate(self, assignment: Mapping[str, Any]) -> Assignment:
        """Check ``assignment`` and return it normalised, in table order.

        Raises :class:`AssignmentError` naming the parameter for a value that is missing, given
        for an unknown or inactive parameter, or outside the parameter's domain.
        """
        if not isinstance(assignment, Mapping):
            raise AssignmentError(
                f"an assignment is a mapping of parameter names to values, not {assignment!r}"
            )
        for name in assignment:
            self.parameter(name)  # unknown names first: they are usually typos
        values: Assignment = {}
        for p in self.parameters:
            active = cond.holds(p.condition, values)
            if not active:
                if p.name in assignment:
                    raise AssignmentError(
                        f"parameter {p.name!r} is inactive for this assignment (it is active only when "
                        f"{self.describe_condition(p)}); leave it out",
                        p.name,
                    )
                continue
            if p.name not in assignment:
                raise AssignmentError(
                    f"missing a value for parameter {p.name!r} (domain {p.domain.describe()})",
                    p.name,
                )
            try:
                values[p.name] = p.domain.normalize(assignment[p.name])
            except ValueError as exc:
                raise AssignmentError(
                    f"value for parameter {p.name!r} is out of its domain: {exc}",
                    p.name,
                ) from None
        return values

    def sample(
        self, rng: random.Random, keep: Mapping[str, Literal] | None = None
    ) -> Assignment:
        """A random valid assignment; values in ``keep`` are reused where their parameter is active."""
        values: Assignment = {}
        for p in self.parameters:
            if cond.holds(p.condition, values):
                if keep is not None and p.name in keep:
                    values[p.name] = keep[p.name]
                else:
                    values[p.name] = p.domain.sample(rng)
        return values

    def describe_condition(self, parameter: Parameter) -> str:
        domains = {p.name: p.domain for p in self.parameters}
        readable = cond.for_reading(
            parameter.condition,
            domains,
            {p.name: p.condition for p in self.parameters},
        )
        return cond.describe(readable, domains)

    # -- size ------------------------------------------------------------------------------
    def count(self, limit: int = 1_000_000) -> int | None:
        """The number of distinct assignments, or ``None`` when a continuous ``Real`` makes it
        infinite. Raises ``OverflowError`` when more than ``limit`` combinations of the
        parameters that switch others on and off are live at once.

        Dynamic programming over the table, not a walk of the decision tree: the state after
        parameter ``i`` is the value (or absence) of each controller that a later parameter's
        condition still mentions, with the number of partial assignments that reach it. A
        ``Repeat`` of ``Optional`` steps keeps a handful of states however long it is, and the
        loop is flat, so a thousand parameters do not recurse.
        """
        params = self.parameters
        last_use: dict[str, int] = {}
        for i, p in enumerate(params):
            for name in cond.referenced(p.condition):
                last_use[name] = i
        # Controllers' values as positions in their domain (-1: inactive), so that True and 1
        # stay distinct in state keys; each condition as sets of allowed positions.
        position: dict[str, dict[Any, int]] = {}
        for p in params:
            if p.name in last_use:
                position[p.name] = {
                    _typed(v): k for k, v in enumerate(p.domain.values())
                }
        positions_of: dict[tuple, frozenset[int]] = {}

        def allowed_positions(name: str, allowed: tuple) -> frozenset[int]:
            found = positions_of.get((name, allowed))
            if found is None:
                where = position[name]
                found = positions_of[(name, allowed)] = frozenset(
                    where[t] for t in map(_typed, allowed) if t in where
                )
            return found

        live: list[str] = []
        states: dict[tuple, int] = {(): 1}
        index: list[dict[int, list[tuple]]] | None = None
        infinite = False
        for i, p in enumerate(params):
            slot = {name: k for k, name in enumerate(live)}
            conjunctions = [
                [
                    (slot[name], allowed_positions(name, allowed))
                    for name, allowed in conj
                ]
                for conj in p.condition
            ]
            controls_later = last_use.get(p.name, -1) > i
            keep = [k for k, name in enumerate(live) if last_use[name] > i]
            size = p.domain.size
            if not controls_later and len(keep) == len(live):
                # The states stay as they are; only those where ``p`` is active gain its
                # factor. Find them through an index by controller value rather than by
                # testing every state (a 1,000-way ModuleChoice has 1,000 states).
                if index is None:
                    index = _index_states(states, len(live))
                active_keys = _matching(states, index, conjunctions)
                if active_keys and size is None:
                    infinite = True
                elif size is not None and size != 1:
                    for key in active_keys:
                        states[key] *= size
                continue
            index = None  # the states are about to be re-keyed
            following: dict[tuple, int] = {}
            project = _projector(keep)
            decided: dict[tuple, bool] = (
                {}
            )  # activity by the values the condition reads
            read = _projector(sorted({k for conj in conjunctions for k, _ in conj}))
            for key, ways in states.items():
                seen = read(key)
                active = decided.get(seen)
                if active is None:
                    active = decided[seen] = any(
                        all(key[k] in allowed for k, allowed in conj)
                        for conj in conjunctions
                    )
                base = project(key)
                if not active:
                    nexts = [(base + (-1,), ways)] if controls_later else [(base, ways)]
                elif controls_later:
                    nexts = [(base + (k,), ways) for k in range(size)]
                elif size is None:
                    infinite = True
                    nexts = [(base, ways)]
                else:
                    nexts = [(base, ways * size)]
                for next_key, n in nexts:
                    following[next_key] = following.get(next_key, 0) + n
            if len(following) > limit:
                raise OverflowError(f"more than {limit} switch combinations")
            states = following
            live = [live[k] for k in keep] + ([p.name] if controls_later else [])
        return None if infinite else sum(states.values())


def _projector(slots: list[int]) -> Callable[[tuple], tuple]:
    """A fast ``key -> tuple(key[k] for k in slots)``."""
    if not slots:
        return lambda key: ()
    if len(slots) == 1:
        (only,) = slots
        return lambda key: (key[only],)
    return operator.itemgetter(*slots)


def _index_states(states: dict[tuple, int], width: int) -> list[dict[int, list[tuple]]]:
    """For each slot of the state key: value position -> the state keys holding it."""
    index: list[dict[int, list[tuple]]] = [{} for _ in range(width)]
    for key in states:
        for slot, value in enumerate(key):
            index[slot].setdefault(value, []).append(key)
    return index


def _matching(
    states: dict[tuple, int],
    index: list[dict[int, list[tuple]]],
    conjunctions: list[list[tuple[int, set[int]]]],
) -> set[tuple] | dict[tuple, int]:
    """The state keys that satisfy at least one conjunction."""
    found: set[tuple] = set()
    for conj in conjunctions:
        if not conj:
            return states  # always active
        # Candidates from the most selective clause, then checked against the others.
        slot, allowed = min(
            conj, key=lambda c: sum(len(index[c[0]].get(v, ())) for v in c[1])
        )
        for value in allowed:
            for key in index[slot].get(value, ()):
                if all(key[s] in a for s, a in conj):
                    found.add(key)
    return found


def _typed(value: Any) -> Any:
    """A hashable key that tells ``True`` from ``1`` (a condition's allowed values and a
    domain's values are matched by type and value, like :func:`conditions.holds`)."""
    if isinstance(value, tuple):
        return (tuple, tuple(_typed(v) for v in value))
    return (type(value), value)
