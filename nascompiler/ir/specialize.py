"""specialize: SpaceIR + assignment -> CandidateGraph.

Evaluates the supergraph from its outputs back, the way a functional Keras model is built:
each node becomes the tensors it produces. Connection ops resolve to the children their
control chooses (and are then gone), ``Dynamic`` arguments are computed, integer arguments
computed as floats are truncated, ENAS macros lower to standard layers, and every layer's
output shape is inferred so an impossible candidate fails here, with its reason.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..catalog import LAYERS
from ..errors import CandidateError
from ..literals import Literal
from . import shapes
from .graph import CandidateGraph, Op
from .space_ir import Node, SpaceIR, resolve

Tensors = tuple[str, ...]  # the names of the ops whose outputs a node produces


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

    def _inputs(self, node: Node) -> Tensors:
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

    def _feed(self, child: int, tensors: Tensors) -> Tensors:
        for entry in self.ir.entries[child]:
            self.bound[entry] = tensors
        return self.value(child)

    def _control(self, node: Node) -> Any:
        return resolve(node.control, self.values)

    def _evaluate(self, node: Node) -> Tensors:
        kind = node.kind
        if kind == "Input":
            args = self._args(node)
            return (
                self._emit(
                    node.name, "Input", args, (), tuple(args.get("shape", ())) or None
                ),
            )
        if kind == "Identity":
            return self._inputs(node)
        if kind == "Sequential":
            x = self._inputs(node)
            for child in node.children:
                x = self._feed(child, x)
            return x
        if kind == "Permutation":
            x = self._inputs(node)
            for k in self._control(node):
                x = self._feed(node.children[k], x)
            return x
        if kind == "Repeat":
            x = self._inputs(node)
            for child in node.children[: self._control(node)]:
                x = self._feed(child, x)
            return x
        if kind == "Optional":
            x = self._inputs(node)
            if self._control(node):
                return self._feed(node.children[0], x)
            return x if node.keep_link else ()
        if kind == "ModuleChoice":
            return self._feed(node.children[self._control(node)], self._inputs(node))
        if kind == "InputChoice":
            out: list[str] = []
            for k in self._control(node):
                out.extend(t for t in self.value(node.inbound[k]) if t not in out)
            return tuple(out)
        if kind == "ConnectLooseEnd":
            candidates: list[str] = []
            for i in node.inbound:
                candidates.extend(t for t in self.value(i) if t not in candidates)
            return tuple(t for t in candidates if self.consumers.get(t, 0) == 0)
        if kind in _MACROS:
            return _MACROS[kind](self, node, self._inputs(node))
        if kind in LAYERS:
            return (
                self._layer(
                    node, node.name, kind, self._args(node), self._inputs(node)
                ),
            )
        raise CandidateError(f"{node.name!r}: unknown module kind {kind!r}")

    # ------------------------------------------------------------------ layers
    def _args(self, node: Node) -> dict[str, Literal]:
        spec = LAYERS.get(node.kind)
        args: dict[str, Literal] = {}
        for key, raw in node.args:
            value = resolve(raw, self.values)
            if spec is not None and key in spec.int_arguments:
                value = _truncate(value)
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


def _truncate(value: Any) -> Any:
    """Keras 2 truncated float sizes (``units=500 * 0.8``) to int; so do we."""
    if isinstance(value, float):
        return int(value)
    if isinstance(value, tuple):
        return tuple(_truncate(v) for v in value)
    return value


# ---------------------------------------------------------------------- ENAS macros


def _macro_args(builder: _Builder, node: Node) -> dict[str, Any]:
    return {k: resolve(v, builder.values) for k, v in node.args}


def _channel_axis(data_format: str | None) -> int | None:
    return 1 if data_format == "channels_first" else None  # None: Keras' default -1


def _factorized_reduction(
    b: _Builder,
    x: str,
    filters: int,
    relu_name: str,
    prefix: str,
    data_format: str | None,
) -> str:
    half = int(filters) // 2
    fmt = {"data_format": data_format}
    x = b.call(relu_name, "ReLU", (x,))
    a = b.call(
        f"{prefix}avepool2d_a_",
        "AveragePooling2D",
        (x,),
        pool_size=(1, 1),
        strides=(2, 2),
        padding="valid",
        **fmt,
    )
    a = b.call(
        f"{prefix}conv2d_a_",
        "Conv2D",
        (a,),
        filters=half,
        kernel_size=(1, 1),
        strides=(1, 1),
        padding="valid",
        **fmt,
    )
    p = b.call(
        f"{prefix}zeropad2d_b_", "ZeroPadding2D", (x,), padding=((0, 1), (0, 1)), **fmt
    )
    p = b.call(
        f"{prefix}crop2d_b_", "Cropping2D", (p,), cropping=((1, 0), (1, 0)), **fmt
    )
    p = b.call(
        f"{prefix}avepool2d_b_",
        "AveragePooling2D",
        (p,),
        pool_size=(1, 1),
        strides=(2, 2),
        padding="valid",
        **fmt,
    )
    p = b.call(
        f"{prefix}conv2d_b_",
        "Conv2D",
        (p,),
        filters=half,
        kernel_size=(1, 1),
        strides=(1, 1),
        padding="valid",
        **fmt,
    )
    x = b.call(
        f"{prefix}concat_", "Concatenate", (a, p), axis=_channel_axis(data_format)
    )
    return b.call(
        f"{prefix}bn_", "BatchNormalization", (x,), axis=_channel_axis(data_format)
    )


def _filters_aligning(
    b: _Builder,
    x: str,
    filters: int,
    prefix: str,
    input_no: str,
    data_format: str | None,
) -> str:
    x = b.call(f"{prefix}{input_no}_filters_aligning_relu_", "ReLU", (x,))
    x = b.call(
        f"{prefix}{input_no}_filters_aligning_conv2d_",
        "Conv2D",
        (x,),
        filters=int(filters),
        kernel_size=(1, 1),
        padding="same",
        data_format=data_format,
    )
    return b.call(
        f"{prefix}{input_no}_filters_aligning_bn_",
        "BatchNormalization",
        (x,),
        axis=_channel_axis(data_format),
    )


def _lower_factorized_reduction(b: _Builder, node: Node, inputs: Tensors) -> Tensors:
    a = _macro_args(b, node)
    x = _single(node, inputs)
    prefix = a["name_prefix"]
    return (
        _factorized_reduction(
            b,
            x,
            a["filters"],
            f"{prefix}relu_",
            f"{prefix}reduction_",
            a.get("data_format"),
        ),
    )


def _lower_calibrate_size(b: _Builder, node: Node, inputs: Tensors) -> Tensors:
    a = _macro_args(b, node)
    filters, prefix, data_format, no = (
        int(a["filters"]),
        a["name_prefix"],
        a.get("data_format"),
        a["no"],
    )
    if len(inputs) == 1:
        x = inputs[0]
        channels, _ = shapes.channels_and_size(b.shape[x], data_format, node.name)
        return (
            (
                _filters_aligning(b, x, filters, prefix, "input0", data_format)
                if channels != filters
                else x
            ),
        )
    if len(inputs) != 2:
        raise CandidateError(
            f"{node.name!r} (CalibrateSize) takes one input or a list of two, got {len(inputs)}"
        )
    (c0, h0), (c1, h1) = (
        shapes.channels_and_size(b.shape[t], data_format, node.name) for t in inputs
    )
    if no == 0:
        x = inputs[0]
        if h0 != h1:
            if h0 is None or h1 is None or h0 != 2 * h1:
                raise CandidateError(
                    f"{node.name!r} (CalibrateSize) can only halve input 0 to match input 1, but their sizes are "
                    f"{h0} and {h1}"
                )
            return (
                _factorized_reduction(
                    b,
                    x,
                    filters,
                    f"{prefix}relu_",
                    f"{prefix}input0_factorized_reduction_",
                    data_format,
                ),
            )
        return (
            (
                _filters_aligning(b, x, filters, prefix, "input0", data_format)
                if c0 != filters
                else x
            ),
        )
    x = inputs[1]
    return (
        (
            _filters_aligning(b, x, filters, prefix, "input1", data_format)
            if c1 != filters
            else x
        ),
    )


def _lower_safe_concatenate(b: _Builder, node: Node, inputs: Tensors) -> Tensors:
    if len(inputs) == 1:
        return inputs
    a = _macro_args(b, node)
    axis = a.get("axis", _channel_axis(a.get("data_format")))
    return (b.call(node.name, "Concatenate", inputs, axis=axis),)


def _lower_safe_merge(b: _Builder, node: Node, inputs: Tensors) -> Tensors:
    if len(inputs) == 1:
        return inputs
    a = _macro_args(b, node)
    if a["merge_type"] == "add":
        return (b.call(node.name, "Add", inputs),)
    return (
        b.call(
            node.name, "Concatenate", inputs, axis=_channel_axis(a.get("data_format"))
        ),
    )


def _single(node: Node, inputs: Tensors) -> str:
    if len(inputs) != 1:
        raise CandidateError(
            f"{node.name!r} ({node.kind}) takes one input but gets {len(inputs)}"
        )
    return inputs[0]


_MACROS = {
    "FactorizedReduction": _lower_factorized_reduction,
    "CalibrateSize": _lower_calibrate_size,
    "SafeConcatenate": _lower_safe_concatenate,
    "SafeMerge": _lower_safe_merge,
}
