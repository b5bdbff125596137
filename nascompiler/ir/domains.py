"""Parameter domains: the set of values a searchable parameter may take.

A domain knows its size, how to check and normalise a value (JSON and the command line lose
tuples and the int/float distinction), how to sample one with a ``random.Random``, how to pick
a different value (mutation), and how to list a grid.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from ..literals import Literal, NotALiteral, from_json, to_literal


class Domain(ABC):
    """The values of one parameter."""

    kind: str

    @property
    @abstractmethod
    def size(self) -> int | None:
        """How many values; ``None`` for a continuous range."""

    @abstractmethod
    def normalize(self, value: Any) -> Literal:
        """The canonical form of ``value``; raises ``ValueError`` if it is not in the domain."""

    @abstractmethod
    def sample(self, rng: random.Random) -> Literal:
        """A value drawn from the domain's prior."""

    @abstractmethod
    def values(self) -> Sequence:
        """Every value, in a fixed order (finite domains only). Ranges give a lazy sequence
        (``range``, :class:`RealSteps`), never a materialised list."""

    @abstractmethod
    def describe(self) -> str:
        """The domain as a user reads it in tables and errors."""

    @abstractmethod
    def to_json(self) -> dict:
        """A JSON description (part of the space fingerprint)."""

    def contains(self, value: Any) -> bool:
        try:
            self.normalize(value)
        except ValueError:
            return False
        return True

    def mutate(self, value: Literal, rng: random.Random) -> Literal:
        """A value different from ``value`` (``value`` itself if the domain has only one)."""
        options = [v for v in self.values() if not _same(v, value)]
        return rng.choice(options) if options else value

    def grid(self, resolution: int | None = None) -> tuple:
        """The values a grid search visits."""
        return self.values()

    def index(self, value: Literal) -> int:
        """Position of ``value`` in :meth:`values` (finite domains)."""
        value = self.normalize(value)
        for i, v in enumerate(self.values()):
            if _same(v, value):
                return i
        raise ValueError(f"{value!r} not in {self.describe()}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _literal(value: Any) -> Literal:
    try:
        return to_literal(from_json(value))
    except NotALiteral as exc:
        raise ValueError(str(exc)) from None


def _fmt(value: Literal) -> str:
    return repr(value)


class Categorical(Domain):
    """One of a list of literal options (``Choice``, ``Bool``)."""

    kind = "categorical"

    def __init__(self, options: tuple):
        self.options = tuple(options)

    @property
    def size(self) -> int:
        return len(self.options)

    def normalize(self, value: Any) -> Literal:
        value = _literal(value)
        for option in self.options:
            if _same(option, value):
                return option
        raise ValueError(f"{_fmt(value)} is not one of {self.describe()}")

    def sample(self, rng: random.Random) -> Literal:
        return self.options[rng.randrange(len(self.options))]

    def values(self) -> tuple:
        return self.options

    def describe(self) -> str:
        return "{" + ", ".join(_fmt(o) for o in self.options) + "}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "options": list(self.options)}


class IntRange(Domain):
    """Integers ``low..high`` (inclusive) in steps of ``step`` (``Int``)."""

    kind = "int"

    def __init__(self, low: int, high: int, step: int = 1):
        self.low, self.high, self.step = low, high, step

    @property
    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def normalize(self, value: Any) -> Literal:
        value = _literal(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{_fmt(value)} is not an integer in {self.describe()}")
        if not (self.low <= value <= self.high and (value - self.low) % self.step == 0):
            raise ValueError(f"{value} is not in {self.describe()}")
        return value

    def sample(self, rng: random.Random) -> Literal:
        return self.low + self.step * rng.randrange(self.size)

    def values(self) -> Sequence:
        # A range, not a tuple: Int(0, 10**9) must not be listed to be sampled or gridded.
        return range(self.low, self.high + 1, self.step)

    def index(self, value: Literal) -> int:
        return self.values().index(self.normalize(value))

    def mutate(self, value: Literal, rng: random.Random) -> Literal:
        # A small move: one or two steps up or down, staying in range.
        if self.size == 1:
            return value
        moves = [
            d for d in (-2, -1, 1, 2) if self.low <= value + d * self.step <= self.high
        ]
        return value + rng.choice(moves) * self.step

    def describe(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"int {self.low}..{self.high}{step}"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "step": self.step,
        }


class RealRange(Domain):
    """Floats from ``low`` to ``high`` (``Real``): a grid when ``step`` is set, else continuous,
    sampled uniformly or (``log``) log-uniformly."""

    kind = "real"

    def __init__(
        self, low: float, high: float, step: float | None = None, log: bool = False
    ):
        self.low, self.high, self.step, self.log = low, high, step, log
        self._values: RealSteps | None = None
        if step is not None:
            steps = (high - low) / step
            nearest = round(steps)
            # ``high`` counts when it is a whole number of steps up to rounding, relative
            # to the number of steps (0.5 / 1e-9 is 499999999.99999994).
            if abs(steps - nearest) <= 1e-9 * max(1.0, steps):
                steps = nearest
            count = int(math.floor(steps)) + 1
            self._values = RealSteps(low, step, count)

    @property
    def size(self) -> int | None:
        return None if self._values is None else len(self._values)

    def normalize(self, value: Any) -> Literal:
        value = _literal(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{_fmt(value)} is not a number in {self.describe()}")
        value = float(value)
        if self._values is not None:
            position = self._values.position(value)
            if position is None:
                raise ValueError(f"{value!r} is not one of {self.describe()}")
            return self._values[position]
        if not self.low <= value <= self.high:
            raise ValueError(f"{value!r} is outside {self.describe()}")
        return value

    def sample(self, rng: random.Random) -> Literal:
        if self._values is not None:
            return self._values[rng.randrange(len(self._values))]
        if self.log:
            return _clean_float(
                math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            )
        return _clean_float(rng.uniform(self.low, self.high))

    def values(self) -> Sequence:
        if self._values is None:
            raise ValueError(
                f"the continuous range {self.describe()} has no finite list of values"
            )
        return self._values

    def index(self, value: Literal) -> int:
        if self._values is None:
            return super().index(value)
        position = self._values.position(self.normalize(value))
        assert position is not None  # normalize() returned one of the steps
        return position

    def grid(self, resolution: int | None = None) -> Sequence:
        if self._values is not None:
            return self._values
        if not resolution or resolution < 2:
            raise ValueError(
                f"the continuous range {self.describe()} needs a grid resolution of at least 2"
            )
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return tuple(
                _clean_float(math.exp(lo + (hi - lo) * i / (resolution - 1)))
                for i in range(resolution)
            )
        return tuple(
            _clean_float(self.low + (self.high - self.low) * i / (resolution - 1))
            for i in range(resolution)
        )

    def mutate(self, value: Literal, rng: random.Random) -> Literal:
        if self._values is not None:
            i = self.index(value)
            moves = [d for d in (-2, -1, 1, 2) if 0 <= i + d < len(self._values)]
            return self._values[i + rng.choice(moves)] if moves else value
        # Continuous: a Gaussian step of a tenth of the range (in log space for a log prior).
        lo, hi, x = self.low, self.high, value
        if self.log:
            lo, hi, x = math.log(lo), math.log(hi), math.log(value)
        x = min(hi, max(lo, x + rng.gauss(0.0, (hi - lo) / 10)))
        return _clean_float(math.exp(x) if self.log else x)

    def describe(self) -> str:
        if self.step is not None:
            return f"[{self.low!r}, {self.high!r}] step {self.step!r}"
        return f"[{self.low!r}, {self.high!r}]" + (" log" if self.log else "")

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
        }


class RealSteps(Sequence):
    """``low, low + step, ...`` (``count`` values) computed on demand: a ``Real`` with a tiny
    step has hundreds of millions of values, and none of them is stored."""

    def __init__(self, low: float, step: float, count: int):
        self.low, self.step, self.count = low, step, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(self.count)))
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        return _clean_float(self.low + i * self.step)

    def position(self, value: float) -> int | None:
        """The index of the step equal to ``value`` (within rounding), else ``None``."""
        i = round((value - self.low) / self.step)
        for k in (i - 1, i, i + 1):  # the nearest step, whatever the rounding did
            if 0 <= k < self.count and math.isclose(
                self[k], value, rel_tol=1e-9, abs_tol=1e-12
            ):
                return k
        return None

    def index(self, value, start: int = 0, stop: int | None = None) -> int:  # type: ignore[override]
        position = self.position(value)
        if position is None:
            raise ValueError(f"{value!r} is not one of the steps")
        return position

    def __contains__(self, value: object) -> bool:
        return isinstance(value, (int, float)) and self.position(value) is not None

    def __eq__(self, other: object) -> bool:
        return tuple(self) == other if isinstance(other, tuple) else NotImplemented

    def __repr__(self) -> str:
        return f"RealSteps({self.low!r}, step {self.step!r}, {self.count} values)"


def _clean_float(x: float) -> float:
    """Round away binary noise (0.1 * 3 -> 0.3) so values print as the user expects."""
    return float(f"{x:.12g}")


class Subset(Domain):
    """Between ``least`` and ``most`` of ``options`` (``MultipleChoice``); a value is a tuple of
    chosen options in the order of ``options``."""

    kind = "subset"

    def __init__(self, options: tuple, least: int, most: int):
        self.options, self.least, self.most = tuple(options), least, most

    @property
    def size(self) -> int:
        return sum(
            math.comb(len(self.options), k) for k in range(self.least, self.most + 1)
        )

    def normalize(self, value: Any) -> Literal:
        value = _literal(value)
        if not isinstance(value, tuple):
            value = (value,)  # a single chosen option, as a user naturally writes it
        chosen = []
        for item in value:
            matches = [i for i, o in enumerate(self.options) if _same(o, item)]
            if not matches:
                raise ValueError(
                    f"{_fmt(item)} is not one of the options {self.describe()}"
                )
            if matches[0] in chosen:
                raise ValueError(f"{_fmt(item)} is chosen twice")
            chosen.append(matches[0])
        if not self.least <= len(chosen) <= self.most:
            raise ValueError(
                f"{len(chosen)} options chosen; {self.describe()} needs {self._count_text()}"
            )
        return tuple(self.options[i] for i in sorted(chosen))

    def _count_text(self) -> str:
        return (
            f"exactly {self.least}"
            if self.least == self.most
            else f"{self.least} to {self.most}"
        )

    def sample(self, rng: random.Random) -> Literal:
        k = rng.randint(self.least, self.most)
        chosen = sorted(rng.sample(range(len(self.options)), k))
        return tuple(self.options[i] for i in chosen)

    def values(self) -> tuple:
        n = len(self.options)
        return tuple(
            tuple(self.options[i] for i in combo)
            for k in range(self.least, self.most + 1)
            for combo in combinations(range(n), k)
        )

    def describe(self) -> str:
        return (
            f"{self._count_text()} of {{"
            + ", ".join(_fmt(o) for o in self.options)
            + "}"
        )

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "options": list(self.options),
            "least": self.least,
            "most": self.most,
        }
