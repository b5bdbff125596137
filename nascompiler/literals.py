"""The values a space may hold: plain Python literals.

A layer argument, a Choice option or a Dynamic's result ends up as source text in a generated
module, so only values that have an exact, inert literal form are allowed: ``None``, ``bool``,
``int``, finite ``float``, ``str`` and tuples of these. Lists are accepted and become tuples
(Keras treats both alike, and one spelling keeps candidate ids stable). NumPy scalars are
accepted and become their Python equivalents.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import a_type

Literal = Any  # None | bool | int | float | str | tuple[Literal, ...]


class NotALiteral(TypeError):
    """Raised by :func:`to_literal`; the message says what was wrong and where inside the value."""


def to_literal(value: Any) -> Literal:
    """Return ``value`` as a normalised literal, or raise :class:`NotALiteral`.

    >>> to_literal([3, 3])
    (3, 3)
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # drops int subclasses such as IntEnum
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotALiteral(f"{value!r} is not a finite number")
        return float(value)
    if isinstance(value, (list, tuple)):
        return tuple(to_literal(v) for v in value)
    if (
        type(value).__module__ == "numpy"
        and hasattr(value, "item")
        and getattr(value, "shape", None) == ()
    ):
        return to_literal(value.item())
    raise NotALiteral(
        f"{value!r} ({a_type(value)}) is not a literal; "
        "use None, bool, int, float, str or a tuple/list of those"
    )


def from_json(value: Any) -> Literal:
    """Undo JSON's loss of tuples: every list read back from JSON becomes a tuple."""
    if isinstance(value, list):
        return tuple(from_json(v) for v in value)
    return value


def literal_key(value: Literal) -> tuple:
    """A total order over literals of mixed types, for deterministic sorting."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, tuple(literal_key(v) for v in value))
