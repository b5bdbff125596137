"""What Keras and TensorFlow will refuse, checked on the compiled space before any candidate
is trained: layer names, activation and padding strings, Input dimensions.

Without these checks such a space passes ``inspect`` and ``compile``, and every trial of the
search fails inside Keras (a layer name with a space fails only once ``fit`` traces the model).
The rules are copied rather than imported so that inspecting a space does not import Keras
(seconds of TensorFlow start-up); a test keeps them in step with the installed Keras.

``compile_space`` itself stays permissive, so that the code generator can be shown to render
any string safely; the space-file loader (``inspect``, ``compile``, ``search``) and the Python
API call :func:`check_keras_arguments`.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..errors import SourceLocation, SpaceDefinitionError
from .op_registry import OPS
from .space_ir import Expr, Node, ParamRef, SpaceIR

# keras.activations in Keras 3 (sorted(keras.src.activations.ALL_OBJECTS_DICT)).
KERAS_ACTIVATIONS = frozenset(
    "celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh "
    "leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink "
    "softmax softplus softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh "
    "tanh_shrink threshold".split()
)
# keras.src.utils.argument_validation.standardize_padding (lower-cased first).
PADDINGS = ("valid", "same", "causal")
# TensorFlow's rule for a scope name (tensorflow/python/framework/ops.py,
# _VALID_SCOPE_NAME_REGEX) minus "/", which Keras refuses in a layer name; an Input's name
# becomes a root op name, whose first character is more restricted (_VALID_OP_NAME_REGEX).
SCOPE_NAME = re.compile(r"[A-Za-z0-9_.\\>-]+")
ROOT_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\>-]*")

_ACTIVATION_ARGS = ("activation", "recurrent_activation")
_SHAPE_ARGS = ("shape", "batch_shape")


def check_keras_arguments(ir: SpaceIR) -> list[str]:
    """Raise :class:`SpaceDefinitionError` at the user's line for the first layer name or
    argument value that Keras would refuse.

    A ``Choice`` some of whose options Keras refuses is not an error (a space may hold
    options that fail on purpose, to see failures handled); those are returned as warnings,
    one line each. A ``Choice`` none of whose options would work is an error.
    """
    warnings: list[str] = []
    for node in ir.nodes:
        if node.kind in OPS:  # connection ops leave no layer to check
            continue
        _check_name(node)
        for key, value in node.args:
            options = _possible_values(ir, node, value)
            refused = []
            for option, location in options:
                try:
                    _check_argument(node, key, option, location)
                except SpaceDefinitionError as exc:
                    if not isinstance(value, ParamRef):
                        raise
                    refused.append(exc)
            if refused and len(refused) == len(options):
                raise refused[0]
            warnings.extend(
                f"warning: {exc} (candidates with it will fail)" for exc in refused
            )
    return warnings


def _check_name(node: Node) -> None:
    rule = ROOT_NAME if node.kind == "Input" else SCOPE_NAME
    if not rule.fullmatch(node.name):
        raise SpaceDefinitionError(
            f"{node.kind} name {node.name!r} is refused by TensorFlow: a layer name may hold only "
            "ASCII letters, digits and _ . - > \\"
            + (
                " (and an Input's may not start with _ - > \\)"
                if node.kind == "Input"
                else ""
            ),
            node.location,
        )


def _possible_values(
    ir: SpaceIR, node: Node, value: Any
) -> list[tuple[Any, SourceLocation | None]]:
    """The values an argument can take, with where each was written: a literal itself, every
    option of a Choice; a Dynamic's values are only known per candidate."""
    if isinstance(value, ParamRef):
        p = ir.parameter(value.name)
        if p.domain.kind == "categorical":
            return [(v, p.location or node.location) for v in p.domain.values()]
        return []
    if isinstance(value, Expr):
        return []
    return [(value, node.location)]


def _check_argument(
    node: Node, key: str, value: Any, location: SourceLocation | None
) -> None:
    where = f"{node.kind} {node.name!r}"
    if key in _ACTIVATION_ARGS and isinstance(value, str):
        if value not in KERAS_ACTIVATIONS:
            close = difflib.get_close_matches(value, sorted(KERAS_ACTIVATIONS), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known ones are {', '.join(sorted(KERAS_ACTIVATIONS))}"
            )
            raise SpaceDefinitionError(
                f"{where}: {key}={value!r} is not a Keras activation; {hint}", location
            )
    elif key == "padding" and isinstance(value, str):
        allowed = PADDINGS if node.kind == "Conv1D" else PADDINGS[:2]
        if value.lower() not in allowed:
            raise SpaceDefinitionError(
                f"{where}: padding={value!r} is not one of {', '.join(map(repr, allowed))}",
                location,
            )
    elif node.kind == "Input" and key in _SHAPE_ARGS and isinstance(value, tuple):
        dims = value[1:] if key == "batch_shape" else value
        for d in dims:
            if d is None:
                continue
            if isinstance(d, bool) or not isinstance(d, int) or d < 1:
                raise SpaceDefinitionError(
                    f"{where}: {key}={value!r} has dimension {d!r}; each dimension is a positive "
                    "integer (or None for any size)",
                    location,
                )
