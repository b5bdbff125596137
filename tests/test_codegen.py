"""Emission: the generated module is valid, black-formatted, keras-only, deterministic,
readable, and safe whatever strings the space holds."""

from __future__ import annotations

import ast
import random

import black
import pytest

import helpers
from helpers import HOSTILE_LAYER_NAMES, hostile_option_strings
from nascompiler.codegen import emit, render_literal
from nascompiler.errors import SpaceDefinitionError
from nascompiler.ir import compile_space, specialize
from nascompiler.ir.cost import candidate_cost
from nascompiler.layers import Dense
from nascompiler.space import HyperSpace

ALLOWED_IMPORTS = {"import keras", "from keras import layers"}


def _check_module_structure(source: str, graph) -> None:
    tree = ast.parse(source)
    assert set(helpers.top_level_imports(source)) == ALLOWED_IMPORTS
    assert (
        "nascompiler" not in source.split('"""', 2)[2]
    )  # the code after the docstring
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert names == {"build_model"}
    assert helpers.module_constant(source, "CANDIDATE_ID") == graph.id
    assert helpers.module_constant(source, "INPUT_SHAPE") == graph.inputs[0].arg(
        "shape"
    )
    assert helpers.module_constant(source, "HYPERPARAMETERS") == dict(graph.assignment)
    docstring = ast.get_docstring(tree)
    assert docstring.startswith(f"Candidate {graph.id}")
    for name, value in graph.assignment:
        assert f"    {name} = {render_literal(value)}" in docstring
    main = tree.body[-1]
    assert (
        isinstance(main, ast.If) and ast.unparse(main.test) == "__name__ == '__main__'"
    )
    assert black.format_str(source, mode=black.Mode()) == source


@pytest.mark.slow
@pytest.mark.parametrize(
    "key", ["dnn_bn_act_first", "cnn_three_blocks", "enas_small", "enas_seed_trial"]
)
def test_emitted_module_structure(fixed_builds, key):
    """Parses, black-clean, imports only keras, holds build_model, CANDIDATE_ID, INPUT_SHAPE,
    HYPERPARAMETERS, a docstring listing the assignment and its cost, and a __main__ block;
    the parameter count the docstring states is the one Keras builds."""
    built = fixed_builds[key]
    _check_module_structure(built.source, built.graph)
    docstring = ast.get_docstring(ast.parse(built.source))
    cost = candidate_cost(built.graph)
    assert "\nCost (computed from the architecture, before training):\n" in docstring
    assert f"    parameters = {built.report['count_params']:,}" in docstring
    assert f"    FLOPs per sample (forward) = {cost.flops:,}\n" in docstring
    assert (
        f"    peak activation memory per sample = {cost.activation_bytes:,} bytes"
        in docstring
    )


@pytest.mark.slow
def test_black_cli_accepts_emitted_modules(fixed_builds, tmp_path):
    """The real ``black --check`` command agrees (default settings)."""
    folder = tmp_path / "emitted"
    folder.mkdir()
    for key, built in fixed_builds.candidates.items():
        (folder / f"{key}.py").write_text(built.source, encoding="utf-8")
    result = helpers.black_check_cli([folder], tmp_path)
    assert result.returncode == 0, result.stderr
    broken = folder / "broken.py"
    broken.write_text("x = ( 1 )\n")
    assert (
        helpers.black_check_cli([broken], tmp_path).returncode == 1
    )  # the check does check


def test_emission_is_byte_identical_across_runs():
    """Emitting the same assignment twice, from two separately compiled spaces, gives the same bytes."""
    for factory in (helpers.small_dnn, helpers.small_cnn, helpers.small_enas):
        first, second = compile_space(factory()), compile_space(factory())
        assignment = first.sample(random.Random(11))
        a, b = emit(specialize(first, assignment)), emit(specialize(second, assignment))
        assert a == b
        assert emit(specialize(first, assignment)) == a


@pytest.mark.slow
def test_linear_chain_reuses_x(fixed_builds):
    """A chain reads ``x = layers.Dense(...)(x)``; only the input and output have other names."""
    source = fixed_builds["dnn_bn_act_first"].source
    build = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    targets = [s.targets[0].id for s in build.body if isinstance(s, ast.Assign)]
    assert targets[0] == "inputs" and targets[-1] == "outputs"
    assert set(targets[1:-1]) == {"x"}
    assert 'x = layers.Dense(16, name="dense_1")(inputs)' in source
    assert 'x = layers.Dense(12, name="dense_2")(x)' in source


@pytest.mark.slow
def test_branching_graph_names_variables_after_layers(fixed_builds):
    """Outputs used twice (ENAS cell inputs) get a variable named after their layer."""
    source = fixed_builds["enas_small"].source
    assert "normal_c1_input0_filters_aligning_bn = layers.BatchNormalization(" in source


def test_emit_adds_docstring_sections_without_changing_code():
    ir = compile_space(helpers.small_dnn())
    graph = specialize(ir, ir.sample(random.Random(0)))
    plain = emit(graph)
    with_section = emit(
        graph, sections=[("Scored", ['val_accuracy = 0.9 """ \\ ', "line\ntwo"])]
    )
    assert ast.get_docstring(ast.parse(with_section)).count("Scored:") == 1
    assert (
        plain.split('"""\n', 2)[2] == with_section.split('"""\n', 2)[2]
    )  # the code is unchanged
    assert black.format_str(with_section, mode=black.Mode()) == with_section


# ----------------------------------------------------------------------------- hostile strings


@pytest.mark.slow
def test_hostile_layer_names_stay_data(fixed_builds):
    """Layer names holding quotes, backslashes, newlines, triple quotes, code and unicode are
    emitted as string literals: the module parses, is black-clean, builds in a fresh
    interpreter with every name kept as the layer's name, and running it creates no file.
    """
    built = fixed_builds["hostile_names"]
    source = built.source
    ast.parse(source)
    assert black.format_str(source, mode=black.Mode()) == source
    report = built.report
    assert "error" not in report, report.get("error")
    names = [layer["name"] for layer in report["layers"]]
    for name in HOSTILE_LAYER_NAMES:
        assert name in names, name
    assert 'in"put\n' in names
    assert "main_output" in report and "Total params" in report["main_output"]
    leftovers = sorted(
        p.name for p in fixed_builds.workdir.iterdir() if "canary" in p.name
    )
    assert leftovers == []
    assert not fixed_builds.canary.exists()
    # the names did not become variables that shadow the module's own names
    build = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    targets = {t.id for s in build.body if isinstance(s, ast.Assign) for t in s.targets}
    assert not targets & {
        "keras",
        "layers",
        "build_model",
        "CANDIDATE_ID",
        "INPUT_SHAPE",
        "HYPERPARAMETERS",
    }
    # every name reaches the parameter table too (HYPERPARAMETERS keys) intact
    hyper = helpers.module_constant(source, "HYPERPARAMETERS")
    assert (
        f"{HOSTILE_LAYER_NAMES[0]}.units" in hyper
        and f"{HOSTILE_LAYER_NAMES[4]}.units" in hyper
    )


@pytest.mark.slow
@pytest.mark.parametrize("index", range(6))
def test_hostile_choice_option_stays_a_string(fixed_builds, index):
    """A Choice option like ``"); import os; os.system("touch ...")`` used as an activation is
    a string literal in the code and in HYPERPARAMETERS; importing the module runs nothing, and
    Keras receives the string itself as the activation's identifier."""
    option = hostile_option_strings(fixed_builds.canary)[index]
    built = fixed_builds[f"hostile_option_{index}"]
    source = built.source
    tree = ast.parse(source)
    assert black.format_str(source, mode=black.Mode()) == source
    assert (
        helpers.module_constant(source, "HYPERPARAMETERS")["act.activation"] == option
    )
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "layers.Activation"
    ]
    assert (
        len(calls) == 1
        and isinstance(calls[0].args[0], ast.Constant)
        and calls[0].args[0].value == option
    )
    # only top-level statements: docstring, two imports, three constants, build_model, __main__
    assert [type(n).__name__ for n in tree.body] == [
        "Expr",
        "Import",
        "ImportFrom",
        "Assign",
        "Assign",
        "Assign",
        "FunctionDef",
        "If",
    ]
    error = built.report.get("error", "")
    assert "Could not interpret activation function identifier" in error
    assert not fixed_builds.canary.exists()


@pytest.mark.slow
def test_hostile_modules_pass_black_cli(fixed_builds, tmp_path):
    paths = [
        fixed_builds[k].path for k in fixed_builds.candidates if k.startswith("hostile")
    ]
    assert len(paths) == 7
    result = helpers.black_check_cli(paths, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name, words", [("block/dense", "'/'"), ("", "non-empty"), (3, "non-empty string")]
)
def test_names_keras_rejects_are_rejected_by_the_dsl(name, words):
    """Keras 3 forbids '/' in layer names; the DSL says so where the layer is written."""
    with HyperSpace().as_default():
        with pytest.raises(SpaceDefinitionError, match=words) as info:
            Dense(3, name=name)
    assert info.value.location.file == __file__


def test_render_literal_refuses_non_literals():
    for value in (object(), float("nan"), {"a": 1}, b"bytes"):
        with pytest.raises(ValueError):
            render_literal(value)
    tricky = ['"); import os #', "'''", '"""', "\\", "\n", "π", "\x00", "\u2028"]
    for text in tricky:
        assert ast.literal_eval(render_literal(text)) == text
        assert ast.literal_eval(render_literal((text, 1, None, (2.5, True)))) == (
            text,
            1,
            None,
            (2.5, True),
        )
