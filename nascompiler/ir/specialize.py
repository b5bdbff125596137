"""specialize: SpaceIR + assignment -> CandidateGraph.

Evaluates the supergraph from its outputs back, the way a functional Keras model is built:
each node becomes the tensors it produces. Connection ops resolve to the children their
control chooses (and are then gone), ``Dynamic`` arguments are computed, integer arguments
computed as floats are truncated, ENAS macros lower to standard layers (:mod:`.enas_lowering`),
and every layer's output shape is inferred so an impossible candidate fails here, with its
reason.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import CandidateError
from ..layers.spec import LAYERS
from ..literals import Literal
from . import shapes
from .enas_lowering import MACROS
from .graph import CandidateGraph, Op, Tensors
from .op_registry import OPS
from .space_ir import Node, SpaceIR, resolve


def specialize(space_ir: SpaceIR, assignment: Mapping[str, Any]) -> CandidateGraph:
    """The concrete architecture ``assignment`` selects from ``space_ir``.

    Raises :class:`~nascompiler.errors.AssignmentError` for a bad assignment and
    :class:`~nascompiler.errors.CandidateError` for a valid one that yields an impossible model.
    """
    values = space_ir.validate(assignment)
    return _Builder(space_ir, values).build()


class _Builder:
    def __init__(self, ir: SpaceIR, values: dict[str, Literal]):
        self.ir = ir
        self.values = values
        self.memo: dict[int, Tensors] = {}
        self.bound: dict[int, Tensors] = {}
        self.ops: list[Op] = []
        self.shape: dict[str, tuple | None] = {}
        self.consumers: dict[str, int] = {}
        self.used_names: set[str] = set()
        self.in_progress: set[int] = set()

    def build(self) -> CandidateGraph:
        outputs: list[str] = []
        for i in self.ir.outputs:
            outputs.extend(t for t in self.value(i) if t not in outputs)
        if not outputs:
            raise CandidateError("this assignment leaves the model without an output")
        return CandidateGraph(
            ops=tuple(self.ops),
            outputs=tuple(outputs),
            assignment=tuple(self.values.items()),
            space=self.ir.source,
        )

    # ------------------------------------------------------------------ evaluation
    # value, inputs, feed, control and consumed are what ops use (op_registry.Builder).
    def value(self, index: int) -> Tensors:
        if index in self.memo:
            return self.memo[index]
        if index in self.in_progress:
            node = self.ir.nodes[index]
            raise CandidateError(f"{node.name!r} depends on itself in this candidate")
        self.in_progress.add(index)
        node = self.ir.nodes[index]
        result = self._evaluate(node)
        self.in_progress.discard(index)
        self.memo[index] = result
        return result

    def inputs(self, node: Node) -> Tensors:
        if node.inbound:
            out: list[str] = []
            for i in node.inbound:
                out.extend(self.value(i))
            return tuple(out)
        if node.index in self.bound:
            return self.bound[node.index]
        raise CandidateError(
            f"{node.name!r} ({node.kind}) has no input in this candidate"
        )

    def feed(self, child: int, tensors: Tensors) -> Tensors:
        for entry in self.ir.entries[child]:
            self.bound[entry] = tensors
        return self.value(child)

    def control(self, node: Node) -> Any:
        return resolve(node.control, self.values)

    def consumed(self, tensor: str) -> bool:
        return self.consumers.get(tensor, 0) > 0

    def _evaluate(self, node: Node) -> Tensors:
        kind = node.kind
        if kind == "Input":
            args = self._args(node)
            return (
                self._emit(
                    node.name, "Input", args, (), tuple(args.get("shape", ())) or None
                ),
            )
        if kind in OPS:
            return OPS[kind].evaluate(self, node)
        if kind in MACROS:
            return MACROS[kind].lower(self, node, self.inputs(node))
        if kind in LAYERS:
            return (
                self._layer(node, node.name, kind, self._args(node), self.inputs(node)),
            )
        raise CandidateError(f"{node.name!r}: unknown module kind {kind!r}")

    # ------------------------------------------------------------------ layers
    def _args(self, node: Node) -> dict[str, Literal]:
        spec = LAYERS.get(node.kind)
        args: dict[str, Literal] = {}
        for key, raw in node.args:
            value = resolve(raw, self.values)
            if spec is not None and key in spec.int_arguments:
                value = truncate(value)
            args[key] = value
        return args

    def _layer(
        self,
        node: Node | None,
        name: str,
        kind: str,
        args: dict[str, Literal],
        inputs: Tensors,
    ) -> str:
        spec = LAYERS[kind]
        if not inputs:
            raise CandidateError(
                f"layer {name!r} ({kind}) gets no input in this candidate"
            )
        if not spec.multi_input and len(inputs) != 1:
            raise CandidateError(
                f"layer {name!r} ({kind}) takes one input but gets {len(inputs)} in this candidate "
                f"({', '.join(inputs)}); merge them first, e.g. with Add or Concatenate"
            )
        shape = shapes.infer(kind, args, [self.shape[t] for t in inputs], name)
        ordered = tuple((k, args[k]) for k in spec.arguments if k in args) + tuple(
            (k, args[k]) for k in args if k not in spec.arguments
        )
        return self._emit(name, kind, dict(ordered), inputs, shape)

    def _emit(
        self,
        name: str,
        layer: str,
        args: dict[str, Literal],
        inputs: Tensors,
        shape: tuple | None,
    ) -> str:
        unique = name
        n = 2
        while unique in self.used_names:
            unique = f"{name}_{n}"
            n += 1
        self.used_names.add(unique)
        for t in inputs:
            self.consumers[t] = self.consumers.get(t, 0) + 1
        self.ops.append(Op(unique, layer, tuple(args.items()), tuple(inputs), shape))
        self.shape[unique] = shape
        return unique

    def call(self, name: str, kind: str, inputs: Tensors, **args: Literal) -> str:
        """Emit a lowered layer (used by the ENAS macros)."""
        return self._layer(
            None, name, kind, {k: v for k, v in args.items() if v is not None}, inputs
        )


def truncate(value: Any) -> Any:
    """Keras 2 truncated float sizes (``units=500 * 0.8``) to int; so do we."""
    if isinstance(value, float):
        return int(value)
    if isinstance(value, tuple):
        return tuple(truncate(v) for v in value)
    return value
