"""emit: CandidateGraph -> the source of a standalone Keras module.

The module's shape is fixed by ``templates/candidate.py.j2``; this file decides what goes in
it: a variable per layer output (a linear chain reuses ``x``), each layer call written with
Keras' usual positional arguments, every value through :func:`render_literal`, every name
through :func:`identifier`, and the result formatted with black. The output is a pure function
of the graph (and the optional docstring sections), so it is byte-identical run after run.
The docstring also states the candidate's static cost (parameters, FLOPs, activation memory).
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from typing import Iterable, Sequence

import jinja2

from ..catalog import LAYERS
from ..ir.cost import candidate_cost
from ..ir.graph import CandidateGraph, Op
from .formatting import BODY_PLACEHOLDER, format_module
from .render import doc_text, identifier, render_literal, render_mapping

TEMPLATE = "candidate.py.j2"


def emit(
    candidate: CandidateGraph, sections: Sequence[tuple[str, Iterable[str]]] = ()
) -> str:
    """The generated module for ``candidate``.

    ``sections`` adds ``(heading, lines)`` blocks to the docstring (export uses it to record
    what the model scored); the code itself does not depend on them.
    """
    names = _variables(candidate)
    statements = [
        _statement(op, names, len(candidate.inputs) == 1) for op in candidate.ops
    ]
    inputs = [names[op.name] for op in candidate.inputs]
    outputs = [names[o] for o in candidate.outputs]
    hyperparameters = [(k, v) for k, v in candidate.assignment]
    space = f" from space {candidate.space}" if candidate.space else ""
    source = _template().render(
        title=doc_text(f"Candidate {candidate.id}{space}."),
        hyperparameter_lines=[
            doc_text(f"{k} = {render_literal(v)}") for k, v in hyperparameters
        ],
        cost_lines=[doc_text(line) for line in candidate_cost(candidate).lines()],
        sections=[
            (doc_text(heading), [doc_text(line) for line in lines])
            for heading, lines in sections
        ],
        candidate_id=render_literal(candidate.id),
        shape_constant=_shape_constant(candidate),
        hyperparameters=render_mapping(hyperparameters),
        body_placeholder=BODY_PLACEHOLDER,
        model_inputs=inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]",
        model_outputs=(
            outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
        ),
        model_name=render_literal(f"candidate_{candidate.id}"),
    )
    return format_module(source, statements)


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_template_dir()),
        autoescape=False,  # the output is Python; values are escaped by render_literal instead
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(TEMPLATE)


def _template_dir() -> str:
    """``templates/`` ships as the package ``nascompiler.templates``; a source checkout that
    was not installed finds it beside the package."""
    try:
        path = str(resources.files("nascompiler.templates"))
    except ModuleNotFoundError:
        path = ""
    if path and os.path.exists(os.path.join(path, TEMPLATE)):
        return path
    checkout = os.path.join(
        os.path.dirname(__file__), os.pardir, os.pardir, "templates"
    )
    return os.path.normpath(checkout)


def _shape_constant(candidate: CandidateGraph) -> str:
    inputs = candidate.inputs
    if len(inputs) == 1:
        return f"INPUT_SHAPE = {render_literal(inputs[0].arg('shape'))}"
    return "INPUT_SHAPES = " + render_mapping(
        [(op.name, op.arg("shape")) for op in inputs]
    )


def _variables(candidate: CandidateGraph) -> dict[str, str]:
    """A Python variable for each op's output.

    A single input is ``inputs`` and a single output ``outputs``. An output used by exactly
    one later layer goes into ``x`` when ``x`` is free at that point, so a linear chain reads
    ``x = layers.Dense(...)(x)``; any other output gets a variable named after its layer.
    """
    consumers: dict[str, list[int]] = {op.name: [] for op in candidate.ops}
    for i, op in enumerate(candidate.ops):
        for t in op.inputs:
            consumers[t].append(i)
    taken: set[str] = set()
    names: dict[str, str] = {}
    single_input = len(candidate.inputs) == 1
    single_output = len(candidate.outputs) == 1
    x_free_after = -1  # the position of the layer that consumes what ``x`` holds
    for i, op in enumerate(candidate.ops):
        if op.layer == "Input" and single_input:
            names[op.name] = "inputs"
        elif op.name in candidate.outputs and single_output:
            names[op.name] = "outputs"
        elif (
            len(consumers[op.name]) == 1
            and x_free_after <= i
            and op.name not in candidate.outputs
        ):
            names[op.name] = "x"
            x_free_after = consumers[op.name][0]
        else:
            names[op.name] = identifier(op.name, taken)
    return names


def _statement(op: Op, names: dict[str, str], single_input: bool) -> str:
    target = names[op.name]
    if op.layer == "Input":
        args = [f"{k}={render_literal(v)}" for k, v in op.args if k != "shape"]
        shape = "INPUT_SHAPE" if single_input else render_literal(op.arg("shape"))
        call_args = ", ".join(
            [f"shape={shape}"] + args + [f"name={render_literal(op.name)}"]
        )
        return f"{target} = keras.Input({call_args})"
    spec = LAYERS[op.layer]
    args = dict(op.args)
    parts = []
    for key in spec.shown_positional:
        if key not in args:
            break
        parts.append(render_literal(args.pop(key)))
    parts += [f"{k}={render_literal(v)}" for k, v in args.items()]
    parts.append(f"name={render_literal(op.name)}")
    ins = [names[t] for t in op.inputs]
    feed = "[" + ", ".join(ins) + "]" if spec.multi_input else ins[0]
    return f"{target} = layers.{op.layer}({', '.join(parts)})({feed})"


def add_docstring_section(source: str, heading: str, lines: Iterable[str]) -> str:
    """``source`` (a module :func:`emit` wrote) with one more ``heading:`` block at the end of
    its docstring; the code is left byte for byte as it was."""
    if not source.startswith('"""'):
        raise ValueError(
            "not a module written by nascompiler: it does not start with its docstring"
        )
    end = source.find('\n"""\n')
    if end < 0:
        raise ValueError(
            "not a module written by nascompiler: its docstring does not end on a line of its own"
        )
    block = (
        "\n\n"
        + doc_text(heading)
        + ":\n"
        + "".join(f"    {doc_text(line)}\n" for line in lines)
    )
    return source[:end] + block.rstrip("\n") + source[end:]
