"""The DSL: the seed's space definitions run unchanged, and definition errors point at the
user's file and line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import helpers
from nascompiler.errors import SpaceDefinitionError
from nascompiler.ir import compile_space, specialize
from nascompiler.space import HyperSpace
from nascompiler.spaces import (
    cnn_search_space,
    dnn_search_space,
    enas_micro_search_space,
)

# ----------------------------------------------------------------------------- seed compatibility


def test_seed_dnn_code_compiles_unchanged():
    """The seed's DNN listing (imports renamed only) compiles to the same IR as nascompiler's copy."""
    seed = helpers.fixture("hypernets_dnn")
    space = seed.dnn_search_space(
        input_shape=(10,), output_units=2, output_activation="sigmoid"
    )
    ir = compile_space(space)
    ours = compile_space(
        dnn_search_space(input_shape=(10,), output_units=2, output_activation="sigmoid")
    )
    assert ir.fingerprint == ours.fingerprint
    assert ir.count() == 3 * 3 * 2 * 2 * 6 * 6 * 3
    assert "dense_1.units" in ir.names and "permutation_1.order" in ir.names


def test_seed_cnn_code_compiles_unchanged():
    """The seed's CNN listing compiles (with the seed's own search arguments) like nascompiler's copy."""
    seed = helpers.fixture("hypernets_cnn")
    kwargs = dict(
        input_shape=(28, 28, 1),
        output_units=10,
        output_activation="softmax",
        block_num_choices=[2, 3, 4, 5],
        filters_choices=[32, 64, 128],
        kernel_size_choices=[(1, 1), (3, 3)],
    )
    ir = compile_space(seed.cnn_search_space(**kwargs))
    assert ir.fingerprint == compile_space(cnn_search_space(**kwargs)).fingerprint
    # bn, pooling, filters, kernel, fc units, bn/act order; then the outer repeat (2..5) and the
    # inner repeats of blocks 2.. (3..5 each) that exist only when the outer count reaches them.
    assert ir.count() == 2 * 2 * 3 * 2 * 3 * 2 * (1 + 3 + 3**2 + 3**3)
    graph = specialize(ir, ir.sample(__import__("random").Random(0)))
    assert graph.op("predictions").arg("units") == 10


def test_seed_enas_micro_code_compiles_unchanged():
    """The seed's enas_micro_search_space (star-importing nascompiler.spaces.enas_ops) compiles
    like nascompiler's own ENAS space and specialises the seed's trial to the same candidate.
    """
    seed = helpers.fixture("hypernets_enas_micro")
    ir = compile_space(seed.enas_micro_search_space(arch="NR", hp_dict={}))
    ours = compile_space(enas_micro_search_space(arch="NR"))
    assert ir.fingerprint == ours.fingerprint
    assert len(ir.names) == 32
    trial = helpers.seed_trial_assignment()
    assert specialize(ir, trial).id == specialize(ours, trial).id


def test_seed_enas_cell_code_runs_on_the_dsl():
    """The seed's own ENAS cell code (conv_cell reads ``ic1.hp_choice`` / ``or1.hp_or`` back, shares
    them through hp_dict) runs on the DSL, and the seed's printed trial, read by module number,
    gives exactly the candidate of the hand-mapped trial."""
    ops = helpers.fixture("hypernets_enas_common_ops")
    micro = helpers.fixture("hypernets_enas_micro")
    for name in ("conv_layer", "stem_op", "classfication"):
        setattr(
            micro, name, getattr(ops, name)
        )  # the micro function now uses the seed's cells
    hp_dict: dict = {}
    ir = compile_space(micro.enas_micro_search_space(arch="NR", hp_dict=hp_dict))
    assert len(hp_dict) == 32 and len(ir.names) == 32

    assignment = {}
    for line in helpers.SEED_TRIAL_TEXT.splitlines():
        m = re.match(
            r"\(\d+\) Module_(InputChoice|ModuleChoice)_(\d+)\.hp_\w+:\s+(.+)$", line
        )
        kind = "input_choice" if m.group(1) == "InputChoice" else "module_choice"
        assignment[f"{kind}_{m.group(2)}.choice"] = eval(m.group(3))  # "[0]" or "1"
    assert len(assignment) == 32
    seed_graph = specialize(ir, assignment)
    ours = specialize(
        compile_space(enas_micro_search_space(arch="NR")),
        helpers.seed_trial_assignment(),
    )
    assert seed_graph.id == ours.id
    assert seed_graph.canonical_json == ours.canonical_json


def test_seed_spaces_module_reexports_enas_star_names():
    """``from nascompiler.spaces.enas_ops import *`` provides what the seed's ENAS code uses."""
    namespace: dict = {}
    exec("from nascompiler.spaces.enas_ops import *", namespace)
    for name in ("conv_layer", "stem_op", "classfication", "FactorizedReduction", "np"):
        assert name in namespace


# ----------------------------------------------------------------------------- definition errors

ERRORS_FILE = textwrap.dedent("""
    from nascompiler.space import HyperSpace, Choice, Real, Dynamic
    from nascompiler.layers import Dense, Input, Activation
    from nascompiler.ops import Repeat
    from nascompiler.ir import compile_space


    def empty_choice():
        with HyperSpace().as_default():
            Choice([])  # ERROR: empty_choice


    def non_literal_option():
        with HyperSpace().as_default():
            Choice(["relu", object()])  # ERROR: non_literal_option


    def real_low_above_high():
        with HyperSpace().as_default():
            Real(0.9, 0.1)  # ERROR: real_low_above_high


    def call_on_non_module():
        with HyperSpace().as_default():
            dense = Dense(3)
            dense(42)  # ERROR: call_on_non_module


    def cycle():
        space = HyperSpace()
        with space.as_default():
            x = Input(shape=(4,))
            a = Dense(3)
            b = Dense(3)
            a(b)
            b(a)  # ERROR: cycle
            Dense(2)(Activation("relu")(a))
        return space


    def unconnected_input():
        space = HyperSpace()
        with space.as_default():
            x = Input(shape=(4,))
            Dense(3)(x)
            Dense(5)  # ERROR: unconnected_input
        return space


    def dynamic_missing_parameter():
        with HyperSpace().as_default():
            units = Choice([8, 16])
            Dynamic(lambda units, factor: units * factor,  # ERROR: dynamic_missing_parameter
                    units=units)


    def misspelt_keyword():
        with HyperSpace().as_default():
            Dense(unit=3)  # ERROR: misspelt_keyword


    def slash_in_layer_name():
        with HyperSpace().as_default():
            Dense(3, name="block/dense")  # ERROR: slash_in_layer_name


    def repeat_without_step_argument():
        with HyperSpace().as_default():
            Repeat(lambda: Dense(3), repeat_times=[1, 2])  # ERROR: repeat_without_step_argument
    """)

ERROR_CASES = {
    # case: (raised by compile_space rather than by the definition itself, words in the message)
    "empty_choice": (False, ["Choice", "at least one option"]),
    "non_literal_option": (False, ["option 1", "not a literal"]),
    "real_low_above_high": (False, ["low (0.9) is greater than high (0.1)"]),
    "call_on_non_module": (False, ["42", "not a module"]),
    "cycle": (True, ["cycle", "dense_1", "dense_2"]),
    "unconnected_input": (True, ["has no input"]),
    "dynamic_missing_parameter": (False, ["'factor'", "units="]),
    "misspelt_keyword": (False, ["'unit'", "did you mean 'units'"]),
    "slash_in_layer_name": (False, ["'/'", "block/dense"]),
    "repeat_without_step_argument": (
        False,
        ["Repeat", "module_fn must take one argument"],
    ),
}


@pytest.fixture(scope="module")
def errors_module(tmp_path_factory):
    path = tmp_path_factory.mktemp("dsl_errors") / "my_space.py"
    path.write_text(ERRORS_FILE)
    lines = {
        m.group(1): n
        for n, text in enumerate(ERRORS_FILE.splitlines(), start=1)
        if (m := re.search(r"# ERROR: (\w+)", text))
    }
    return path, helpers.load_file(path), lines


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_definition_error_names_user_file_and_line(errors_module, case):
    """Each mistake is a SpaceDefinitionError located at the user's line: the definition itself
    for what is wrong when written, the call that closed a cycle / the unconnected module for
    what compile_space finds."""
    path, module, lines = errors_module
    at_compile, words = ERROR_CASES[case]
    if at_compile:
        space = getattr(module, case)()  # defining it is fine; compiling it is not
        with pytest.raises(SpaceDefinitionError) as info:
            compile_space(space)
    else:
        with pytest.raises(SpaceDefinitionError) as info:
            getattr(module, case)()
    error = info.value
    assert error.location is not None
    assert Path(error.location.file) == path
    assert error.location.line == lines[case]
    text = str(error)
    assert re.search(rf"{re.escape(path.name)}:{lines[case]}: ", text), text
    for word in words:
        assert word in text


def test_errors_in_compile_space_report_line_of_a_nested_helper(tmp_path):
    """A module created inside a helper function is located at the helper's line, not at
    nascompiler's internals or the caller."""
    path = tmp_path / "helper_space.py"
    path.write_text(textwrap.dedent("""
        from nascompiler.space import HyperSpace
        from nascompiler.layers import Dense, Input


        def block():
            return Dense(4)


        def search_space():
            space = HyperSpace()
            with space.as_default():
                Input(shape=(3,))
                block()
            return space
        """))
    module = helpers.load_file(path)
    with pytest.raises(SpaceDefinitionError) as info:
        compile_space(module.search_space())
    assert info.value.location.line == 7 and Path(info.value.location.file) == path


def test_error_located_at_user_line_through_library_spaces():
    """An error raised while a library space (nascompiler.spaces) is built points at the user's
    call, never into nascompiler's own files."""
    with pytest.raises(SpaceDefinitionError) as info:
        dnn_search_space(
            input_shape=(10,),
            output_units=2,
            output_activation="softmax",
            units_choices=[],
        )
    assert info.value.location.file == __file__
    assert "nascompiler" not in Path(info.value.location.file).parts[-2:]


def test_space_objects_of_different_spaces_do_not_mix():
    """A parameter of one space passed to a module of another is a definition error."""
    from nascompiler.layers import Dense
    from nascompiler.space import Choice

    with HyperSpace().as_default():
        units = Choice([1, 2])
    with HyperSpace().as_default():
        with pytest.raises(SpaceDefinitionError, match="another space"):
            Dense(units)


def test_choice_options_must_differ_even_across_int_and_float():
    """1 and 1.0 cannot both be options: a stored or typed value could not tell them apart."""
    import pytest

    from nascompiler.errors import SpaceDefinitionError
    from nascompiler.space import Choice, HyperSpace

    with HyperSpace().as_default():
        with pytest.raises(SpaceDefinitionError, match="appears twice"):
            Choice([1, 0.5, 1.0])
        assert Choice([True, 1]).options == (True, 1)  # a bool is not a number here
