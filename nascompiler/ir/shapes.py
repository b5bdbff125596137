"""Output shapes of Keras layers, computed without Keras.

Specialisation needs shapes for two reasons: the ENAS macros lower differently depending on
the sizes that reach them, and a candidate whose pooling shrinks an image below one pixel (or
whose merge gets mismatched shapes) should be rejected with a clear reason before anyone
trains it. Shapes exclude the batch dimension; ``None`` marks an unknown size. The rules follow
Keras 3; a layer whose rule is not known here gets an unknown shape rather than a guess.
"""

from __future__ import annotations

import math
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
        return rule(args, list(inputs))
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


_RULES: dict[str, Callable[[Mapping[str, Any], list[Shape]], Shape]] = {
    "Dense": _dense,
    "Activation": _same_shape,
    "ReLU": _same_shape,
    "Dropout": _same_shape,
    "SpatialDropout1D": _same_shape,
    "SpatialDropout2D": _same_shape,
    "BatchNormalization": _same_shape,
    "LayerNormalization": _same_shape,
    "Conv1D": _conv(1, lambda a, c: _positive_int(a["filters"], "filters")),
    "Conv2D": _conv(2, lambda a, c: _positive_int(a["filters"], "filters")),
    "SeparableConv2D": _conv(2, lambda a, c: _positive_int(a["filters"], "filters")),
    "DepthwiseConv2D": _conv(2, _depthwise_channels),
    "MaxPooling1D": _pool(1),
    "MaxPooling2D": _pool(2),
    "AveragePooling1D": _pool(1),
    "AveragePooling2D": _pool(2),
    "GlobalAveragePooling1D": _global_pool(1),
    "GlobalAveragePooling2D": _global_pool(2),
    "GlobalMaxPooling1D": _global_pool(1),
    "GlobalMaxPooling2D": _global_pool(2),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Add": _merge,
    "Multiply": _merge,
    "Concatenate": _concatenate,
    "ZeroPadding2D": _zero_padding,
    "Cropping2D": _cropping,
    "Embedding": _embedding,
    "LSTM": _rnn,
    "GRU": _rnn,
}


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
