"""``nascompile``: the command line.

A thin layer over the library: each command loads what it needs, calls one function of the
compiler or the search package, and prints. Errors in the user's input end as one line on
stderr and exit code 2 (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import ast
import os
import random
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import NascompilerError, UsageError

app = typer.Typer(
    name="nascompile",
    help="Neural architecture search as a compiler: search spaces in, readable Keras modules out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    )
) -> None:
    """nascompile: search spaces in, standalone Keras modules out."""


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the ``nascompile`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:  # accepted anywhere on the line, not only before the command
        args = ["--debug"] + [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="nascompile")
    except NascompilerError as exc:
        if debug:
            raise
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        raise SystemExit(2) from None


# ------------------------------------------------------------------------------ inspect


@app.command()
def inspect(
    space_file: Path = typer.Argument(
        ..., help="The space file (defines search_space())."
    )
) -> None:
    """Print a space's parameter table and how many assignments it has."""
    from .spacefile import load_space_file

    ir = load_space_file(space_file).compile()
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
    layers = sum(1 for n in ir.nodes if n.kind not in _CONNECTION_KINDS)
    console.print(
        f"{len(ir.parameters)} parameters; {len(ir.nodes)} modules in the supergraph ({layers} layers)."
    )
    console.print(_count_text(ir))


_CONNECTION_KINDS = {
    "Sequential",
    "Permutation",
    "Optional",
    "Repeat",
    "ModuleChoice",
    "InputChoice",
    "ConnectLooseEnd",
    "Identity",
}


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


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": False}
)
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
) -> None:
    """Write candidate modules of a space without training anything."""
    from .codegen import emit
    from .fileio import write_atomic
    from .ir import specialize
    from .spacefile import load_space_file

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
    folder = out or Path("generated") / space.stem / "compiled"
    written: list[Path] = []
    if pairs:
        graph = specialize(ir, parse_assignment(pairs))
        written.append(write_atomic(folder / f"{graph.id}.py", emit(graph)))
    else:
        if random_count is None or random_count < 1:
            raise UsageError("--random needs a positive number of candidates")
        rng = random.Random(seed)
        seen: set[str] = set()
        attempts = 0
        while len(seen) < random_count and attempts < 50 * random_count:
            attempts += 1
            graph = specialize(ir, ir.sample(rng))
            if graph.id in seen:
                continue
            seen.add(graph.id)
            written.append(write_atomic(folder / f"{graph.id}.py", emit(graph)))
        if len(written) < random_count:
            console.print(
                f"The space gave only {len(written)} distinct candidates in {attempts} draws."
            )
    for path in written:
        console.print(f"wrote {path}")
    console.print(f"{len(written)} candidate module(s) in {folder}{os.sep}")


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


def _register_search_commands() -> None:
    from . import cli_search  # noqa: F401  (registers search, export, trials)
    from . import cli_report  # noqa: F401  (registers report, diff)


_register_search_commands()
