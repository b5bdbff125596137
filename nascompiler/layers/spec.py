"""The Keras layers a space can use: one :class:`LayerSpec` per layer in :data:`LAYERS`.

An entry is everything nascompiler knows about one Keras layer:

- how it is called: its argument names in Keras 3's signature order (so positional arguments
  bind as they do in Keras), the required ones, those that hold integers (a float computed by
  a ``Dynamic`` is truncated there, as Keras 2 did), the leading ones a careful person writes
  positionally, whether it takes several inputs, and the defaults Keras 3 dropped that
  Hypernets' spaces rely on;
- the prefix of its default name (``dense_1``), which names parameters and layers;
- its arithmetic, computed without Keras: the output shape, the weight counts (exact: they
  equal Keras' ``count_params()``) and the FLOPs (:data:`FLOPS_CONVENTION`).

The DSL classes (``nascompiler.layers.Dense``, ...) are made from these entries and bind and
check arguments with them; the IR infers shapes and costs by the layer's name
(``ir/shapes.py``, ``ir/cost.py``); the code generator orders arguments with them. Nothing here
imports Keras or the IR.

To add a layer: one ``_spec(...)`` entry in :data:`LAYERS` at the end of this file, with the
rules below that fit it (or new ones beside them).

Shapes exclude the batch dimension; ``None`` marks an unknown size. The rules follow Keras 3;
a shape rule raises :class:`ShapeProblem` when the input does not fit, which the IR reports
as the candidate's fault. A layer without a shape rule gets an unknown shape (and unknown
costs) rather than a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Shape = tuple  # tuple[int | None, ...]
# A shape rule gives the output shape from the arguments and the input shapes.
ShapeRule = Callable[[Mapping[str, Any], list[Shape]], Shape]


class ShapeProblem(Exception):
    """A rule's reason why the input shape does not fit (turned into a CandidateError)."""


# -- shapes ----------------------------------------------------------------------------------


def _one(inputs: list[Shape]) -> Shape:
    return inputs[0]


def _tuple(value: Any, n: int, what: str) -> tuple:
    """``value`` as ``n`` positive ints (sizes, strides and rates of windows)."""
    if _is_int(value):
        value = (value,) * n
    if not (
        isinstance(value, tuple) and len(value) == n and all(_is_int(v) for v in value)
    ):
        raise ShapeProblem(f"{what}={value!r} should be an int or a tuple of {n} ints")
    if any(v < 1 for v in value):
        raise ShapeProblem(f"{what}={value!r} must be positive")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any, what: str) -> int:
    """A layer size Keras requires to be a positive int (Dense units, Conv filters)."""
    if not _is_int(value) or value < 1:
        raise ShapeProblem(f"{what}={value!r} must be a positive integer")
    return value


def _spatial(
    args: Mapping[str, Any], shape: Shape, rank: int
) -> tuple[list, Any, bool]:
    if len(shape) != rank + 1:
        raise ShapeProblem(
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
        raise ShapeProblem(
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
        raise ShapeProblem("Dense needs at least one feature dimension")
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
        raise ShapeProblem("target_shape may hold -1 once")
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known <= 0 or total % known:
            raise ShapeProblem(f"cannot reshape {total} values into {target}")
        return tuple(total // known if d == -1 else d for d in target)
    if math.prod(target) != total:
        raise ShapeProblem(f"cannot reshape {total} values into {target}")
    return target


def _merge(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    if len(inputs) < 2:
        raise ShapeProblem("a merge layer needs at least two inputs")
    first = inputs[0]
    for s in inputs[1:]:
        if len(s) != len(first) or any(
            a is not None and b is not None and a != b for a, b in zip(s, first)
        ):
            raise ShapeProblem("all inputs must have the same shape")
    return first


def _concatenate(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    if len(inputs) < 2:
        raise ShapeProblem("Concatenate needs at least two inputs")
    rank = len(inputs[0])
    axis = args.get("axis", -1)
    axis = axis + rank if axis < 0 else axis - 1  # shapes here have no batch axis
    if not 0 <= axis < rank or any(len(s) != rank for s in inputs):
        raise ShapeProblem("inputs must have the same rank and a valid axis")
    for s in inputs[1:]:
        for i, (a, b) in enumerate(zip(s, inputs[0])):
            if i != axis and a is not None and b is not None and a != b:
                raise ShapeProblem(
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
    raise ShapeProblem(f"{what}={value!r} is not an int, a pair, or a pair of pairs")


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
        raise ShapeProblem(f"cropping {crops} leaves nothing of {dims}")
    return _assemble(out, channels, first)


def _embedding(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    return tuple(_one(inputs)) + (args["output_dim"],)


def _rnn(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    shape = _one(inputs)
    if len(shape) != 2:
        raise ShapeProblem(
            f"expects (timesteps, features), got a {len(shape)}-dimensional input"
        )
    if args.get("return_state"):
        raise ShapeProblem(
            "return_state=True gives several outputs, which a candidate graph cannot wire"
        )
    return (
        (shape[0], args["units"]) if args.get("return_sequences") else (args["units"],)
    )


def _filters(args: Mapping[str, Any], channels: Any) -> int:
    """A convolution's output channels: its ``filters``."""
    return _positive_int(args["filters"], "filters")


def _depthwise_channels(args: Mapping[str, Any], channels: Any) -> Any:
    return None if channels is None else channels * args.get("depth_multiplier", 1)


def _same_shape(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    return _one(inputs)


def _normalization(args: Mapping[str, Any], inputs: list[Shape]) -> Shape:
    """Normalization with fixed statistics: each of ``mean`` and ``variance`` one number, or
    one per position of the normalised axis (Keras checks this only when it builds)."""
    shape = _one(inputs)
    axis = args.get("axis", -1)
    axes = [] if axis is None else _norm_axes(args, shape)
    if any(not 0 <= a < len(shape) for a in axes):
        raise ShapeProblem(f"axis={axis!r} is not an axis of an input of shape {shape}")
    sizes = [shape[a] for a in axes]
    for what in ("mean", "variance"):
        value = args.get(what)
        if isinstance(value, (list, tuple)) and len(value) != 1:
            if len(sizes) != 1 or sizes[0] not in (None, len(value)):
                raise ShapeProblem(
                    f"{what} has {len(value)} values, but axis={axis!r} of an input of shape "
                    f"{shape} has {sizes[0] if len(sizes) == 1 else sizes}; give one value, or "
                    "one per position of the axis"
                )
    return shape


# -- costs -----------------------------------------------------------------------------------
#
# A weights rule gives (trainable, non-trainable) counts from the arguments and input shapes;
# a FLOPs rule gives the forward FLOPs of one sample from the arguments, input shapes and
# output shape. Both may return None when a size they need is unknown.

FLOPS_CONVENTION = (
    "FLOPs per sample, forward pass: 2 per multiply-add of Dense, convolutions and recurrent "
    "layers (bias additions and activation functions not counted), 2 per element for "
    "BatchNormalization, LayerNormalization, Normalization and Rescaling (a folded scale and "
    "shift), 1 per input "
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


# -- the table -------------------------------------------------------------------------------

# Arguments every Keras layer accepts besides its own (``name`` is handled by the module itself).
BASE_ARGUMENTS = ("dtype", "trainable", "autocast", "activity_regularizer")


@dataclass(frozen=True)
class LayerSpec:
    """One Keras layer: how it is called and its arithmetic.

    ``arguments`` is Keras' signature order; ``shown_positional`` are the leading arguments a
    careful person writes positionally (``Dense(64)``, ``Conv2D(32, (3, 3))``);
    ``keras2_defaults`` are applied when a space leaves an argument out but Keras 3 would
    reject that. ``shape`` is ``None`` for ``Input``, whose shape is its argument.
    """

    kind: str
    arguments: tuple[str, ...]
    required: tuple[str, ...] = ()
    int_arguments: frozenset[str] = frozenset()
    shown_positional: tuple[str, ...] = ()
    multi_input: bool = False
    snake_name: str = ""
    keras2_defaults: tuple[tuple[str, Any], ...] = ()
    shape: ShapeRule | None = None
    weights: WeightsRule = _no_weights
    flops: FlopsRule = _no_flops

    def accepts(self, argument: str) -> bool:
        return argument in self.arguments or argument in BASE_ARGUMENTS


def _spec(
    kind: str,
    arguments: str | tuple[str, ...],
    *,
    required: str = "",
    ints: str = "",
    shown: str = "",
    multi: bool = False,
    snake: str,
    keras2_defaults: Mapping[str, Any] | None = None,
    shape: ShapeRule | None,
    weights: WeightsRule = _no_weights,
    flops: FlopsRule = _no_flops,
) -> LayerSpec:
    args = tuple(arguments.split()) if isinstance(arguments, str) else arguments
    return LayerSpec(
        kind,
        args,
        tuple(required.split()),
        frozenset(ints.split()),
        tuple(shown.split()),
        multi,
        snake,
        tuple((keras2_defaults or {}).items()),
        shape,
        weights,
        flops,
    )


_INIT_REG_CONSTRAINT = (
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


_CONV = (
    "strides padding data_format dilation_rate groups activation use_bias".split()
    + list(_INIT_REG_CONSTRAINT)
)
_SEPARABLE = (
    "strides padding data_format dilation_rate depth_multiplier activation use_bias depthwise_initializer "
    "pointwise_initializer bias_initializer depthwise_regularizer pointwise_regularizer bias_regularizer "
    "activity_regularizer depthwise_constraint pointwise_constraint bias_constraint"
).split()
_DEPTHWISE = (
    "strides padding depth_multiplier data_format dilation_rate activation use_bias depthwise_initializer "
    "bias_initializer depthwise_regularizer bias_regularizer activity_regularizer depthwise_constraint bias_constraint"
).split()
_POOL = "pool_size strides padding data_format"
_RNN = (
    "activation recurrent_activation use_bias kernel_initializer recurrent_initializer bias_initializer "
    "{extra} kernel_regularizer recurrent_regularizer bias_regularizer activity_regularizer kernel_constraint "
    "recurrent_constraint bias_constraint dropout recurrent_dropout seed return_sequences return_state "
    "go_backwards stateful unroll {tail} use_cudnn"
)
_CONV_INTS = "filters kernel_size strides dilation_rate groups"

LAYERS: dict[str, LayerSpec] = {
    spec.kind: spec
    for spec in [
        _spec(
            "Input",
            "shape batch_size dtype sparse ragged batch_shape",
            ints="shape batch_size batch_shape",
            snake="input",
            shape=None,  # its shape is its argument (see LayerSpec)
        ),
        _spec(
            "Dense",
            ("units", "activation", "use_bias")
            + _INIT_REG_CONSTRAINT
            + ("lora_rank", "lora_alpha"),
            required="units",
            ints="units lora_rank",
            shown="units",
            snake="dense",
            shape=_dense,
            weights=_dense_weights,
            flops=_dense_flops,
        ),
        _spec(
            "Activation",
            "activation",
            required="activation",
            shown="activation",
            snake="activation",
            shape=_same_shape,
        ),
        _spec(
            "ReLU",
            "max_value negative_slope threshold",
            snake="re_lu",
            shape=_same_shape,
        ),
        _spec(
            "Dropout",
            "rate noise_shape seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="dropout",
            shape=_same_shape,
        ),
        _spec(
            "SpatialDropout1D",
            "rate seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="spatial_dropout1d",
            shape=_same_shape,
        ),
        _spec(
            "SpatialDropout2D",
            "rate data_format seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="spatial_dropout2d",
            shape=_same_shape,
        ),
        _spec(
            "BatchNormalization",
            "axis momentum epsilon center scale beta_initializer gamma_initializer moving_mean_initializer "
            "moving_variance_initializer beta_regularizer gamma_regularizer beta_constraint gamma_constraint "
            "renorm renorm_clipping renorm_momentum synchronized",
            ints="axis",
            snake="batch_normalization",
            shape=_same_shape,
            weights=_normalization_weights(True),
            flops=_elementwise_flops(2),
        ),
        _spec(
            "LayerNormalization",
            "axis epsilon center scale beta_initializer gamma_initializer beta_regularizer gamma_regularizer "
            "beta_constraint gamma_constraint",
            ints="axis",
            snake="layer_normalization",
            shape=_same_shape,
            weights=_normalization_weights(False),
            flops=_elementwise_flops(2),
        ),
        # Preprocessing inside the model: the exported module applies it to raw inputs.
        # Normalization takes its statistics as arguments (nascompiler never calls adapt()).
        _spec(
            "Rescaling",
            "scale offset",
            required="scale",
            shown="scale",
            snake="rescaling",
            shape=_same_shape,
            flops=_elementwise_flops(2),
        ),
        _spec(
            "Normalization",
            "axis mean variance invert",
            required="mean variance",
            snake="normalization",
            shape=_normalization,
            flops=_elementwise_flops(2),
        ),
        _spec(
            "Conv1D",
            ["filters", "kernel_size"] + _CONV,
            required="filters kernel_size",
            ints=_CONV_INTS,
            shown="filters kernel_size",
            snake="conv1d",
            shape=_conv(1, _filters),
            weights=_conv_weights(1),
            flops=_conv_flops(1),
        ),
        _spec(
            "Conv2D",
            ["filters", "kernel_size"] + _CONV,
            required="filters kernel_size",
            ints=_CONV_INTS,
            shown="filters kernel_size",
            snake="conv2d",
            shape=_conv(2, _filters),
            weights=_conv_weights(2),
            flops=_conv_flops(2),
        ),
        _spec(
            "SeparableConv2D",
            ["filters", "kernel_size"] + _SEPARABLE,
            required="filters kernel_size",
            ints="filters kernel_size strides dilation_rate depth_multiplier",
            shown="filters kernel_size",
            snake="separable_conv2d",
            shape=_conv(2, _filters),
            weights=_conv_weights(2, separable=True),
            flops=_conv_flops(2, separable=True),
        ),
        _spec(
            "DepthwiseConv2D",
            ["kernel_size"] + _DEPTHWISE,
            required="kernel_size",
            ints="kernel_size strides dilation_rate depth_multiplier",
            shown="kernel_size",
            snake="depthwise_conv2d",
            shape=_conv(2, _depthwise_channels),
            weights=_conv_weights(2, depthwise=True),
            flops=_conv_flops(2, depthwise=True),
        ),
        _spec(
            "MaxPooling1D",
            _POOL,
            ints="pool_size strides",
            snake="max_pooling1d",
            shape=_pool(1),
            flops=_pool_flops(1),
        ),
        _spec(
            "MaxPooling2D",
            _POOL,
            ints="pool_size strides",
            snake="max_pooling2d",
            shape=_pool(2),
            flops=_pool_flops(2),
        ),
        # Keras 3 makes pool_size of AveragePooling required; Keras 2 and Hypernets default it to 2.
        _spec(
            "AveragePooling1D",
            _POOL,
            ints="pool_size strides",
            snake="average_pooling1d",
            keras2_defaults={"pool_size": 2},
            shape=_pool(1),
            flops=_pool_flops(1),
        ),
        _spec(
            "AveragePooling2D",
            _POOL,
            ints="pool_size strides",
            snake="average_pooling2d",
            keras2_defaults={"pool_size": (2, 2)},
            shape=_pool(2),
            flops=_pool_flops(2),
        ),
        _spec(
            "GlobalAveragePooling1D",
            "data_format keepdims",
            snake="global_average_pooling1d",
            shape=_global_pool(1),
            flops=_global_pool_flops,
        ),
        _spec(
            "GlobalAveragePooling2D",
            "data_format keepdims",
            snake="global_average_pooling2d",
            shape=_global_pool(2),
            flops=_global_pool_flops,
        ),
        _spec(
            "GlobalMaxPooling1D",
            "data_format keepdims",
            snake="global_max_pooling1d",
            shape=_global_pool(1),
            flops=_global_pool_flops,
        ),
        _spec(
            "GlobalMaxPooling2D",
            "data_format keepdims",
            snake="global_max_pooling2d",
            shape=_global_pool(2),
            flops=_global_pool_flops,
        ),
        _spec("Flatten", "data_format", snake="flatten", shape=_flatten),
        _spec(
            "Reshape",
            "target_shape",
            required="target_shape",
            ints="target_shape",
            shown="target_shape",
            snake="reshape",
            shape=_reshape,
        ),
        _spec("Add", "", multi=True, snake="add", shape=_merge, flops=_merge_flops),
        _spec(
            "Concatenate",
            "axis",
            ints="axis",
            multi=True,
            snake="concatenate",
            shape=_concatenate,
        ),
        _spec(
            "Multiply",
            "",
            multi=True,
            snake="multiply",
            shape=_merge,
            flops=_merge_flops,
        ),
        _spec(
            "ZeroPadding2D",
            "padding data_format",
            ints="padding",
            snake="zero_padding2d",
            shape=_zero_padding,
        ),
        _spec(
            "Cropping2D",
            "cropping data_format",
            ints="cropping",
            snake="cropping2d",
            shape=_cropping,
        ),
        _spec(
            "Embedding",
            "input_dim output_dim embeddings_initializer embeddings_regularizer embeddings_constraint mask_zero "
            "lora_rank lora_alpha",
            required="input_dim output_dim",
            ints="input_dim output_dim lora_rank",
            shown="input_dim output_dim",
            snake="embedding",
            shape=_embedding,
            weights=_embedding_weights,
        ),
        _spec(
            "LSTM",
            ["units"] + _RNN.format(extra="unit_forget_bias", tail="").split(),
            required="units",
            ints="units seed",
            shown="units",
            snake="lstm",
            shape=_rnn,
            weights=_rnn_weights("LSTM"),
            flops=_rnn_flops("LSTM"),
        ),
        _spec(
            "GRU",
            ["units"] + _RNN.format(extra="", tail="reset_after").split(),
            required="units",
            ints="units seed",
            shown="units",
            snake="gru",
            shape=_rnn,
            weights=_rnn_weights("GRU"),
            flops=_rnn_flops("GRU"),
        ),
    ]
}
