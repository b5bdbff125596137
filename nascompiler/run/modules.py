"""Small things every job of a worker does alike: import a generated module from its file,
and write a line in the worker's log."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def import_file(path: str, name: str) -> Any:
    """The module in the file at ``path``, imported afresh under ``name`` (a module of that
    name imported before, by an earlier job, is replaced)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(name, None)
    spec.loader.exec_module(module)
    return module


def log(line: str) -> None:
    """A line in the worker's log (``logs/worker-<n>.log``)."""
    print(f"[nascompile worker] {line}", flush=True)
