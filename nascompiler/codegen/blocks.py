"""Repeated blocks: finding the cells an ENAS candidate repeats, so that emit writes each
distinct cell once, as a function, and calls it.

The graph is flat, so a block is recognised by the names specialize gives the layers of an
ENAS cell: ``<k>_<normal|reduction>_C<c>_N<i>_...`` for its nodes and ``..._concat_`` for its
output. A cell's layers that prepare its inputs (CalibrateSize, FactorizedReduction) depend on
the previous cells' shapes, so they stay inline; the body (nodes and concatenation) is the
block. Two instances share a function only when their bodies are the same network: the same
layers in the same order, wired the same way, with the same arguments except some whose values
differ per instance (the filters, doubled after each reduction), which become parameters.
Layer names are built as ``prefix + "N0_add_"`` with the instance's prefix, so every layer
keeps its name, and the model (and its weights file) is the one the inline code builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from ..ir.graph import CandidateGraph, Op

_CELL_OP = re.compile(
    r"^(?P<prefix>\d+_(?P<kind>normal|reduction)_C\d+_)(?P<rest>N\d+_.*|concat_)$"
)


@dataclass(frozen=True)
class Instance:
    prefix: str  # "1_normal_C1_"
    ops: tuple[Op, ...]  # the body, in graph order
    externals: tuple[str, ...]  # tensors from outside the body, in order of first use
    output: str  # the body's one result (the cell's concatenation)


@dataclass(frozen=True)
class Block:
    """One function: a cell body that occurs at least twice."""

    function: str  # its name, e.g. "normal_cell"
    kind: str
    instances: tuple[Instance, ...]  # the first one's layers define the function
    feeds: tuple[
        tuple[str, ...], ...
    ]  # per instance: the tensors passed as x_1, x_2, ...
    parameters: tuple[tuple[str, tuple[tuple[int, str], ...]], ...]
    # (parameter name, the (op position, argument key) slots it fills); values per instance
    # are read from each instance's ops.

    def value(self, instance: Instance, parameter: int) -> object:
        position, key = self.parameters[parameter][1][0]
        return instance.ops[position].arg(key)


def find_blocks(candidate: CandidateGraph) -> list[Block]:
    """The repeated cell bodies of ``candidate`` (none for a graph without ENAS cells)."""
    groups: dict[str, list[Op]] = {}
    kinds: dict[str, str] = {}
    for op in candidate.ops:
        match = _CELL_OP.match(op.name)
        if match:
            groups.setdefault(match["prefix"], []).append(op)
            kinds[match["prefix"]] = match["kind"]
    instances_by_kind: dict[str, list[Instance]] = {}
    order = {op.name: i for i, op in enumerate(candidate.ops)}
    consumers: dict[str, list[str]] = {op.name: [] for op in candidate.ops}
    for op in candidate.ops:
        for t in op.inputs:
            consumers[t].append(op.name)
    for prefix, ops in groups.items():
        instance = _instance(prefix, ops, order, consumers, candidate.outputs)
        if instance is not None:
            instances_by_kind.setdefault(kinds[prefix], []).append(instance)
    blocks: list[Block] = []
    taken: set[str] = set()
    for kind in ("normal", "reduction"):
        alike: list[list[Instance]] = []
        for instance in instances_by_kind.get(kind, []):
            for group in alike:
                if _structure(group[0]) == _structure(instance):
                    group.append(instance)
                    break
            else:
                alike.append([instance])
        for group in alike:
            # The function takes as many tensors as the instance that uses the most distinct
            # ones (the first cell of a network may get the same tensor as both its inputs);
            # the others pass theirs in its places, if they map one to one.
            widest = max(group, key=lambda inst: len(inst.externals))
            members = [widest] + [
                inst
                for inst in group
                if inst is not widest and _feeds(widest, inst) is not None
            ]
            members.sort(key=lambda inst: order[inst.ops[0].name])
            if len(members) < 2:
                continue
            members.remove(widest)
            members.insert(0, widest)
            name = f"{kind}_cell"
            n = 2
            while name in taken:
                name = f"{kind}_cell_{n}"
                n += 1
            taken.add(name)
            feeds = tuple(_feeds(widest, inst) or () for inst in members)
            blocks.append(
                Block(name, kind, tuple(members), feeds, _parameters(members))
            )
    return blocks


def _instance(
    prefix: str,
    ops: list[Op],
    order: dict[str, int],
    consumers: dict[str, list[str]],
    outputs: tuple[str, ...],
) -> Instance | None:
    """The body as a block, if it is one: contiguous in the graph (so one call can stand where
    its layers stood) with a single result used outside it."""
    positions = [order[op.name] for op in ops]
    if positions != list(range(positions[0], positions[0] + len(ops))):
        return None
    names = {op.name for op in ops}
    externals: list[str] = []
    for op in ops:
        for t in op.inputs:
            if t not in names and t not in externals:
                externals.append(t)
    results = [
        op.name
        for op in ops
        if op.name in outputs or any(c not in names for c in consumers[op.name])
    ]
    if len(results) != 1 or results[0] in outputs:
        return None
    return Instance(prefix, tuple(ops), tuple(externals), results[0])


def _structure(instance: Instance) -> tuple:
    """The body's structure: layers, name endings, argument keys and internal wiring (not
    argument values, nor which outside tensor feeds a layer)."""
    index = {op.name: i for i, op in enumerate(instance.ops)}
    return (
        index[instance.output],
        tuple(
            (
                op.layer,
                op.name[len(instance.prefix) :],
                tuple(k for k, _ in op.args),
                tuple(("op", index[t]) if t in index else ("in",) for t in op.inputs),
            )
            for op in instance.ops
        ),
    )


def _feeds(model: Instance, other: Instance) -> tuple[str, ...] | None:
    """The tensors ``other`` passes for ``model``'s external inputs: each place where
    ``model`` reads its k-th outside tensor, ``other`` must read one and the same tensor.
    """
    chosen: dict[int, str] = {}
    for op, theirs in zip(model.ops, other.ops):
        for t, u in zip(op.inputs, theirs.inputs):
            if t in model.externals:
                k = model.externals.index(t)
                if chosen.setdefault(k, u) != u:
                    return None
    return tuple(chosen[k] for k in range(len(model.externals)))


def _parameters(
    group: Sequence[Instance],
) -> tuple[tuple[str, tuple[tuple[int, str], ...]], ...]:
    """Arguments whose values differ between the instances become parameters; slots with the
    same key and the same values in every instance share one."""
    shared: dict[tuple, list[tuple[int, str]]] = {}
    first = group[0]
    for position, op in enumerate(first.ops):
        for key, _ in op.args:
            values = tuple(inst.ops[position].arg(key) for inst in group)
            if any(v != values[0] for v in values):
                shared.setdefault((key, values), []).append((position, key))
    names: dict[str, int] = {}
    parameters = []
    for (key, _), slots in shared.items():
        names[key] = names.get(key, 0) + 1
        name = key if names[key] == 1 else f"{key}_{names[key]}"
        parameters.append((name, tuple(slots)))
    return tuple(parameters)
