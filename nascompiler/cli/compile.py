"""``nascompile inspect`` and ``nascompile compile``: a space's parameters and costs, and its
candidate modules, without training anything."""

from __future__ import annotations

import ast
import os
import random
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from ..errors import UsageError
from .common import console, err_console

# ------------------------------------------------------------------------------ inspect


# Spaces with at most this many assignments get exact cost figures (all enumerated).
EXACT_COST_LIMIT = 2000


def inspect(
    space_file: Path = typer.Argument(
        ..., help="The space file (defines search_space())."
    ),
    sample: int = typer.Option(
        200,
        "--sample",
        help="Candidates to sample for the cost summary when the space is too large to "
        f"enumerate (over {EXACT_COST_LIMIT:,} assignments).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the sample."),
    max_params: Optional[str] = typer.Option(
        None,
        "--max-params",
        help="Parameter budget (50k, 1.5M): estimate the share within it.",
    ),
    max_flops: Optional[str] = typer.Option(
        None,
        "--max-flops",
        help="FLOPs budget per sample (2G): estimate the share within it.",
    ),
) -> None:
    """Print a space's parameter table, how many assignments it has and what they cost."""
    from ..ir.op_registry import OPS
    from ..spacefile import load_space_file
    from ..units import parse_count

    budgets = {
        field: parse_count(text, flag)
        for field, flag, text in (
            ("params", "--max-params", max_params),
            ("flops", "--max-flops", max_flops),
        )
        if text is not None
    }
    if sample < 1:
        raise UsageError(f"--sample must be a positive number, got {sample}")
    space = load_space_file(space_file)
    ir = space.compile()
    for warning in space.warnings:
        err_console.print(warning, markup=False, soft_wrap=True)
    table = Table(title=f"Parameters of {space_file}", title_justify="left")
    table.add_column("parameter", no_wrap=True)
    for column in ("kind", "domain", "active when", "defined at"):
        table.add_column(column, overflow="fold")
    for p in ir.parameters:
        table.add_row(
            p.name,
            p.kind,
            p.domain.describe(),
            ir.describe_condition(p),
            str(p.location or ""),
        )
    console.print(table)
    layers = sum(1 for n in ir.nodes if n.kind not in OPS)
    console.print(
        f"{len(ir.parameters)} parameters; {len(ir.nodes)} modules in the supergraph ({layers} layers)."
    )
    console.print(_count_text(ir))
    _print_costs(ir, sample, seed, budgets)


_COST_ROWS = (
    ("params", "parameters"),
    ("flops", "FLOPs per sample (forward)"),
    ("activation_bytes", "peak activation bytes per sample"),
)


def _cost_survey(ir, sample: int, seed: int):
    """The costs of every assignment when there are few, else of a seeded random sample:
    ``(costs, how many assignments gave no valid architecture, exact)``."""
    from ..errors import CandidateError
    from ..ir import specialize
    from ..ir.cost import candidate_cost
    from ..search.searchers import GridSearch

    try:
        count = ir.count(limit=EXACT_COST_LIMIT)
    except OverflowError:
        count = None
    exact = count is not None and count <= EXACT_COST_LIMIT
    if exact:
        assignments = iter(GridSearch(ir).ask, None)
    else:
        rng = random.Random(seed)
        assignments = (ir.sample(rng) for _ in range(sample))
    costs, invalid = [], 0
    for assignment in assignments:
        try:
            costs.append(candidate_cost(specialize(ir, assignment)))
        except CandidateError:
            invalid += 1
    return costs, invalid, exact


def _print_costs(ir, sample: int, seed: int, budgets: dict) -> None:
    import statistics

    costs, invalid, exact = _cost_survey(ir, sample, seed)
    total = len(costs) + invalid
    where = (
        f"all {total:,} assignments (exact)"
        if exact
        else f"{total:,} random assignments (seed {seed}; an estimate)"
    )
    table = Table(title=f"Cost over {where}", title_justify="left")
    for column in ("cost", "min", "median", "max"):
        table.add_column(column, justify="left" if column == "cost" else "right")
    for field, label in _COST_ROWS:
        known = sorted(v for c in costs if (v := getattr(c, field)) is not None)
        if known:
            shown = (known[0], statistics.median_low(known), known[-1])
            table.add_row(label, *(f"{v:,}" for v in shown))
        else:
            table.add_row(label, "unknown", "unknown", "unknown")
    console.print(table)
    if invalid:
        console.print(
            f"{invalid:,} of the {total:,} assignments give no valid architecture."
        )
    if budgets:
        limits = " and ".join(
            f"{'parameters' if field == 'params' else 'FLOPs'} <= {limit:,}"
            for field, limit in budgets.items()
        )
        within = sum(
            all(
                getattr(c, field) is not None and getattr(c, field) <= limit
                for field, limit in budgets.items()
            )
            for c in costs
        )
        share = 100.0 * within / total if total else 0.0
        console.print(
            f"Within budget ({limits}): {within:,} of {total:,} assignments ({share:.1f}%)."
            if exact
            else f"Within budget ({limits}): {within:,} of {total:,} sampled assignments, "
            f"about {share:.1f}% of the space."
        )


def _count_text(ir) -> str:
    try:
        count = ir.count()
    except OverflowError:
        return "Distinct assignments: too many switch combinations to count exactly."
    if count is None:
        continuous = [p.name for p in ir.parameters if p.domain.size is None]
        return (
            f"Distinct assignments: infinite ({', '.join(continuous)} "
            f"{'is' if len(continuous) == 1 else 'are'} continuous)."
        )
    return f"Distinct assignments: {count:,} (exact; several may give the same architecture)."


# ------------------------------------------------------------------------------ compile


def compile(
    ctx: typer.Context,
    space_file: Path = typer.Argument(
        ..., help="The space file (defines search_space())."
    ),
    random_count: Optional[int] = typer.Option(
        None, "--random", help="Write N random candidates."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for --random."),
    assign: Optional[List[str]] = typer.Option(
        None,
        "--assign",
        help="name=value for one candidate; repeat it, or list more name=value after it.",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Folder to write to [default: generated/<space>/compiled]."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Overwrite files in --out that nascompile compile did not write.",
    ),
) -> None:
    """Write candidate modules of a space without training anything."""
    from ..codegen import emit
    from ..fileio import check_target
    from ..ir import specialize
    from ..spacefile import load_space_file

    extra = list(ctx.args)
    pairs = list(assign or []) + extra
    if extra and not assign:
        raise UsageError(
            f"unexpected argument(s) {' '.join(extra)}; did you mean --assign {extra[0]}?"
        )
    if (random_count is None) == (not pairs):
        raise UsageError("give either --random N or --assign name=value ...")
    space = load_space_file(space_file)
    ir = space.compile()
    for warning in space.warnings:
        err_console.print(warning, markup=False, soft_wrap=True)
    folder = out or Path("generated") / space.stem / "compiled"
    check_target(folder / INDEX_FILE, INDEX, force)  # before any module is written
    written: list[Path] = []
    graphs = []
    if pairs:
        graph = specialize(ir, parse_assignment(pairs))
        graphs.append(graph)
        written.append(_write_module(folder, graph, emit, force))
    else:
        if random_count is None or random_count < 1:
            raise UsageError("--random needs a positive number of candidates")
        assignments = _all_assignments_if_fewer(ir, random_count)
        if assignments is not None:
            # The space has no more assignments than were asked for: write every distinct
            # candidate once instead of drawing until the draws run out.
            seen: set[str] = set()
            for values in assignments:
                graph = specialize(ir, values)
                if graph.id not in seen:
                    seen.add(graph.id)
                    graphs.append(graph)
                    written.append(_write_module(folder, graph, emit, force))
            if len(written) < random_count:
                console.print(
                    f"The space has only {len(written)} distinct candidate(s) "
                    f"({len(assignments)} assignments), fewer than --random {random_count}; "
                    "wrote them all."
                )
        else:
            _write_random(ir, random_count, seed, folder, written, graphs, force)
    for path in written:
        console.print(f"wrote {path}")
    index = write_index(folder, graphs, force)
    console.print(
        f"{len(written)} candidate module(s) in {folder}{os.sep}; their costs in {index}"
    )


INDEX_FILE = "index.json"


def _write_module(folder: Path, graph, emit, force: bool) -> Path:
    from ..fileio import write_atomic

    return write_atomic(folder / f"{graph.id}.py", emit(graph), CANDIDATE_MODULE, force)


def _is_candidate_module(path: Path) -> bool:
    from ..fileio import head

    start = head(path, 1 << 16)
    return start.startswith(b'"""Candidate ') and b"\nCANDIDATE_ID = " in start


def _is_index(path: Path) -> bool:
    from ..fileio import head

    return head(path, 64).lstrip().startswith(b"[")


def _products():
    from ..fileio import Product

    return (
        Product("nascompile compile", _is_candidate_module),
        Product("nascompile compile", _is_index),
    )


CANDIDATE_MODULE, INDEX = _products()


def write_index(folder: Path, graphs, force: bool = False) -> Path:
    """``index.json`` in ``folder``: one entry per candidate module there (earlier compiles
    into the same folder included), sorted by candidate id, with its assignment and cost.
    The bytes depend only on the candidates, so a rerun rewrites the same file."""
    import json

    from ..fileio import check_target, write_atomic
    from ..ir.cost import candidate_cost

    path = folder / INDEX_FILE
    entries: dict[str, dict] = {}
    if check_target(path, INDEX, force):
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            entries = {e["candidate_id"]: e for e in previous}
        except (ValueError, TypeError, KeyError):
            if not force:  # with --force it is replaced by the index of what is there
                raise UsageError(
                    f"{path} is not an index that nascompile compile wrote; move it away "
                    "or pass --force"
                ) from None
    for graph in graphs:
        cost = candidate_cost(graph)
        entries[graph.id] = {  # keys in this order; the assignment in table order
            "candidate_id": graph.id,
            "file": f"{graph.id}.py",
            "assignment": dict(graph.assignment),
            "params": cost.params,
            "trainable_params": cost.trainable_params,
            "flops": cost.flops,
            "activation_bytes": cost.activation_bytes,
        }
    kept = [
        entries[cid]
        for cid in sorted(entries)
        if (folder / entries[cid]["file"]).exists()
    ]
    text = json.dumps(kept, indent=2, ensure_ascii=True, allow_nan=False)
    return write_atomic(path, text + "\n", INDEX, force)


STALE_DRAWS = 1000  # draws in a row without a new candidate before --random gives up


def _all_assignments_if_fewer(ir, wanted: int) -> Optional[list]:
    """Every assignment of ``ir`` when there are at most ``wanted`` of them, else ``None``."""
    from ..search.searchers.grid import ContinuousParameterError, GridSearch

    try:
        count = ir.count()
    except OverflowError:
        return None
    if count is None or count > wanted:
        return None
    try:
        grid = GridSearch(ir)
    except ContinuousParameterError:  # an inactive-only continuous parameter
        return None
    return list(iter(grid.ask, None))


def _write_random(
    ir, wanted: int, seed: int, folder: Path, written: list, graphs: list, force: bool
) -> None:
    from ..codegen import emit
    from ..ir import specialize

    rng = random.Random(seed)
    seen: set[str] = set()
    attempts = stale = 0
    while len(seen) < wanted and attempts < 50 * wanted and stale < STALE_DRAWS:
        attempts += 1
        graph = specialize(ir, ir.sample(rng))
        if graph.id in seen:
            stale += 1
            continue
        stale = 0
        seen.add(graph.id)
        graphs.append(graph)
        written.append(_write_module(folder, graph, emit, force))
    if len(written) < wanted:
        why = (
            f", the last {STALE_DRAWS} without a new one"
            if stale >= STALE_DRAWS
            else ""
        )
        console.print(
            f"The space gave only {len(written)} distinct candidates in {attempts} draws{why}; "
            f"it may have fewer than --random {wanted}."
        )


def parse_assignment(pairs: List[str]) -> dict:
    """``["dense_1.units=500", "activation_1.activation=relu"]`` -> a dict of values.

    Values are Python literals where they parse as one (``500``, ``(3, 3)``, ``[0]``, ``True``)
    and strings otherwise (``relu``).
    """
    values: dict = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--assign expects name=value, got {pair!r}")
        if name in values:
            raise UsageError(f"--assign gives {name!r} twice")
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    return values
