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
        return cond.describe(
            parameter.condition, {p.name: p.domain for p in self.parameters}
        )

    # -- size ------------------------------------------------------------------------------
    def count(self, limit: int = 1_000_000) -> int | None:
        """The number of distinct assignments, or ``None`` when a continuous ``Real`` makes it
        infinite. Raises ``OverflowError`` when counting would enumerate more than ``limit``
        combinations of the parameters that switch others on and off."""
        controllers = (
            set().union(*(cond.referenced(p.condition) for p in self.parameters))
            if self.parameters
            else set()
        )
        visited = 0

        def walk(i: int, values: Assignment) -> int | None:
            nonlocal visited
            if i == len(self.parameters):
                visited += 1
                if visited > limit:
                    raise OverflowError(f"more than {limit} switch combinations")
                return 1
            p = self.parameters[i]
            if not cond.holds(p.condition, values):
                return walk(i + 1, values)
            if p.name not in controllers:
                rest = walk(i + 1, values)
                if rest == 0:
                    return 0
                return (
                    None
                    if p.domain.size is None or rest is None
                    else p.domain.size * rest
                )
            total: int | None = 0
            for v in p.domain.values():
                values[p.name] = v
                sub = walk(i + 1, values)
                total = None if sub is None or total is None else total + sub
            del values[p.name]
            return total

        return walk(0, {})
