"""Output shapes and costs of Keras layers, computed without Keras.

Specialisation needs shapes for two reasons: the ENAS macros lower differently depending on
the sizes that reach them, and a candidate whose pooling shrinks an image below one pixel (or
whose merge gets mismatched shapes) should be rejected with a clear reason before anyone
trains it. Shapes exclude the batch dimension; ``None`` marks an unknown size. The rules follow
Keras 3; a layer whose rule is not known here gets an unknown shape rather than a guess.

Each layer has one :class:`LayerRule` in ``_RULES``: its shape rule and, beside it, its cost
rules (weights and FLOPs), so that a layer is described once; :mod:`.cost` sums them over a
candidate. Weight counts are exact (they equal Keras' ``count_params()``); FLOPs count what
:data:`FLOPS_CONVENTION` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..errors import CandidateError

Shape = tuple  # tuple[int | None, ...]


def infer(
    kind: str, args: Mapping[str, Any], inputs: Sequence[Shape | None], name: str
) -> Shape | None:
    """The output shape of layer ``name`` of ``kind`` called on ``inputs`` shapes."""
    rule = _RULES.get(kind)
    if rule is None or any(s is None for s in inputs):
        return None
    try:
        return rule.shape(args, list(inputs))
    except _ShapeProblem as exc:
        shown = ", ".join(_fmt(s) for s in inputs)
        raise CandidateError(
            f"layer {name!r} ({kind}) cannot take input shape {shown}: {exc}"
        ) from None
    except (ArithmeticError, TypeError, ValueError, KeyError, IndexError) as exc:
        # An argument of the wrong type or size (say strides=0 or kernel_size='x') that no rule
        # above names: still the candidate's fault, never a crash of the compiler.
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise CandidateError(
            f"layer {name!r} ({kind}) cannot be built with {shown or 'no arguments'}: {type(exc).__name__}: {exc}"
        ) from None


class _ShapeProblem(Exception):
    """A rule's reason why the input shape does not fit (turned into a CandidateError)."""


def _fmt(shape: Shape | None) -> str:
    return (
        "(None, " + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        if shape is not None
        else "?"
    )


def _one(inputs: list[Shape]) -> Shape:
    return inputs[0]


def _tuple(value: Any, n: int, what: str) -> tuple:
    """``value`` as ``n`` positive ints (sizes, strides and rates of windows)."""
    if _is_int(value):
        value = (value,) * n
    if not (
        isinstance(value, tuple) and len(value) == n and all(_is_int(v) for v in value)
    ):
        raise _ShapeProblem(f"{what}={value!r} should be an int or a tuple of {n} ints")
    if any(v < 1 for v in value):
        raise _ShapeProblem(f"{what}={value!r} must be positive")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any, what: str) -> int:
    """A layer size Keras requires to be a positive int (Dense units, Conv filters)."""
    if not _is_int(value) or value < 1:
        raise _ShapeProblem(f"{what}={value!r} must be a positive integer")
    return value


def _spatial(
    args: Mapping[str, Any], shape: Shape, rank: int
) -> tuple[list, Any, bool]:
    if len(shape) != rank + 1:
        raise _ShapeProblem(
            f"expects a {rank + 1}-dimensional input (plus batch), got {len(shape)}"
        )
    first = args.get("data_format") == "channels_first"
    dims = list(shape[1:] if first else shape[:-1])
    channels = shape[0] if first else shape[-1]
    return dims, channels, first


def _assemble(dims: list, channels: Any, first: bool) -> Shape:
    return tuple([channels] + dims) if first else tuple(dims + [channels])


def _conv_length(
    length: int | None, kernel: int, stride: int, padding: str, dilation: int
) -> int | None:
    if length is None:
        return None
    if padding in ("same", "causal"):
        return math.ceil(length / stride)
    effective = (kernel - 1) * dilation + 1
    out = (length - effective) // stride + 1
    if out <= 0:
        raise _ShapeProblem(
            f"a window of {effective} does not fit a dimension of size {length} (padding='valid')"
        )
    return out


def _conv(rank: int, channels_rule: Callable[[Mapping[str, Any], Any], Any]):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
        dims, channels, first = _spatial(args, _one(inputs), rank)
        kernel = _tuple(args["kernel_size"], rank, "kernel_size")
        strides = _tuple(args.get("strides", 1), rank, "strides")
        dilation = _tuple(args.get("dilation_rate", 1), rank, "dilation_rate")
        padding = args.get("padding", "valid")
        out = [
            _conv_length(d, k, s, padding, r)
            for d, k, s, r in zip(dims, kernel, strides, dilation)
        ]
        return _assemble(out, channels_rule(args, channels), first)

    return rule


def _pool(rank: int):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
        dims, channels, first = _spatial(args, _one(inputs), rank)
        pool = _tuple(args.get("pool_size", 2), rank, "pool_size")
        strides = args.get("strides")
        strides = pool if strides is None else _tuple(strides, rank, "strides")
        padding = args.get("padding", "valid")
        out = [
            _conv_length(d, p, s, padding, 1) for d, p, s in zip(dims, pool, strides)
        ]
        return _assemble(out, channels, first)

    return rule


def _global_pool(rank: int):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
        dims, channels, first = _spatial(args, _one(inputs), rank)
        if args.get("keepdims"):
            return _assemble([1] * rank, channels, first)
        return (channels,)

    return rule


def _dense(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    shape = _one(inputs)
    if not shape:
        raise _ShapeProblem("Dense needs at least one feature dimension")
    return tuple(shape[:-1]) + (_positive_int(args["units"], "units"),)


def _flatten(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    shape = _one(inputs)
    return (None,) if any(d is None for d in shape) else (math.prod(shape),)


def _reshape(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    target = args["target_shape"]
    target = (target,) if isinstance(target, int) else tuple(target)
    shape = _one(inputs)
    if any(d is None for d in shape):
        return target
    total = math.prod(shape)
    if target.count(-1) > 1:
        raise _ShapeProblem("target_shape may hold -1 once")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known <= 0 or total % known:
            raise _ShapeProblem(f"cannot reshape {total} values into {target}")
        return tuple(total // known if d == -1 else d for d in target)
    if math.prod(target) != total:
        raise _ShapeProblem(f"cannot reshape {total} values into {target}")
    return target


def _merge(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    if len(inputs) < 2:
        raise _ShapeProblem("a merge layer needs at least two inputs")
    first = inputs[0]
    for s in inputs[1:]:
        if len(s) != len(first) or any(
            a is not None and b is not None and a != b for a, b in zip(s, first)
        ):
            raise _ShapeProblem("all inputs must have the same shape")
    return first


def _concatenate(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    if len(inputs) < 2:
        raise _ShapeProblem("Concatenate needs at least two inputs")
    rank = len(inputs[0])
    axis = args.get("axis", -1)
    axis = axis + rank if axis < 0 else axis - 1  # shapes here have no batch axis
    if not 0 <= axis < rank or any(len(s) != rank for s in inputs):
        raise _ShapeProblem("inputs must have the same rank and a valid axis")
    for s in inputs[1:]:
        for i, (a, b) in enumerate(zip(s, inputs[0])):
            if i != axis and a is not None and b is not None and a != b:
                raise _ShapeProblem(
                    "inputs must match on every axis but the concatenation axis"
                )
    sizes = [s[axis] for s in inputs]
    out = list(inputs[0])
    out[axis] = None if any(v is None for v in sizes) else sum(sizes)
    return tuple(out)


def _pairs(value: Any, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return ((value, value), (value, value))
    if isinstance(value, tuple) and len(value) == 2:
        if all(isinstance(v, int) for v in value):
            return ((value[0], value[0]), (value[1], value[1]))
        if all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return value  # type: ignore[return-value]
    raise _ShapeProblem(f"{what}={value!r} is not an int, a pair, or a pair of pairs")


def _zero_padding(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    dims, channels, first = _spatial(args, _one(inputs), 2)
    pads = _pairs(args.get("padding", 1), "padding")
    out = [None if d is None else d + a + b for d, (a, b) in zip(dims, pads)]
    return _assemble(out, channels, first)


def _cropping(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    dims, channels, first = _spatial(args, _one(inputs), 2)
    crops = _pairs(args.get("cropping", 0), "cropping")
    out = [None if d is None else d - a - b for d, (a, b) in zip(dims, crops)]
    if any(d is not None and d <= 0 for d in out):
        raise _ShapeProblem(f"cropping {crops} leaves nothing of {dims}")
    return _assemble(out, channels, first)


def _embedding(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    return tuple(_one(inputs)) + (args["output_dim"],)


def _rnn(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    shape = _one(inputs)
    if len(shape) != 2:
        raise _ShapeProblem(
            f"expects (timesteps, features), got a {len(shape)}-dimensional input"
        )
    if args.get("return_state"):
        raise _ShapeProblem(
            "return_state=True gives several outputs, which a candidate graph cannot wire"
        )
    return (
        (shape[0], args["units"]) if args.get("return_sequences") else (args["units"],)
    )


def _depthwise_channels(args: Mapping[str, Any], channels: Any) -> Any:
    return None if channels is None else channels * args.get("depth_multiplier", 1)


def _same_shape(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    return _one(inputs)


# -- costs -----------------------------------------------------------------------------------
#
# A weights rule gives (trainable, non-trainable) counts from the arguments and input shapes;
# a FLOPs rule gives the forward FLOPs of one sample from the arguments, input shapes and
# output shape. Both may return None when a size they need is unknown.

FLOPS_CONVENTION = (
    "FLOPs per sample, forward pass: 2 per multiply-add of Dense, convolutions and recurrent "
    "layers (bias additions and activation functions not counted), 2 per element for "
    "BatchNormalization and LayerNormalization (a folded scale and shift), 1 per input "
    "element of a pooling window per output element, n-1 per output element of an n-input "
    "Add or Multiply; other layers count 0"
)

Weights = tuple  # (trainable, non_trainable)
WeightsRule = Callable[[Mapping[str, Any], list[Shape]], "Weights | None"]
FlopsRule = Callable[[Mapping[str, Any], list[Shape], Shape], "int | None"]


def _no_weights(args: Mapping[str, Any], inputs: list[Shape]) -> Weights:
    return (0, 0)


def _no_flops(args: Mapping[str, Any], inputs: list[Shape], output: Shape) -> int:
    return 0


def _known(*sizes: Any) -> bool:
    return all(s is not None for s in sizes)


def _elements(shape: Shape) -> int | None:
    return math.prod(shape) if _known(*shape) else None


def _bias(args: Mapping[str, Any], size: int) -> int:
    return size if args.get("use_bias", True) else 0


def _dense_weights(args: Mapping[str, Any], inputs: list[Shape]) -> Weights | None:
    features, units = _one(inputs)[-1], args["units"]
    if features is None:
        return None
    rank = args.get("lora_rank")
    if rank:  # Keras freezes the kernel and trains two low-rank factors instead
        return (features * rank + rank * units + _bias(args, units), features * units)
    return (features * units + _bias(args, units), 0)


def _dense_flops(
    args: Mapping[str, Any], inputs: list[Shape], output: Shape
) -> int | None:
    positions = _elements(_one(inputs)[:-1])
    features = _one(inputs)[-1]
    if not _known(positions, features):
        return None
    return 2 * positions * features * args["units"]


def _conv_weights(rank: int, depthwise: bool = False, separable: bool = False):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Weights | None:
        _, channels, _ = _spatial(args, _one(inputs), rank)
        if channels is None:
            return None
        window = math.prod(_tuple(args["kernel_size"], rank, "kernel_size"))
        if depthwise or separable:
            multiplier = args.get("depth_multiplier", 1)
            weights = window * channels * multiplier
            if separable:
                weights += channels * multiplier * args["filters"]
                return (weights + _bias(args, args["filters"]), 0)
            return (weights + _bias(args, channels * multiplier), 0)
        groups = args.get("groups", 1)
        weights = window * (channels // groups) * args["filters"]
        return (weights + _bias(args, args["filters"]), 0)

    return rule


def _conv_flops(rank: int, depthwise: bool = False, separable: bool = False):
    def rule(args: Mapping[str, Any], inputs: list[Shape], output: Shape) -> int | None:
        _, channels, _ = _spatial(args, _one(inputs), rank)
        dims, out_channels, _ = _spatial(args, output, rank)
        positions = _elements(tuple(dims))
        if not _known(positions, channels):
            return None
        window = math.prod(_tuple(args["kernel_size"], rank, "kernel_size"))
        if depthwise or separable:
            expanded = channels * args.get("depth_multiplier", 1)
            macs = positions * expanded * window
            if separable:
                macs += positions * expanded * args["filters"]
            return 2 * macs
        groups = args.get("groups", 1)
        return 2 * positions * out_channels * window * (channels // groups)

    return rule


def _pool_flops(rank: int):
    def rule(args: Mapping[str, Any], inputs: list[Shape], output: Shape) -> int | None:
        count = _elements(output)
        window = math.prod(_tuple(args.get("pool_size", 2), rank, "pool_size"))
        return None if count is None else count * window

    return rule


def _global_pool_flops(
    args: Mapping[str, Any], inputs: list[Shape], output: Shape
) -> int | None:
    return _elements(_one(inputs))


def _norm_axes(args: Mapping[str, Any], shape: Shape) -> list[int]:
    """The positions in ``shape`` (no batch axis) of a normalisation's ``axis``."""
    axis = args.get("axis", -1)
    axes = list(axis) if isinstance(axis, tuple) else [axis]
    return [a + len(shape) if a < 0 else a - 1 for a in axes]


def _normalization_weights(moving_statistics: bool):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Weights | None:
        shape = _one(inputs)
        sizes = [shape[a] for a in _norm_axes(args, shape)]
        if not _known(*sizes):
            return None
        size = math.prod(sizes)
        learned = size * (
            bool(args.get("center", True)) + bool(args.get("scale", True))
        )
        return (learned, 2 * size if moving_statistics else 0)

    return rule


def _elementwise_flops(per_element: int):
    def rule(args: Mapping[str, Any], inputs: list[Shape], output: Shape) -> int | None:
        count = _elements(output)
        return None if count is None else per_element * count

    return rule


def _merge_flops(
    args: Mapping[str, Any], inputs: list[Shape], output: Shape
) -> int | None:
    count = _elements(output)
    return None if count is None else (len(inputs) - 1) * count


def _embedding_weights(args: Mapping[str, Any], inputs: list[Shape]) -> Weights:
    return (args["input_dim"] * args["output_dim"], 0)


def _rnn_gates(kind: str) -> int:
    return 4 if kind == "LSTM" else 3


def _rnn_weights(kind: str):
    def rule(args: Mapping[str, Any], inputs: list[Shape]) -> Weights | None:
        features, units, gates = _one(inputs)[-1], args["units"], _rnn_gates(kind)
        if features is None:
            return None
        weights = gates * units * (features + units)
        if args.get("use_bias", True):
            # GRU with reset_after (Keras' default) keeps separate input and recurrent biases
            twice = kind == "GRU" and args.get("reset_after", True)
            weights += gates * units * (2 if twice else 1)
        return (weights, 0)

    return rule


def _rnn_flops(kind: str):
    def rule(args: Mapping[str, Any], inputs: list[Shape], output: Shape) -> int | None:
        steps, features = _one(inputs)
        units = args["units"]
        if not _known(steps, features):
            return None
        return 2 * steps * _rnn_gates(kind) * units * (features + units)

    return rule


@dataclass(frozen=True)
class LayerRule:
    """Everything the IR knows about one Keras layer's arithmetic: its output shape, its
    weights and its FLOPs (see :data:`FLOPS_CONVENTION`)."""

    shape: Callable[[Mapping[str, Any], list[Shape]], Shape]
    weights: WeightsRule = _no_weights
    flops: FlopsRule = _no_flops


_SAME = LayerRule(_same_shape)

_RULES: dict[str, LayerRule] = {
    "Dense": LayerRule(_dense, _dense_weights, _dense_flops),
    "Activation": _SAME,
    "ReLU": _SAME,
    "Dropout": _SAME,
    "SpatialDropout1D": _SAME,
    "SpatialDropout2D": _SAME,
    "BatchNormalization": LayerRule(
        _same_shape, _normalization_weights(True), _elementwise_flops(2)
    ),
    "LayerNormalization": LayerRule(
        _same_shape, _normalization_weights(False), _elementwise_flops(2)
    ),
    "Conv1D": LayerRule(
        _conv(1, lambda a, c: _positive_int(a["filters"], "filters")),
        _conv_weights(1),
        _conv_flops(1),
    ),
    "Conv2D": LayerRule(
        _conv(2, lambda a, c: _positive_int(a["filters"], "filters")),
        _conv_weights(2),
        _conv_flops(2),
    ),
    "SeparableConv2D": LayerRule(
        _conv(2, lambda a, c: _positive_int(a["filters"], "filters")),
        _conv_weights(2, separable=True),
        _conv_flops(2, separable=True),
    ),
    "DepthwiseConv2D": LayerRule(
        _conv(2, _depthwise_channels),
        _conv_weights(2, depthwise=True),
        _conv_flops(2, depthwise=True),
    ),
    "MaxPooling1D": LayerRule(_pool(1), flops=_pool_flops(1)),
    "MaxPooling2D": LayerRule(_pool(2), flops=_pool_flops(2)),
    "AveragePooling1D": LayerRule(_pool(1), flops=_pool_flops(1)),
    "AveragePooling2D": LayerRule(_pool(2), flops=_pool_flops(2)),
    "GlobalAveragePooling1D": LayerRule(_global_pool(1), flops=_global_pool_flops),
    "GlobalAveragePooling2D": LayerRule(_global_pool(2), flops=_global_pool_flops),
    "GlobalMaxPooling1D": LayerRule(_global_pool(1), flops=_global_pool_flops),
    "GlobalMaxPooling2D": LayerRule(_global_pool(2), flops=_global_pool_flops),
    "Flatten": LayerRule(_flatten),
    "Reshape": LayerRule(_reshape),
    "Add": LayerRule(_merge, flops=_merge_flops),
    "Multiply": LayerRule(_merge, flops=_merge_flops),
    "Concatenate": LayerRule(_concatenate),
    "ZeroPadding2D": LayerRule(_zero_padding),
    "Cropping2D": LayerRule(_cropping),
    "Embedding": LayerRule(_embedding, _embedding_weights),
    "LSTM": LayerRule(_rnn, _rnn_weights("LSTM"), _rnn_flops("LSTM")),
    "GRU": LayerRule(_rnn, _rnn_weights("GRU"), _rnn_flops("GRU")),
}


def weights(
    kind: str, args: Mapping[str, Any], inputs: Sequence[Shape | None]
) -> Weights | None:
    """(trainable, non-trainable) weight counts of a layer of ``kind``; ``None`` when a size
    it needs is unknown or the layer has no rule. A layer built with ``trainable=False``
    has all its weights non-trainable, as in Keras."""
    if kind == "Input":
        return (0, 0)
    rule = _RULES.get(kind)
    if rule is None or any(s is None for s in inputs):
        return None
    counts = rule.weights(args, list(inputs))
    if counts is not None and args.get("trainable") is False:
        return (0, counts[0] + counts[1])
    return counts


def flops(
    kind: str,
    args: Mapping[str, Any],
    inputs: Sequence[Shape | None],
    output: Shape | None,
) -> int | None:
    """Forward FLOPs of one sample through a layer of ``kind`` (:data:`FLOPS_CONVENTION`);
    ``None`` when a size it needs is unknown or the layer has no rule."""
    if kind == "Input":
        return 0
    rule = _RULES.get(kind)
    if rule is None or output is None or any(s is None for s in inputs):
        return None
    return rule.flops(args, list(inputs), output)


def channels_and_size(
    shape: Shape | None, data_format: str | None, name: str
) -> tuple[Any, Any]:
    """(channels, height) of an image shape, for the ENAS macros."""
    if shape is None or len(shape) != 3:
        raise CandidateError(
            f"{name!r} needs an image input (height, width, channels), got shape {_fmt(shape)}"
        )
    if data_format == "channels_first":
        return shape[0], shape[1]
    return shape[2], shape[0]
