"""``nascompile supernet``: write the space's weight-sharing supernet as a standalone module."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console, err_console


def supernet(
    space_file: Path = typer.Argument(
        ..., help="The space file (defines search_space())."
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Folder to write supernet.py to [default: generated/<space>].",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Overwrite a supernet.py in --out that nascompile supernet did not write.",
    ),
) -> None:
    """Write the space's weight-sharing supernet: one Keras module holding every candidate's
    weights, with build_supernet(), train(), evaluate() and copy_weights()."""
    from ..codegen.supernet import emit_supernet
    from ..fileio import Product, head, write_atomic
    from ..spacefile import load_space_file

    space = load_space_file(space_file)
    ir = space.compile()
    for warning in space.warnings:
        err_console.print(warning, markup=False, soft_wrap=True)
    source = emit_supernet(ir)
    folder = out or Path("generated") / space.stem
    product = Product(
        "nascompile supernet",
        lambda path: head(path, 256).startswith(b'"""Supernet '),
    )
    path = write_atomic(folder / "supernet.py", source, product, force)
    console.print(f"wrote {path}", markup=False, soft_wrap=True)
