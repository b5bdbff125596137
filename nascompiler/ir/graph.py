"""CandidateGraph: one concrete architecture, ready for code generation.

A flat list of Keras layer calls with literal arguments, in topological order. Its canonical
JSON form is what identifies it: the candidate id is the SHA-256 of that text, so two
assignments that give the same layers, arguments and wiring share an id.

Printing a graph gives a readable listing::

    input = Input(shape=(10,))
    dense_1 = Dense(500)(input)
    ...
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..literals import Literal

ID_LENGTH = 10

# While specialising: the names of the ops whose outputs a node produces.
Tensors = tuple[str, ...]


@dataclass(frozen=True)
class Op:
    """One Keras layer call: ``layer(**args, name=name)(inputs)``."""

    name: str
    layer: str
    args: tuple[tuple[str, Literal], ...]
    inputs: tuple[str, ...]
    shape: tuple | None = field(default=None, compare=False)

    def arg(self, key: str, default: Any = None) -> Any:
        for k, v in self.args:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class CandidateGraph:
    ops: tuple[Op, ...]
    outputs: tuple[str, ...]
    assignment: tuple[tuple[str, Literal], ...] = field(default=(), compare=False)
    space: str | None = field(default=None, compare=False)

    @property
    def inputs(self) -> tuple[Op, ...]:
        return tuple(op for op in self.ops if op.layer == "Input")

    def op(self, name: str) -> Op:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)

    def canonical(self) -> dict:
        """The architecture as plain JSON data: layers, arguments and wiring only."""
        return {
            "ops": [
                [op.name, op.layer, {k: _json(v) for k, v in op.args}, list(op.inputs)]
                for op in self.ops
            ],
            "outputs": list(self.outputs),
        }

    @cached_property
    def canonical_json(self) -> str:
        return json.dumps(
            self.canonical(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            allow_nan=False,
        )

    @cached_property
    def full_id(self) -> str:
        return hashlib.sha256(self.canonical_json.encode("ascii")).hexdigest()

    @property
    def id(self) -> str:
        """The short candidate id: the first 10 hex digits of :attr:`full_id`."""
        return self.full_id[:ID_LENGTH]

    def __str__(self) -> str:
        lines = []
        for op in self.ops:
            args = ", ".join(f"{k}={v!r}" for k, v in op.args)
            call = f"{op.layer}({args})"
            if op.inputs:
                ins = (
                    op.inputs[0]
                    if len(op.inputs) == 1
                    else "[" + ", ".join(op.inputs) + "]"
                )
                call += f"({ins})"
            shape = "" if op.shape is None else f"  # {op.shape}"
            lines.append(f"{op.name} = {call}{shape}")
        lines.append("outputs = " + ", ".join(self.outputs))
        return "\n".join(lines)


def _json(value: Literal) -> Any:
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value
