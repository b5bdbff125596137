"""emit_supernet: SpaceIR -> the source of a weight-sharing supernet module.

The supernet is the space's supergraph as one Keras model (``templates/supernet.py.j2`` holds
its switched layers and its training and scoring functions). This file walks the supergraph
the way ``specialize`` walks it for one candidate, except that every branch is built: a
choice becomes a ``select`` of its branches under gates computed from the switches input, a
``Repeat`` keeps the output after each possible count, a searched width is a layer at its
widest whose extra channels are zeroed per sample. Each searched value the network needs is a
*switch*: one column of the switches input, filled by the module's ``switch_values`` from a
candidate's hyperparameters (a ``Dynamic`` value through a table of its results, computed
here, so the module never needs the space file).

A construct the supernet cannot express raises :class:`SupernetUnsupported`, naming it and
its line in the space file. The output is a pure function of the IR.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any, Sequence

from ..errors import CandidateError, NascompilerError
from ..ir import shapes
from ..ir.domains import Categorical, RealRange
from ..ir.enas_lowering import factorized_reduction, filters_aligning
from ..ir.space_ir import Expr, Node, ParamRef, SpaceIR, resolve
from ..ir.specialize import truncate
from ..layers.spec import LAYERS
from .formatting import BODY_PLACEHOLDER, format_module
from .render import doc_text, identifier, render_literal
from .templates import template

TEMPLATE = "supernet.py.j2"
TABLE_LIMIT = 10_000  # the most results a Dynamic's table may hold

# Names the module defines at top level: a layer or tensor variable must not take them.
_MODULE_NAMES = frozenset(
    """math random keras np layers inputs switches outputs SPACE_FINGERPRINT INPUT_SHAPE
    PARAMETERS switch_values sample_hyperparameters first_value as_tuple option column equals
    exceeds constant_width per_sample select pad_to keep_first activate SlicedDense
    SwitchedActivation GatedBatchNormalization SwitchedDropout SlicedConv2D build_supernet switch_rows
    OnePathPerBatch train recalibrate evaluate copy_weights weakref _calibrators loose sum_of
    compact width_is""".split()
)
# Layers that keep zero channels zero, channel by channel (no re-masking needed).
_ZERO_PRESERVING = {
    "ReLU",
    "ZeroPadding2D",
    "Cropping2D",
    "Dropout",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
}
_CONV_ARGUMENTS = {
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "activation",
    "use_bias",
}
_BN_ARGUMENTS = {"momentum", "epsilon"}
_MERGES = {
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
}


class SupernetUnsupported(NascompilerError):
    """The space uses a construct the supernet cannot express."""


Gates = tuple  # gate variables, all on (their product); (): always on


def _all(*parts: str | None | Gates) -> Gates:
    """The gates of each part together, in order, once each."""
    out: list[str] = []
    for part in parts:
        for gate in (part,) if isinstance(part, str) else part or ():
            if gate not in out:
                out.append(gate)
    return tuple(out)


@dataclass(frozen=True)
class _Tensor:
    """A tensor of the supernet: its variable, its channel count at its widest, and the
    variable holding each sample's width when a switch sets it (else every channel is used).
    """

    var: str
    channels: int | None
    width: str | None = None
    shape: tuple | None = None  # without the batch axis, at the widest
    # A choice's output: the tensors it may be, each with the gates that select it (what a
    # layer consuming it consumes, for ConnectLooseEnd). Gates are kept as the variables
    # whose product they are, written into the module only when a ConnectLooseEnd needs one.
    sources: tuple[tuple[Gates, str], ...] | None = None
    # An output of ConnectLooseEnd: the gate that says the candidate has it (None: always).
    present: str | None = None

    def alternatives(self) -> tuple[tuple[Gates, str], ...]:
        return self.sources or (((), self.var),)


@dataclass(frozen=True)
class _Switch:
    """One column of the switches input: its expression in ``switch_values`` and a line for
    the module's docstring."""

    expression: str
    description: str


class _Lowering:
    """What an ENAS lowering calls (``enas_lowering.Lowerer``), building supernet layers."""

    values: dict[str, Any] = {}

    def __init__(self, builder: "_SupernetBuilder", x: _Tensor):
        self.builder = builder
        self.tensors: dict[str, _Tensor] = {x.var: x}
        self.shape = {x.var: x.shape}

    def call(self, name: str, kind: str, inputs: Sequence[str], **args: Any) -> str:
        tensors = [self.tensors[t] for t in inputs]
        self.builder.consume(*tensors)
        args = {k: v for k, v in args.items() if v is not None}
        out = self.builder._lowered(name, kind, tensors, args)
        self.tensors[out.var] = out
        self.shape[out.var] = out.shape
        return out.var


class _SupernetBuilder:
    def __init__(self, ir: SpaceIR):
        self.ir = ir
        self.lines: list[str] = []
        self.taken: set[str] = set(_MODULE_NAMES)
        self.constants: list[str] = []
        self.switches: list[_Switch] = []
        self.switch_keys: dict[Any, int] = {}
        self.layers: dict[int, str] = {}  # node -> its layer's variable
        self.lowered: dict[str, str] = {}  # a lowered layer's name -> its variable
        self.memo: dict[int, tuple[_Tensor, ...]] = {}
        self.bound: dict[int, tuple[_Tensor, ...]] = {}
        self.gate: str | None = None  # the current path's gate (None: always on)
        self.expressions: dict[str, str] = {}  # expression -> its variable
        self.input_shape: tuple | None = None
        # tensor variable -> the gates of each path on which a layer consumed it (() : always)
        self.consumers: dict[str, list[Gates]] = {}

    # ------------------------------------------------------------------ entry
    def build(self) -> None:
        if len(self.ir.inputs) != 1:
            raise SupernetUnsupported(
                f"the supernet takes one input; this space has {len(self.ir.inputs)}"
            )
        self.value(self.ir.inputs[0])  # first: the gates read the switches it defines
        outputs: list[_Tensor] = []
        for i in self.ir.outputs:
            outputs.extend(self.value(i))
        if len(outputs) != 1:
            raise SupernetUnsupported(
                f"the supernet has one output; this space gives {len(outputs)}"
            )
        self.lines.append(f"outputs = {outputs[0].var}")

    # ------------------------------------------------------------------ helpers
    def fail(self, node: Node, what: str) -> SupernetUnsupported:
        where = f"{node.location}: " if node.location else ""
        return SupernetUnsupported(
            f"{where}{node.name} ({node.kind}): {what}; the supernet cannot express it"
        )

    def var(self, name: str) -> str:
        return identifier(name, self.taken)

    def assign(self, name: str, expression: str) -> str:
        """A variable holding ``expression``, written once (the same gate is reused)."""
        if expression in self.expressions:
            return self.expressions[expression]
        target = self.var(name)
        self.lines.append(f"{target} = {expression}")
        self.expressions[expression] = target
        return target

    def and_gate(self, condition: str) -> str:
        if self.gate is None:
            return condition
        return self.assign("path", f"{self.gate} * {condition}")

    def product(self, gates: Gates) -> str:
        """The variable of a non-empty product of gates (written once)."""
        if len(gates) == 1:
            return gates[0]
        return self.assign("used", " * ".join(gates))

    def consume(self, *tensors: _Tensor, gate: str | None = None) -> None:
        """A layer on the current path (and ``gate``) takes ``tensors``: the ones they may be
        are used there."""
        for tensor in tensors:
            for gates, var in tensor.alternatives():
                self.consumers.setdefault(var, []).append(_all(self.gate, gate, gates))

    # ------------------------------------------------------------------ switches
    def switch(
        self, node: Node, value: Any, argument: str | None = None
    ) -> tuple[int, list]:
        """The column of the switch for ``value`` (a ParamRef or Expr) and the values it takes,
        as the switch encodes them."""
        if isinstance(value, ParamRef):
            parameter = self.ir.parameter(value.name)
            domain = parameter.domain
            if isinstance(domain, RealRange) and domain.size is None:
                raise self.fail(
                    node,
                    f"{value.name} is a continuous range, which no switch can list",
                )
            options = tuple(domain.values())
            numeric = all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in options
            )
            boolean = all(isinstance(v, bool) for v in options)
            if numeric or boolean:
                key: Any = ("value", value.name)
                expression = f"float(hp[{render_literal(value.name)}])"
                encoded = [float(v) for v in options]
                description = f"{value.name}"
            else:
                key = ("option", value.name)
                expression = f"option({render_literal(options)}, hp[{render_literal(value.name)}])"
                encoded = list(range(len(options)))
                description = (
                    f"{value.name}, as its position in {render_literal(options)}"
                )
            return self._column(key, expression, description), encoded
        if isinstance(value, Expr):
            return self._table(node, value, argument)
        raise self.fail(node, f"unexpected searched value {value!r}")

    def _column(self, key: Any, expression: str, description: str) -> int:
        if key not in self.switch_keys:
            self.switch_keys[key] = len(self.switches)
            self.switches.append(_Switch(expression, description))
        return self.switch_keys[key]

    def _table(self, node: Node, expr: Expr, argument: str | None) -> tuple[int, list]:
        names = list(dict.fromkeys(expr.parameters()))
        domains = []
        for name in names:
            domain = self.ir.parameter(name).domain
            if domain.size is None:
                raise self.fail(
                    node, f"its Dynamic value depends on the continuous range {name}"
                )
            domains.append(tuple(domain.values()))
        size = 1
        for d in domains:
            size *= len(d)
        if size > TABLE_LIMIT:
            raise self.fail(
                node,
                f"its Dynamic value has {size} combinations of {', '.join(names)} "
                f"(at most {TABLE_LIMIT} are tabulated)",
            )
        spec = LAYERS.get(node.kind)
        table: list[tuple[tuple, Any]] = []
        for combination in itertools.product(*domains):
            values = dict(zip(names, combination))
            try:
                result = resolve(expr, values)
            except NascompilerError:
                continue  # that combination is no candidate
            if spec is not None and argument in spec.int_arguments:
                result = truncate(result)
            table.append((combination, result))
        if not table:
            raise self.fail(node, "its Dynamic value fails for every combination")
        constant = self.var(f"{node.name}_table").upper()
        entries = ", ".join(
            f"{render_literal(key)}: {render_literal(result)}" for key, result in table
        )
        self.constants.append(
            f"# {doc_text(node.name)}: its Dynamic value for each {', '.join(names)}\n"
            f"{constant} = {{{entries}}}"
        )
        key_source = ", ".join(f"hp[{render_literal(n)}]" for n in names)
        if len(names) == 1:
            key_source = f"({key_source},)"
        expression = f"float({constant}[{key_source}])"
        column = self._column(
            ("table", constant),
            expression,
            f"{node.name}'s computed value, from {', '.join(names)}",
        )
        return column, sorted({float(r) for _, r in table})

    # ------------------------------------------------------------------ evaluation
    def value(self, index: int) -> tuple[_Tensor, ...]:
        if index in self.memo:
            return self.memo[index]
        node = self.ir.nodes[index]
        result = self._evaluate(node)
        self.memo[index] = result
        return result

    def inputs(self, node: Node) -> tuple[_Tensor, ...]:
        if node.inbound:
            out: list[_Tensor] = []
            for i in node.inbound:
                out.extend(self.value(i))
            return tuple(out)
        if node.index in self.bound:
            return self.bound[node.index]
        raise self.fail(node, "it has no input")

    def feed(self, child: int, tensors: tuple[_Tensor, ...], gate: str | None):
        """The output of the sub-graph ending at ``child`` fed ``tensors`` on the path
        ``gate``; its nodes are built afresh (the same layers, called again)."""
        saved_memo, saved_gate = dict(self.memo), self.gate
        for entry in self.ir.entries[child]:
            self.bound[entry] = tensors
        self.gate = gate
        try:
            return self.value(child)
        finally:
            self.memo, self.gate = saved_memo, saved_gate

    def _evaluate(self, node: Node) -> tuple[_Tensor, ...]:
        kind = node.kind
        if kind == "Input":
            shape = node.arg("shape")
            self.lines.append(
                f"inputs = keras.Input(shape=INPUT_SHAPE, name={render_literal(node.name)})"
            )
            self.input_shape = shape
            self.lines.append(
                f"switches = keras.Input(shape=({len(self.switches) or 0},), name='switches')"
            )
            return (
                _Tensor(
                    "inputs", shape[-1] if shape else None, None, tuple(shape or ())
                ),
            )
        method = getattr(self, f"_op_{kind}", None)
        if method is not None:
            return method(node)
        if kind in LAYERS:
            return (self._layer(node),)
        raise self.fail(node, "this kind of module is not supported")

    # ------------------------------------------------------------------ connection ops
    def _one(self, node: Node, tensors: tuple[_Tensor, ...]) -> _Tensor:
        if len(tensors) != 1:
            raise self.fail(
                node, f"it carries {len(tensors)} tensors (one is supported)"
            )
        return tensors[0]

    def _chain(self, x, children: Sequence[int]):
        for child in children:
            x = self.feed(child, x, self.gate)
        return x

    def _op_Identity(self, node: Node):
        return self.inputs(node)

    def _op_Sequential(self, node: Node):
        return self._chain(self.inputs(node), node.children)

    def _choose(self, node: Node, branches: list[tuple[str, tuple[_Tensor, ...]]]):
        """The branch whose gate is on: outputs padded to the widest, and the width of the
        selected one."""
        tensors = [(gate, self._one(node, out)) for gate, out in branches]
        known_shapes = {t.shape[:-1] for _, t in tensors if t.shape is not None}
        if len(known_shapes) > 1 or (
            known_shapes and any(t.shape is None for _, t in tensors)
        ):
            shown = ", ".join(
                "(None, " + ", ".join(map(str, t.shape)) + ")" if t.shape else "unknown"
                for _, t in tensors
            )
            raise self.fail(node, f"its branches give tensors of other shapes: {shown}")
        channels = [t.channels for _, t in tensors]
        if len(set(channels)) > 1 and None in channels:
            raise self.fail(node, "its branches give tensors of unknown width")
        if len({t.var for _, t in tensors}) == 1:
            return (tensors[0][1],)
        sources = tuple(
            (_all(gate, inner), var)
            for gate, t in tensors
            for inner, var in t.alternatives()
        )
        known = [c for c in channels if c is not None]
        widest = max(known) if known else None
        gates = "[" + ", ".join(g for g, _ in tensors) + "]"
        padded = [
            t.var if t.channels == widest else f"pad_to({t.var}, {widest})"
            for _, t in tensors
        ]
        out = self.assign(f"{node.name}_out", f"select({gates}, [{', '.join(padded)}])")
        widths = [t.width for _, t in tensors]
        shape = tensors[0][1].shape
        shape = None if shape is None or widest is None else shape[:-1] + (widest,)
        if len(set(widths)) == 1 and len(set(channels)) == 1:
            return (_Tensor(out, widest, widths[0], shape, sources),)
        width_vars = [
            (
                w
                if w is not None
                else self.assign("width", f"constant_width(switches, {t.channels})")
            )
            for w, (_, t) in zip(widths, tensors)
        ]
        width = self.assign(
            f"{node.name}_width", f"select({gates}, [{', '.join(width_vars)}])"
        )
        return (_Tensor(out, widest, width, shape, sources),)

    def _op_Permutation(self, node: Node):
        x = self.inputs(node)
        if not isinstance(node.control, ParamRef):
            return self._chain(x, [node.children[k] for k in node.control])
        column, encoded = self.switch(node, node.control)
        orders = self.ir.parameter(node.control.name).domain.values()
        branches = []
        for code, order in zip(encoded, orders):
            gate = self.assign(
                f"{node.name}_is_{code}", f"equals(switches, {column}, {code!r})"
            )
            saved = self.gate
            self.gate = self.and_gate(gate)
            branches.append((gate, self._chain(x, [node.children[k] for k in order])))
            self.gate = saved
        return self._choose(node, branches)

    def _op_Repeat(self, node: Node):
        x = self.inputs(node)
        if not isinstance(node.control, ParamRef):
            return self._chain(x, node.children[: node.control])
        column, counts = self.switch(node, node.control)
        after: dict[float, tuple[_Tensor, ...]] = {}
        if 0.0 in counts:
            after[0.0] = x
        saved = self.gate
        for k, child in enumerate(node.children[: int(max(counts))]):
            if k >= min(counts):  # a step some candidates skip
                step_on = self.assign(
                    f"{node.name}_step_{k}",
                    f"exceeds(switches, {column}, {float(k)!r})",
                )
                self.gate = self.and_gate(step_on)
            x = self.feed(child, x, self.gate)
            self.gate = saved
            if float(k + 1) in counts:
                after[float(k + 1)] = x
        branches = [
            (
                self.assign(
                    f"{node.name}_times_{int(count)}",
                    f"equals(switches, {column}, {count!r})",
                ),
                out,
            )
            for count, out in sorted(after.items())
        ]
        return self._choose(node, branches)

    def _op_Optional(self, node: Node):
        x = self.inputs(node)
        if not node.keep_link:
            raise self.fail(node, "an Optional without keep_link drops its input")
        if not isinstance(node.control, ParamRef):
            return self.feed(node.children[0], x, self.gate) if node.control else x
        column, _ = self.switch(node, node.control)
        on = self.assign(f"{node.name}_on", f"equals(switches, {column}, 1.0)")
        off = self.assign(f"{node.name}_off", f"equals(switches, {column}, 0.0)")
        kept = self.feed(node.children[0], x, self.and_gate(on))
        return self._choose(node, [(on, kept), (off, x)])

    def _op_ModuleChoice(self, node: Node):
        x = self.inputs(node)
        if not isinstance(node.control, ParamRef):
            return self.feed(node.children[node.control], x, self.gate)
        column, codes = self.switch(node, node.control)
        branches = []
        for code in codes:
            gate = self.assign(
                f"{node.name}_is_{int(code)}", f"equals(switches, {column}, {code!r})"
            )
            branches.append(
                (gate, self.feed(node.children[int(code)], x, self.and_gate(gate)))
            )
        return self._choose(node, branches)

    def _op_InputChoice(self, node: Node):
        if not isinstance(node.control, ParamRef):
            out: list[_Tensor] = []
            for k in node.control:
                out.extend(self.value(node.inbound[k]))
            return tuple(out)
        options = self.ir.parameter(node.control.name).domain.values()
        if any(len(option) != 1 for option in options):
            raise self.fail(node, "it may choose several inputs (one is supported)")
        column, codes = self.switch(node, node.control)
        branches = []
        for code, (k,) in zip(codes, options):
            gate = self.assign(
                f"{node.name}_is_{k}", f"equals(switches, {column}, {code!r})"
            )
            branches.append((gate, self.value(node.inbound[k])))
        return self._choose(node, branches)

    # ------------------------------------------------------------------ ENAS blocks
    def _op_ConnectLooseEnd(self, node: Node):
        """The inputs no layer consumed (so far, as the specialiser decides it): each with
        the gate that says a candidate has it loose."""
        slots: dict[str, _Tensor] = {}
        for i in node.inbound:
            for t in self.value(i):
                slots.setdefault(t.var, t)
        out = []
        for t in slots.values():
            terms = [
                _all(gates, used)
                for gates, var in t.alternatives()
                for used in self.consumers.get(var, [])
            ]
            if any(term == () for term in terms):
                continue  # consumed in every candidate
            if terms:
                listed = ", ".join(dict.fromkeys(self.product(term) for term in terms))
                t = replace(
                    t, present=self.assign(f"{node.name}_loose", f"loose([{listed}])")
                )
            out.append(t)
        if not out:
            raise self.fail(node, "every input is consumed in every candidate")
        return tuple(out)

    def _op_SafeConcatenate(self, node: Node):
        x = self.inputs(node)
        if node.arg("data_format") == "channels_first" or node.arg("axis") not in (
            None,
            -1,
        ):
            raise self.fail(node, "only channels-last concatenation is supported")
        if len(x) == 1 and x[0].present is None:
            return x
        if any(t.width is not None or t.shape is None for t in x):
            raise self.fail(
                node, "it concatenates tensors of searched or unknown width"
            )
        if all(t.present is None for t in x):
            self.consume(*x)
            return (self._lowered(node.name, "Concatenate", x, {}),)
        if len({t.shape for t in x}) != 1:
            raise self.fail(node, "the inputs it may concatenate differ in shape")
        for t in x:  # (the candidate's Concatenate consumes what it has)
            self.consume(t, gate=t.present)
        ones = self.assign("always", "keras.ops.ones_like(column(switches, 0))")
        present = [t.present or ones for t in x]
        out = self.assign(
            f"{node.name}_out",
            f"compact([{', '.join(t.var for t in x)}], [{', '.join(present)}])",
        )
        first_shape = x[0].shape or ()
        channels = first_shape[-1]
        width = self.assign(
            f"{node.name}_width", f"{channels} * sum_of([{', '.join(present)}])"
        )
        shape = first_shape[:-1] + (channels * len(x),)
        return (_Tensor(out, shape[-1], width, shape),)

    def _enas_args(self, node: Node) -> dict[str, Any]:
        args = dict(node.args)
        if any(isinstance(v, (ParamRef, Expr)) for v in args.values()):
            raise self.fail(node, "a searched argument is not supported")
        if args.get("data_format") == "channels_first":
            raise self.fail(node, "channels_first is not supported")
        return args

    def _op_FactorizedReduction(self, node: Node):
        args = self._enas_args(node)
        x = self._one(node, self.inputs(node))
        prefix = args["name_prefix"]
        return (
            self._lower(
                factorized_reduction,
                x,
                args["filters"],
                f"{prefix}relu_",
                f"{prefix}reduction_",
                None,
            ),
        )

    def _op_CalibrateSize(self, node: Node):
        """As the specialiser lowers it (``enas_lowering``), except that an input whose width
        candidates choose is aligned only where its width is not ``filters``."""
        args = self._enas_args(node)
        filters, prefix, no = int(args["filters"]), args["name_prefix"], args["no"]
        x = self.inputs(node)
        sizes = [t.shape or () for t in x]
        if len(x) not in (1, 2) or any(len(size) != 3 for size in sizes):
            raise self.fail(node, "it needs one or two images of known shape")
        if len(x) == 2 and no == 0 and sizes[0][0] != sizes[1][0]:
            return (
                self._lower(
                    factorized_reduction,
                    x[0],
                    filters,
                    f"{prefix}relu_",
                    f"{prefix}input0_factorized_reduction_",
                    None,
                ),
            )
        which = "input1" if len(x) == 2 and no == 1 else "input0"
        t = x[1] if which == "input1" else x[0]
        if t.width is None:
            if t.channels == filters:
                return (t,)
            return (self._lower(filters_aligning, t, filters, prefix, which, None),)
        # A concatenation of one loose end has ``filters`` channels: no aligning then.
        same = self.assign(
            f"{node.name}_{which}_fits", f"width_is({t.width}, {float(filters)!r})"
        )
        other = self.assign(f"{node.name}_{which}_aligns", f"1.0 - {same}")
        saved = self.gate
        self.gate = self.and_gate(other)
        aligned = self._lower(filters_aligning, t, filters, prefix, which, None)
        self.gate = saved
        first = self.assign(f"{node.name}_{which}_first", f"{t.var}[..., :{filters}]")
        kept = _Tensor(first, filters, None, (t.shape or ())[:-1] + (filters,))
        return self._choose(node, [(same, (kept,)), (other, (aligned,))])

    def _lower(self, macro, x: _Tensor, *args: Any) -> _Tensor:
        """An ENAS lowering (``enas_lowering``) run on supernet tensors."""
        lowering = _Lowering(self, x)
        return lowering.tensors[macro(lowering, x.var, *args)]

    def _lowered(
        self, name: str, kind: str, inputs: Sequence[_Tensor], args: dict[str, Any]
    ) -> _Tensor:
        """One layer of a lowering, named as the candidate names it."""
        try:
            shape = shapes.infer(kind, args, [t.shape for t in inputs], name)
        except CandidateError as exc:
            raise SupernetUnsupported(f"{name} ({kind}): {exc}") from None
        out = self.var(f"{name}_out")
        width = inputs[0].width if len(inputs) == 1 else None
        if kind == "Conv2D":
            extra = "".join(
                f", {k}={render_literal(args[k])}"
                for k in ("strides", "padding")
                if k in args
            )
            construction = (
                f"SlicedConv2D({args['filters']}, "
                f"{render_literal(_pair(args['kernel_size']))}{extra}, "
                f"name={render_literal(name)})"
            )
            width = None
        elif kind == "BatchNormalization":
            construction = f"GatedBatchNormalization(name={render_literal(name)})"
        else:
            if kind not in _ZERO_PRESERVING and width is not None:
                raise SupernetUnsupported(
                    f"{name} ({kind}): it follows a layer of searched width; "
                    "the supernet cannot express it"
                )
            parts = [f"{k}={render_literal(v)}" for k, v in args.items()]
            parts.append(f"name={render_literal(name)}")
            construction = f"layers.{kind}({', '.join(parts)})"
        if name not in self.lowered:
            layer = self.var(name)
            self.lines.append(f"{layer} = {construction}")
            self.lowered[name] = layer
        layer = self.lowered[name]
        call = [t.var for t in inputs]
        if kind in _MERGES:
            call = ["[" + ", ".join(call) + "]"]
        if kind == "BatchNormalization":
            if width is not None:
                call.append(f"width={width}")
            if self.gate is not None:
                call.append(f"gate={self.gate}")
        self.lines.append(f"{out} = {layer}({', '.join(call)})")
        channels = shape[-1] if shape else None
        return _Tensor(out, channels, width, shape)

    def _merge(self, node: Node) -> _Tensor:
        """Add, Concatenate and the like, on inputs every candidate has at full width."""
        x = self.inputs(node)
        args = dict(node.args)
        if any(isinstance(v, (ParamRef, Expr)) for v in args.values()):
            raise self.fail(node, "a searched argument is not supported")
        if any(t.width is not None or t.present is not None for t in x):
            raise self.fail(node, "it merges tensors of searched width")
        self.consume(*x)
        if node.kind not in _MERGES:
            raise self.fail(node, "this merging layer is not supported")
        return self._lowered(node.name, node.kind, x, args)

    # ------------------------------------------------------------------ layers
    def _options(self, node: Node, value: Any) -> tuple:
        """The values a searched argument takes (a parameter, not a Dynamic)."""
        if not isinstance(value, ParamRef):
            raise self.fail(node, "its activation is a Dynamic value")
        return tuple(self.ir.parameter(value.name).domain.values())

    def _layer_variable(self, node: Node, construction: str) -> str:
        if node.index not in self.layers:
            name = self.var(node.name)
            self.lines.append(f"{name} = {construction}")
            self.layers[node.index] = name
        return self.layers[node.index]

    def _layer(self, node: Node) -> _Tensor:
        if LAYERS[node.kind].multi_input:
            return self._merge(node)
        x = self._one(node, self.inputs(node))
        self.consume(x)
        searched = {k: v for k, v in node.args if isinstance(v, (ParamRef, Expr))}
        fixed = {k: v for k, v in node.args if k not in searched}
        tensor = self._switched_layer(node, x, searched, fixed)
        # Its shape at the widest (the layer table's rule), so that a choice between branches
        # of other shapes is refused here rather than by Keras when the module runs.
        args = dict(fixed)
        for key in ("units", "filters"):
            if key in searched:
                args[key] = tensor.channels
        if "kernel_size" in searched:
            sizes = [_pair(k) for k in self._options(node, searched["kernel_size"])]
            args["kernel_size"] = tuple(
                max(size[i] for size in sizes) for i in range(2)
            )
        try:
            shape = shapes.infer(node.kind, args, [x.shape], node.name)
        except CandidateError as exc:
            raise self.fail(node, str(exc)) from None
        channels = shape[-1] if shape else tensor.channels
        return replace(tensor, channels=channels, shape=shape)

    def _switched_layer(
        self, node: Node, x: _Tensor, searched: dict[str, Any], fixed: dict[str, Any]
    ) -> _Tensor:
        name = render_literal(node.name)
        out = self.var(f"{node.name}_out")
        if node.kind == "Dense":
            if set(searched) - {"units", "activation"}:
                raise self.fail(
                    node,
                    f"its searched argument {sorted(searched)[0]} is not supported",
                )
            if fixed.get("activation") == "softmax" and "units" in searched:
                raise self.fail(node, "a softmax over a searched width")
            call_args = [x.var]
            units, width = self._width(node, "units", searched, fixed, call_args)
            names = self._activations(node, searched, fixed, call_args)
            other = {k: v for k, v in fixed.items() if k not in ("units", "activation")}
            if set(other) - {"use_bias"}:
                raise self.fail(
                    node,
                    f"its argument {sorted(set(other) - {'use_bias'})[0]} is not supported",
                )
            extra = "".join(f", {k}={render_literal(v)}" for k, v in other.items())
            layer = self._layer_variable(
                node,
                f"SlicedDense({units}{_activations(names)}{extra}, name={name})",
            )
            self.lines.append(f"{out} = {layer}({', '.join(call_args)})")
            return _Tensor(out, units, width)
        if node.kind == "Conv2D":
            return self._conv(node, x, searched, fixed, name, out)
        if node.kind == "Activation":
            call_args = [x.var]
            if "activation" in searched:
                column, _ = self.switch(node, searched["activation"])
                names = self._options(node, searched["activation"])
                call_args.append(f"choice=column(switches, {column})")
            else:
                names = (fixed["activation"],)
            if x.width is not None:
                call_args.append(f"width={x.width}")
            layer = self._layer_variable(
                node, f"SwitchedActivation({render_literal(names)}, name={name})"
            )
            self.lines.append(f"{out} = {layer}({', '.join(call_args)})")
            return _Tensor(out, x.channels, x.width)
        if node.kind == "BatchNormalization":
            if searched or set(fixed) - _BN_ARGUMENTS:
                bad = sorted(set(searched) | (set(fixed) - _BN_ARGUMENTS))[0]
                raise self.fail(node, f"its argument {bad} is not supported")
            extra = "".join(f"{k}={render_literal(v)}, " for k, v in fixed.items())
            layer = self._layer_variable(
                node, f"GatedBatchNormalization({extra}name={name})"
            )
            call_args = [x.var]
            if x.width is not None:
                call_args.append(f"width={x.width}")
            if self.gate is not None:
                call_args.append(f"gate={self.gate}")
            self.lines.append(f"{out} = {layer}({', '.join(call_args)})")
            return _Tensor(out, x.channels, x.width)
        if node.kind == "Dropout" and "rate" in searched:
            if set(searched) != {"rate"} or set(fixed) - {"seed"}:
                raise self.fail(node, "only its rate may be searched")
            column, _ = self.switch(node, searched["rate"])
            layer = self._layer_variable(node, f"SwitchedDropout(name={name})")
            self.lines.append(f"{out} = {layer}({x.var}, column(switches, {column}))")
            return _Tensor(out, x.channels, x.width)
        if searched:
            raise self.fail(
                node, f"its searched argument {sorted(searched)[0]} is not supported"
            )
        if x.width is not None and node.kind not in _ZERO_PRESERVING:
            hint = (
                " (flattened, the channels of a narrower candidate land elsewhere; "
                "GlobalAveragePooling2D keeps them in place)"
                if node.kind == "Flatten"
                else ""
            )
            raise self.fail(node, f"it follows a layer of searched width{hint}")
        return self._plain(node, x, fixed, out)

    def _width(
        self,
        node: Node,
        key: str,
        searched: dict[str, Any],
        fixed: dict[str, Any],
        call_args: list[str],
    ) -> tuple[int, str | None]:
        """A Dense's units or a Conv2D's filters: the widest count and, when searched, the
        variable of each sample's width (passed to the layer's call)."""
        if key not in searched:
            return fixed[key], None
        column, counts = self.switch(node, searched[key], key)
        width = self.assign(f"{node.name}_width", f"column(switches, {column})")
        call_args.append(f"width={width}")
        return int(max(counts)), width

    def _activations(
        self,
        node: Node,
        searched: dict[str, Any],
        fixed: dict[str, Any],
        call_args: list[str],
    ) -> tuple:
        """A layer's activation argument: the names it chooses among (the switch passed to
        the layer's call) or the one it has."""
        if "activation" not in searched:
            return (fixed.get("activation"),)
        column, _ = self.switch(node, searched["activation"])
        call_args.append(f"activation=column(switches, {column})")
        return self._options(node, searched["activation"])

    def _conv(
        self,
        node: Node,
        x: _Tensor,
        searched: dict[str, Any],
        fixed: dict[str, Any],
        name: str,
        out: str,
    ) -> _Tensor:
        """Conv2D at its most filters and largest kernel (kernels centred)."""
        unsupported = sorted((set(searched) | set(fixed)) - _CONV_ARGUMENTS)
        if unsupported:
            raise self.fail(node, f"its argument {unsupported[0]} is not supported")
        for key in ("strides", "padding", "use_bias"):
            if key in searched:
                raise self.fail(node, f"its searched argument {key} is not supported")
        strides = _pair(fixed.get("strides", (1, 1)))
        padding = fixed.get("padding", "valid")
        call_args = [x.var]
        filters, width = self._width(node, "filters", searched, fixed, call_args)
        sizes: tuple = ()
        if "kernel_size" in searched:
            sizes = tuple(
                _pair(k) for k in self._options(node, searched["kernel_size"])
            )
            if padding != "same" or strides != (1, 1):
                raise self.fail(
                    node,
                    "a searched kernel size needs padding='same' and strides 1 (else the "
                    "kernels do not share a centre)",
                )
            if any(k % 2 == 0 for size in sizes for k in size):
                raise self.fail(node, "an even kernel size has no centre")
            column, _ = self.switch(node, searched["kernel_size"])
            call_args.append(f"kernel=column(switches, {column})")
            kernel = tuple(max(size[i] for size in sizes) for i in range(2))
        else:
            kernel = _pair(fixed["kernel_size"])
        names = self._activations(node, searched, fixed, call_args)
        extra = f", kernel_sizes={render_literal(sizes)}" if sizes else ""
        if strides != (1, 1):
            extra += f", strides={render_literal(strides)}"
        if padding != "valid":
            extra += f", padding={render_literal(padding)}"
        if "use_bias" in fixed:
            extra += f", use_bias={render_literal(fixed['use_bias'])}"
        layer = self._layer_variable(
            node,
            f"SlicedConv2D({filters}, {render_literal(kernel)}{extra}"
            f"{_activations(names)}, name={name})",
        )
        self.lines.append(f"{out} = {layer}({', '.join(call_args)})")
        return _Tensor(out, filters, width)

    def _plain(self, node: Node, x: _Tensor, args: dict[str, Any], out: str) -> _Tensor:
        """A layer every candidate has as it is: the usual Keras layer."""
        spec = LAYERS[node.kind]
        parts = []
        rest = dict(args)
        for key in spec.shown_positional:
            if key not in rest:
                break
            parts.append(render_literal(rest.pop(key)))
        parts += [f"{k}={render_literal(v)}" for k, v in rest.items()]
        parts.append(f"name={render_literal(node.name)}")
        layer = self._layer_variable(node, f"layers.{node.kind}({', '.join(parts)})")
        self.lines.append(f"{out} = {layer}({x.var})")
        channels = x.channels
        if node.kind == "Dense":
            channels = args.get("units")
        elif node.kind not in _ZERO_PRESERVING and node.kind not in (
            "Rescaling",
            "Normalization",
            "Activation",
        ):
            channels = None  # not needed unless a choice merges it with another branch
        return _Tensor(out, channels, x.width)


def _activations(names: tuple) -> str:
    """The ``activations`` argument of a sliced layer, left out when it has none."""
    return "" if names == (None,) else f", activations={render_literal(names)}"


def _pair(value: Any) -> tuple:
    """A Keras 2-D size given as one number or two."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def emit_supernet(ir: SpaceIR, title: str | None = None) -> str:
    """The supernet module of the space ``ir``; raises :class:`SupernetUnsupported` for a
    construct it cannot express."""
    builder = _SupernetBuilder(ir)
    builder.build()
    # The switches input's shape is known only once every switch is: fill it in.
    lines = [
        (
            f"switches = keras.Input(shape=({len(builder.switches)},), name='switches')"
            if line.startswith("switches = keras.Input(")
            else line
        )
        for line in builder.lines
    ]
    parameters = []
    for parameter in ir.parameters:
        domain = parameter.domain
        if isinstance(domain, RealRange) and domain.size is None:
            values = f"{{'low': {domain.low!r}, 'high': {domain.high!r}, 'log': {domain.log!r}}}"
        elif isinstance(domain, Categorical) or domain.size is not None:
            values = render_literal(tuple(domain.values()))
        else:
            raise SupernetUnsupported(f"{parameter.name}: its values cannot be listed")
        parameters.append(f"{render_literal(parameter.name)}: {values}")
    space = f" of space {ir.source}" if ir.source else ""
    source = template(TEMPLATE).render(
        title=doc_text(title or f"Supernet{space}."),
        switch_lines=[
            doc_text(f"{i}: {s.description}") for i, s in enumerate(builder.switches)
        ]
        or ["(none: the space has a single candidate)"],
        fingerprint=render_literal(ir.fingerprint),
        input_shape=render_literal(builder.input_shape),
        parameters="{" + ", ".join(parameters) + "}",
        constants=builder.constants,
        switch_expressions=[s.expression for s in builder.switches],
        body_placeholder=BODY_PLACEHOLDER,
    )
    return format_module(source, lines)
