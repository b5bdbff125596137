"""The seed's three spaces, emitted and built where production code would build them: in a
fresh interpreter that cannot import nascompiler. The built architecture must be the one the
assignment describes."""

from __future__ import annotations

import pytest

import helpers
from helpers import CNN_CASES, DNN_CASES, ENAS_SMALL_NORMAL, ENAS_SMALL_REDUCTION

pytestmark = pytest.mark.slow

OPS = {
    0: "sepconv5x5",
    1: "sepconv3x3",
    2: "avgpooling3x3",
    3: "maxpooling3x3",
    4: "identity",
}


def _report(fixed_builds, key) -> dict:
    report = fixed_builds[key].report
    assert "error" not in report, report.get("error")
    return report


def test_fresh_interpreter_cannot_import_nascompiler(fixed_builds):
    """The build interpreter really is nascompiler-free, and building loaded none of it."""
    assert fixed_builds.nascompiler_importable is False
    for key, built in fixed_builds.candidates.items():
        assert built.report.get("nascompiler_loaded", []) == [], key


@pytest.mark.parametrize("key", sorted(DNN_CASES))
def test_dnn_architecture_follows_assignment(fixed_builds, key):
    """Dense widths int(units * reduce**step); BatchNormalization exactly when enabled;
    activation / BN / dropout in the permuted order; the chosen activation and rate."""
    units, reduce_factor, enabled, activation, rate, order, times = DNN_CASES[key]
    report = _report(fixed_builds, key)
    layers = report["layers"]
    assert layers[0]["class"] == "InputLayer" and layers[0]["shape"] == [10]
    blocks: list[list[dict]] = []
    for layer in layers[1:-1]:
        if layer["class"] == "Dense":
            blocks.append([layer])
        else:
            blocks[-1].append(layer)
    assert len(blocks) == times
    roles = {0: "Activation", 1: "BatchNormalization", 2: "Dropout"}
    expected_tail = [
        roles[i] for i in order if enabled or roles[i] != "BatchNormalization"
    ]
    for step, block in enumerate(blocks):
        width = units if step == 0 else int(units * reduce_factor**step)
        assert block[0]["config"]["units"] == width and block[0]["shape"] == [width]
        assert [layer["class"] for layer in block[1:]] == expected_tail
        for layer in block[1:]:
            if layer["class"] == "Activation":
                assert layer["config"]["activation"] == activation
            if layer["class"] == "Dropout":
                assert layer["config"]["rate"] == rate
    head = layers[-1]
    assert head["class"] == "Dense" and head["config"] == {
        "units": 2,
        "activation": "softmax",
    }
    assert report["model_name"] == f"candidate_{fixed_builds[key].graph.id}"
    assert report["candidate_id"] == fixed_builds[key].graph.id


@pytest.mark.parametrize("key", sorted(CNN_CASES))
def test_cnn_architecture_follows_assignment(fixed_builds, key):
    """Conv blocks: 2, 2, then repeat_4.times convs; filters f, f, 2f; the chosen kernel;
    BN / activation in the chosen order (BN only when enabled); the chosen pooling halving the
    image; then fc1, fc2 with the chosen width and the 3-way softmax."""
    a = CNN_CASES[key]
    layers = _report(fixed_builds, key)["layers"]
    classes = [layer["class"] for layer in layers]
    pooling = "MaxPooling2D" if a["module_choice_1.choice"] == 0 else "AveragePooling2D"
    roles = {0: "BatchNormalization", 1: "Activation"}
    after_conv = [
        roles[i] for i in a["permutation_1.order"] if a["optional_1.enabled"] or i == 1
    ]
    convs_per_block = [2, 2, a.get("repeat_4.times")][: a["repeat_1.times"]]
    expected = ["InputLayer"]
    for convs in convs_per_block:
        expected += (["Conv2D"] + after_conv) * convs + [pooling]
    expected += ["Flatten", "Dense", "Dense", "Dense"]
    assert classes == expected
    f = a["conv2d_1.filters"]
    conv_layers = [layer for layer in layers if layer["class"] == "Conv2D"]
    block_of_conv = [b for b, convs in enumerate(convs_per_block) for _ in range(convs)]
    for layer, block in zip(conv_layers, block_of_conv):
        assert layer["config"]["filters"] == f * (1 if block < 2 else 2 ** (block - 1))
        assert tuple(layer["config"]["kernel_size"]) == a["conv2d_1.kernel_size"]
        assert layer["config"]["padding"] == "same"
    pools = [layer for layer in layers if layer["class"] == pooling]
    assert [p["shape"][0] for p in pools] == [
        16 // 2 ** (i + 1) for i in range(len(pools))
    ]
    by_name = helpers.layers_by_name(_report(fixed_builds, key))
    assert (
        by_name["fc1"]["config"]["units"]
        == by_name["fc2"]["config"]["units"]
        == a["fc1.units"]
    )
    assert by_name["predictions"]["config"] == {"units": 3, "activation": "softmax"}


def _cell_wiring(
    cell: str, prefix: str, nodes, calibrated: dict[int, str], by_name: dict
) -> list[int]:
    """Check each branch of each node of one cell; return the cell's loose ends (indices)."""
    producers = dict(calibrated)
    used: set[int] = set()
    for n, ((left_in, right_in), (left_op, right_op)) in enumerate(nodes):
        add_inputs = []
        for side, chosen, op in (("L", left_in, left_op), ("R", right_in, right_op)):
            used.add(chosen)
            branch = f"{prefix}N{n}_{side}_"
            branch_layers = sorted(name for name in by_name if name.startswith(branch))
            if OPS[op] == "identity":
                assert branch_layers == []
                add_inputs.append(producers[chosen])
                continue
            assert branch_layers and all(
                OPS[op] in name for name in branch_layers
            ), branch_layers
            if OPS[op].startswith("sepconv"):
                first, last = f"{branch}{OPS[op]}_relu_0_", f"{branch}{OPS[op]}_bn_1_"
                k = int(OPS[op][7])
                for i in (0, 1):
                    conv = by_name[f"{branch}{OPS[op]}_sepconv2d_{i}"]
                    assert conv["class"] == "SeparableConv2D" and conv["config"][
                        "kernel_size"
                    ] == [k, k]
            else:
                first = last = f"{branch}{OPS[op]}_pool_"
                assert by_name[first]["class"] == (
                    "AveragePooling2D" if op == 2 else "MaxPooling2D"
                )
            assert by_name[first]["inputs"] == [producers[chosen]], (cell, n, side)
            add_inputs.append(last)
        add = by_name[f"{prefix}N{n}_add_"]
        assert add["class"] == "Add" and add["inputs"] == add_inputs
        producers[n + 2] = f"{prefix}N{n}_add_"
    if calibrated[0] == calibrated[1] and {0, 1} & used:
        used |= {0, 1}  # the first cell's two inputs are one module
    return [i for i in range(len(nodes) + 2) if i not in used]


def test_enas_small_architecture_follows_assignment(fixed_builds):
    """Stem 3 x init_filters; a normal cell keeps the size and concatenates its loose ends
    (each init_filters wide); the reduction halves the size and doubles the filters; every
    branch applies the chosen operation to the chosen input."""
    by_name = helpers.layers_by_name(_report(fixed_builds, "enas_small"))
    assert by_name["0_stem_conv2d"]["shape"] == [16, 16, 24]
    normal_in = "1_normal_C1_input0_filters_aligning_bn_"
    assert by_name[normal_in]["shape"] == [16, 16, 8]
    loose = _cell_wiring(
        "normal",
        "1_normal_C1_",
        ENAS_SMALL_NORMAL,
        {0: normal_in, 1: normal_in},
        by_name,
    )
    assert loose == [3, 4, 5]
    concat = by_name["1_normal_C1_concat_"]
    assert concat["inputs"] == [f"1_normal_C1_N{i - 2}_add_" for i in loose]
    assert concat["shape"] == [16, 16, 8 * len(loose)]

    c1 = "2_reduction_C1_input0_factorized_reduction_bn_"
    c2 = "reduction_C1_reduction_bn_"
    assert by_name[c1]["shape"] == by_name[c2]["shape"] == [8, 8, 16]
    loose = _cell_wiring(
        "reduction", "2_reduction_C1_", ENAS_SMALL_REDUCTION, {0: c1, 1: c2}, by_name
    )
    assert loose == [4, 5]
    assert by_name["2_reduction_C1_concat_"]["shape"] == [8, 8, 16 * len(loose)]
    assert by_name["dense_1"]["shape"] == [10]


def test_seed_enas_trial_matches_seed_summary(fixed_builds):
    """The seed's printed trial of enas_micro_search_space(arch='NR'): 271,818 parameters,
    267,466 trainable, 4,352 non-trainable, and the shapes of its summary."""
    report = _report(fixed_builds, "enas_seed_trial")
    assert report["count_params"] == helpers.SEED_TRIAL_PARAMS
    assert report["trainable"] == helpers.SEED_TRIAL_TRAINABLE
    assert report["non_trainable"] == helpers.SEED_TRIAL_NON_TRAINABLE
    by_name = helpers.layers_by_name(report)
    assert by_name["0_stem_bn"]["shape"] == [28, 28, 192]
    assert by_name["1_normal_C1_input0_filters_aligning_conv2d_"]["shape"] == [
        28,
        28,
        64,
    ]
    assert by_name["1_normal_C1_concat_"]["shape"] == [28, 28, 192]  # 3 loose ends x 64
    assert by_name["reduction_C1_reduction_bn_"]["shape"] == [14, 14, 128]
    assert by_name["2_reduction_C1_concat_"]["shape"] == [
        14,
        14,
        256,
    ]  # 2 loose ends x 128
    assert by_name["dense_1"]["shape"] == [10]
    normal = _cell_wiring(
        "normal",
        "1_normal_C1_",
        helpers.SEED_TRIAL_NORMAL,
        {
            0: "1_normal_C1_input0_filters_aligning_bn_",
            1: "1_normal_C1_input0_filters_aligning_bn_",
        },
        by_name,
    )
    assert normal == [3, 4, 5]
    reduction = _cell_wiring(
        "reduction",
        "2_reduction_C1_",
        helpers.SEED_TRIAL_REDUCTION,
        {
            0: "2_reduction_C1_input0_factorized_reduction_bn_",
            1: "reduction_C1_reduction_bn_",
        },
        by_name,
    )
    assert reduction == [4, 5]
    # no CalibrateSize layer for the reduction cell's second input: it already has 128 channels
    assert not [n for n in by_name if n.startswith("2_reduction_C1_input1")]


def test_enas_default_arch_sizes_and_filters(fixed_builds):
    """arch='NRNR' (the seed's default): each reduction halves the image and doubles the
    filters; the normal cell after it works at the reduced size."""
    by_name = helpers.layers_by_name(_report(fixed_builds, "enas_nrnr"))
    expected = {
        "1_normal_C1_": (16, 8),
        "2_reduction_C1_": (8, 16),
        "3_normal_C2_": (8, 16),
        "4_reduction_C2_": (4, 32),
    }
    for prefix, (size, filters) in expected.items():
        adds = [
            layer
            for name, layer in by_name.items()
            if name.startswith(prefix) and layer["class"] == "Add"
        ]
        assert len(adds) == 4, prefix
        assert all(layer["shape"] == [size, size, filters] for layer in adds), prefix
    assert by_name["dense_1"]["shape"] == [10]
