"""When a parameter is active: a condition over the values of other parameters.

A condition is in disjunctive normal form: a tuple of *conjunctions*, each a tuple of
*clauses* ``(parameter name, allowed values)``, sorted so that equal conditions compare equal.
``ALWAYS`` is one empty conjunction, ``NEVER`` no conjunction at all. A parameter inside step 3
of a ``Repeat`` (0-based) gets ``(("repeat_1.times", (4, 5)),)`` when the repeat count is
chosen from 2..5; one used in two places gets the disjunction of both places' conditions.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..literals import literal_key

Clause = tuple[str, tuple]
Conjunction = tuple[Clause, ...]
Condition = tuple[Conjunction, ...]

ALWAYS: Condition = ((),)
NEVER: Condition = ()


def clause(name: str, allowed: tuple) -> Clause:
    return (name, tuple(sorted(set(allowed), key=literal_key)))


def and_clause(condition: Condition, new: Clause) -> Condition:
    """``condition and new``."""
    result = []
    for conj in condition:
        merged = _add_clause(conj, new)
        if merged is not None:
            result.append(merged)
    return _simplify(result)


def or_(a: Condition, b: Condition) -> Condition:
    """``a or b``."""
    return _simplify(list(a) + list(b))


def _add_clause(conj: Conjunction, new: Clause) -> Conjunction | None:
    name, allowed = new
    clauses = dict(conj)
    if name in clauses:
        allowed = tuple(v for v in clauses[name] if v in allowed)
        if not allowed:
            return None  # contradiction: this conjunction can never hold
    clauses[name] = allowed
    return tuple(sorted(clauses.items()))


def _implies(a: Conjunction, b: Conjunction) -> bool:
    """Every assignment satisfying ``a`` satisfies ``b``."""
    ca = dict(a)
    return all(name in ca and set(ca[name]) <= set(allowed) for name, allowed in b)


def _simplify(conjs: list[Conjunction]) -> Condition:
    unique = sorted(set(conjs), key=lambda c: (len(c), repr(c)))
    kept: list[Conjunction] = []
    for conj in unique:
        if not any(_implies(conj, k) for k in kept):
            kept = [k for k in kept if not _implies(k, conj)]
            kept.append(conj)
    return tuple(sorted(kept, key=repr))


def holds(condition: Condition, values: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds; a clause over a parameter without a value is false."""
    for conj in condition:
        if all(
            name in values and _member(values[name], allowed) for name, allowed in conj
        ):
            return True
    return False


def _member(value: Any, allowed: tuple) -> bool:
    return any(type(v) is type(value) and v == value for v in allowed)


def referenced(condition: Condition) -> set[str]:
    return {name for conj in condition for name, _ in conj}


def for_reading(
    condition: Condition,
    domains: Mapping[str, Any],
    conditions: Mapping[str, Condition],
    rounds: int = 20,
) -> Condition:
    """``condition`` made shorter for a person, with the same meaning: conjunctions that differ
    only in the values allowed for one parameter are merged, and a clause that allows every
    value of its parameter's domain becomes that parameter's own condition (it holds exactly
    when the parameter is active), so ``(head == 0) or (head == 1)`` over a ``head`` that is
    always active reads "always". Only for display: the IR keeps the condition it computed
    (its fingerprint and the counting use it)."""
    current = condition
    for _ in range(rounds):
        merged = _merge_neighbours(list(current))
        widened: list[Conjunction] = []
        for conj in merged:
            widened.extend(_without_full_clauses(conj, domains, conditions))
        simplified = _simplify(widened)
        if simplified == current:
            break
        current = simplified
    return current


def _merge_neighbours(conjs: list[Conjunction]) -> list[Conjunction]:
    """Merge two conjunctions over the same parameters that differ in one clause only."""
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(conjs):
            for j in range(i + 1, len(conjs)):
                b = conjs[j]
                if [n for n, _ in a] != [n for n, _ in b]:
                    continue
                differing = [k for k, (ca, cb) in enumerate(zip(a, b)) if ca != cb]
                if len(differing) != 1:
                    continue
                k = differing[0]
                union = clause(a[k][0], a[k][1] + b[k][1])
                conjs[i] = a[:k] + (union,) + a[k + 1 :]
                del conjs[j]
                changed = True
                break
            if changed:
                break
    return conjs


def _without_full_clauses(
    conj: Conjunction, domains: Mapping[str, Any], conditions: Mapping[str, Condition]
) -> list[Conjunction]:
    for k, (name, allowed) in enumerate(conj):
        values = _domain_values(domains.get(name))
        if values is None or name not in conditions:
            continue
        if all(_member(v, allowed) for v in values):
            rest = conj[:k] + conj[k + 1 :]
            result: list[Conjunction] = []
            for own in conditions[
                name
            ]:  # the clause holds exactly when ``name`` is active
                merged: Conjunction | None = rest
                for c in own:
                    merged = None if merged is None else _add_clause(merged, c)
                if merged is not None:
                    result.append(merged)
            return result
    return [conj]


def _domain_values(domain: Any) -> list | None:
    """Every value of a finite domain, or ``None`` (continuous, too large, or unknown)."""
    if domain is None:
        return None
    try:
        # A lazy sequence for ranges: measured before it is listed.
        values = domain.values()
        return list(values) if len(values) <= 10_000 else None
    except (ValueError, TypeError, OverflowError, AttributeError, NotImplementedError):
        return None


def describe(condition: Condition, domains: Mapping[str, Any] | None = None) -> str:
    """``repeat_1.times >= 3 and optional_2.enabled == True`` style text."""
    if condition == ALWAYS:
        return "always"
    if condition == NEVER:
        return "never"
    parts = []
    for conj in condition:
        parts.append(
            " and ".join(
                _describe_clause(name, allowed, (domains or {}).get(name))
                for name, allowed in conj
            )
        )
    return " or ".join(
        f"({p})" if len(condition) > 1 and " and " in p else p for p in parts
    )


def _describe_clause(name: str, allowed: tuple, domain: Any) -> str:
    if len(allowed) == 1:
        return f"{name} == {allowed[0]!r}"
    if domain is not None:
        try:
            values = sorted(domain.values(), key=literal_key)
        except ValueError:
            values = None
        if values and all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            tail = values[values.index(allowed[0]) :] if allowed[0] in values else None
            if tail is not None and list(allowed) == tail:
                return f"{name} >= {allowed[0]!r}"
    return f"{name} in {{{', '.join(repr(v) for v in allowed)}}}"
