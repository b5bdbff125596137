"""SpaceIR (names, conditions, counting, stability) and specialize (assignment checks,
candidate identity, impossible candidates)."""

from __future__ import annotations

import json
import random
import re
import subprocess
import textwrap

import pytest

import helpers
from nascompiler.errors import AssignmentError, CandidateError
from nascompiler.ir import compile_space, specialize
from nascompiler.layers import Dense, Dropout, Flatten, Input, MaxPooling2D
from nascompiler.ops import Repeat
from nascompiler.space import Choice, Dynamic, HyperSpace, Int, Real
from nascompiler.spaces import (
    cnn_search_space,
    dnn_search_space,
    enas_micro_search_space,
)

DNN_NAMES = (
    "dense_1.units",
    "dense_1.reduce_factor",
    "optional_1.enabled",
    "activation_1.activation",
    "dropout_1.rate",
    "permutation_1.order",
    "repeat_1.times",
)


@pytest.fixture(scope="module")
def dnn_default():
    return compile_space(
        dnn_search_space(input_shape=(10,), output_units=2, output_activation="sigmoid")
    )


# ----------------------------------------------------------------------------- the table


def test_dnn_parameter_names_are_hierarchical_and_shared_once(dnn_default):
    """One row per parameter object, named after its first user, however many steps share it."""
    assert dnn_default.names == DNN_NAMES
    assert all(p.always_active for p in dnn_default.parameters)
    assert dnn_default.parameter("dense_1.units").domain.values() == (200, 500, 1000)
    assert dnn_default.parameter("dropout_1.rate").domain.values() == (
        0.0,
        0.1,
        0.2,
        0.3,
        0.4,
        0.5,
    )


def test_dnn_count_is_exact(dnn_default):
    """3 units x 3 factors x 2 bn x 2 activations x 6 rates x 6 orders x 3 depths."""
    assert dnn_default.count() == 3 * 3 * 2 * 2 * 6 * 6 * 3 == 3888


def test_count_is_none_with_a_continuous_real():
    space = HyperSpace()
    with space.as_default():
        x = Dense(Choice([4, 8]))(Input(shape=(3,)))
        Dropout(Real(0.0, 0.5))(x)
    ir = compile_space(space)
    assert ir.names == ("dense_1.units", "dropout_1.rate")
    assert ir.count() is None


def test_cnn_inner_repeats_active_only_when_outer_repeat_reaches_them():
    """Block k (k >= 2) has its own repeat count, active only when repeat_1.times > k."""
    ir = compile_space(cnn_search_space(input_shape=(28, 28, 1), output_units=10))
    assert ir.names == (
        "optional_1.enabled",
        "module_choice_1.choice",
        "conv2d_1.filters",
        "conv2d_1.kernel_size",
        "fc1.units",
        "permutation_1.order",
        "repeat_1.times",
        "repeat_4.times",
        "repeat_5.times",
        "repeat_6.times",
        "repeat_7.times",
    )
    conditions = {p.name: ir.describe_condition(p) for p in ir.parameters}
    assert conditions["repeat_4.times"] == "repeat_1.times >= 3"
    assert conditions["repeat_5.times"] == "repeat_1.times >= 4"
    assert conditions["repeat_7.times"] == "repeat_1.times == 6"
    active = {p.name for p in ir.active_parameters({"repeat_1.times": 4})}
    assert {"repeat_4.times", "repeat_5.times"} <= active and not {
        "repeat_6.times",
        "repeat_7.times",
    } & active
    # 2 bn x 2 pooling x 2 filters x 2 kernels x 3 fc x 2 orders, times the inner repeats' choices
    assert ir.count() == 96 * (1 + 3 + 3**2 + 3**3 + 3**4) == 11616


def test_small_cnn_count(cnn_ir):
    assert cnn_ir.count() == 96 * (1 + 3) == 384


def test_enas_parameter_names(enas_ir):
    """ENAS names come from hp_dict keys: one input and one op choice per branch per cell type."""
    expected = [
        f"{cell}_N{node}_{side}_{what}_choice"
        for cell in ("normal", "reduction")
        for node in range(4)
        for side in "LR"
        for what in ("input", "op")
    ]
    assert list(enas_ir.names) == expected
    assert enas_ir.parameter("normal_N2_L_input_choice").domain.values() == (
        (0,),
        (1,),
        (2,),
        (3,),
    )
    assert (
        enas_ir.count()
        == ((2 * 5) ** 2 * (3 * 5) ** 2 * (4 * 5) ** 2 * (5 * 5) ** 2) ** 2
    )


def test_enas_cells_of_one_type_share_their_choices():
    """With arch='NRNR' the second normal cell reuses the first one's parameters."""
    ir = compile_space(
        enas_micro_search_space(arch="NRNR", input_shape=(16, 16, 1), init_filters=8)
    )
    assert len(ir.names) == 32


def test_user_names_are_honoured():
    space = HyperSpace()
    with space.as_default():
        width = Choice([4, 8], name="width")
        x = Input(shape=(3,))
        x = Dense(width, name="encoder")(x)
        x = Dense(width, activation=Choice(["relu", "tanh"]), name="decoder")(x)
        Dense(2, activation=Choice(["softmax", "sigmoid"]))(x)
    ir = compile_space(space)
    assert ir.names == ("width", "decoder.activation", "dense_1.activation")
    graph = specialize(
        ir, {"width": 8, "decoder.activation": "tanh", "dense_1.activation": "softmax"}
    )
    assert [op.name for op in graph.ops] == ["input", "encoder", "decoder", "dense_1"]
    assert graph.op("encoder").arg("units") == graph.op("decoder").arg("units") == 8


def test_parameters_of_modules_that_never_reach_the_output_are_left_out():
    """Only parameters of live modules are rows (a Choice with one option is no row either)."""
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(3,))
        Dense(Choice([1, 2]), activation=Choice(["relu"]))(x)
    ir = compile_space(space)
    assert ir.names == ("dense_1.units",)


_STABILITY_PROGRAM = textwrap.dedent("""
    import hashlib, json, random, sys
    from nascompiler.codegen import emit
    from nascompiler.ir import compile_space, specialize
    from nascompiler.spaces import cnn_search_space, dnn_search_space, enas_micro_search_space

    spaces = {
        "dnn": dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax"),
        "cnn": cnn_search_space(input_shape=(28, 28, 1), output_units=10),
        "enas": enas_micro_search_space(arch="NRNR"),
    }
    out = {}
    for key, space in spaces.items():
        ir = compile_space(space)
        rng = random.Random(7)
        candidates = []
        for _ in range(4):
            graph = specialize(ir, ir.sample(rng))
            candidates.append([graph.full_id, hashlib.sha256(emit(graph).encode()).hexdigest()])
        out[key] = {"names": list(ir.names), "fingerprint": ir.fingerprint, "candidates": candidates,
                    "conditions": [ir.describe_condition(p) for p in ir.parameters]}
    json.dump(out, sys.stdout)
    """)


@pytest.mark.slow
def test_names_ids_and_code_do_not_depend_on_hash_seed(tmp_path):
    """Compiling in two interpreters with different PYTHONHASHSEED gives the same parameter
    names, conditions, candidate ids and emitted bytes."""
    procs = [
        subprocess.Popen(
            [helpers.PYTHON, "-c", _STABILITY_PROGRAM],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=helpers.clean_env(PYTHONHASHSEED=seed),
        )
        for seed in ("1", "2024")
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert results[0] == results[1]
    assert results[0]["dnn"]["names"] == list(DNN_NAMES)
    assert len({c[0] for c in results[0]["enas"]["candidates"]}) == 4


# ----------------------------------------------------------------------------- specialize: checks


@pytest.fixture()
def cnn_base(cnn_ir):
    return {
        "optional_1.enabled": True,
        "module_choice_1.choice": 0,
        "conv2d_1.filters": 4,
        "conv2d_1.kernel_size": (3, 3),
        "fc1.units": 1024,
        "permutation_1.order": (0, 1),
        "repeat_1.times": 2,
    }


def _dynamic_space(fn, domain=lambda: Choice([4, 8])) -> HyperSpace:
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(3,))
        Dense(Dynamic(fn, u=domain()))(x)
    return space


def test_the_fingerprint_covers_what_a_dynamic_computes():
    """Two spaces alike but for what a Dynamic computes differ; a change that computes the
    same (a reformatted lambda) does not; a closure's value counts; continuous domains too.
    """
    from nascompiler.ir.compile import fingerprint_without_dynamic_results as legacy

    def fingerprint(fn, *domain):
        return compile_space(_dynamic_space(fn, *domain)).fingerprint

    def scaled(k):
        return lambda u: u * k

    twice = fingerprint(lambda u: u * 2)
    assert fingerprint(lambda u: (u  *  2)) == twice  # fmt: skip
    assert fingerprint(lambda u: u + u) == twice
    assert fingerprint(lambda u: u * 3) != twice
    assert fingerprint(scaled(2)) == twice and fingerprint(scaled(3)) != twice
    # What the old fingerprint missed: the same graph with another function.
    spaces = [_dynamic_space(f) for f in (scaled(2), scaled(3))]
    assert len({legacy(compile_space(s)) for s in spaces}) == 1

    # Continuous (and large) domains are probed at values drawn with a fixed seed.
    real = lambda: Real(1.0, 10.0)  # noqa: E731
    half = fingerprint(lambda u: int(u / 2), real)
    assert fingerprint(lambda u: int(u / 2), real) == half
    assert fingerprint(lambda u: int(u / 3), real) != half
    big = lambda: Int(1, 10**9)  # noqa: E731
    assert fingerprint(lambda u: u % 7 + 1, big) != fingerprint(
        lambda u: u % 5 + 1, big
    )
    # A function that fails for some values still has a fingerprint (the failures count).
    failing = fingerprint(lambda u: 32 // (u - 4))
    assert failing == fingerprint(lambda u: 32 // (u - 4)) != fingerprint(lambda u: 8)


def test_valid_assignment_specializes(cnn_ir, cnn_base):
    graph = specialize(cnn_ir, cnn_base)
    assert len(graph.id) == 10 and graph.full_id.startswith(graph.id)


def test_missing_value_names_the_parameter(cnn_ir, cnn_base):
    del cnn_base["fc1.units"]
    with pytest.raises(
        AssignmentError, match=r"missing a value for parameter 'fc1\.units'"
    ) as info:
        specialize(cnn_ir, cnn_base)
    assert info.value.parameter == "fc1.units"


def test_unknown_name_is_rejected_with_a_suggestion(cnn_ir, cnn_base):
    cnn_base["fc1.unit"] = 1024
    with pytest.raises(
        AssignmentError,
        match=r"unknown parameter 'fc1\.unit'; did you mean 'fc1\.units'",
    ) as info:
        specialize(cnn_ir, cnn_base)
    assert info.value.parameter == "fc1.unit"


def test_value_for_inactive_parameter_is_rejected(cnn_ir, cnn_base):
    """repeat_4.times belongs to the third block, which repeat_1.times=2 leaves out."""
    cnn_base["repeat_4.times"] = 3
    with pytest.raises(
        AssignmentError, match=r"'repeat_4\.times' is inactive.*repeat_1\.times == 3"
    ) as info:
        specialize(cnn_ir, cnn_base)
    assert info.value.parameter == "repeat_4.times"


def test_active_conditional_parameter_is_required(cnn_ir, cnn_base):
    cnn_base["repeat_1.times"] = 3
    with pytest.raises(AssignmentError, match=r"repeat_4\.times.*\{3, 4, 5\}"):
        specialize(cnn_ir, cnn_base)
    cnn_base["repeat_4.times"] = 5
    assert specialize(cnn_ir, cnn_base)


@pytest.mark.parametrize(
    "name, value, domain",
    [
        ("fc1.units", 1000, "{1024, 2048, 4096}"),
        ("conv2d_1.kernel_size", (2, 2), "{(1, 1), (3, 3)}"),
        ("optional_1.enabled", 1, "{False, True}"),
        ("permutation_1.order", (0, 0), "{(0, 1), (1, 0)}"),
    ],
)
def test_out_of_domain_value_names_parameter_and_domain(
    cnn_ir, cnn_base, name, value, domain
):
    cnn_base[name] = value
    with pytest.raises(AssignmentError) as info:
        specialize(cnn_ir, cnn_base)
    assert info.value.parameter == name
    assert f"'{name}'" in str(info.value) and domain in str(info.value)


def test_out_of_domain_real_and_subset(dnn_ir, enas_ir):
    a = helpers.dnn_assignment(8, 1, False, "relu", 0.25, (0, 1, 2), 2)
    with pytest.raises(
        AssignmentError, match=r"dropout_1\.rate.*\[0\.0, 0\.5\] step 0\.1"
    ):
        specialize(dnn_ir, a)
    e = enas_ir.sample(random.Random(0))
    e["normal_N0_L_input_choice"] = [0, 1]
    with pytest.raises(AssignmentError, match=r"normal_N0_L_input_choice.*exactly 1"):
        specialize(enas_ir, e)


def test_json_round_trip_keeps_the_candidate(enas_ir, cnn_ir):
    """An assignment survives JSON (tuples become lists) and gives the same candidate."""
    for ir in (enas_ir, cnn_ir):
        a = ir.sample(random.Random(3))
        assert specialize(ir, json.loads(json.dumps(a))).id == specialize(ir, a).id


# ----------------------------------------------------------------------------- identity


def test_skipped_module_makes_orders_equal(dnn_ir):
    """With BatchNormalization switched off, act/bn/dropout (0,1,2) and bn/act/dropout (1,0,2)
    are the same layers: same graph, same id. Dropout first (2,0,1) is another graph."""
    base = helpers.dnn_assignment(16, 0.8, False, "relu", 0.1, (0, 1, 2), 3)
    a = specialize(dnn_ir, base)
    b = specialize(dnn_ir, dict(base, **{"permutation_1.order": (1, 0, 2)}))
    c = specialize(dnn_ir, dict(base, **{"permutation_1.order": (2, 0, 1)}))
    assert a.id == b.id and a.canonical_json == b.canonical_json
    assert c.id != a.id
    # with BatchNormalization on, the two orders differ
    on = dict(base, **{"optional_1.enabled": True})
    assert (
        specialize(dnn_ir, on).id
        != specialize(dnn_ir, dict(on, **{"permutation_1.order": (1, 0, 2)})).id
    )


def test_enas_first_cell_inputs_are_the_same_module(enas_ir):
    """In the first cell c1 and c2 are one module, so choosing input 0 or 1 is the same graph;
    in the reduction cell they differ."""
    base = enas_ir.sample(random.Random(5))
    assert (
        specialize(enas_ir, dict(base, normal_N0_L_input_choice=[0])).id
        == specialize(enas_ir, dict(base, normal_N0_L_input_choice=[1])).id
    )
    assert (
        specialize(enas_ir, dict(base, reduction_N0_L_input_choice=[0])).id
        != specialize(enas_ir, dict(base, reduction_N0_L_input_choice=[1])).id
    )


def test_different_graphs_have_different_ids(dnn_ir):
    ids = set()
    for units in (8, 16):
        for times in (2, 3, 4):
            ids.add(
                specialize(
                    dnn_ir,
                    helpers.dnn_assignment(
                        units, 0.5, True, "relu", 0.1, (0, 1, 2), times
                    ),
                ).id
            )
    assert len(ids) == 6


def test_dynamic_widths_truncate_like_keras2(dnn_ir):
    """Dense widths are int(units * reduce_factor ** step); step 0 keeps units."""
    graph = specialize(
        dnn_ir, helpers.dnn_assignment(16, 0.8, True, "relu", 0.1, (0, 1, 2), 4)
    )
    widths = [op.arg("units") for op in graph.ops if op.layer == "Dense"]
    assert (
        widths
        == [16, int(16 * 0.8), int(16 * 0.8**2), int(16 * 0.8**3), 2]
        == [16, 12, 10, 8, 2]
    )
    assert all(type(w) is int for w in widths)


# ----------------------------------------------------------------------------- impossible candidates


def test_pooling_below_one_pixel_is_a_candidate_error():
    """Valid-padding pooling that shrinks 4 -> 2 -> 1 -> 0 fails at the third step, naming the layer."""
    space = HyperSpace()
    with space.as_default():
        x = Repeat(
            lambda step: MaxPooling2D(pool_size=2, padding="valid"),
            repeat_times=[1, 2, 3],
        )(Input(shape=(4, 4, 1)))
        Dense(2)(Flatten()(x))
    ir = compile_space(space)
    assert specialize(ir, {"repeat_1.times": 2}).op("flatten_1").shape == (1,)
    with pytest.raises(
        CandidateError, match=r"max_pooling2d_3.*\(None, 1, 1, 1\).*does not fit"
    ):
        specialize(ir, {"repeat_1.times": 3})


def test_dynamic_width_of_zero_is_a_candidate_error():
    """units=8 shrunk by 0.1 per step is int(0.8) = 0 at step 1: Keras would refuse it when
    training; specialize refuses it first, naming the layer."""
    ir = compile_space(
        dnn_search_space(
            input_shape=(10,),
            output_units=2,
            output_activation="softmax",
            units_choices=[8, 64],
            reduce_facotr_choices=[0.1, 1],
        )
    )
    ok = {
        "dense_1.units": 64,
        "dense_1.reduce_factor": 0.1,
        "optional_1.enabled": False,
        "activation_1.activation": "relu",
        "dropout_1.rate": 0.0,
        "permutation_1.order": (0, 1, 2),
        "repeat_1.times": 2,
    }
    assert [
        op.arg("units") for op in specialize(ir, ok).ops if op.layer == "Dense"
    ] == [64, 6, 2]
    with pytest.raises(
        CandidateError, match=r"'dense_2' \(Dense\).*units=0 must be a positive integer"
    ):
        specialize(ir, dict(ok, **{"dense_1.units": 8}))


@pytest.mark.parametrize(
    "args, words",
    [
        ({"strides": 0}, "strides=(0, 0) must be positive"),
        (
            {"kernel_size": (3, 3, 3)},
            "kernel_size=(3, 3, 3) should be an int or a tuple of 2 ints",
        ),
        ({"filters": 0}, "filters=0 must be a positive integer"),
        ({"padding": "valid", "kernel_size": 9}, "does not fit"),
    ],
)
def test_bad_conv_arguments_are_candidate_errors(args, words):
    """Whatever arguments a Choice gives a layer, specialize answers with a CandidateError
    naming the layer, never an internal exception."""
    from nascompiler.layers import Conv2D

    space = HyperSpace()
    with space.as_default():
        options = dict({"filters": 4, "kernel_size": 3}, **args)
        conv = Conv2D(
            options.pop("filters"), Choice([options.pop("kernel_size"), 1]), **options
        )
        Dense(2)(Flatten()(conv(Input(shape=(8, 8, 1)))))
    ir = compile_space(space)
    with pytest.raises(CandidateError, match=re.escape(words)) as info:
        specialize(
            ir,
            {
                "conv2d_1.kernel_size": ir.parameter(
                    "conv2d_1.kernel_size"
                ).domain.values()[0]
            },
        )
    assert "'conv2d_1' (Conv2D)" in str(info.value)


def test_layer_with_two_inputs_is_a_candidate_error():
    space = HyperSpace()
    with space.as_default():
        a = Input(shape=(3,), name="a")
        b = Input(shape=(3,), name="b")
        Dense(2)([a, b])
    ir = compile_space(space)
    with pytest.raises(CandidateError, match="takes one input but gets 2"):
        specialize(ir, {})
