"""The weight-sharing supernet (``nascompile supernet``, codegen/supernet.py).

The main check: for each construct the supernet expresses, the supernet with a candidate's
switches computes the same function as that candidate's own module given the same weights
(``copy_weights`` copies the shared weights into it). The modules run in a fresh interpreter
where nascompiler cannot be imported, as a user's code sees them.
"""

from __future__ import annotations

import ast
import json
import math
import random
import subprocess
import textwrap
from pathlib import Path

import pytest

from helpers import (
    NASCOMPILE,
    PYTHON,
    REPO,
    SITE_PACKAGES,
    black_check_cli,
    clean_env,
    small_dnn,
    top_level_imports,
)
from nascompiler.codegen import emit
from nascompiler.codegen.formatting import format_source
from nascompiler.codegen.supernet import SupernetUnsupported, emit_supernet
from nascompiler.ir import compile_space, specialize
from nascompiler.spacefile import load_space_file
from nascompiler.spaces import enas_micro_search_space

# Every construct the supernet expresses, each in a small space of its own (8 features in).
CONSTRUCT_SPACES = {
    "activation_choice_after_a_searched_width": """
        x = Dense(Choice([3, 5]))(Input(shape=(8,)))
        x = Activation(Choice(["relu", "tanh", "sigmoid"]))(x)
        Dense(2, activation="softmax")(x)
    """,
    "dense_activation_and_width": """
        x = Dense(Choice([4, 6]), activation=Choice(["relu", "sigmoid"]))(Input(shape=(8,)))
        Dense(2)(x)
    """,
    "module_choice_of_different_widths": """
        x = Dense(4)(Input(shape=(8,)))
        x = ModuleChoice([Dense(Choice([3, 6])), Dropout(0.3), Identity()])(x)
        Dense(2)(x)
    """,
    "optional_batch_normalization": """
        x = Dense(Choice([2, 5]))(Input(shape=(8,)))
        x = Optional(BatchNormalization(), keep_link=True)(x)
        Dense(3)(x)
    """,
    "permutation": """
        x = Dense(Choice([4, 6]))(Input(shape=(8,)))
        x = Permutation(
            [Activation("sigmoid"), BatchNormalization(), Dropout(Real(0.0, 0.4, step=0.2))]
        )(x)
        Dense(2)(x)
    """,
    "input_choice": """
        inputs = Input(shape=(8,))
        a = Dense(4)(inputs)
        b = Dense(Choice([2, 6]), activation="tanh")(inputs)
        x = InputChoice([a, b], 1)([a, b])
        Dense(2)(x)
    """,
    "conv_filters_and_kernel_sizes": """
        x = Conv2D(Choice([2, 4]), Choice([(1, 1), (3, 3)]), padding="same")(
            Input(shape=(6, 6, 1))
        )
        x = Optional(BatchNormalization(), keep_link=True)(x)
        x = Activation(Choice(["relu", "sigmoid"]))(x)
        x = ModuleChoice([MaxPooling2D(padding="same"), AveragePooling2D(padding="same")])(x)
        x = Conv2D(Choice([3, 5]), (3, 3), activation="relu")(x)
        Dense(2)(GlobalAveragePooling2D()(x))
    """,
    "repeat_with_dynamic_widths": """
        units = Choice([4, 8])
        x = Input(shape=(8,))
        x = Repeat(
            lambda step: Sequential([
                Dense(Dynamic(lambda_fn=lambda u: u // (step + 1), u=units)),
                Activation("relu"),
            ]),
            repeat_times=[1, 2, 3],
        )(x)
        Dense(2)(x)
    """,
}

IMPORTS = """
from nascompiler.layers import (
    Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout,
    GlobalAveragePooling2D, Input, MaxPooling2D
)
from nascompiler.ops import (
    Identity, InputChoice, ModuleChoice, Optional, Permutation, Repeat, Sequential
)
from nascompiler.space import Choice, Dynamic, HyperSpace, Real
"""


def construct_space(body: str):
    namespace: dict = {}
    exec(IMPORTS, namespace)
    space = namespace["HyperSpace"]()
    with space.as_default():
        exec(textwrap.dedent(body), namespace)
    return space


def assignments(ir, count: int, seed: int = 0) -> list[dict]:
    """Up to ``count`` assignments giving distinct candidates."""
    rng = random.Random(seed)
    found: dict[str, dict] = {}
    for _ in range(count * 20):
        values = ir.sample(rng)
        found.setdefault(specialize(ir, values).id, values)
        if len(found) == count:
            break
    return list(found.values())


# Run with ``python -I -S`` and only site-packages on the path: nascompiler is not importable.
# For each space (one interpreter for all: Keras is imported once) it gives the supernet random
# weights (random batch-norm statistics too), then for each candidate copies them in and
# compares outputs; it also trains the supernet for an epoch and scores one candidate, and
# reports all of it as JSON.
CHECK_PROGRAM = textwrap.dedent(r"""
    import importlib.util, json, random, sys
    out_path, site_packages, request_path = sys.argv[1:]
    sys.path.append(site_packages)
    try:
        import nascompiler  # noqa: F401
    except ImportError:
        importable = False
    else:
        importable = True
    import numpy as np

    def load(path, name):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    reports = {}
    with open(request_path) as f:
        request = json.load(f)
    for space, files in request.items():
        sn = load(files["supernet"], f"supernet_{space}")
        model = sn.build_supernet()
        rng = np.random.default_rng(0)
        for w in model.weights:
            values = rng.normal(size=w.shape) * 0.5
            if "variance" in w.path:
                values = np.abs(values) + 0.5
            w.assign(values.astype("float32"))
        x = rng.normal(size=(6,) + sn.INPUT_SHAPE).astype("float32")
        report = reports[space] = {"importable": importable, "differences": {}}
        for path in files["candidates"]:
            module = load(path, "candidate")
            candidate = module.build_model()
            sn.copy_weights(model, candidate)
            mine = np.asarray(candidate(x, training=False))
            shared = np.asarray(model([x, sn.switch_rows(module.HYPERPARAMETERS, len(x))]))
            report["differences"][module.CANDIDATE_ID] = float(np.abs(mine - shared).max())
        model.compile(optimizer="adam", loss="mse")
        y = rng.normal(size=(64,) + tuple(model.output.shape[1:])).astype("float32")
        data = rng.normal(size=(64,) + sn.INPUT_SHAPE).astype("float32")
        history = sn.train(model, data, y, epochs=1, batch_size=16, verbose=0)
        report["trained_loss"] = history.history["loss"][-1]
        path = sn.sample_hyperparameters(random.Random(1))
        report["evaluated"] = sn.evaluate(model, path, data, y, calibration=data)
    with open(out_path, "w") as f:
        json.dump(reports, f)
""")


def check_in_fresh_interpreter(request: dict, tmp: Path) -> dict:
    """Run CHECK_PROGRAM on ``request`` (space -> its supernet and candidate modules)."""
    program = tmp / "check_supernet.py"
    program.write_text(CHECK_PROGRAM)
    (tmp / "request.json").write_text(json.dumps(request))
    out = tmp / "report.json"
    result = subprocess.run(
        [PYTHON, "-I", "-S", str(program), str(out), SITE_PACKAGES, "request.json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(out.read_text())


def write_space_products(ir, folder: Path, count: int) -> tuple[Path, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    supernet = folder / "supernet.py"
    supernet.write_text(emit_supernet(ir))
    candidates = []
    for values in assignments(ir, count):
        graph = specialize(ir, values)
        path = folder / f"candidate_{graph.id}.py"
        path.write_text(emit(graph))
        candidates.append(path)
    return supernet, candidates


@pytest.mark.slow
def test_the_supernet_computes_each_candidate_of_each_construct(tmp_path):
    spaces = {
        name: compile_space(construct_space(body))
        for name, body in CONSTRUCT_SPACES.items()
    }
    spaces["seed_dnn_space"] = compile_space(small_dnn())
    # ENAS cells: loose ends concatenated (which ones depends on the input choices) and an
    # input aligned only when its concatenation has more than one (arch NRN).
    # The example's own space at full size (28x28 images, 16 filters): it builds, trains an
    # epoch on 64 images and scores a path, standalone.
    spaces["example_fashion_enas"] = load_space_file(
        REPO / "examples" / "fashion_enas.py"
    ).compile()
    for arch, nodes in (("NR", 3), ("NRN", 2)):
        spaces[f"enas_{arch}"] = compile_space(
            enas_micro_search_space(
                arch=arch,
                input_shape=(8, 8, 1),
                init_filters=4,
                node_num=nodes,
                classes=3,
            )
        )
    request = {}
    for name, ir in spaces.items():
        count = 2 if name.startswith("example_") else 8
        supernet, candidates = write_space_products(ir, tmp_path / name, count)
        assert len(candidates) >= 2, name
        request[name] = {
            "supernet": str(supernet),
            "candidates": [str(c) for c in candidates],
        }
    reports = check_in_fresh_interpreter(request, tmp_path)
    assert set(reports) == set(spaces)
    for name, report in reports.items():
        assert report["importable"] is False
        assert len(report["differences"]) == len(request[name]["candidates"])
        for candidate, difference in report["differences"].items():
            assert (
                difference < 1e-4
            ), f"{name}: candidate {candidate} differs by {difference}"
        assert math.isfinite(report["trained_loss"]), name
        assert set(report["evaluated"]) == {"loss"}


def test_the_module_is_black_formatted_standalone_and_deterministic():
    ir = compile_space(construct_space(CONSTRUCT_SPACES["permutation"]))
    source = emit_supernet(ir)
    assert source == emit_supernet(
        compile_space(construct_space(CONSTRUCT_SPACES["permutation"]))
    )
    assert format_source(source) == source
    imports = top_level_imports(source)
    assert not [i for i in imports if "nascompiler" in i], imports
    ast.parse(source)
    # The docstring lists the switches, so a reader knows what each column means.
    assert "permutation_1.order, as its position in" in source


def test_a_dynamic_width_becomes_a_table_of_its_results():
    ir = compile_space(construct_space(CONSTRUCT_SPACES["repeat_with_dynamic_widths"]))
    source = emit_supernet(ir)
    tree = ast.parse(source)
    tables = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id.endswith("_TABLE")
    }
    # Step k divides the chosen units by k + 1.
    assert tables == {
        "DENSE_1_TABLE": {(4,): 4, (8,): 8},
        "DENSE_2_TABLE": {(4,): 2, (8,): 4},
        "DENSE_3_TABLE": {(4,): 1, (8,): 2},
    }


@pytest.mark.parametrize(
    "body, message",
    [
        (
            """
            from nascompiler.layers import Conv2D, Flatten
            x = Conv2D(Choice([2, 4]), (3, 3))(Input(shape=(6, 6, 1)))
            Dense(2)(Flatten()(x))
            """,
            "flatten_1 (Flatten): it follows a layer of searched width (flattened,",
        ),
        (
            """
            from nascompiler.layers import Conv2D, GlobalAveragePooling2D, MaxPooling2D
            x = Repeat(
                lambda step: Sequential([Conv2D(2, (3, 3), padding="same"), MaxPooling2D()]),
                repeat_times=[1, 2],
            )(Input(shape=(8, 8, 1)))
            Dense(2)(GlobalAveragePooling2D()(x))
            """,
            "repeat_1 (Repeat): its branches give tensors of other shapes: (None, 4, 4, 2), "
            "(None, 2, 2, 2)",
        ),
        (
            """
            x = Dense(4)(Input(shape=(8,)))
            Dropout(Real(0.1, 0.5))(x)
            """,
            "dropout_1.rate is a continuous range",
        ),
        (
            """
            x = Dense(Choice([2, 4]), activation="softmax")(Input(shape=(8,)))
            """,
            "a softmax over a searched width",
        ),
        (
            """
            from nascompiler.layers.enas import SafeConcatenate
            x = Input(shape=(8,))
            SafeConcatenate(4, "c_")([Dense(Choice([2, 4]))(x), Dense(4)(x)])
            """,
            "safe_concatenate_1 (SafeConcatenate): it concatenates tensors of searched or "
            "unknown width",
        ),
    ],
)
def test_what_it_cannot_express_is_named_with_its_line(body, message):
    space = construct_space(body)
    with pytest.raises(SupernetUnsupported) as caught:
        emit_supernet(compile_space(space))
    assert message in str(caught.value)
    assert "the supernet cannot express it" in str(caught.value)


@pytest.mark.slow
def test_the_cli_writes_the_module_and_refuses_what_it_cannot_express(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [
            NASCOMPILE,
            "supernet",
            str(REPO / "examples" / "fashion_enas.py"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'supernet.py'}" in result.stdout
    assert black_check_cli([out / "supernet.py"], tmp_path).returncode == 0
    assert "nascompiler" not in "\n".join(
        top_level_imports((out / "supernet.py").read_text())
    )
    # Running it again replaces its own file; a file it did not write is kept.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "supernet.py").write_text("my own work\n")
    refused = subprocess.run(
        [
            NASCOMPILE,
            "supernet",
            str(REPO / "examples" / "fashion_dnn.py"),
            "--out",
            "mine",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "was not written by nascompile supernet" in refused.stderr
    assert (tmp_path / "mine" / "supernet.py").read_text() == "my own work\n"
    space = tmp_path / "conv_space.py"
    space.write_text(textwrap.dedent("""
        from nascompiler.layers import Conv2D, Dense, Flatten, Input
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Conv2D(Choice([2, 4]), (3, 3))(Input(shape=(6, 6, 1)))
                Dense(2)(Flatten()(x))
            return space
    """))
    failed = subprocess.run(
        [NASCOMPILE, "supernet", str(space)],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert "conv_space.py:9: flatten_1 (Flatten)" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
