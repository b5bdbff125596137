"""A candidate's architecture as an inline SVG, drawn from its :class:`CandidateGraph`.

The graph is the IR the candidate's module was generated from (its layers, their arguments,
their inferred output shapes and the wiring), not a Keras model: nothing is built. Layers are
placed in levels (a layer sits one level below the deepest of its inputs), each level centred,
and every edge is drawn from the bottom of its source to the top of its target; an edge that
skips levels bends to the side so that it does not run through the layers between.

Every text comes from the study (layer names, argument values) and is escaped.
"""

from __future__ import annotations

import html
from typing import Any

from ..ir.graph import CandidateGraph, Op

BOX_WIDTH = 250
BOX_HEIGHT = 40
H_GAP = 24
V_GAP = 30
MARGIN = 16
MAX_LABEL = 34
# The arguments worth a place on the box, in this order (the rest are in the tooltip).
MAIN_ARGS = (
    "filters",
    "units",
    "kernel_size",
    "pool_size",
    "strides",
    "rate",
    "activation",
    "padding",
    "axis",
)
FAMILY_COLOURS = (  # (prefix of the layer's name, fill)
    ("Input", "#cfd8dc"),
    ("Conv", "#bbdefb"),
    ("SeparableConv", "#bbdefb"),
    ("DepthwiseConv", "#bbdefb"),
    ("Dense", "#c8e6c9"),
    ("MaxPool", "#ffe0b2"),
    ("AveragePool", "#ffe0b2"),
    ("GlobalAverage", "#ffe0b2"),
    ("GlobalMax", "#ffe0b2"),
    ("BatchNorm", "#e1bee7"),
    ("LayerNorm", "#e1bee7"),
    ("Add", "#fff9c4"),
    ("Concatenate", "#fff9c4"),
    ("Multiply", "#fff9c4"),
)
DEFAULT_FILL = "#eeeeee"


def _fill(layer: str) -> str:
    for prefix, colour in FAMILY_COLOURS:
        if layer.startswith(prefix):
            return colour
    return DEFAULT_FILL


def _short(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(_short(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def op_label(op: Op) -> str:
    """``Conv2D 16 3x3 same``: the layer and its main arguments, short enough for the box."""
    args = dict(op.args)
    parts = [op.layer]
    for key in MAIN_ARGS:
        if key in args and args[key] is not None:
            parts.append(_short(args[key]))
    text = " ".join(parts)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "\u2026"


def op_title(op: Op) -> str:
    """The tooltip: the call as the graph holds it, and its output shape."""
    args = ", ".join(f"{k}={v!r}" for k, v in op.args)
    shape = "" if op.shape is None else f" -> {op.shape}"
    inputs = f" <- {', '.join(op.inputs)}" if op.inputs else ""
    return f"{op.name} = {op.layer}({args}){shape}{inputs}"


def levels(graph: CandidateGraph) -> list[list[Op]]:
    """The ops by level: inputs at 0, every other op one below the deepest of its inputs; in
    the graph's (topological) order within a level."""
    depth: dict[str, int] = {}
    for op in graph.ops:
        depth[op.name] = 1 + max((depth[i] for i in op.inputs), default=-1)
    rows: list[list[Op]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for op in graph.ops:
        rows[depth[op.name]].append(op)
    return rows


def architecture_svg(graph: CandidateGraph) -> str:
    """The SVG element (a string of escaped markup) that draws ``graph``."""
    rows = levels(graph)
    widest = max((len(r) for r in rows), default=1)
    width = 2 * MARGIN + widest * BOX_WIDTH + (widest - 1) * H_GAP + BOX_WIDTH // 2
    height = 2 * MARGIN + len(rows) * BOX_HEIGHT + max(len(rows) - 1, 0) * V_GAP
    where: dict[str, tuple[float, float, int]] = {}  # op -> (centre x, top y, level)
    for level, row in enumerate(rows):
        span = len(row) * BOX_WIDTH + (len(row) - 1) * H_GAP
        left = (width - BOX_WIDTH // 2 - span) / 2
        for index, op in enumerate(row):
            x = left + index * (BOX_WIDTH + H_GAP) + BOX_WIDTH / 2
            where[op.name] = (x, MARGIN + level * (BOX_HEIGHT + V_GAP), level)
    outputs = set(graph.outputs)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="architecture" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="architecture: {len(graph.ops)} layers">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#607d8b"/></marker></defs>',
    ]
    for op in graph.ops:
        x2, y2, level2 = where[op.name]
        for source in op.inputs:
            x1, y1, level1 = where[source]
            y1 += BOX_HEIGHT
            if level2 - level1 <= 1:
                path = f"M {x1:.1f} {y1:.1f} L {x2:.1f} {y2:.1f}"
            else:  # skips levels: bend out to the right of the boxes between
                side = max(x1, x2) + BOX_WIDTH / 2 + 10 + 4 * (level2 - level1)
                path = (
                    f"M {x1:.1f} {y1:.1f} C {side:.1f} {y1 + V_GAP:.1f}, "
                    f"{side:.1f} {y2 - V_GAP:.1f}, {x2:.1f} {y2:.1f}"
                )
            parts.append(
                f'<path class="edge" d="{path}" fill="none" stroke="#607d8b" '
                f'stroke-width="1.3" marker-end="url(#arrow)"/>'
            )
    for op in graph.ops:
        x, y, _ = where[op.name]
        shape = "" if op.shape is None else _short_shape(op.shape)
        border = "#263238" if op.name in outputs else "#90a4ae"
        parts.append(
            f'<g class="layer" data-name="{_attr(op.name)}">'
            f"<title>{_text(op_title(op))}</title>"
            f'<rect x="{x - BOX_WIDTH / 2:.1f}" y="{y:.1f}" width="{BOX_WIDTH}" '
            f'height="{BOX_HEIGHT}" rx="6" fill="{_fill(op.layer)}" stroke="{border}" '
            f'stroke-width="{2 if op.name in outputs else 1}"/>'
            f'<text x="{x:.1f}" y="{y + 16:.1f}" text-anchor="middle" font-size="12.5" '
            f'font-family="ui-monospace, Menlo, monospace" fill="#212121">'
            f"{_text(op_label(op))}</text>"
            f'<text x="{x:.1f}" y="{y + 32:.1f}" text-anchor="middle" font-size="11" '
            f'font-family="system-ui, sans-serif" fill="#546e7a">{_text(shape)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _short_shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)
