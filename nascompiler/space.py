"""The search-space vocabulary (Hypernets-compatible): spaces, modules and parameter spaces.

A space is a graph of *modules* (Keras layers, connection ops such as ``Repeat``) whose
arguments may be *parameter spaces* (``Choice``, ``Real``, ...). Nothing is sampled here:
this module only records what the user wrote, checks it, and remembers where it was written
so that later errors can point at the user's line. :func:`nascompiler.ir.compile_space` turns
a finished space into a static IR.

>>> space = HyperSpace()
>>> with space.as_default():
...     units = Choice([64, 128])
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import re
import threading
from typing import Any, Callable, Iterable

from .errors import SourceLocation, SpaceDefinitionError, a_type, user_location
from .literals import NotALiteral, to_literal

__all__ = [
    "HyperSpace",
    "ModuleSpace",
    "ParameterSpace",
    "Choice",
    "Bool",
    "MultipleChoice",
    "Int",
    "Real",
    "Constant",
    "Dynamic",
    "get_default_space",
]

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")

# One clock for module creation and connection calls: tells which of several calls came last
# (a cycle is reported at the call that closed it).
_clock = itertools.count()


class _DefaultSpaces(threading.local):
    def __init__(self) -> None:
        self.stack: list[HyperSpace] = []
        self.global_default: HyperSpace | None = None


_defaults = _DefaultSpaces()


def get_default_space() -> "HyperSpace":
    """The space entered with ``as_default()``, or a process-wide default space."""
    if _defaults.stack:
        return _defaults.stack[-1]
    if _defaults.global_default is None:
        _defaults.global_default = HyperSpace()
    return _defaults.global_default


class HyperSpace:
    """A search space: the modules and parameters created while it is the default space.

    >>> space = HyperSpace()
    >>> with space.as_default():
    ...     flag = Bool()
    >>> flag.space is space
    True
    """

    def __init__(self, name: str | None = None):
        self.name = name
        self.modules: list[ModuleSpace] = []
        self.parameters: list[ParameterSpace] = []
        self.inputs: list[ModuleSpace] | None = None
        self.outputs: list[ModuleSpace] | None = None
        self.location = user_location()

    @contextlib.contextmanager
    def as_default(self):
        _defaults.stack.append(self)
        try:
            yield self
        finally:
            _defaults.stack.pop()

    def set_inputs(self, modules: "ModuleSpace | Iterable[ModuleSpace]") -> None:
        """Fix the model's inputs and their order (default: every ``Input`` in creation order)."""
        self.inputs = self._own_modules(modules, "set_inputs")

    def set_outputs(self, modules: "ModuleSpace | Iterable[ModuleSpace]") -> None:
        """Fix the model's outputs and their order (default: every module nothing consumes)."""
        self.outputs = self._own_modules(modules, "set_outputs")

    def _own_modules(self, modules: Any, what: str) -> list[ModuleSpace]:
        location = user_location(1)
        items = [modules] if isinstance(modules, ModuleSpace) else _as_list(modules)
        if (
            items is None
            or not items
            or not all(isinstance(m, ModuleSpace) for m in items)
        ):
            raise SpaceDefinitionError(
                f"{what}() takes a module or a non-empty list of modules, not {modules!r}",
                location,
            )
        for m in items:
            if m.space is not self:
                raise SpaceDefinitionError(
                    f"{what}(): {m.describe()} belongs to another space", location
                )
        return items

    def _add_module(self, module: "ModuleSpace") -> int:
        self.modules.append(module)
        return len(self.modules) - 1

    def _add_parameter(self, param: "ParameterSpace") -> int:
        self.parameters.append(param)
        return len(self.parameters) - 1

    def __repr__(self) -> str:
        return f"HyperSpace({len(self.modules)} modules, {len(self.parameters)} parameters)"


def _as_list(value: Any) -> list | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


# --------------------------------------------------------------------------- parameters


class ParameterSpace:
    """Base of the parameter spaces. A parameter passed to several modules is one parameter."""

    def __init__(self, space: HyperSpace | None = None, name: str | None = None):
        self.location: SourceLocation | None = user_location()
        if name is not None and (
            not isinstance(name, str) or not _PARAM_NAME.match(name)
        ):
            raise SpaceDefinitionError(
                f"parameter name {name!r} is not valid: use letters, digits, '_', '.' and '-', "
                "starting with a letter or '_'",
                self.location,
            )
        self.name = name
        self.space = space if space is not None else get_default_space()
        self.index = self.space._add_parameter(self)

    def _fail(self, message: str) -> SpaceDefinitionError:
        return SpaceDefinitionError(f"{type(self).__name__}: {message}", self.location)

    def describe(self) -> str:
        return (
            f"{type(self).__name__}"
            + (f" {self.name!r}" if self.name else "")
            + (f" (defined at {self.location})" if self.location else "")
        )


class Choice(ParameterSpace):
    """One of ``options`` (literals: numbers, strings, booleans, None, tuples).

    >>> Choice(["relu", "tanh"]).options
    ('relu', 'tanh')
    """

    def __init__(
        self,
        options: Iterable[Any],
        random_state: Any = None,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(space, name)
        if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
            raise self._fail(f"options must be a list of values, not {options!r}")
        options = list(options)
        modules = [o for o in options if isinstance(o, ModuleSpace)]
        if modules:
            names = ", ".join(f"{type(o).__name__}(...)" for o in options[:4])
            names += ", ..." if len(options) > 4 else ""
            raise self._fail(
                f"option {options.index(modules[0])} is a module ({type(modules[0]).__name__}), "
                "and a Choice picks among values; to choose among modules use ModuleChoice "
                f"(from nascompiler.ops): ModuleChoice([{names}], "
                f"hp_or=Choice({list(range(len(options)))}))(x)"
            )
        values = []
        for i, option in enumerate(options):
            try:
                values.append(to_literal(option))
            except NotALiteral as exc:
                raise self._fail(f"option {i} is not a literal value: {exc}") from None
        if not values:
            raise self._fail("needs at least one option, got none")
        seen: set = (
            set()
        )  # canonical keys: a hash lookup per option, not a pairwise scan
        for v in values:
            key = _literal_identity(v)
            if key in seen:
                raise self._fail(
                    f"option {v!r} appears twice (options must differ; 1 and 1.0 are the same)"
                )
            seen.add(key)
        self.options: tuple = tuple(values)


def _literal_identity(value: Any) -> Any:
    """A hashable key for the equality of options: ``1`` and ``1.0`` share one (JSON and the
    command line cannot tell them apart; they are equal and hash alike), ``True`` and ``1`` do
    not (the tag tells them apart)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, tuple):
        return ("tuple", tuple(_literal_identity(v) for v in value))
    return (type(value).__name__, value)


class Bool(Choice):
    """``False`` or ``True``."""

    def __init__(
        self,
        random_state: Any = None,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__([False, True], random_state, space, name)


class MultipleChoice(ParameterSpace):
    """A non-empty subset of ``options`` with between ``num_chosen_least`` and
    ``num_chosen_most`` members (0 means "up to all"). Its value lists the chosen options in
    the order of ``options``.
    """

    def __init__(
        self,
        options: Iterable[Any],
        num_chosen_most: int = 0,
        random_state: Any = None,
        space: HyperSpace | None = None,
        name: str | None = None,
        num_chosen_least: int = 1,
        max_chosen_num: int | None = None,
    ):
        super().__init__(space, name)
        if max_chosen_num is not None:  # Hypernets' spelling
            num_chosen_most = max_chosen_num
        try:
            self.options: tuple = tuple(to_literal(o) for o in options)
        except NotALiteral as exc:
            raise self._fail(f"options must be literal values: {exc}") from None
        except TypeError:
            raise self._fail(
                f"options must be a list of values, not {options!r}"
            ) from None
        n = len(self.options)
        if n < 1:
            raise self._fail("needs at least one option, got none")
        if not _is_int(num_chosen_most) or not _is_int(num_chosen_least):
            raise self._fail("num_chosen_most and num_chosen_least must be integers")
        most = n if num_chosen_most == 0 else num_chosen_most
        if not 1 <= num_chosen_least <= most <= n:
            raise self._fail(
                f"cannot choose between {num_chosen_least} and {most} of {n} options "
                "(need 1 <= num_chosen_least <= num_chosen_most <= number of options)"
            )
        self.num_chosen_least = num_chosen_least
        self.num_chosen_most = most


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


class Int(ParameterSpace):
    """An integer from ``low`` to ``high`` inclusive, in steps of ``step``."""

    def __init__(
        self,
        low: int,
        high: int,
        step: int = 1,
        random_state: Any = None,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(space, name)
        low, high, step = _int_like(low), _int_like(high), _int_like(step)
        if not (_is_int(low) and _is_int(high) and _is_int(step)):
            raise self._fail(
                f"low, high and step must be integers, got {low!r}, {high!r}, {step!r}"
            )
        if low > high:
            raise self._fail(f"low ({low}) is greater than high ({high})")
        if step <= 0:
            raise self._fail(f"step must be positive, got {step}")
        self.low, self.high, self.step = low, high, step


def _int_like(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


class Real(ParameterSpace):
    """A float from ``low`` to ``high``.

    With ``step`` the values are ``low, low + step, ...`` up to ``high``; with ``step=None``
    the range is continuous. ``prior="log"`` samples uniformly in log space (``low > 0``).

    >>> Real(0.0, 0.5, step=0.1).step
    0.1
    """

    def __init__(
        self,
        low: float,
        high: float,
        step: float | None = None,
        prior: str = "uniform",
        random_state: Any = None,
        space: HyperSpace | None = None,
        name: str | None = None,
        q: float | None = None,
        max_expansion: int | None = None,
    ):
        super().__init__(space, name)
        if step is None and q is not None:  # Hypernets' quantisation argument
            step = q
        low, high, step = _int_like(low), _int_like(high), _int_like(step)
        if not (_is_number(low) and _is_number(high)):
            raise self._fail(
                f"low and high must be finite numbers, got {low!r} and {high!r}"
            )
        if low > high:
            raise self._fail(f"low ({low}) is greater than high ({high})")
        if step is not None and (not _is_number(step) or step <= 0):
            raise self._fail(f"step must be a positive number or None, got {step!r}")
        prior = {"log_uniform": "log", "loguniform": "log"}.get(prior, prior)
        if prior not in ("uniform", "log"):
            raise self._fail(f"prior must be 'uniform' or 'log', got {prior!r}")
        if prior == "log" and low <= 0:
            raise self._fail(f"a log prior needs low > 0, got {low}")
        if prior == "log" and step is not None:
            raise self._fail(
                "a log prior is continuous; drop step or use prior='uniform'"
            )
        self.low, self.high = float(low), float(high)
        self.step = None if step is None else float(step)
        self.prior = prior


class Constant(ParameterSpace):
    """A fixed value; never searched."""

    def __init__(
        self, value: Any, space: HyperSpace | None = None, name: str | None = None
    ):
        super().__init__(space, name)
        try:
            self.value = to_literal(value)
        except NotALiteral as exc:
            raise self._fail(str(exc)) from None


class Dynamic(ParameterSpace):
    """A value computed from other parameters: ``lambda_fn(**{dep: value of dep})``.

    >>> units = Choice([100, 200])
    >>> half = Dynamic(lambda units: units // 2, units=units)
    """

    def __init__(
        self,
        lambda_fn: Callable[..., Any],
        space: HyperSpace | None = None,
        name: str | None = None,
        **param_dict: Any,
    ):
        super().__init__(space, name)
        if not callable(lambda_fn):
            raise self._fail(f"lambda_fn must be callable, got {lambda_fn!r}")
        deps: dict[str, Any] = {}
        for dep, value in param_dict.items():
            if isinstance(value, ParameterSpace):
                if value.space is not self.space:
                    raise self._fail(f"{dep}= is a parameter of another space")
                deps[dep] = value
            elif value is None:
                raise self._fail(
                    f"{dep}=None is not a parameter; pass the parameter (or a fixed value) it depends on"
                )
            else:
                try:
                    deps[dep] = to_literal(value)
                except NotALiteral as exc:
                    raise self._fail(
                        f"{dep}= is neither a parameter nor a literal: {exc}"
                    ) from None
        _check_signature(lambda_fn, deps, self)
        self.fn = lambda_fn
        self.deps = deps

    # Hypernets' name for the dependencies.
    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.deps)


def _check_signature(fn: Callable, deps: dict[str, Any], owner: ParameterSpace) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins without a signature: checked when called
    params = signature.parameters.values()
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    named = {
        p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    required = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
    ]
    missing = [r for r in required if r not in deps]
    if missing:
        given = ", ".join(f"{d}=" for d in deps) or "none"
        raise owner._fail(
            f"the function needs {', '.join(repr(m) for m in missing)} but no parameter was given for "
            f"{'it' if len(missing) == 1 else 'them'} (given: {given})"
        )
    extra = [d for d in deps if d not in named]
    if extra and not takes_var_kw:
        raise owner._fail(
            f"the function takes no argument named {', '.join(repr(e) for e in extra)}"
        )


# --------------------------------------------------------------------------- modules


class ModuleSpace:
    """Base of every module: a node of the space graph.

    Calling a module on another module (or a list of them) connects them and returns the
    called module, so chains read like Keras' functional API: ``Dense(10)(x)``.
    """

    kind = "Module"

    def __init__(
        self,
        space: HyperSpace | None = None,
        name: str | None = None,
        **hyperparams: Any,
    ):
        self.location: SourceLocation | None = user_location()
        if name is not None:
            _check_module_name(name, self)
        self.name = name
        self.space = space if space is not None else get_default_space()
        self.inbound: list[ModuleSpace] = []
        self.inbound_locations: list[SourceLocation | None] = []
        self.inbound_order: list[int] = (
            []
        )  # when each inbound connection was made (``_clock``)
        self.hyperparams: dict[str, Any] = {}
        for key, value in hyperparams.items():
            self.hyperparams[key] = self._check_argument(key, value)
        self.index = self.space._add_module(self)
        self.created_order = next(_clock)

    # -- construction helpers -------------------------------------------------------------
    def _fail(
        self, message: str, location: SourceLocation | None = None
    ) -> SpaceDefinitionError:
        return SpaceDefinitionError(
            f"{self.describe(with_location=False)}: {message}",
            location or self.location,
        )

    def _check_argument(self, key: str, value: Any) -> Any:
        if isinstance(value, ParameterSpace):
            if value.space is not self.space:
                raise self._fail(f"argument {key}= is a parameter of another space")
            return value
        if isinstance(value, ModuleSpace):
            raise self._fail(
                f"argument {key}= is a module; connect modules by calling them, e.g. layer(x)"
            )
        try:
            return to_literal(value)
        except NotALiteral as exc:
            raise self._fail(f"argument {key}= {exc}") from None

    def describe(self, with_location: bool = True) -> str:
        text = self.kind + (f" {self.name!r}" if self.name else "")
        if with_location and self.location:
            text += f" (created at {self.location})"
        return text

    # -- connecting -----------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> "ModuleSpace":
        location = user_location()
        if args or kwargs:
            raise self._fail(
                "a module is called with one module or one list of modules", location
            )
        modules = self._modules_of(inputs, location)
        self._connect(modules, location)
        return self

    def _modules_of(
        self, inputs: Any, location: SourceLocation | None
    ) -> list["ModuleSpace"]:
        items = [inputs] if isinstance(inputs, ModuleSpace) else _as_list(inputs)
        if items is None:
            raise self._fail(
                f"was called on {inputs!r} ({a_type(inputs)}), which is not a module; "
                "call a module on another module or a list of modules, e.g. Dense(10)(x)",
                location,
            )
        if not items:
            raise self._fail("was called on an empty list", location)
        for item in items:
            if not isinstance(item, ModuleSpace):
                raise self._fail(
                    f"was called on a list holding {item!r} ({a_type(item)}), which is not a module",
                    location,
                )
            if item.space is not self.space:
                raise self._fail(
                    f"cannot connect {item.describe()}: it belongs to another space",
                    location,
                )
            if item is self:
                raise self._fail("cannot be connected to itself", location)
        return items

    def _connect(
        self, modules: list["ModuleSpace"], location: SourceLocation | None
    ) -> None:
        for m in modules:
            self.inbound.append(m)
            self.inbound_locations.append(location)
            self.inbound_order.append(next(_clock))

    def connect(self, module_or_list: Any) -> "ModuleSpace":
        """Hypernets' forward spelling: ``a.connect(b)`` is ``b(a)``."""
        location = user_location()
        for m in self._modules_of(module_or_list, location):
            m._connect([self], location)
        return self

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def _check_module_name(name: Any, module: ModuleSpace) -> None:
    if not isinstance(name, str) or not name:
        raise SpaceDefinitionError(
            f"{module.kind}: name must be a non-empty string, got {name!r}",
            module.location,
        )
    if "/" in name:
        raise SpaceDefinitionError(
            f"{module.kind}: name {name!r} contains '/', which Keras does not allow in layer names",
            module.location,
        )


def permutations_of(n: int) -> list[tuple[int, ...]]:
    """All orders of ``range(n)``, in lexicographic order (the default of ``Permutation``)."""
    return list(itertools.permutations(range(n)))
