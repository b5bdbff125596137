"""The Keras layers a space can use, described as data.

One :class:`LayerSpec` per layer: its argument names in Keras' signature order (so positional
arguments bind as they do in Keras), the arguments that hold integers (a float computed by a
``Dynamic`` is truncated there, as Keras 2 did), and how many inputs it takes. The DSL checks
arguments against it; the IR infers shapes by the layer's name; the code generator orders
arguments with it. It lists Keras 3 signatures; nothing here imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

# Arguments every Keras layer accepts besides its own (``name`` is handled by the module itself).
BASE_ARGUMENTS = ("dtype", "trainable", "autocast", "activity_regularizer")

_INIT_REG_CONSTRAINT = (
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


@dataclass(frozen=True)
class LayerSpec:
    """How one Keras layer is called.

    ``arguments`` is Keras' signature order; ``shown_positional`` are the leading arguments a
    careful person writes positionally (``Dense(64)``, ``Conv2D(32, (3, 3))``).
    """

    kind: str
    arguments: tuple[str, ...]
    required: tuple[str, ...] = ()
    int_arguments: frozenset[str] = frozenset()
    shown_positional: tuple[str, ...] = ()
    multi_input: bool = False
    snake_name: str = ""

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
        ),
        _spec(
            "Activation",
            "activation",
            required="activation",
            shown="activation",
            snake="activation",
        ),
        _spec("ReLU", "max_value negative_slope threshold", snake="re_lu"),
        _spec(
            "Dropout",
            "rate noise_shape seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="dropout",
        ),
        _spec(
            "SpatialDropout1D",
            "rate seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="spatial_dropout1d",
        ),
        _spec(
            "SpatialDropout2D",
            "rate data_format seed",
            required="rate",
            ints="seed",
            shown="rate",
            snake="spatial_dropout2d",
        ),
        _spec(
            "BatchNormalization",
            "axis momentum epsilon center scale beta_initializer gamma_initializer moving_mean_initializer "
            "moving_variance_initializer beta_regularizer gamma_regularizer beta_constraint gamma_constraint "
            "renorm renorm_clipping renorm_momentum synchronized",
            ints="axis",
            snake="batch_normalization",
        ),
        _spec(
            "LayerNormalization",
            "axis epsilon center scale beta_initializer gamma_initializer beta_regularizer gamma_regularizer "
            "beta_constraint gamma_constraint",
            ints="axis",
            snake="layer_normalization",
        ),
        _spec(
            "Conv1D",
            ["filters", "kernel_size"] + _CONV,
            required="filters kernel_size",
            ints=_CONV_INTS,
            shown="filters kernel_size",
            snake="conv1d",
        ),
        _spec(
            "Conv2D",
            ["filters", "kernel_size"] + _CONV,
            required="filters kernel_size",
            ints=_CONV_INTS,
            shown="filters kernel_size",
            snake="conv2d",
        ),
        _spec(
            "SeparableConv2D",
            ["filters", "kernel_size"] + _SEPARABLE,
            required="filters kernel_size",
            ints="filters kernel_size strides dilation_rate depth_multiplier",
            shown="filters kernel_size",
            snake="separable_conv2d",
        ),
        _spec(
            "DepthwiseConv2D",
            ["kernel_size"] + _DEPTHWISE,
            required="kernel_size",
            ints="kernel_size strides dilation_rate depth_multiplier",
            shown="kernel_size",
            snake="depthwise_conv2d",
        ),
        _spec("MaxPooling1D", _POOL, ints="pool_size strides", snake="max_pooling1d"),
        _spec("MaxPooling2D", _POOL, ints="pool_size strides", snake="max_pooling2d"),
        # Keras 3 makes pool_size of AveragePooling required; Keras 2 and Hypernets default it to 2.
        _spec(
            "AveragePooling1D",
            _POOL,
            ints="pool_size strides",
            snake="average_pooling1d",
        ),
        _spec(
            "AveragePooling2D",
            _POOL,
            ints="pool_size strides",
            snake="average_pooling2d",
        ),
        _spec(
            "GlobalAveragePooling1D",
            "data_format keepdims",
            snake="global_average_pooling1d",
        ),
        _spec(
            "GlobalAveragePooling2D",
            "data_format keepdims",
            snake="global_average_pooling2d",
        ),
        _spec(
            "GlobalMaxPooling1D", "data_format keepdims", snake="global_max_pooling1d"
        ),
        _spec(
            "GlobalMaxPooling2D", "data_format keepdims", snake="global_max_pooling2d"
        ),
        _spec("Flatten", "data_format", snake="flatten"),
        _spec(
            "Reshape",
            "target_shape",
            required="target_shape",
            ints="target_shape",
            shown="target_shape",
            snake="reshape",
        ),
        _spec("Add", "", multi=True, snake="add"),
        _spec("Concatenate", "axis", ints="axis", multi=True, snake="concatenate"),
        _spec("Multiply", "", multi=True, snake="multiply"),
        _spec(
            "ZeroPadding2D",
            "padding data_format",
            ints="padding",
            snake="zero_padding2d",
        ),
        _spec(
            "Cropping2D", "cropping data_format", ints="cropping", snake="cropping2d"
        ),
        _spec(
            "Embedding",
            "input_dim output_dim embeddings_initializer embeddings_regularizer embeddings_constraint mask_zero "
            "lora_rank lora_alpha",
            required="input_dim output_dim",
            ints="input_dim output_dim lora_rank",
            shown="input_dim output_dim",
            snake="embedding",
        ),
        _spec(
            "LSTM",
            ["units"] + _RNN.format(extra="unit_forget_bias", tail="").split(),
            required="units",
            ints="units seed",
            shown="units",
            snake="lstm",
        ),
        _spec(
            "GRU",
            ["units"] + _RNN.format(extra="", tail="reset_after").split(),
            required="units",
            ints="units seed",
            shown="units",
            snake="gru",
        ),
    ]
}

# Defaults applied when a space leaves an argument out but Keras 3 would reject that.
KERAS2_DEFAULTS: dict[str, dict[str, object]] = {
    "AveragePooling1D": {"pool_size": 2},
    "AveragePooling2D": {"pool_size": (2, 2)},
}
