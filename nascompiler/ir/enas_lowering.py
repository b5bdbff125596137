"""ENAS lowering: each ENAS block (:mod:`nascompiler.layers.enas`) becomes standard Keras layers.

How a block lowers depends on the shapes that reach it (a ``CalibrateSize`` halves an input
twice as large as the other, aligns channels that differ, or does nothing), so lowering runs
inside :func:`~.specialize.specialize`, which knows every shape. A block reaches the builder
only through :class:`Lowerer`, so this module does not import the specialiser.

To add a block: its DSL class in ``layers/enas.py`` and one :class:`Macro` in :data:`MACROS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from ..errors import CandidateError
from ..literals import Literal
from . import shapes
from .graph import Tensors
from .space_ir import Node, resolve


class Lowerer(Protocol):
    """What a lowering may use of the specialiser: the assignment, the inferred shapes, and
    ``call`` to emit one standard layer (its name, kind, input tensors, arguments)."""

    values: Mapping[str, Literal]
    shape: Mapping[str, tuple | None]

    def call(self, name: str, kind: str, inputs: Tensors, **args: Literal) -> str: ...


@dataclass(frozen=True)
class Macro:
    """One ENAS block: the prefix of its default node names (``safe_merge_1``), which become
    layer names in generated code, and how it lowers given its input tensors."""

    snake: str
    lower: Callable[[Lowerer, Node, Tensors], Tensors]


def _macro_args(builder: Lowerer, node: Node) -> dict[str, Any]:
    return {k: resolve(v, builder.values) for k, v in node.args}


def _channel_axis(data_format: str | None) -> int | None:
    return 1 if data_format == "channels_first" else None  # None: Keras' default -1


def factorized_reduction(
    b: Lowerer,
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


def filters_aligning(
    b: Lowerer,
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


def _lower_factorized_reduction(b: Lowerer, node: Node, inputs: Tensors) -> Tensors:
    a = _macro_args(b, node)
    x = _single(node, inputs)
    prefix = a["name_prefix"]
    return (
        factorized_reduction(
            b,
            x,
            a["filters"],
            f"{prefix}relu_",
            f"{prefix}reduction_",
            a.get("data_format"),
        ),
    )


def _lower_calibrate_size(b: Lowerer, node: Node, inputs: Tensors) -> Tensors:
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
                filters_aligning(b, x, filters, prefix, "input0", data_format)
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
                factorized_reduction(
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
                filters_aligning(b, x, filters, prefix, "input0", data_format)
                if c0 != filters
                else x
            ),
        )
    x = inputs[1]
    return (
        (
            filters_aligning(b, x, filters, prefix, "input1", data_format)
            if c1 != filters
            else x
        ),
    )


def _lower_safe_concatenate(b: Lowerer, node: Node, inputs: Tensors) -> Tensors:
    if len(inputs) == 1:
        return inputs
    a = _macro_args(b, node)
    axis = a.get("axis", _channel_axis(a.get("data_format")))
    return (b.call(node.name, "Concatenate", inputs, axis=axis),)


def _lower_safe_merge(b: Lowerer, node: Node, inputs: Tensors) -> Tensors:
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


MACROS: dict[str, Macro] = {
    "FactorizedReduction": Macro("factorized_reduction", _lower_factorized_reduction),
    "CalibrateSize": Macro("calibrate_size", _lower_calibrate_size),
    "SafeConcatenate": Macro("safe_concatenate", _lower_safe_concatenate),
    "SafeMerge": Macro("safe_merge", _lower_safe_merge),
}
