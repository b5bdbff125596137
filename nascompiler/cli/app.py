"""The ``nascompile`` application: its commands, its entry point and its error handling.

The command modules define plain functions; this module registers them (in the order that
``nascompile --help`` lists them), so they never import the application back.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from typing import List, Optional

import typer

from ..errors import NascompilerError
from . import compile as compile_commands
from . import proxies as proxies_commands
from . import report as report_commands
from . import results as results_commands
from . import search as search_commands
from . import supernet as supernet_commands
from .common import err_console

app = typer.Typer(
    name="nascompile",
    help="Neural architecture search as a compiler: search spaces in, readable Keras modules out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    )
) -> None:
    """nascompile: search spaces in, standalone Keras modules out."""


app.command()(compile_commands.inspect)
app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": False}
)(compile_commands.compile)
app.command()(search_commands.search)
app.command()(results_commands.export)
app.command()(results_commands.trials)
app.command()(proxies_commands.proxies)
app.command()(supernet_commands.supernet)
app.command()(report_commands.report)
app.command()(report_commands.diff)


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
        _error(str(exc))
    except (OSError, sqlite3.DatabaseError) as exc:
        if debug:
            raise
        _error(_storage_error(exc))


def one_line(message: str) -> str:
    """A message on one line: a multi-line one (an exception from user code, say) has its
    lines joined with " | "; ``--debug`` shows the original."""
    lines = [line.strip() for line in str(message).splitlines()]
    return " | ".join(line for line in lines if line) or "(no message)"


def _error(message: str) -> None:
    err_console.print(f"error: {one_line(message)}", markup=False, soft_wrap=True)
    raise SystemExit(2) from None


# What the file system or the study database says, and what the user can do about it. The
# database is written one transaction per trial, so what was stored before stays stored.
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free some space and re-run the same command to resume",
    errno.EDQUOT: "the disk quota is used up; free some space and re-run to resume",
    errno.EROFS: "the file system is read-only; choose another folder with --out",
    errno.EACCES: "permission denied; choose a folder you can write to with --out",
    errno.EPERM: "permission denied; choose a folder you can write to with --out",
    errno.ENAMETOOLONG: "a name in this path is longer than the file system allows; "
    "choose a shorter one",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.EISDIR: "it is a folder, where a file was expected",
}


def _storage_error(exc: BaseException) -> str:
    """One line for a storage failure: the path and the cause (and, where there is one, what
    to do)."""
    if isinstance(exc, sqlite3.DatabaseError):
        text = str(exc)
        if "full" in text:
            hint = "the disk is full; free some space and re-run the same command to resume"
        elif "readonly" in text or "read-only" in text:
            hint = (
                "the study is on read-only storage; trials and export can still read it"
            )
        elif "malformed" in text or "not a database" in text:
            hint = (
                "the study database is damaged; try `sqlite3 study.db .recover`, or start "
                "over with --fresh"
            )
        else:
            hint = "the study database failed"
        return f"study.db: {text} ({hint})"
    assert isinstance(exc, OSError)
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.filename2:
        where = f"{exc.filename} -> {exc.filename2}: "
    cause = exc.strerror or str(exc) or type(exc).__name__
    os_hint = _OS_HINTS.get(exc.errno) if exc.errno is not None else None
    return f"{where}{cause}" + (f" ({os_hint})" if os_hint else "")
