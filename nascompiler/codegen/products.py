"""The files ``export`` writes beside an exported module: its golden test and its training
script.

Like the candidate module they are products: rendered from ``templates/`` with every value
through :func:`render_literal` / :func:`render_data` and every docstring text through
:func:`doc_text`, then formatted with black. They import keras, numpy and the standard
library, never nascompiler.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .formatting import format_source
from .render import doc_text, render_data, render_literal, render_mapping
from .templates import template

GOLDEN_TEST_TEMPLATE = "golden_test.py.j2"
TRAIN_SCRIPT_TEMPLATE = "train_script.py.j2"


def golden_test_source(
    *,
    module_file: str,
    weights_file: str,
    golden_file: str,
    test_file: str,
    samples: int,
    parameters: int,
    input_shapes: Sequence[tuple],
    output_shapes: Sequence[tuple],
    tolerance: Mapping[str, float],
    keras_version: str,
    backend: str,
) -> str:
    """``test_<name>.py``: checks outputs on the golden inputs, shapes and parameter count."""
    source = template(GOLDEN_TEST_TEMPLATE).render(
        module_file=doc_text(module_file),
        weights_file=doc_text(weights_file),
        golden_file=doc_text(golden_file),
        test_file=doc_text(test_file),
        samples=samples,
        keras_version=doc_text(keras_version),
        backend=doc_text(backend),
        module_literal=render_literal(module_file),
        weights_literal=render_literal(weights_file),
        golden_literal=render_literal(golden_file),
        parameters=render_literal(int(parameters)),
        input_shapes=render_data([tuple(s) for s in input_shapes]),
        output_shapes=render_data([tuple(s) for s in output_shapes]),
        tolerance=render_mapping([(k, float(v)) for k, v in tolerance.items()]),
    )
    return format_source(source)


def training_script_source(
    *,
    module_file: str,
    script_file: str,
    default_weights: str,
    trial_number: int,
    study: str,
    optimizer: Any,
    loss: Any,
    metrics: Sequence[str],
    epochs: int,
    batch_size: int,
    seed: int,
    searched: Mapping[str, float],
    data_file: str | None,
    data_text: str,
) -> str:
    """``train_<name>.py``: rebuilds the module's model and trains it with the search's recipe."""
    source = template(TRAIN_SCRIPT_TEMPLATE).render(
        module_file=doc_text(module_file),
        script_file=doc_text(script_file),
        default_weights=doc_text(default_weights),
        trial_number=int(trial_number),
        study=doc_text(study),
        searched_lines=[doc_text(f"{k} = {v:.4g}") for k, v in searched.items()],
        data_file=doc_text(data_file) if data_file else None,
        data_text=doc_text(data_text),
        module_literal=render_literal(module_file),
        data_path=(
            None
            if not data_file
            else (
                f"pathlib.Path({render_literal(data_file)})"
                if data_file.startswith("/")
                else f"HERE / {render_literal(data_file)}"
            )
        ),
        default_weights_literal=render_literal(default_weights),
        optimizer=render_data(optimizer),
        loss=render_data(loss),
        metrics=render_data(list(metrics)),
        epochs=render_literal(int(epochs)),
        batch_size=render_literal(int(batch_size)),
        seed=render_literal(int(seed)),
        searched=render_mapping([(k, float(v)) for k, v in searched.items()]),
    )
    return format_source(source)
