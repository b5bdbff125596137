"""generated/examples/ holds the exported winner of a real search; it must stay in sync with the
compiler: re-emitting it from its recorded assignment gives the committed file byte for byte.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

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
