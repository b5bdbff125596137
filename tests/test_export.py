"""``nascompile export`` as a deliverable: the golden test, the training script, the checked
deployment formats, the consistent file set (issue 12, item 4) and the Keras backends.

One small real study (digits, 4 trials of 1 epoch, only the best trial's weights kept) is made
once by the real ``nascompile search``; exports run in-process through the CLI's ``main``; what
a user's environment runs (the golden test, the training script, the JAX backend) runs in fresh
``python -I -S`` interpreters that cannot import nascompiler.
"""

from __future__ import annotations

import ast
import json
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import helpers
from helpers import NASCOMPILE, SPACE, fresh_python
from nascompiler.cli import main

# JAX against TensorFlow on CPU: other kernels and summation orders, float32 throughout.
# Measured: 7e-9 at most on the random ENAS candidate below (outputs around 0.1); the digits
# golden test passes at the same tolerance. 1e-4 leaves room for other CPUs and kernels.
JAX_TOLERANCE = 1e-4


def cli(args) -> None:
    """The CLI in-process, for fixtures (no capsys): it must succeed."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def run_cli(args, capsys) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """A finished 4-trial study; only the best trial's weights are kept."""
    cwd = tmp_path_factory.mktemp("study")
    result = subprocess.run(
        [NASCOMPILE, "search", str(SPACE), "--max-trials", "4", "--seed", "7"]
        + ["--keep-weights", "1"],
        cwd=cwd,
        env=helpers.clean_env(COLUMNS="160"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    directory = cwd / "generated" / "digits_tiny"
    from nascompiler.storage.store import Store

    store = Store(directory)
    complete = [t for t in store.trials() if t.status == "complete"]
    with_weights = [
        t
        for t in complete
        if (directory / "weights" / f"{t.candidate_id}.weights.h5").exists()
    ]
    without = [t for t in complete if t not in with_weights]
    assert with_weights and without, "the fixture needs trials with and without weights"
    store.close()
    return {
        "dir": directory,
        "kept": with_weights[0],
        "not_kept": without[0],
        "cwd": cwd,
    }


def export(study, out: Path, capsys, *extra) -> tuple[int, str, str]:
    return run_cli(
        ["export", "--study", study["dir"], "--out", out, "--data", SPACE, *extra],
        capsys,
    )


def docstring_files(module: Path) -> list[str]:
    doc = ast.get_docstring(ast.parse(module.read_text()))
    line = next(l for l in doc.splitlines() if l.strip().startswith("files: "))
    return [n.strip() for n in line.strip()[len("files: ") :].split(",")]


# ----------------------------------------------------------------------------- the golden test


@pytest.fixture(scope="module")
def winner(study, tmp_path_factory) -> Path:
    """``export --best --with-training --data SPACE`` into a fresh folder."""
    folder = tmp_path_factory.mktemp("winner")
    cli(
        ["export", "--best", "--study", str(study["dir"]), "--out"]
        + [str(folder / "best_model.py"), "--with-training", "--data", str(SPACE)]
    )
    return folder


@pytest.mark.slow
def test_export_writes_module_weights_golden_test_and_training_script(
    winner, study, tmp_path
):
    names = sorted(p.name for p in winner.iterdir())
    assert names == [
        "best_model.golden.npz",
        "best_model.py",
        "best_model.weights.h5",
        "test_best_model.py",
        "train_best_model.py",
    ]
    assert docstring_files(winner / "best_model.py") == [
        "best_model.weights.h5",
        "test_best_model.py",
        "best_model.golden.npz",
        "train_best_model.py",
    ]
    # Products: black-clean, no nascompiler, only keras / numpy / pytest / the standard library.
    for name in ("test_best_model.py", "train_best_model.py"):
        source = (winner / name).read_text()
        imports = helpers.top_level_imports(source)
        assert not [i for i in imports if "nascompiler" in i], imports
        roots = {i.split()[1].split(".")[0] for i in imports}
        assert roots <= {
            "functools",
            "importlib",
            "pathlib",
            "sys",
            "argparse",
            "keras",
            "numpy",
            "pytest",
        }
    check = helpers.black_check_cli([winner], tmp_path)
    assert check.returncode == 0, check.stderr
    # The golden file: the first validation samples and the trained model's outputs on them.
    from nascompiler.datasets import load_digits

    golden = np.load(winner / "best_model.golden.npz")
    (_, _), (x_val, _) = load_digits(val_fraction=0.2, seed=0)
    np.testing.assert_array_equal(golden["input_0"], x_val[:8])
    assert golden["output_0"].shape == (8, 10)
    np.testing.assert_allclose(golden["output_0"].sum(axis=1), 1.0, rtol=1e-5)
    test_source = (winner / "test_best_model.py").read_text()
    assert f"PARAMETERS = {study['kept'].params}" in test_source


GOLDEN_RUN = """
    import sys, pytest
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "test_best_model.py"]))
"""


@pytest.mark.slow
def test_golden_test_passes_in_a_fresh_interpreter_and_catches_a_wrong_model(
    winner, tmp_path
):
    ok = fresh_python(GOLDEN_RUN, winner)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "3 passed" in ok.stdout
    # Golden outputs off by 1e-3 (a model that is slightly different) must fail the test:
    # it pins the trained values, not just the architecture.
    broken = tmp_path / "broken"
    shutil.copytree(winner, broken)
    with np.load(broken / "best_model.golden.npz") as g:
        arrays = dict(g)
    arrays["output_0"] = arrays["output_0"] + 1e-3
    np.savez(broken / "best_model.golden.npz", **arrays)
    bad = fresh_python(GOLDEN_RUN, broken)
    assert bad.returncode == 1 and "1 failed, 2 passed" in bad.stdout, bad.stdout[
        -3000:
    ]


@pytest.mark.slow
def test_golden_test_passes_under_the_jax_backend(winner):
    """The exported digits winner on KERAS_BACKEND=jax matches TensorFlow's golden outputs."""
    run = fresh_python(
        GOLDEN_RUN.replace(
            "sys.exit(", "import keras; print(keras.backend.backend()); sys.exit("
        ),
        winner,
        KERAS_BACKEND="jax",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.stdout.startswith("jax") and "3 passed" in run.stdout


# ----------------------------------------------------------------------------- training recipe


@pytest.mark.slow
def test_training_script_reproduces_the_searched_trial(winner, study, tmp_path):
    """Retraining from scratch with the same data and seed gives the trial's metrics, with the
    space file's load_data (--data) and with the documented my_data placeholder."""
    placeholder = tmp_path / "placeholder"
    cli(
        ["export", "--best", "--study", str(study["dir"]), "--out"]
        + [str(placeholder / "model.py"), "--with-training", "--no-test"]
    )
    script = (placeholder / "train_model.py").read_text()
    assert "from my_data import load_data" in script
    assert "write my_data.py beside this script" in script
    # The user's data module: digits split as the space file splits it, with scikit-learn.
    (placeholder / "my_data.py").write_text(textwrap.dedent("""
        import numpy as np
        from sklearn.datasets import load_digits

        def load_data():
            digits = load_digits()
            x = (digits.images.astype("float32") / 16.0)[..., None]
            order = np.random.default_rng(0).permutation(len(x))
            val, train = order[:359], order[359:]
            return (x[train], digits.target[train]), (x[val], digits.target[val])
    """))
    program = """
        import importlib.util, json, sys

        def load(path):
            spec = importlib.util.spec_from_file_location("script", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module

        result = {}
        for path in sys.argv[1:]:
            script = load(path)
            model, history = script.train(verbose=0)
            result[path] = {"history": history.history, "searched": script.SEARCHED}
        print(json.dumps(result))
    """
    paths = [str(winner / "train_best_model.py"), str(placeholder / "train_model.py")]
    # The space file given with --data imports nascompiler (for load_digits): a plain interpreter.
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program), *paths],
        cwd=tmp_path,
        env=helpers.clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    kept = study["kept"]
    for path in paths:
        history, searched = result[path]["history"], result[path]["searched"]
        assert searched == {k: v[-1] for k, v in kept.metrics.items()}
        for key, values in kept.metrics.items():
            # Same seed, same data, same order of operations on CPU: equal up to float32 noise.
            assert history[key] == pytest.approx(values, rel=1e-5, abs=1e-6), key


# ----------------------------------------------------------------------------- deployment formats


@pytest.mark.slow
def test_every_format_is_written_reloaded_and_matches(study, tmp_path, capsys):
    out = tmp_path / "best_model.py"
    code, stdout, err = export(
        study,
        out,
        capsys,
        "--best",
        "--no-test",
        *[
            a
            for f in ("keras", "savedmodel", "tflite", "onnx")
            for a in ("--format", f)
        ],
    )
    assert code == 0, err
    for name in (
        "best_model.keras",
        "best_model_savedmodel",
        "best_model.tflite",
        "best_model.onnx",
    ):
        assert (tmp_path / name).exists(), name
        assert f"checked {name}: loaded with" in " ".join(stdout.split())
    assert docstring_files(out) == [
        "best_model.weights.h5",
        "best_model.keras",
        "best_model_savedmodel",
        "best_model.tflite",
        "best_model.onnx",
    ]
    # Check the artifacts independently of export's own check: each runtime against Keras.
    import keras
    import onnxruntime
    import tensorflow as tf

    from nascompiler.datasets import load_digits

    model = helpers.load_file(out).build_model()
    model.load_weights(tmp_path / "best_model.weights.h5")
    (_, _), (x_val, _) = load_digits(val_fraction=0.2, seed=0)
    x = x_val[:16]
    expected = model.predict(x, verbose=0)
    session = onnxruntime.InferenceSession(
        str(tmp_path / "best_model.onnx"), providers=["CPUExecutionProvider"]
    )
    got = {"onnx": session.run(None, {session.get_inputs()[0].name: x})[0]}
    saved = tf.saved_model.load(str(tmp_path / "best_model_savedmodel"))
    got["savedmodel"] = saved.serve(x).numpy()
    got["keras"] = keras.saving.load_model(tmp_path / "best_model.keras").predict(
        x, verbose=0
    )
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "best_model.tflite"))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    got["tflite"] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    for name, value in got.items():
        np.testing.assert_allclose(value, expected, atol=1e-5, err_msg=name)


def test_a_missing_converter_or_a_mismatch_is_one_line(monkeypatch):
    from nascompiler.deliver import deploy
    from nascompiler.errors import UsageError

    real = deploy.importlib.util.find_spec
    monkeypatch.setattr(
        deploy.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tf2onnx" else real(name, *a),
    )
    with pytest.raises(
        UsageError,
        match=r"^--format onnx needs tf2onnx: pip install 'nascompiler\[onnx\]'$",
    ):
        deploy.check_formats_available(["tflite", "onnx"])
    with pytest.raises(
        UsageError,
        match="unknown --format 'coreml'; choose from keras, savedmodel, tflite, onnx",
    ):
        deploy.check_formats_available(["coreml"])
    expected = [np.array([[0.25, 0.75]], dtype="float32")]
    assert deploy.compare("tflite", [expected[0] + 1e-6], expected) == pytest.approx(
        1e-6, rel=0.1
    )
    with pytest.raises(
        UsageError, match=r"--format onnx: the artifact's outputs differ .* up to 0.01"
    ):
        deploy.compare("onnx", [expected[0] + 0.01], expected)


@pytest.mark.slow
def test_format_needs_kept_weights(study, tmp_path, capsys):
    code, _, err = export(
        study,
        tmp_path / "m.py",
        capsys,
        "--trial",
        study["not_kept"].number,
        "--format",
        "tflite",
    )
    assert (
        code == 2
        and "weights were not kept" in err
        and "--format needs trained weights" in err
    )
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- a consistent set


@pytest.mark.slow
def test_reexport_of_a_trial_without_weights_removes_the_other_candidates_files(
    study, tmp_path, capsys
):
    """Issue 12, item 4: trial with weights to v.py, then one without to the same v.py."""
    v = tmp_path / "v.py"
    code, _, err = export(
        study, v, capsys, "--trial", study["kept"].number, "--with-training"
    )
    assert code == 0, err
    assert (tmp_path / "v.weights.h5").exists() and (tmp_path / "v.golden.npz").exists()
    code, out, err = export(study, v, capsys, "--trial", study["not_kept"].number)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.py"]
    text = v.read_text()
    assert f'CANDIDATE_ID = "{study["not_kept"].candidate_id}"' in text
    assert (
        "weights: not kept for this trial" in text
        and "files: (the module alone)" in text
    )
    flat = " ".join(out.split())
    for name in ("v.weights.h5", "test_v.py", "v.golden.npz", "train_v.py"):
        assert f"removed {tmp_path / name}" in flat
    assert "no golden test: the trial's weights were not kept" in flat


@pytest.mark.slow
def test_no_test_and_dropped_formats_remove_the_earlier_pieces(study, tmp_path, capsys):
    m = tmp_path / "m.py"
    assert export(study, m, capsys, "--best", "--format", "tflite")[0] == 0
    assert (tmp_path / "m.tflite").exists() and (tmp_path / "test_m.py").exists()
    code, _, err = export(study, m, capsys, "--best", "--no-test")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py", "m.weights.h5"]
    assert docstring_files(m) == ["m.weights.h5"]


@pytest.mark.slow
def test_files_export_did_not_write_are_refused_without_force(study, tmp_path, capsys):
    u = tmp_path / "u.py"
    mine = tmp_path / "u.weights.h5"
    mine.write_bytes(b"the user's own weights")
    code, _, err = export(study, u, capsys, "--best")
    assert code == 2
    assert err.strip() == (
        f"error: {mine} exists and was not written by nascompile export; move it away or pass --force"
    )
    assert mine.read_bytes() == b"the user's own weights" and not u.exists()
    # The user's own test file beside it is protected the same way.
    mine.unlink()
    (tmp_path / "test_u.py").write_text("def test_mine(): pass\n")
    code, _, err = export(study, u, capsys, "--best")
    assert code == 2 and "test_u.py exists and was not written" in err
    code, _, err = export(study, u, capsys, "--best", "--force")
    assert code == 0, err
    assert "PARAMETERS =" in (tmp_path / "test_u.py").read_text()
    # Once written by export, the files are its own: re-exporting needs no --force.
    assert export(study, u, capsys, "--best")[0] == 0


@pytest.mark.slow
def test_foreign_weights_beside_a_module_without_weights(study, tmp_path, capsys):
    w = tmp_path / "w.py"
    stray = tmp_path / "w.weights.h5"
    stray.write_bytes(b"some other model")
    code, _, err = export(study, w, capsys, "--trial", study["not_kept"].number)
    assert (
        code == 2 and "this trial's weights were not kept" in err and "--force" in err
    )
    assert stray.exists() and not w.exists()
    code, out, err = export(
        study, w, capsys, "--trial", study["not_kept"].number, "--force"
    )
    assert code == 0, err
    assert not stray.exists() and w.exists()


@pytest.mark.slow
def test_out_must_be_an_importable_module_name(study, tmp_path, capsys):
    code, _, err = export(study, tmp_path / "best-model.py", capsys, "--best")
    assert code == 2 and "must name a module that Python can import" in err


# ----------------------------------------------------------------------------- backends


@pytest.mark.slow
def test_random_enas_candidate_predicts_the_same_on_jax_and_tensorflow(tmp_path):
    from nascompiler.codegen import emit
    from nascompiler.ir import compile_space, specialize

    ir = compile_space(helpers.small_enas("NR"))
    assignment = ir.sample(random.Random(11))
    (tmp_path / "enas.py").write_text(emit(specialize(ir, assignment)))
    program = """
        import os, sys
        import numpy as np
        import keras

        sys.path.insert(0, os.getcwd())
        from enas import build_model, INPUT_SHAPE

        keras.utils.set_random_seed(0)
        model = build_model()
        x = np.random.default_rng(0).random((4,) + INPUT_SHAPE).astype("float32")
        if keras.backend.backend() == "tensorflow":
            model.save_weights("enas.weights.h5")  # JAX loads TensorFlow's random weights
        else:
            model.load_weights("enas.weights.h5")
        np.save(f"pred_{keras.backend.backend()}.npy", model.predict(x, verbose=0))
        print(keras.backend.backend(), model.count_params())
    """
    for backend in ("tensorflow", "jax"):
        run = fresh_python(program, tmp_path, KERAS_BACKEND=backend)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split()[0] == backend
    tf_pred, jax_pred = np.load(tmp_path / "pred_tensorflow.npy"), np.load(
        tmp_path / "pred_jax.npy"
    )
    assert tf_pred.shape == (4, 10)
    np.testing.assert_allclose(
        jax_pred, tf_pred, rtol=JAX_TOLERANCE, atol=JAX_TOLERANCE
    )


@pytest.mark.slow
def test_an_export_from_before_the_files_line_still_owns_its_weights(
    study, tmp_path, capsys
):
    """Modules exported before export listed its files named their weights on the weights:
    line; re-exporting over them must not ask for --force."""
    old = tmp_path / "old.py"
    assert export(study, old, capsys, "--best", "--no-test")[0] == 0
    text = old.read_text()
    legacy = "\n".join(l for l in text.splitlines() if "files: " not in l) + "\n"
    old.write_text(legacy)
    assert "weights: old.weights.h5 (model = build_model()" in legacy
    code, _, err = export(study, old, capsys, "--best")
    assert code == 0, err
    assert docstring_files(old)[0] == "old.weights.h5"


@pytest.mark.slow
def test_missing_data_is_one_line_naming_data(study, tmp_path, capsys):
    """A study searched elsewhere: its space file is not found from here."""
    from nascompiler.storage.store import Store

    moved = tmp_path / "moved"
    shutil.copytree(study["dir"], moved)
    store = Store(moved)
    store.set_meta(space_file="elsewhere/digits_tiny.py")
    store.close()
    args = ["export", "--study", moved, "--best", "--out", tmp_path / "m.py"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "its space file elsewhere/digits_tiny.py is not found from here" in err
    assert "pass --data space.py (or --no-test)" in err
    assert not (tmp_path / "m.py").exists()
    code, _, err = run_cli(args + ["--data", tmp_path / "nope.py"], capsys)
    assert code == 2 and "--data" in err and "no such file" in err
    code, _, err = run_cli(args + ["--no-test"], capsys)
    assert code == 0, err
