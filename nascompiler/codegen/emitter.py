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

from ..ir.cost import candidate_cost
from ..ir.graph import CandidateGraph, Op
from ..layers.spec import LAYERS
from .blocks import Block, find_blocks
from .formatting import (
    BODY_PLACEHOLDER,
    FUNCTIONS_PLACEHOLDER,
    format_function,
    format_module,
)
from .render import doc_text, identifier, render_literal, render_mapping

TEMPLATE = "candidate.py.j2"


def emit(
    candidate: CandidateGraph,
    sections: Sequence[tuple[str, Iterable[str]]] = (),
    structured: bool = True,
) -> str:
    """The generated module for ``candidate``.

    ``sections`` adds ``(heading, lines)`` blocks to the docstring (export uses it to record
    what the model scored); the code itself does not depend on them. With ``structured``, a
    cell the candidate repeats is written once as a function and called (see
    :mod:`.blocks`); the network is the same either way.
    """
    blocks = find_blocks(candidate) if structured else []
    ops, calls = _collapse(candidate, blocks)
    names = _variables(
        ops,
        candidate.outputs,
        len(candidate.inputs) == 1,
        taken={block.function for block in blocks},
    )
    statements = [
        (
            _call(calls[op.name], names)
            if op.name in calls
            else _statement(op, names, len(candidate.inputs) == 1)
        )
        for op in ops
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
        functions=bool(blocks),
        functions_placeholder=FUNCTIONS_PLACEHOLDER,
        body_placeholder=BODY_PLACEHOLDER,
        model_inputs=inputs[0] if len(inputs) == 1 else "[" + ", ".join(inputs) + "]",
        model_outputs=(
            outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
        ),
        model_name=render_literal(f"candidate_{candidate.id}"),
    )
    module = format_module(source, statements)
    if blocks:
        # Functions are formatted on their own (their statements cached like the body's) and
        # put where the template left their place: black would lay them out the same.
        functions = "\n\n".join(_function(block) for block in blocks)
        module = module.replace(f"{FUNCTIONS_PLACEHOLDER}\n", functions, 1)
    return module


def _collapse(
    candidate: CandidateGraph, blocks: list[Block]
) -> tuple[list[Op], dict[str, tuple[Block, int]]]:
    """The ops of build_model: each block instance becomes one op standing for its call (named
    after the instance's result, fed by its external inputs)."""
    starts: dict[str, tuple[Block, int]] = {}
    inside: set[str] = set()
    for block in blocks:
        for i, instance in enumerate(block.instances):
            starts[instance.ops[0].name] = (block, i)
            inside.update(op.name for op in instance.ops)
    ops: list[Op] = []
    calls: dict[str, tuple[Block, int]] = {}
    for op in candidate.ops:
        if op.name in starts:
            block, i = starts[op.name]
            instance = block.instances[i]
            ops.append(Op(instance.output, "<call>", (), block.feeds[i]))
            calls[instance.output] = (block, i)
        elif op.name not in inside:
            ops.append(op)
    return ops, calls


def _call(entry: tuple[Block, int], names: dict[str, str]) -> str:
    block, i = entry
    instance = block.instances[i]
    args = [names[t] for t in block.feeds[i]]
    args.append(f"prefix={render_literal(instance.prefix)}")
    _, parameters, _ = _signature_names(block)
    args += [
        f"{name}={render_literal(block.value(instance, i))}"
        for i, name in enumerate(parameters)
    ]
    return f"{names[instance.output]} = {block.function}({', '.join(args)})"


def _signature_names(block: Block) -> tuple[list[str], list[str], set[str]]:
    """The function's tensor inputs and value parameters (``prefix`` comes between them), and
    the names they take."""
    taken = {"prefix"}
    count = len(block.instances[0].externals)
    inputs = [identifier(f"x_{i}", taken) for i in range(1, count + 1)]
    parameters = [identifier(name, taken) for name, _ in block.parameters]
    return inputs, parameters, taken


def _function(block: Block) -> str:
    """The source of a block's function, black-formatted."""
    model = block.instances[0]
    inputs, parameters, taken = _signature_names(block)
    preset = dict(zip(model.externals, inputs))
    names = _variables(
        list(model.ops), (model.output,), False, preset, taken, len(model.prefix)
    )
    overrides: dict[tuple[int, str], str] = {}
    for param, (_, slots) in zip(parameters, block.parameters):
        for slot in slots:
            overrides[slot] = param
    body = []
    for position, op in enumerate(model.ops):
        body.append(
            _statement(
                op,
                names,
                False,
                name=f"prefix + {render_literal(op.name[len(model.prefix):])}",
                arguments={k: v for (p, k), v in overrides.items() if p == position},
            )
        )
    signature = ", ".join(inputs + ["prefix"] + parameters)
    kind = "Normal" if block.kind == "normal" else "Reduction"
    doc = f"{kind} cell: its nodes and output; layer names start with prefix."
    head = f'def {block.function}({signature}):\n    """{doc_text(doc)}"""\n'
    return format_function(head, body, f"    return {names[model.output]}\n")


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
    """``templates/`` beside the package in a source checkout (first, so that an editable
    install of another checkout never hands this one its templates), else the installed
    package ``nascompiler.templates``."""
    checkout = os.path.normpath(
        os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "templates")
    )
    if os.path.exists(os.path.join(checkout, TEMPLATE)):
        return checkout
    try:
        return str(resources.files("nascompiler.templates"))
    except ModuleNotFoundError:
        return checkout


def _shape_constant(candidate: CandidateGraph) -> str:
    inputs = candidate.inputs
    if len(inputs) == 1:
        return f"INPUT_SHAPE = {render_literal(inputs[0].arg('shape'))}"
    return "INPUT_SHAPES = " + render_mapping(
        [(op.name, op.arg("shape")) for op in inputs]
    )


def _variables(
    ops: Sequence[Op],
    outputs: Sequence[str],
    single_input: bool,
    preset: dict[str, str] | None = None,
    taken: set[str] | None = None,
    strip: int = 0,
) -> dict[str, str]:
    """A Python variable for each op's output (``preset`` names tensors from outside).

    A single input is ``inputs`` and a single output ``outputs``. An output used by exactly
    one later layer goes into ``x`` when ``x`` is free at that point, so a linear chain reads
    ``x = layers.Dense(...)(x)``; any other output gets a variable named after its layer.
    """
    consumers: dict[str, list[int]] = {op.name: [] for op in ops}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t in consumers:
                consumers[t].append(i)
    taken = set() if taken is None else taken
    names: dict[str, str] = dict(preset or {})
    single_output = len(outputs) == 1 and preset is None
    x_free_after = -1  # the position of the layer that consumes what ``x`` holds
    for i, op in enumerate(ops):
        if op.layer == "Input" and single_input:
            names[op.name] = "inputs"
        elif op.name in outputs and single_output:
            names[op.name] = "outputs"
        elif (
            len(consumers[op.name]) == 1
            and x_free_after <= i
            and op.name not in outputs
        ):
            names[op.name] = "x"
            x_free_after = consumers[op.name][0]
        else:
            names[op.name] = identifier(op.name[strip:], taken)
    return names


def _statement(
    op: Op,
    names: dict[str, str],
    single_input: bool,
    name: str | None = None,
    arguments: dict[str, str] | None = None,
) -> str:
    """``target = layers.Layer(args, name=...)(inputs)``; in a block's function, ``name`` is
    the expression of the layer's name and ``arguments`` the parameters that replace values.
    """
    target = names[op.name]
    name = render_literal(op.name) if name is None else name
    arguments = arguments or {}
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
        parts.append(arguments.get(key) or render_literal(args.pop(key)))
        args.pop(key, None)
    parts += [f"{k}={arguments.get(k) or render_literal(v)}" for k, v in args.items()]
    parts.append(f"name={name}")
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
