"""What a candidate costs, computed from its graph before anything is built or trained.

:func:`candidate_cost` sums the per-layer rules that sit beside each layer's shape rule in its
entry of :mod:`nascompiler.layers.spec` (one home per layer; :mod:`.shapes` applies them) over
a specialised :class:`~.graph.CandidateGraph`:

- ``params``: every weight, split into ``trainable_params`` and ``non_trainable_params``
  (BatchNormalization's moving statistics); the same numbers as Keras' ``count_params()``;
- ``flops``: forward FLOPs of one sample (:data:`.shapes.FLOPS_CONVENTION`);
- ``activation_bytes``: the peak memory of the activations of one sample (float32) when the
  layers run in the graph's order, each output living from the layer that computes it to the
  last layer that reads it (model outputs live to the end).

A size the IR does not know (an input dimension left ``None``, a layer without a rule) makes the
fields that need it ``None`` rather than a guess.

:func:`format_count` writes counts as people read them (``1.23M``); the budgets' parser,
``parse_count``, is in :mod:`nascompiler.units` with the other amount parsers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from . import shapes
from .graph import CandidateGraph

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Cost:
    """The static cost of one candidate (``None`` where a size is unknown)."""

    params: int | None
    trainable_params: int | None
    non_trainable_params: int | None
    flops: int | None
    activation_bytes: int | None

    def to_json(self) -> dict[str, int | None]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The cost as a few readable lines (for module docstrings)."""
        params = _show(self.params)
        if self.params is not None and self.non_trainable_params:
            params += (
                f" ({self.trainable_params:,} trainable,"
                f" {self.non_trainable_params:,} non-trainable)"
            )
        return [
            f"parameters = {params}",
            f"FLOPs per sample (forward) = {_show(self.flops)}",
            f"peak activation memory per sample = {_show(self.activation_bytes)} bytes (float32)",
        ]


def _show(n: int | None) -> str:
    return "unknown" if n is None else f"{n:,}"


def candidate_cost(graph: CandidateGraph) -> Cost:
    """The :class:`Cost` of ``graph``; needs the shapes :func:`~.specialize` infers."""
    shape = {op.name: op.shape for op in graph.ops}
    trainable: int | None = 0
    frozen: int | None = 0
    total_flops: int | None = 0
    for op in graph.ops:
        ins = [shape[t] for t in op.inputs]
        args = dict(op.args)
        counts = shapes.weights(op.layer, args, ins)
        if counts is None:
            trainable = frozen = None
        elif trainable is not None and frozen is not None:
            trainable += counts[0]
            frozen += counts[1]
        layer_flops = shapes.flops(op.layer, args, ins, op.shape)
        total_flops = (
            None
            if layer_flops is None or total_flops is None
            else total_flops + layer_flops
        )
    params = None if trainable is None or frozen is None else trainable + frozen
    return Cost(params, trainable, frozen, total_flops, _peak_activations(graph))


def _peak_activations(graph: CandidateGraph) -> int | None:
    sizes: dict[str, int] = {}
    for op in graph.ops:
        if op.shape is None or any(d is None for d in op.shape):
            return None
        sizes[op.name] = math.prod(op.shape) * BYTES_PER_VALUE
    last_use = {op.name: i for i, op in enumerate(graph.ops)}
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            last_use[t] = i
    for name in graph.outputs:
        last_use[name] = len(graph.ops)
    live = peak = 0
    for i, op in enumerate(graph.ops):
        live += sizes[op.name]  # the output is written while the inputs are still read
        peak = max(peak, live)
        for name in dict.fromkeys(op.inputs + (op.name,)):
            if last_use[name] == i:
                live -= sizes[name]
    return peak


# ------------------------------------------------------------------------------ counts as text


def format_count(n: int | None) -> str:
    """``1234567`` -> ``"1.23M"``: three significant digits and a decimal suffix."""
    if n is None:
        return "?"
    if n < 1000:
        return str(n)
    units = (("k", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12))
    i = max(j for j, (_, scale) in enumerate(units) if n >= scale)
    text = f"{n / units[i][1]:.3g}"
    if float(text) >= 1000 and i + 1 < len(units):  # 999.6k shows as 1M, not 1e+03k
        i += 1
        text = f"{n / units[i][1]:.3g}"
    if "e" in text:  # beyond 999T
        text = f"{n / units[i][1]:.0f}"
    return text + units[i][0]
