"""Output shapes and costs of Keras layers, computed without Keras, by the layer's name.

Specialisation needs shapes for two reasons: the ENAS macros lower differently depending on
the sizes that reach them, and a candidate whose pooling shrinks an image below one pixel (or
whose merge gets mismatched shapes) should be rejected with a clear reason before anyone
trains it. :mod:`.cost` sums the weights and FLOPs over a candidate.

The rules themselves are part of each layer's entry in :mod:`nascompiler.layers.spec`, so that
a layer is described once; this module applies them and turns a rule's complaint into the
candidate's error. Shapes exclude the batch dimension; ``None`` marks an unknown size.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import CandidateError
from ..layers.spec import FLOPS_CONVENTION, LAYERS, Shape, ShapeProblem, Weights

__all__ = ["FLOPS_CONVENTION", "infer", "weights", "flops", "channels_and_size"]


def infer(
    kind: str, args: Mapping[str, Any], inputs: Sequence[Shape | None], name: str
) -> Shape | None:
    """The output shape of layer ``name`` of ``kind`` called on ``inputs`` shapes."""
    spec = LAYERS.get(kind)
    if spec is None or spec.shape is None or any(s is None for s in inputs):
        return None
    try:
        return spec.shape(args, list(inputs))
    except ShapeProblem as exc:
        shown = ", ".join(_fmt(s) for s in inputs)
        raise CandidateError(
            f"layer {name!r} ({kind}) cannot take input shape {shown}: {exc}"
        ) from None
    except (ArithmeticError, TypeError, ValueError, KeyError, IndexError) as exc:
        # An argument of the wrong type or size (say strides=0 or kernel_size='x') that no rule
        # above names: still the candidate's fault, never a crash of the compiler.
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise CandidateError(
            f"layer {name!r} ({kind}) cannot be built with {shown or 'no arguments'}: {type(exc).__name__}: {exc}"
        ) from None


def _fmt(shape: Shape | None) -> str:
    return (
        "(None, " + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        if shape is not None
        else "?"
    )


def weights(
    kind: str, args: Mapping[str, Any], inputs: Sequence[Shape | None]
) -> Weights | None:
    """(trainable, non-trainable) weight counts of a layer of ``kind``; ``None`` when a size
    it needs is unknown or the layer has no rule. A layer built with ``trainable=False``
    has all its weights non-trainable, as in Keras."""
    if kind == "Input":
        return (0, 0)
    spec = LAYERS.get(kind)
    if spec is None or spec.shape is None or any(s is None for s in inputs):
        return None
    counts = spec.weights(args, list(inputs))
    if counts is not None and args.get("trainable") is False:
        return (0, counts[0] + counts[1])
    return counts


def flops(
    kind: str,
    args: Mapping[str, Any],
    inputs: Sequence[Shape | None],
    output: Shape | None,
) -> int | None:
    """Forward FLOPs of one sample through a layer of ``kind`` (:data:`FLOPS_CONVENTION`);
    ``None`` when a size it needs is unknown or the layer has no rule."""
    if kind == "Input":
        return 0
    spec = LAYERS.get(kind)
    if (
        spec is None
        or spec.shape is None
        or output is None
        or any(s is None for s in inputs)
    ):
        return None
    return spec.flops(args, list(inputs), output)


def channels_and_size(
    shape: Shape | None, data_format: str | None, name: str
) -> tuple[Any, Any]:
    """(channels, height) of an image shape, for the ENAS macros."""
    if shape is None or len(shape) != 3:
        raise CandidateError(
            f"{name!r} needs an image input (height, width, channels), got shape {_fmt(shape)}"
        )
    if data_format == "channels_first":
        return shape[0], shape[1]
    return shape[2], shape[0]
