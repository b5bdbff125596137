"""Repeated ENAS cells are emitted as functions (issue 11, item 4): the module calls
``normal_cell`` / ``reduction_cell`` and builds exactly the network the inline code builds.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import textwrap

import black
import pytest

import helpers
from nascompiler.codegen import emit
from nascompiler.ir import compile_space, specialize

pytestmark = pytest.mark.slow

SEEDS = range(6)


@pytest.fixture(scope="module")
def nrnr():
    ir = compile_space(helpers.small_enas("NRNR"))
    return [specialize(ir, ir.sample(random.Random(seed))) for seed in SEEDS]


def functions(source: str) -> list[str]:
    return re.findall(r"^def (\w+)\(", source, re.M)


def test_repeated_cells_become_functions_that_are_called(nrnr):
    seen = set()
    for graph in nrnr:
        source = emit(graph)
        names = functions(source)
        assert names[-1] == "build_model"
        for name in names[:-1]:
            assert name in ("normal_cell", "reduction_cell")
            calls = re.findall(rf"= {name}\(", source)
            assert len(calls) == 2, (name, calls)  # NRNR: two cells of each kind
        seen.update(names)
        # Every layer keeps its name: each inline name is in the structured source, either
        # whole (outside the cells) or as its cell's prefix + the ending inside the function.
        for op in graph.ops:
            ending = re.sub(r"^\d+_(normal|reduction)_C\d+_", "", op.name)
            assert f'"{op.name}"' in source or f'prefix + "{ending}"' in source, op.name
        assert emit(graph) == source  # byte-deterministic
        # Functions are formatted apart from the module; the result is black's on the whole.
        assert black.format_str(source, mode=black.Mode()) == source
        assert len(source.splitlines()) < len(
            emit(graph, structured=False).splitlines()
        )
    assert {"normal_cell", "reduction_cell"} <= seen


def test_candidates_without_repetition_look_as_before(dnn_ir, cnn_ir):
    for ir in (dnn_ir, cnn_ir, compile_space(helpers.small_enas("NR"))):
        for seed in range(4):
            graph = specialize(ir, ir.sample(random.Random(seed)))
            assert emit(graph) == emit(graph, structured=False)


def test_structured_modules_pass_black(nrnr, tmp_path):
    paths = []
    for i, graph in enumerate(nrnr):
        path = tmp_path / f"cells_{i}.py"
        path.write_text(emit(graph))
        paths.append(path)
    check = helpers.black_check_cli(paths, tmp_path)
    assert check.returncode == 0, check.stderr


def test_structured_module_builds_the_identical_network(nrnr, tmp_path):
    """Same layer names in the same order, same parameter count, and the inline module's
    weights file loads into the structured one and gives identical predictions."""
    for i, graph in enumerate(nrnr[:3]):
        (tmp_path / f"inline_{i}.py").write_text(emit(graph, structured=False))
        (tmp_path / f"cells_{i}.py").write_text(emit(graph))
    program = textwrap.dedent(f"""
        import importlib.util, json, sys
        sys.path.append({helpers.SITE_PACKAGES!r})
        assert importlib.util.find_spec("nascompiler") is None
        import numpy as np
        import keras

        def load(path):
            spec = importlib.util.spec_from_file_location(path[:-3], path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module

        report = []
        for i in range(3):
            keras.utils.set_random_seed(i)
            inline = load(f"inline_{{i}}.py").build_model()
            cells = load(f"cells_{{i}}.py").build_model()
            inline.save_weights(f"inline_{{i}}.weights.h5")
            cells.load_weights(f"inline_{{i}}.weights.h5")
            x = np.random.default_rng(i).random((2,) + inline.input_shape[1:]).astype("float32")
            report.append({{
                "names": [l.name for l in inline.layers] == [l.name for l in cells.layers],
                "params": [inline.count_params(), cells.count_params()],
                "same": bool(np.array_equal(inline.predict(x, verbose=0), cells.predict(x, verbose=0))),
            }})
        print(json.dumps(report))
    """)
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        cwd=tmp_path,
        env=helpers.clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    for entry in json.loads(run.stdout.strip().splitlines()[-1]):
        assert entry["names"]
        assert entry["params"][0] == entry["params"][1] > 0
        assert entry["same"]
