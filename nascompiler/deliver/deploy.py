"""The Keras side of ``export``: the trained model's golden outputs and the deployment
artifacts, each loaded back with its own runtime and checked against the Keras model.

Artifacts are made by Keras' own exporters (``model.save`` for ``.keras``, ``model.export``
for SavedModel, LiteRT/TFLite and ONNX), never by code of ours. This module imports Keras, so
``export`` imports it only when it writes a golden test or a format.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import UsageError

GOLDEN_SAMPLES = 8
# An artifact matches when every output is within this of the Keras model's, absolutely and
# relative to the Keras value: converters fuse and reorder float32 operations.
ARTIFACT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Format:
    name: str
    suffix: (
        str  # appended to the module's stem: best_model.onnx, best_model_savedmodel/
    )
    runtime: str  # what loads it back, for messages
    needs: tuple[tuple[str, str], ...]  # (module, pip package) that must be importable
    directory: bool = False


FORMATS = {
    "keras": Format("keras", ".keras", "keras.saving.load_model", ()),
    "savedmodel": Format(
        "savedmodel",
        "_savedmodel",
        "tf.saved_model.load",
        (("tensorflow", "tensorflow"),),
        directory=True,
    ),
    "tflite": Format(
        "tflite", ".tflite", "the TFLite interpreter", (("tensorflow", "tensorflow"),)
    ),
    "onnx": Format(
        "onnx",
        ".onnx",
        "onnxruntime",
        (("tf2onnx", "tf2onnx"), ("onnxruntime", "onnxruntime")),
    ),
}


def check_formats_available(names: Sequence[str]) -> None:
    """Raise a one-line :class:`UsageError` for an unknown format or a missing converter,
    before any work is done."""
    for name in names:
        if name not in FORMATS:
            raise UsageError(
                f"unknown --format {name!r}; choose from {', '.join(FORMATS)}"
            )
        missing = [
            package
            for module, package in FORMATS[name].needs
            if importlib.util.find_spec(module) is None
        ]
        if missing:
            extra = "[onnx]" if name == "onnx" else ""
            raise UsageError(
                f"--format {name} needs {' and '.join(missing)}: pip install "
                + (f"'nascompiler{extra}'" if extra else " ".join(missing))
            )


def quiet_tensorflow() -> None:
    """Before Keras is imported: no TensorFlow start-up chatter on the export's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_held() -> Iterator[None]:
    """Hold what is written to file descriptor 2 while the block runs, and show it only if the
    block fails with something other than a :class:`UsageError`.

    TensorFlow's C++ start-up lines (absl's "All log messages before absl::InitializeLog()",
    oneDNN's notice, the CUDA probes) are written there whatever ``TF_CPP_MIN_LOG_LEVEL``
    says; an export that works should print only what it wrote, and one that crashes should
    still show everything."""
    quiet_tensorflow()
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to hold
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        shown = True
        try:
            yield
            shown = False
        except UsageError:
            shown = False
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if shown:
                held.seek(0)
                text = held.read().decode("utf-8", "replace")
                sys.stderr.write(text)
                sys.stderr.flush()


def load_trained_model(module_path: Path, weights_path: Path) -> Any:
    """The model of ``module_path`` (imported by path, as production code would) with the
    trial's weights."""
    quiet_tensorflow()
    name = f"nascompiler_export_{module_path.stem}"
    spec = importlib.util.spec_from_file_location(name, module_path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {module_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    model = module.build_model()
    model.load_weights(weights_path)
    return model


def golden_inputs(x_val: Any, samples: int = GOLDEN_SAMPLES) -> list[np.ndarray]:
    """The first ``samples`` validation inputs (a fixed choice: the same data gives the same
    golden file), one array per model input."""
    arrays = x_val if isinstance(x_val, list) else [x_val]
    return [np.ascontiguousarray(np.asarray(a[:samples])) for a in arrays]


def predict(model: Any, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    import keras

    outputs = model.predict(inputs[0] if len(inputs) == 1 else list(inputs), verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(keras.ops.convert_to_numpy(o)) for o in outputs]


def shapes(tensors: Sequence[Any]) -> list[tuple]:
    return [tuple(t.shape) for t in tensors]


def write_artifact(model: Any, name: str, path: Path) -> None:
    """Write ``model`` in format ``name`` to ``path`` with Keras' own exporter."""
    if name == "keras":
        model.save(path)
    elif name == "savedmodel":
        model.export(str(path), format="tf_saved_model", verbose=False)
    elif name == "tflite":
        model.export(str(path), format="litert", verbose=False)
    elif name == "onnx":
        model.export(str(path), format="onnx", verbose=False)
    else:  # check_formats_available stops unknown names first
        raise UsageError(f"unknown format {name!r}")


def artifact_outputs(
    name: str, path: Path, inputs: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """The outputs of the artifact at ``path``, loaded back with its own runtime."""
    return _RUNNERS[name](path, list(inputs))


def compare(
    name: str, got: Sequence[np.ndarray], expected: Sequence[np.ndarray]
) -> float:
    """The largest absolute difference; a :class:`UsageError` if outside the tolerance."""
    if len(got) != len(expected):
        raise UsageError(
            f"--format {name}: the artifact gives {len(got)} output(s), the Keras model {len(expected)}"
        )
    worst = 0.0
    for g, e in zip(got, expected):
        g = np.asarray(g, dtype=np.float64).reshape(np.shape(e))
        e = np.asarray(e, dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(g - e))) if e.size else 0.0)
        if not np.allclose(g, e, rtol=ARTIFACT_TOLERANCE, atol=ARTIFACT_TOLERANCE):
            raise UsageError(
                f"--format {name}: the artifact's outputs differ from the Keras model's by up to "
                f"{float(np.max(np.abs(g - e))):.3g} (tolerance {ARTIFACT_TOLERANCE:g}); it was not written"
            )
    return worst


def _run_keras(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    model = keras.saving.load_model(path)
    return predict(model, inputs)


def _run_savedmodel(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    out = loaded.serve(inputs[0] if len(inputs) == 1 else inputs)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in out]


def _tflite_interpreter(path: Path) -> Any:
    """LiteRT's own interpreter when installed (``ai-edge-litert``), else TensorFlow's."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(path))
    import tensorflow as tf

    with warnings.catch_warnings():
        # TensorFlow announces that tf.lite.Interpreter moves to ai-edge-litert; it still works.
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_path=str(path))


def _run_tflite(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    interpreter = _tflite_interpreter(path)
    details = interpreter.get_input_details()
    for detail, x in zip(details, inputs):
        interpreter.resize_tensor_input(detail["index"], x.shape)
    interpreter.allocate_tensors()
    for detail, x in zip(details, inputs):
        interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    interpreter.invoke()
    return [
        np.array(interpreter.get_tensor(d["index"]))
        for d in interpreter.get_output_details()
    ]


def _run_onnx(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return [np.asarray(o) for o in session.run(None, feed)]


_RUNNERS: dict[str, Callable[[Path, list[np.ndarray]], list[np.ndarray]]] = {
    "keras": _run_keras,
    "savedmodel": _run_savedmodel,
    "tflite": _run_tflite,
    "onnx": _run_onnx,
}
