"""Errors a user can act on.

Every error nascompiler raises on bad input derives from :class:`NascompilerError`; the CLI
prints such an error as one line (exit code 2) instead of a traceback. Errors about a search
space carry the place in the user's file where the offending object was written.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import FrameType

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclass(frozen=True)
class SourceLocation:
    """A place in the user's source: ``file`` and 1-based ``line``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{_short_path(self.file)}:{self.line}"


def _short_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def user_location(extra_skip: int = 0) -> SourceLocation | None:
    """The innermost frame of the caller that is not nascompiler's own code.

    DSL objects record it when they are created, so that an error found later (at compile
    time, say) can still point at the line the user wrote.
    """
    frame: FrameType | None = sys._getframe(1 + extra_skip)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    return SourceLocation(frame.f_code.co_filename, frame.f_lineno)


def a_type(value: object) -> str:
    """``"an int"``, ``"a str"``: the type of ``value`` with its article, for messages."""
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


class NascompilerError(Exception):
    """Base class of the errors that mean "the input is wrong", not "nascompiler is broken"."""


class SpaceDefinitionError(NascompilerError):
    """A search space is defined wrongly; names the user's file and line when known."""

    def __init__(self, message: str, location: SourceLocation | None = None):
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class AssignmentError(NascompilerError, ValueError):
    """An assignment of values to a space's parameters is missing, extra or out of domain."""

    def __init__(self, message: str, parameter: str | None = None):
        self.parameter = parameter
        super().__init__(message)


class CandidateError(NascompilerError):
    """An assignment is valid but yields an architecture that cannot be built.

    For example a pooling that shrinks a spatial dimension below one, or a layer that gets
    two inputs where it takes one. The search records such a candidate as a failed trial.
    """


class UsageError(NascompilerError):
    """A command, file or setting given by the user is wrong (CLI flags, space files, studies)."""
