"""The two small vocabularies of a search: a trial's status and an objective's direction.

Both are ``str`` enums whose values are the strings the study database, ``trials --json`` and
the console have always held ("complete", "max", ...): a member compares equal to its string,
is stored in SQLite and written to JSON as that string, and prints as it. So the rest of the
code names ``TrialStatus.COMPLETE`` instead of spelling ``"complete"``, while a record read
back from the database (a plain string) still compares equal.

This module is a leaf: it imports nothing from the package, so every layer may use it.
"""

from __future__ import annotations

from enum import Enum


class _StrEnum(str, Enum):
    """A ``str`` enum that prints as its value on every Python version (``enum.StrEnum`` is
    3.11+; on a plain ``(str, Enum)`` 3.11 changed ``format()`` to give ``Class.MEMBER``).
    """

    __str__ = str.__str__
    __format__ = str.__format__  # type: ignore[assignment]  # the same signature, typed apart


class TrialStatus(_StrEnum):
    """Where a trial stands, as stored in the ``status`` column of the trials table."""

    RUNNING = (
        "running"  # stored before its job is sent; also a job left by a dead search
    )
    COMPLETE = "complete"  # trained (under a scheduler: its latest rung so far)
    FAILED = "failed"  # could not be built, or its training failed
    DUPLICATE = (
        "duplicate"  # same candidate as an evaluated trial: its result is reused
    )
    OVER_BUDGET = "over_budget"  # over --max-params/--max-flops: stored with its cost, never trained
    # --prescreen: proposed with others for one trial slot, scored by a zero-cost proxy and not
    # the best of them, so never trained (its proxy value is kept; it does not count as a trial)
    SCREENED = "screened"


# A candidate with a trial in one of these has its own result: a later trial of it is a
# duplicate. (Tuples, not methods: records read back hold plain strings, and ``in`` compares.)
EVALUATED = (TrialStatus.COMPLETE, TrialStatus.FAILED)
# The statuses whose objective is told to the searcher (a duplicate repeats its original's).
TOLD_OBJECTIVE = (TrialStatus.COMPLETE, TrialStatus.DUPLICATE)


class Direction(_StrEnum):
    """Whether an objective is maximised or minimised. ``Direction("max")`` reads the strings
    the settings, the searchers' options and the database hold."""

    MAX = "max"
    MIN = "min"

    @property
    def sign(self) -> float:
        """``+1.0`` or ``-1.0``: a value times the sign is larger the better it is."""
        return 1.0 if self is Direction.MAX else -1.0

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b`` (false for equal values and for NaN)."""
        return a > b if self is Direction.MAX else a < b

    def oriented(self, value: float) -> float:
        """``value`` turned so that higher is better (itself for ``max``, negated for ``min``)."""
        return value if self is Direction.MAX else -value


STATUSES: tuple[str, ...] = tuple(s.value for s in TrialStatus)
DIRECTIONS: tuple[str, ...] = tuple(d.value for d in Direction)
