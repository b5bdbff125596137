"""Amounts as people write them on a command line or in a space file: durations (``90s``,
``30m``, ``1h30m``) and counts (``50k``, ``1.5M``, ``2G``).

A leaf of the base stage: the IR's cost budgets, the search settings and the command line all
read their amounts here. Each parser raises a one-line :class:`UsageError` naming ``what`` (a
flag such as ``--time-budget`` or an argument such as ``time_budget=``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import UsageError

_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?"
)


def parse_duration(text: Any, what: str = "duration") -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1h30m`` -> seconds; a UsageError otherwise.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif isinstance(text, str) and text.strip():
        match = _DURATION.fullmatch(text.strip())
        if match is None or not any(match.groups()):
            raise UsageError(
                f"{what} must be a duration such as 90s, 30m, 2h or 1h30m, got {text!r}"
            )
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        value = hours * 3600 + minutes * 60 + secs
    else:
        raise UsageError(
            f"{what} must be a duration such as 90s, 30m, 2h or 1h30m, got {text!r}"
        )
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_COUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]*)?|\.[0-9]+)\s*([kKmMgGtT]?)\s*$")


def parse_count(text: Any, what: str = "count") -> int:
    """``"50k"`` -> 50000, ``"1.5M"`` -> 1500000, ``"2G"`` -> 2000000000; plain integers too.

    Suffixes are decimal (k, M, G, T; either case). Raises :class:`UsageError` naming ``what``
    for anything that is not a non-negative whole number.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise UsageError(f"{what} must not be negative, got {text}")
        return text
    match = _COUNT.match(text) if isinstance(text, str) else None
    if match is None:
        raise UsageError(
            f"{what} must be a whole number such as 50000, 50k, 1.5M or 2G, got {text!r}"
        )
    number, suffix = match.groups()
    try:
        value = Decimal(number.replace("_", "")) * _SUFFIXES[suffix.lower()]
    except InvalidOperation:
        raise UsageError(f"{what}: cannot read {text!r} as a number") from None
    if value != value.to_integral_value():
        raise UsageError(
            f"{what} must be a whole number, but {text!r} is {value.normalize()}"
        )
    return int(value)
