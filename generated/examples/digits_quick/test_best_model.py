"""Golden test of best_model.py, written by nascompile export.

It builds the model from best_model.py, loads best_model.weights.h5 and checks that the
outputs on 8 validation samples are the trained model's outputs at export time
(best_model.golden.npz), and that the input/output shapes and the parameter count are the
exported ones. It needs keras (with a backend: tensorflow, jax or torch) and numpy, nothing
else; it runs alone or under pytest:

    python test_best_model.py
    pytest test_best_model.py
    KERAS_BACKEND=jax python test_best_model.py    (or torch; tolerances below)

The golden outputs were computed with Keras 3.15.1 on the tensorflow backend, on CPU.
"""

import functools
import importlib.util
import pathlib

import keras
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
MODULE = HERE / "best_model.py"
WEIGHTS = HERE / "best_model.weights.h5"
GOLDEN = HERE / "best_model.golden.npz"
PARAMETERS = 16794
INPUT_SHAPES = [(None, 8, 8, 1)]
OUTPUT_SHAPES = [(None, 10)]
# Largest difference allowed between an output and its golden value, per Keras backend
# (absolute, and relative to the golden value): the same backend differs only by the order
# of floating-point sums (threads, oneDNN); another backend uses other kernels.
TOLERANCE = {"tensorflow": 1e-05, "jax": 0.0001, "torch": 0.0001}


def load_module():
    spec = importlib.util.spec_from_file_location(MODULE.stem, MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=None)
def trained_model():
    model = load_module().build_model()
    model.load_weights(WEIGHTS)
    return model


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def test_parameter_count():
    model = trained_model()
    assert model.count_params() == PARAMETERS


def test_input_and_output_shapes():
    model = trained_model()
    assert [tuple(t.shape) for t in model.inputs] == INPUT_SHAPES
    assert [tuple(t.shape) for t in model.outputs] == OUTPUT_SHAPES


def test_outputs_match_the_golden_outputs():
    model = trained_model()
    with np.load(GOLDEN) as golden:
        inputs = [golden[f"input_{i}"] for i in range(len(INPUT_SHAPES))]
        expected = [golden[f"output_{i}"] for i in range(len(OUTPUT_SHAPES))]
    outputs = as_list(
        model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
    )
    tolerance = TOLERANCE.get(keras.backend.backend(), max(TOLERANCE.values()))
    assert len(outputs) == len(expected)
    for output, golden in zip(outputs, expected):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(output), golden, rtol=tolerance, atol=tolerance
        )


if __name__ == "__main__":
    checks = [
        test_parameter_count,
        test_input_and_output_shapes,
        test_outputs_match_the_golden_outputs,
    ]
    for check in checks:
        check()  # an AssertionError ends the run with its traceback and exit code 1
        print(f"ok  {check.__name__}")
    print(
        f"{len(checks)} checks passed: {MODULE.name} with {WEIGHTS.name} gives the exported outputs"
    )
