"""Loading a space file: the one Python file that holds a search.

A space file defines ``search_space()`` (returns a ``HyperSpace``; required), ``load_data()``
(returns ``(x_train, y_train), (x_val, y_val)``; required to search) and optionally a
``TRAINING`` dict (how candidates train) and a ``SEARCH`` dict (how the search runs). Whatever goes wrong while loading it is reported as one line that names the
file, the line and the fault.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .config.settings import SEARCH_KEYS, check_search_values, search_label
from .errors import NascompilerError, SpaceDefinitionError, UsageError
from .ir import SpaceIR, compile_space
from .ir.keras_rules import check_keras_arguments
from .space import HyperSpace


@dataclass
class SpaceFile:
    path: Path
    module: ModuleType
    warnings: list[str] = field(default_factory=list)  # from compile()

    @property
    def stem(self) -> str:
        return self.path.stem

    def _function(self, name: str, purpose: str) -> Any:
        fn = getattr(self.module, name, None)
        if fn is None:
            raise UsageError(f"{self.path}: defines no {name}() function; {purpose}")
        if not callable(fn):
            raise UsageError(f"{self.path}: {name} is not a function")
        return fn

    def space(self) -> HyperSpace:
        fn = self._function("search_space", "it should return the HyperSpace to search")
        space = _call_user(fn, self.path, "search_space()")
        if not isinstance(space, HyperSpace):
            raise UsageError(
                f"{self.path}: search_space() returned {type(space).__name__}, not a HyperSpace"
            )
        return space

    def compile(self) -> SpaceIR:
        ir = compile_space(self.space(), source=_display_path(self.path))
        # What Keras would refuse in every trial is an error here, at the user's line.
        self.warnings = check_keras_arguments(ir)
        return ir

    @property
    def has_load_data(self) -> bool:
        return callable(getattr(self.module, "load_data", None))

    def load_data(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        fn = self._function(
            "load_data", "it should return (x_train, y_train), (x_val, y_val)"
        )
        data = _call_user(fn, self.path, "load_data()")
        try:
            (x, y), (xv, yv) = data
        except (TypeError, ValueError):
            raise UsageError(
                f"{self.path}: load_data() should return (x_train, y_train), (x_val, y_val), got {type(data).__name__}"
            ) from None
        return (x, y), (xv, yv)

    @property
    def training(self) -> dict[str, Any]:
        training = getattr(self.module, "TRAINING", None)
        if training is None:
            return {}
        if not isinstance(training, dict):
            raise UsageError(
                f"{self.path}: TRAINING must be a dict, got {type(training).__name__}"
            )
        return dict(training)

    @property
    def search(self) -> dict[str, Any]:
        """The ``SEARCH`` dict, checked: known keys (``SEARCH_KEYS``), values of the right
        type and range."""
        value = getattr(self.module, "SEARCH", None)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise UsageError(f"{self.path}: SEARCH must be a dict")
        unknown = set(value) - set(SEARCH_KEYS)
        if unknown:
            raise UsageError(
                f"{self.path}: SEARCH has unknown key(s) {', '.join(sorted(unknown))}; known keys are "
                f"{', '.join(SEARCH_KEYS)}"
            )
        check_search_values(value, lambda key: search_label(key, f"{self.path}: SEARCH"))
        return dict(value)


def _display_path(path: Path) -> str:
    """How generated modules name the space file: as the user gave it when that is a plain
    relative path (``examples/digits.py``), else just its file name, so the text does not
    depend on where the command ran from."""
    if not path.is_absolute() and ".." not in path.parts:
        return path.as_posix()
    return path.name


def load_space_file(path: str | os.PathLike) -> SpaceFile:
    """Import the space file at ``path`` (its folder is importable while it loads)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file() or path.suffix != ".py":
        raise UsageError(f"{path}: a space file is a Python file (.py)")
    name = "nascompiler_space_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(
            f"{exc.filename or path}:{exc.lineno}: syntax error: {exc.msg}"
        ) from None
    except NascompilerError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(_describe_failure(exc, path, "importing it")) from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return SpaceFile(path, module)


def _call_user(fn: Any, path: Path, what: str) -> Any:
    try:
        return fn()
    except NascompilerError:
        raise
    except (
        Exception,
        SystemExit,
    ) as exc:  # sys.exit() in the file would end us silently
        raise UsageError(_describe_failure(exc, path, f"calling {what}")) from exc


def _describe_failure(exc: BaseException, path: Path, doing: str) -> str:
    """``file:line: <doing> raised Error: message``, pointing at the deepest frame of the user's file."""
    where = str(path)
    target = str(path.resolve())
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            where = f"{path}:{frame.lineno}"
    if isinstance(exc, SystemExit):
        return f"{where}: {doing} called sys.exit({exc.code!r}); a space file must not exit"
    return f"{where}: {doing} raised {type(exc).__name__}: {exc}"


__all__ = ["SpaceFile", "load_space_file", "SpaceDefinitionError"]
