"""compile_space: DSL objects -> SpaceIR.

The steps, in order: name every module (the user's ``name=`` or ``<kind>_<n>`` numbered per
kind in creation order); check the graph (unconnected inputs, cycles, outputs); work out the
condition under which each module is part of a candidate by walking back from the outputs;
collect the parameters those modules use, name them after their first user
(``dense_1.units``) unless the user named them, and order them so that a parameter comes after
the parameters that switch it on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from typing import Any

from ..errors import CandidateError, SourceLocation, SpaceDefinitionError
from ..layers import HyperLayer
from ..layers.enas import EnasModule
from ..layers.spec import LAYERS
from ..ops import ConnectionSpace, Identity
from ..space import (
    Choice,
    Constant,
    Dynamic,
    HyperSpace,
    Int,
    ModuleSpace,
    MultipleChoice,
    ParameterSpace,
    Real,
)
from . import conditions as cond
from .domains import Categorical, Domain, IntRange, RealRange, Subset
from .enas_lowering import MACROS
from .op_registry import OPS
from .space_ir import Expr, Node, Parameter, ParamRef, SpaceIR


def compile_space(space: HyperSpace, source: str | None = None) -> SpaceIR:
    """Compile ``space`` into its static IR.

    >>> from nascompiler.spaces import dnn_search_space
    >>> ir = compile_space(dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax"))
    >>> ir.names[:2]
    ('dense_1.units', 'dense_1.reduce_factor')
    """
    if not isinstance(space, HyperSpace):
        raise SpaceDefinitionError(f"compile_space() needs a HyperSpace, got {space!r}")
    return _Compiler(space, source).run()


class _Compiler:
    def __init__(self, space: HyperSpace, source: str | None):
        self.space = space
        self.source = source
        self.modules: list[ModuleSpace] = list(space.modules)
        self.index = {id(m): i for i, m in enumerate(self.modules)}

    # ------------------------------------------------------------------ driver
    def run(self) -> SpaceIR:
        if not self.modules:
            raise SpaceDefinitionError("the space has no modules", self.space.location)
        names = self.module_names = self._module_names()
        entries = self._entries()
        self._check_connected(entries)
        order = self._topological_order()
        inputs, outputs = self._inputs_outputs()
        module_conditions = self._module_conditions(order, outputs)
        params = self._parameters(module_conditions)
        param_names = self._parameter_names(params)
        table = self._table(params, param_names, module_conditions)
        nodes = tuple(
            self._node(i, m, names[i], param_names) for i, m in enumerate(self.modules)
        )
        self._check_inputs_reachable(inputs, outputs)
        ir = SpaceIR(
            parameters=table,
            nodes=nodes,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            entries=entries,
            source=self.source,
        )
        object.__setattr__(ir, "fingerprint", _fingerprint(ir))
        return ir

    # ------------------------------------------------------------------ names
    def _module_names(self) -> list[str]:
        names: list[str | None] = [None] * len(self.modules)
        taken: set[str] = set()
        first: dict[str, ModuleSpace] = {}
        for i, m in enumerate(self.modules):
            if m.name is not None:
                if m.name in first:
                    # Renaming it silently would give the user a layer name they did not write.
                    other = first[m.name]
                    raise SpaceDefinitionError(
                        f"two modules are named {m.name!r} (this {m.kind} and the "
                        f"{other.kind} at {other.location}); give each its own name, e.g. "
                        "from the step in a Repeat",
                        m.location,
                    )
                first[m.name] = m
                names[i] = m.name
                taken.add(m.name)
        counters: dict[str, int] = {}
        single_input = sum(1 for m in self.modules if m.kind == "Input") == 1
        for i, m in enumerate(self.modules):
            if names[i] is not None:
                continue
            base = _snake(m.kind)
            if m.kind == "Input" and single_input and "input" not in taken:
                names[i] = "input"
                taken.add("input")
                continue
            n = counters.get(base, 0)
            while True:
                n += 1
                candidate = f"{base}_{n}"
                if candidate not in taken:
                    break
            counters[base] = n
            names[i] = candidate
            taken.add(candidate)
        return names  # type: ignore[return-value]

    # ------------------------------------------------------------------ graph checks
    def _deps(self, m: ModuleSpace) -> list[ModuleSpace]:
        deps = list(m.inbound)
        if isinstance(m, ConnectionSpace):
            deps.extend(m.children)
        return deps

    def _entries(self) -> dict[int, tuple[int, ...]]:
        """For each child tail of an op: the open modules (no input of their own) the op feeds."""
        entries: dict[int, tuple[int, ...]] = {}
        for m in self.modules:
            if not isinstance(m, ConnectionSpace):
                continue
            for child in m.children:
                found: list[int] = []
                seen: set[int] = set()
                stack = [child]
                while stack:
                    x = stack.pop()
                    if id(x) in seen:
                        continue
                    seen.add(id(x))
                    if not x.inbound:
                        if x.kind != "Input":
                            found.append(self.index[id(x)])
                        continue
                    stack.extend(reversed(x.inbound))
                entries[self.index[id(child)]] = tuple(sorted(found))
        return entries

    def _check_connected(self, entries: dict[int, tuple[int, ...]]) -> None:
        fed = {i for group in entries.values() for i in group}
        for i, m in enumerate(self.modules):
            if m.kind == "Input" or m.inbound or i in fed:
                continue
            op = OPS.get(m.kind)
            if op is not None and op.inputs_given_when_created:
                continue
            raise SpaceDefinitionError(
                f"{m.describe(with_location=False)} has no input: connect it by calling it on a module, "
                "e.g. layer(x), or pass it to an op such as Sequential",
                m.location,
            )

    def _topological_order(self) -> list[int]:
        """Producers before consumers; raises on a cycle, naming the call that closed it."""
        state = [0] * len(self.modules)  # 0 new, 1 on the stack, 2 done
        order: list[int] = []
        for start in range(len(self.modules)):
            if state[start]:
                continue
            stack: list[tuple[int, int]] = [(start, 0)]
            path = [start]
            state[start] = 1
            while stack:
                i, k = stack[-1]
                deps = self._deps(self.modules[i])
                if k < len(deps):
                    stack[-1] = (i, k + 1)
                    j = self.index[id(deps[k])]
                    if state[j] == 1:
                        cycle = path[path.index(j) :] + [j]
                        self._raise_cycle(cycle)
                    if state[j] == 0:
                        state[j] = 1
                        stack.append((j, 0))
                        path.append(j)
                else:
                    state[i] = 2
                    order.append(i)
                    stack.pop()
                    path.pop()
        return order

    def _raise_cycle(self, cycle: list[int]) -> None:
        # ``cycle[k]`` consumes ``cycle[k + 1]``. Every edge of the cycle was made by a call
        # (``b(a)``) or by passing a module to an op; the one made last closed the cycle.
        mods = [self.modules[i] for i in cycle]
        names = [self.module_names[i] for i in cycle]
        text = " -> ".join(reversed(names))
        last: tuple[int, SourceLocation | None] | None = None
        for consumer, producer in zip(mods, mods[1:]):
            edges = [
                (order, loc)
                for dep, loc, order in zip(
                    consumer.inbound, consumer.inbound_locations, consumer.inbound_order
                )
                if dep is producer
            ]
            if (
                not edges
            ):  # producer is a child of the op ``consumer``: made when the op was
                edges = [(consumer.created_order, consumer.location)]
            edge = max(edges, key=lambda e: e[0])
            if last is None or edge[0] > last[0]:
                last = edge
        location = (
            last[1] if last is not None and last[1] is not None else mods[0].location
        )
        raise SpaceDefinitionError(f"the space has a cycle: {text}", location)

    def _inputs_outputs(self) -> tuple[list[int], list[int]]:
        if self.space.inputs is not None:
            inputs = [self.index[id(m)] for m in self.space.inputs]
            for i in inputs:
                if self.modules[i].kind != "Input":
                    raise SpaceDefinitionError(
                        f"set_inputs(): {self.modules[i].describe()} is not an Input",
                        self.space.location,
                    )
        else:
            inputs = [i for i, m in enumerate(self.modules) if m.kind == "Input"]
        if not inputs:
            raise SpaceDefinitionError(
                "the space has no Input; start it with e.g. Input(shape=(28, 28, 1))",
                self.space.location,
            )
        if self.space.outputs is not None:
            outputs = [self.index[id(m)] for m in self.space.outputs]
        else:
            consumed: set[int] = set()
            for m in self.modules:
                consumed.update(self.index[id(d)] for d in self._deps(m))
            outputs = [
                i
                for i, m in enumerate(self.modules)
                if i not in consumed and m.kind != "Input"
            ]
        if not outputs:
            raise SpaceDefinitionError(
                "the space has no output: no module follows its inputs",
                self.space.location,
            )
        return inputs, outputs

    def _check_inputs_reachable(self, inputs: list[int], outputs: list[int]) -> None:
        allowed = set(inputs)
        seen: set[int] = set()
        stack = list(outputs)
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            m = self.modules[i]
            if m.kind == "Input" and i not in allowed:
                raise SpaceDefinitionError(
                    f"{m.describe(with_location=False)} feeds the model but is not among the inputs given to "
                    "set_inputs()",
                    m.location,
                )
            stack.extend(self.index[id(d)] for d in self._deps(m))

    # ------------------------------------------------------------------ conditions
    def _module_conditions(
        self, order: list[int], outputs: list[int]
    ) -> list[cond.Condition]:
        conds: list[cond.Condition] = [cond.NEVER] * len(self.modules)
        for o in outputs:
            conds[o] = cond.ALWAYS
        for i in reversed(order):  # consumers before producers
            c = conds[i]
            if c == cond.NEVER:
                continue
            m = self.modules[i]
            for dep in m.inbound:
                j = self.index[id(dep)]
                conds[j] = cond.or_(conds[j], c)
            if isinstance(m, ConnectionSpace):
                for k, child in enumerate(m.children):
                    j = self.index[id(child)]
                    conds[j] = cond.or_(conds[j], self._child_condition(m, k, c))
        return conds

    def _child_condition(
        self, op: ConnectionSpace, k: int, c: cond.Condition
    ) -> cond.Condition:
        spec = OPS.get(op.kind)
        if spec is None or spec.keeps_child is None:
            return c
        control = op.control
        allowed = tuple(v for v in control.options if spec.keeps_child(v, k))
        if not allowed:
            return cond.NEVER
        if len(allowed) == len(control.options):
            return c  # every value of the control keeps this child (step 0 of a Repeat, say)
        return cond.and_clause(c, cond.clause(_PENDING + str(id(control)), allowed))

    # ------------------------------------------------------------------ parameters
    def _parameters(
        self, module_conditions: list[cond.Condition]
    ) -> dict[int, dict[str, Any]]:
        """Every searchable parameter reachable from a live module, keyed by ``id()``."""
        params: dict[int, dict[str, Any]] = {}

        def visit(p: ParameterSpace, c: cond.Condition) -> None:
            if isinstance(p, Dynamic):
                for dep in p.deps.values():
                    if isinstance(dep, ParameterSpace):
                        visit(dep, c)
                return
            if _fixed_value(p) is not _NOT_FIXED:
                return
            entry = params.setdefault(id(p), {"param": p, "condition": cond.NEVER})
            entry["condition"] = cond.or_(entry["condition"], c)

        for i, m in enumerate(self.modules):
            c = module_conditions[i]
            if c == cond.NEVER:
                continue
            for value in m.hyperparams.values():
                if isinstance(value, ParameterSpace):
                    visit(value, c)
            if isinstance(m, ConnectionSpace) and m.control is not None:
                visit(m.control, c)
        return params

    def _parameter_names(self, params: dict[int, dict[str, Any]]) -> dict[int, str]:
        names: dict[int, str] = {}
        taken: set[str] = set()
        for key, entry in sorted(params.items(), key=lambda kv: kv[1]["param"].index):
            p = entry["param"]
            if p.name is not None:
                if p.name in taken:
                    raise SpaceDefinitionError(
                        f"two parameters are named {p.name!r}", p.location
                    )
                names[key] = p.name
                taken.add(p.name)
        module_names = self.module_names

        def claim(p: ParameterSpace, label: str) -> None:
            key = id(p)
            if isinstance(p, Dynamic):
                for dep_name, dep in p.deps.items():
                    if isinstance(dep, ParameterSpace):
                        claim(dep, f"{label.rsplit('.', 1)[0]}.{dep_name}")
                return
            if key in params and key not in names:
                name = _unique(label, taken)
                names[key] = name
                taken.add(name)

        for i, m in enumerate(self.modules):
            if isinstance(m, ConnectionSpace) and m.control is not None:
                claim(m.control, f"{module_names[i]}.{m.control_name}")
            for arg, value in m.hyperparams.items():
                if isinstance(value, ParameterSpace):
                    claim(value, f"{module_names[i]}.{arg}")
        return names

    def _table(
        self,
        params: dict[int, dict[str, Any]],
        names: dict[int, str],
        module_conditions: list[cond.Condition],
    ) -> tuple[Parameter, ...]:
        rename = {_PENDING + str(key): names[key] for key in params}
        rows: dict[str, Parameter] = {}
        creation: dict[str, int] = {}
        for key, entry in params.items():
            p = entry["param"]
            condition = _rename(entry["condition"], rename)
            name = names[key]
            rows[name] = Parameter(name, _domain(p), condition, _kind(p), p.location)
            creation[name] = p.index
        # A parameter comes after those its condition mentions; otherwise in creation order.
        ordered: list[Parameter] = []
        placed: set[str] = set()
        pending = sorted(rows, key=lambda n: creation[n])
        while pending:
            for name in pending:
                if cond.referenced(rows[name].condition) <= placed:
                    ordered.append(rows[name])
                    placed.add(name)
                    pending.remove(name)
                    break
            else:  # cannot happen for a DAG; guard against an infinite loop anyway
                raise SpaceDefinitionError(
                    f"parameters switch each other on in a circle: {', '.join(pending)}"
                )
        return tuple(ordered)

    # ------------------------------------------------------------------ nodes
    def _node(
        self, i: int, m: ModuleSpace, name: str, param_names: dict[int, str]
    ) -> Node:
        args = tuple((k, self._arg(v, param_names)) for k, v in m.hyperparams.items())
        control = None
        children: tuple[int, ...] = ()
        keep_link = False
        if isinstance(m, ConnectionSpace):
            children = tuple(self.index[id(c)] for c in m.children)
            keep_link = m.keep_link
            if m.control is not None:
                control = self._arg(m.control, param_names)
        if not isinstance(m, (HyperLayer, EnasModule, Identity, ConnectionSpace)):
            raise SpaceDefinitionError(
                f"{type(m).__name__} is not a module nascompiler can compile; use the modules of "
                "nascompiler.layers and nascompiler.ops",
                m.location,
            )
        return Node(
            index=i,
            kind=m.kind,
            name=name,
            args=args,
            inbound=tuple(self.index[id(d)] for d in m.inbound),
            children=children,
            control=control,
            keep_link=keep_link,
            location=m.location,
        )

    def _arg(self, value: Any, param_names: dict[int, str]) -> Any:
        if isinstance(value, Dynamic):
            deps = tuple((k, self._arg(v, param_names)) for k, v in value.deps.items())
            return Expr(value.fn, deps, value.location)
        if isinstance(value, ParameterSpace):
            fixed = _fixed_value(value)
            if fixed is not _NOT_FIXED:
                return fixed
            return ParamRef(param_names[id(value)])
        return value


_PENDING = "\x00param:"  # placeholder for a parameter's name while conditions are built
_NOT_FIXED = object()


def _fixed_value(p: ParameterSpace) -> Any:
    """The value of a parameter that has only one, else ``_NOT_FIXED``."""
    if isinstance(p, Constant):
        return p.value
    if isinstance(p, Choice) and len(p.options) == 1:
        return p.options[0]
    if isinstance(p, Int) and p.low == p.high:
        return p.low
    if isinstance(p, Real) and p.low == p.high:
        return p.low
    if isinstance(p, MultipleChoice) and len(p.options) == 1:
        return tuple(p.options)
    return _NOT_FIXED


def _domain(p: ParameterSpace) -> Domain:
    if isinstance(p, Choice):
        return Categorical(p.options)
    if isinstance(p, Int):
        return IntRange(p.low, p.high, p.step)
    if isinstance(p, Real):
        return RealRange(p.low, p.high, p.step, p.prior == "log")
    if isinstance(p, MultipleChoice):
        return Subset(p.options, p.num_chosen_least, p.num_chosen_most)
    raise SpaceDefinitionError(
        f"{type(p).__name__} is not a searchable parameter", p.location
    )


def _kind(p: ParameterSpace) -> str:
    return type(p).__name__


def _rename(condition: cond.Condition, rename: dict[str, str]) -> cond.Condition:
    result: cond.Condition = cond.NEVER
    for conj in condition:
        c = cond.ALWAYS
        for name, allowed in conj:
            c = cond.and_clause(c, cond.clause(rename.get(name, name), allowed))
        result = cond.or_(result, c)
    return result


def _snake(kind: str) -> str:
    if kind in LAYERS:
        return LAYERS[kind].snake_name
    if kind in OPS:
        return OPS[kind].snake
    if kind in MACROS:
        return MACROS[kind].snake
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _fingerprint(ir: SpaceIR, dynamic_values: bool = True) -> str:
    """A digest of what makes a space this space; a study refuses to resume on another.

    It covers the parameter table (names, domains, conditions), every node (kind, name,
    arguments, wiring, control, ``keep_link``), the inputs and outputs, and for each
    ``Dynamic`` what it computes: its results over its parameters' values
    (:func:`_dynamic_results`). It does not cover the space file's other code (``load_data``
    and ``TRAINING`` are checked on their own) nor source locations, so moving a line or
    reformatting the file does not change a space.

    ``dynamic_values=False`` gives the digest as it was before it covered Dynamics' results;
    a study recorded then is recognised by it (see the study's definition check).
    """
    domains = {p.name: p.domain for p in ir.parameters}

    def arg(v: Any) -> Any:
        if isinstance(v, ParamRef):
            return {"param": v.name}
        if isinstance(v, Expr):
            entry = {"dynamic": [[k, arg(d)] for k, d in v.deps]}
            if dynamic_values:
                entry["results"] = _dynamic_results(v, domains)
            return entry
        return v

    doc = {
        "parameters": [
            [p.name, p.domain.to_json(), [list(map(list, c)) for c in p.condition]]
            for p in ir.parameters
        ],
        "nodes": [
            [
                n.kind,
                n.name,
                [[k, arg(v)] for k, v in n.args],
                list(n.inbound),
                list(n.children),
                arg(n.control),
                n.keep_link,
            ]
            for n in ir.nodes
        ],
        "inputs": list(ir.inputs),
        "outputs": list(ir.outputs),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_without_dynamic_results(ir: SpaceIR) -> str:
    """The fingerprint as it was before it covered what a Dynamic computes, to recognise the
    studies recorded then."""
    return _fingerprint(ir, dynamic_values=False)


DYNAMIC_PROBES = 256  # the most times the fingerprint calls one Dynamic's function


def _dynamic_results(expr: Expr, domains: dict[str, Domain]) -> list[Any]:
    """What a ``Dynamic`` computes, as data: its result at every combination of the values of
    the parameters it reads when there are at most :data:`DYNAMIC_PROBES`, else at that many
    combinations drawn with a fixed seed (a continuous or large domain). A call that raises
    gives the exception's name instead.

    Results rather than the function's source: they change when what the space computes
    changes, including through a closure or a global the function reads, and not when the
    file is reformatted. (For a domain too large to list, a change that shows at none of the
    drawn values goes unnoticed.) They are literals (``Expr.evaluate`` checks), drawn in a
    fixed order, so the digest does not depend on the process; floats are rounded to 12
    digits so that another platform's last bit (of ``exp`` or ``**``, say) does not count.
    """
    names = sorted(set(expr.parameters()))
    sizes = [domains[n].size for n in names]
    if None not in sizes and math.prod(sizes) <= DYNAMIC_PROBES:
        combos = itertools.product(*(domains[n].values() for n in names))
    else:
        rng = random.Random(0)
        combos = (
            tuple(domains[n].sample(rng) for n in names) for _ in range(DYNAMIC_PROBES)
        )
    results: list[Any] = []
    for combo in combos:
        try:
            results.append(_rounded(expr.evaluate(dict(zip(names, combo)))))
        except CandidateError as exc:  # the function raised, or returned a non-literal
            cause = exc.__cause__
            results.append({"raises": type(cause).__name__ if cause else "NotALiteral"})
    return results


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, tuple):
        return tuple(_rounded(v) for v in value)
    return value
