"""The static cost model: FLOPs and activation memory against values computed by hand, and the
count parser. (Parameter counts are checked against Keras itself in test_property.py.)
"""

from __future__ import annotations

import pytest

import helpers
from nascompiler import layers as L
from nascompiler.codegen import emit
from nascompiler.errors import UsageError
from nascompiler.ir import compile_space, specialize
from nascompiler.ir.cost import Cost, candidate_cost, format_count
from nascompiler.space import HyperSpace
from nascompiler.units import parse_count


def graph_of(build, input_shape):
    """The single candidate of a space without parameters: ``build(x)`` on one Input."""
    space = HyperSpace()
    with space.as_default():
        build(L.Input(shape=input_shape))
    return specialize(compile_space(space), {})


def cost_of(build, input_shape) -> Cost:
    return candidate_cost(graph_of(build, input_shape))


# -- one layer at a time: (cost with the layer) - (cost of the bare input) ------------------


def layer_flops(make_layer, input_shape):
    return cost_of(lambda x: make_layer()(x), input_shape).flops


def test_dense():
    cost = cost_of(lambda x: L.Dense(7)(x), (10,))
    assert cost.params == cost.trainable_params == 10 * 7 + 7
    assert cost.flops == 2 * 10 * 7  # one multiply-add per weight, bias not counted
    # Dense on a sequence applies to every position
    assert layer_flops(lambda: L.Dense(7), (5, 10)) == 5 * 2 * 10 * 7
    assert cost_of(lambda x: L.Dense(7, use_bias=False)(x), (10,)).params == 70


def test_conv2d():
    # 8x8x3 -> 3x3 valid -> 6x6x4: 36 positions x 4 filters x 27 weights each
    cost = cost_of(lambda x: L.Conv2D(4, (3, 3))(x), (8, 8, 3))
    assert cost.params == 3 * 3 * 3 * 4 + 4 == 112
    assert cost.flops == 2 * 36 * 4 * 27 == 7776
    # strides 2, padding same: 4x4 positions
    assert (
        layer_flops(lambda: L.Conv2D(4, (3, 3), strides=2, padding="same"), (8, 8, 3))
        == 2 * 16 * 4 * 27
    )


def test_separable_conv2d():
    # depthwise 3x3 over 3 channels, then pointwise 3 -> 5, on 64 positions ('same')
    cost = cost_of(lambda x: L.SeparableConv2D(5, (3, 3), padding="same")(x), (8, 8, 3))
    assert cost.params == 3 * 3 * 3 + 3 * 5 + 5 == 47
    assert cost.flops == 2 * (64 * 3 * 9 + 64 * 3 * 5) == 5376


def test_depthwise_conv2d():
    # valid 3x3 on 8x8: 6x6 positions, 3 channels x multiplier 2 = 6 outputs, 9 weights each
    cost = cost_of(
        lambda x: L.DepthwiseConv2D((3, 3), depth_multiplier=2)(x), (8, 8, 3)
    )
    assert cost.params == 9 * 3 * 2 + 6 == 60
    assert cost.flops == 2 * 36 * 6 * 9 == 3888


def test_pooling():
    # one operation per window element per output element
    assert layer_flops(lambda: L.MaxPooling2D(), (8, 8, 3)) == 4 * 4 * 3 * 4 == 192
    assert (
        layer_flops(
            lambda: L.AveragePooling2D((3, 3), strides=1, padding="same"), (8, 8, 3)
        )
        == 8 * 8 * 3 * 9
        == 1728
    )
    assert layer_flops(lambda: L.GlobalAveragePooling2D(), (8, 8, 3)) == 192
    assert layer_flops(lambda: L.GlobalMaxPooling2D(), (8, 8, 3)) == 192
    assert cost_of(lambda x: L.MaxPooling2D()(x), (8, 8, 3)).params == 0


def test_batch_normalization():
    cost = cost_of(lambda x: L.BatchNormalization()(x), (8, 8, 3))
    # gamma and beta train; the moving mean and variance do not
    assert (cost.trainable_params, cost.non_trainable_params) == (6, 6)
    assert cost.params == 12
    assert cost.flops == 2 * 8 * 8 * 3 == 384  # a folded scale and shift per element
    channels_first = cost_of(lambda x: L.BatchNormalization(axis=1)(x), (5, 8, 8))
    assert channels_first.params == 4 * 5
    frozen = cost_of(lambda x: L.BatchNormalization(trainable=False)(x), (8, 8, 3))
    assert (frozen.trainable_params, frozen.non_trainable_params) == (0, 12)


def test_an_enas_cell_by_hand():
    """One normal cell (16x16, 8 filters) after the stem, every node sepconv5x5 on input 0
    and avgpooling3x3 on input 1 (which the lowering aligns to 8 channels)."""
    ir = compile_space(helpers.small_enas("N"))
    assignment = {}
    for n in range(4):
        assignment[f"normal_N{n}_L_input_choice"] = [0]
        assignment[f"normal_N{n}_R_input_choice"] = [1]
        assignment[f"normal_N{n}_L_op_choice"] = 0  # sepconv5x5
        assignment[f"normal_N{n}_R_op_choice"] = 2  # avgpooling3x3
    graph = specialize(ir, assignment)
    positions = 16 * 16
    stem = 2 * positions * 24 * 9 * 1 + 2 * positions * 24  # Conv2D 3x3 1->24, BN
    align = 2 * positions * 8 * 24 + 2 * positions * 8  # Conv2D 1x1 24->8, BN
    sepconv = 2 * (positions * 8 * 25 + positions * 8 * 8)  # depthwise 5x5 + pointwise
    node = (
        2 * sepconv  # two separable convolutions ...
        + 2 * 2 * positions * 8  # ... each followed by BN
        + positions * 8 * 9  # avgpooling 3x3, 'same', stride 1
        + positions * 8  # Add of two inputs
    )
    head = (
        positions * 32 + 2 * 32 * 10
    )  # global average pooling of the 4x8 channels, Dense
    assert candidate_cost(graph).flops == stem + align + 4 * node + head == 1430144


# -- activation memory ---------------------------------------------------------------------


def test_activation_memory_of_a_chain_frees_what_was_read():
    # input 10 floats, Dense 7, Dense 3: the peak is input + first output, while it is computed
    cost = cost_of(lambda x: L.Dense(3)(L.Dense(7)(x)), (10,))
    assert cost.activation_bytes == 4 * (10 + 7)


def test_activation_memory_of_branches_keeps_both_alive():
    def build(x):
        a = L.Dense(20)(x)
        b = L.Dense(30)(x)
        return L.Concatenate()([a, b])

    # after b: input (10) is no longer needed; a (20) and b (30) wait for the concatenation,
    # which writes 50: peak 20 + 30 + 50 floats
    assert cost_of(build, (10,)).activation_bytes == 4 * (20 + 30 + 50)


def test_unknown_sizes_give_unknown_costs():
    cost = cost_of(lambda x: L.Dense(4)(x), (None, 6))
    assert cost.params == 6 * 4 + 4  # the weights do not depend on the sequence length
    assert cost.flops is None and cost.activation_bytes is None


# -- reading and writing counts -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("50000", 50_000),
        ("50k", 50_000),
        ("50K", 50_000),
        ("1.5M", 1_500_000),
        ("2G", 2_000_000_000),
        ("1_000", 1000),
        (" 7 ", 7),
        (".5k", 500),
        (1234, 1234),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize(
    "text, message",
    [
        ("1.2345k", "whole number, but '1.2345k' is 1234.5"),
        ("-5", "such as 50000, 50k"),
        ("ten", "got 'ten'"),
        ("5x", "got '5x'"),
        ("", "got ''"),
        (True, "got True"),
        (-3, "must not be negative"),
    ],
)
def test_parse_count_rejects_bad_text_in_one_line(text, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_count(text, "--max-params")
    assert str(info.value).startswith("--max-params") and "\n" not in str(info.value)


def test_format_count():
    assert [
        format_count(n)
        for n in (0, 999, 1000, 1234, 12_345, 999_600, 1_500_000, 2 * 10**9, None)
    ] == ["0", "999", "1k", "1.23k", "12.3k", "1M", "1.5M", "2G", "?"]


# -- weights of the layers the seed spaces do not use, against Keras ----------------------------

KERAS_CASES = {
    "lstm": ((7, 5), lambda x: L.LSTM(6)(x)),
    "lstm_sequences_no_bias": (
        (7, 5),
        lambda x: L.LSTM(6, return_sequences=True, use_bias=False)(x),
    ),
    "gru": ((7, 5), lambda x: L.GRU(6)(x)),
    "gru_reset_before": ((7, 5), lambda x: L.GRU(6, reset_after=False)(x)),
    "embedding": ((9,), lambda x: L.Embedding(50, 8)(x)),
    "layer_normalization": ((7, 5), lambda x: L.LayerNormalization()(x)),
    "layer_normalization_no_scale": (
        (7, 5),
        lambda x: L.LayerNormalization(scale=False)(x),
    ),
    "conv1d": ((12, 4), lambda x: L.Conv1D(6, 3, strides=2)(x)),
    "conv2d_groups": ((8, 8, 4), lambda x: L.Conv2D(6, (3, 3), groups=2)(x)),
    "separable_multiplier": (
        (8, 8, 3),
        lambda x: L.SeparableConv2D(5, (3, 3), depth_multiplier=2, use_bias=False)(x),
    ),
    "batch_normalization_no_center": (
        (8, 8, 3),
        lambda x: L.BatchNormalization(center=False)(x),
    ),
    "dense_frozen": ((10,), lambda x: L.Dense(4, trainable=False)(x)),
    "dense_lora": ((10,), lambda x: L.Dense(4, lora_rank=2)(x)),
}


@pytest.mark.slow
def test_weights_of_other_layers_and_options_equal_keras(tmp_path):
    """RNNs, embeddings, layer normalisation, groups, depth multipliers, frozen layers and
    LoRA: the cost model's trainable and non-trainable counts are what Keras builds."""
    graphs = {
        key: graph_of(build, shape) for key, (shape, build) in KERAS_CASES.items()
    }
    modules = {}
    for key, graph in graphs.items():
        modules[key] = tmp_path / f"{key}.py"
        modules[key].write_text(emit(graph), encoding="utf-8")
    report = helpers.build_in_fresh_interpreter(modules, tmp_path / "work")
    for key, graph in graphs.items():
        built = report["modules"][key]
        assert "error" not in built, built.get("error")
        cost = candidate_cost(graph)
        assert (cost.trainable_params, cost.non_trainable_params) == (
            built["trainable"],
            built["non_trainable"],
        ), key
