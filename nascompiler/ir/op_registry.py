"""The connection ops' meaning in the IR: one :class:`OpSpec` per op in :data:`OPS`.

A connection op (:mod:`nascompiler.ops`) decides how other modules connect; it is not a Keras
layer and leaves no layer in generated code. Its DSL class records what the user wrote; its
entry here is everything the compiler does with it, read by ``compile_space`` (names and
activation conditions), ``specialize`` (evaluation), the Keras checks (which nodes are not
layers) and the CLI (which nodes to count as layers).

To add an op: its DSL class in ``nascompiler/ops.py`` (the user-facing constructor) and its
entry in :data:`OPS` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from .graph import Tensors
from .space_ir import Node


class Builder(Protocol):
    """What an op's evaluation may use of the specialiser."""

    def value(self, index: int) -> Tensors:
        """The tensors node ``index`` produces (evaluated once per candidate)."""

    def inputs(self, node: Node) -> Tensors:
        """The tensors feeding ``node``: its inbound nodes', or what its op feeds it."""

    def feed(self, child: int, tensors: Tensors) -> Tensors:
        """Feed ``tensors`` to the sub-graph whose tail is node ``child``; its output."""

    def control(self, node: Node) -> Any:
        """The value of the op's control parameter in this candidate."""

    def consumed(self, tensor: str) -> bool:
        """Whether a layer emitted so far reads ``tensor``."""


@dataclass(frozen=True)
class OpSpec:
    """One connection op.

    ``snake`` is the prefix of its default node name (``module_choice_1``) and so of its
    control's parameter name (``module_choice_1.choice``): studies store those names, so an
    op's prefix never changes. ``keeps_child(value, k)`` says whether child ``k`` is part of a
    candidate whose control has ``value``; ``compile_space`` turns it into the child's
    activation condition. ``None`` means every child is kept whenever the op is (the control,
    if any, only orders them). ``evaluate`` gives the tensors the op produces in a candidate.
    ``inputs_given_when_created``: the op chooses among inputs passed to its constructor, so
    nothing else needs to feed it.
    """

    kind: str
    snake: str
    evaluate: Callable[[Builder, Node], Tensors]
    keeps_child: Callable[[Any, int], bool] | None = None
    inputs_given_when_created: bool = False


def _chain(b: Builder, x: Tensors, children: Any) -> Tensors:
    for child in children:
        x = b.feed(child, x)
    return x


def _identity(b: Builder, node: Node) -> Tensors:
    return b.inputs(node)


def _sequential(b: Builder, node: Node) -> Tensors:
    return _chain(b, b.inputs(node), node.children)


def _permutation(b: Builder, node: Node) -> Tensors:
    x = b.inputs(node)
    return _chain(b, x, (node.children[k] for k in b.control(node)))


def _repeat(b: Builder, node: Node) -> Tensors:
    x = b.inputs(node)
    return _chain(b, x, node.children[: b.control(node)])


def _optional(b: Builder, node: Node) -> Tensors:
    x = b.inputs(node)
    if b.control(node):
        return b.feed(node.children[0], x)
    return x if node.keep_link else ()


def _module_choice(b: Builder, node: Node) -> Tensors:
    return b.feed(node.children[b.control(node)], b.inputs(node))


def _input_choice(b: Builder, node: Node) -> Tensors:
    out: list[str] = []
    for k in b.control(node):
        out.extend(t for t in b.value(node.inbound[k]) if t not in out)
    return tuple(out)


def _connect_loose_end(b: Builder, node: Node) -> Tensors:
    candidates: list[str] = []
    for i in node.inbound:
        candidates.extend(t for t in b.value(i) if t not in candidates)
    return tuple(t for t in candidates if not b.consumed(t))


OPS: dict[str, OpSpec] = {
    spec.kind: spec
    for spec in [
        OpSpec("Identity", "identity", _identity),
        OpSpec("Sequential", "sequential", _sequential),
        OpSpec("Permutation", "permutation", _permutation),
        # Step k runs when the repeat count exceeds k.
        OpSpec("Repeat", "repeat", _repeat, keeps_child=lambda times, k: times > k),
        OpSpec("Optional", "optional", _optional, keeps_child=lambda on, k: on is True),
        OpSpec(
            "ModuleChoice",
            "module_choice",
            _module_choice,
            keeps_child=lambda choice, k: choice == k,
        ),
        OpSpec(
            "InputChoice",
            "input_choice",
            _input_choice,
            inputs_given_when_created=True,
        ),
        OpSpec(
            "ConnectLooseEnd",
            "connect_loose_end",
            _connect_loose_end,
            inputs_given_when_created=True,
        ),
    ]
}
