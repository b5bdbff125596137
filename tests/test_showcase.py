"""generated/examples/ holds the exported winner of a real search; it must stay in sync with the
compiler: re-emitting it from its recorded assignment gives the committed file byte for byte.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from nascompiler.codegen import add_docstring_section, emit
from nascompiler.ir import specialize
from nascompiler.spacefile import load_space_file

REPO = Path(__file__).resolve().parents[1]
SHOWCASE = REPO / "generated" / "examples" / "digits_quick"


def test_showcase_reemits_byte_for_byte(monkeypatch):
    exported = (SHOWCASE / "best_model.py").read_text(encoding="utf-8")
    module = ast.parse(exported)
    assignment = next(
        ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "HYPERPARAMETERS"
    )
    monkeypatch.chdir(
        REPO
    )  # the space is named as the search named it: relative to the repository
    ir = load_space_file("examples/digits_quick.py").compile()
    candidate = emit(specialize(ir, assignment))
    result_block = exported.split("\nSearch result:\n", 1)[1].split('\n"""\n', 1)[0]
    lines = [line[4:] for line in result_block.splitlines()]
    assert add_docstring_section(candidate, "Search result", lines) == exported


@pytest.mark.slow
def test_showcase_loads_its_weights_with_keras_alone(tmp_path):
    program = textwrap.dedent(f"""
        import sys
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        sys.path.insert(0, {str(SHOWCASE)!r})
        import numpy as np
        from best_model import build_model, INPUT_SHAPE

        model = build_model()
        model.load_weights({str(SHOWCASE / "best_model.weights.h5")!r})
        print(model.predict(np.zeros((2,) + INPUT_SHAPE, "float32"), verbose=0).shape)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith("(2, 10)")


def test_showcase_holds_the_whole_export_set():
    """The committed folder is what export writes: the module's files: line names every other
    file in it, and nothing else is there."""
    exported = (SHOWCASE / "best_model.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(exported))
    line = next(l.strip() for l in doc.splitlines() if l.strip().startswith("files: "))
    listed = line[len("files: ") :].split(", ")
    assert listed == [
        "best_model.weights.h5",
        "test_best_model.py",
        "best_model.golden.npz",
        "train_best_model.py",
    ]
    present = sorted(p.name for p in SHOWCASE.iterdir() if p.name != "__pycache__")
    assert present == sorted(listed + ["best_model.py"])


@pytest.mark.slow
def test_showcase_golden_test_passes_with_keras_numpy_and_pytest_alone(tmp_path):
    """The acceptance of issue 11: ``pytest test_best_model.py`` in an environment without
    nascompiler (here: ``python -I -S`` with only the venv's site-packages on the path).
    """
    program = textwrap.dedent(f"""
        import sys, importlib.util
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        assert importlib.util.find_spec("nascompiler") is None
        import pytest
        sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "test_best_model.py"]))
    """)
    work = tmp_path / "digits_quick"
    shutil.copytree(
        SHOWCASE, work
    )  # pytest would write __pycache__ into the repository
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout
    # And as a plain script, with pytest unimportable: `python test_best_model.py`.
    alone = textwrap.dedent(f"""
        import runpy, sys
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        sys.modules["pytest"] = None
        runpy.run_path("test_best_model.py", run_name="__main__")
    """)
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", alone],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 checks passed" in run.stdout


def test_showcase_golden_inputs_are_raw_pixels():
    """The digits example scales inside the model, so the golden test feeds raw images."""
    import numpy as np

    with np.load(SHOWCASE / "best_model.golden.npz") as golden:
        inputs = golden["input_0"]
    assert inputs.max() == 16 and np.array_equal(inputs, np.round(inputs))
    assert "layers.Rescaling(0.0625" in (SHOWCASE / "best_model.py").read_text()
