"""Connection ops (Hypernets' ``core.ops``): modules that decide how other modules connect.

Each op owns *child* modules (the last module of a sub-graph whose first modules are not yet
connected) and, for the searchable ones, a *control* parameter:

=================  ===========================  ==========================================
op                 control (value)              what a candidate gets
=================  ===========================  ==========================================
``Sequential``     none                         the children chained in order
``Permutation``    ``order`` (a tuple)          the children chained in that order
``Optional``       ``enabled`` (bool)           the child, or a pass-through / nothing
``Repeat``         ``times`` (int)              the first ``times`` steps chained
``ModuleChoice``   ``choice`` (index)           the chosen child
``InputChoice``    ``choice`` (indices)         the chosen inputs
``ConnectLooseEnd`` none                        the inputs nothing else consumed
=================  ===========================  ==========================================

``Repeat`` calls ``module_fn(step)`` once per step up to the largest repeat count when it is
created, so the space is a static supergraph: the parameters of step ``k`` are active only when
the repeat count exceeds ``k``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .errors import a_type
from .space import (
    Bool,
    Choice,
    HyperSpace,
    ModuleSpace,
    MultipleChoice,
    ParameterSpace,
    permutations_of,
)

__all__ = [
    "Identity",
    "Sequential",
    "Permutation",
    "Optional",
    "Repeat",
    "ModuleChoice",
    "InputChoice",
    "ConnectLooseEnd",
]


class Identity(ModuleSpace):
    """Passes its input on unchanged; generated code has no layer for it."""

    kind = "Identity"


class ConnectionSpace(ModuleSpace):
    """Base of the ops. ``children`` are sub-graph tails the op feeds with its own input."""

    kind = "Connection"
    control_name: str | None = None

    def __init__(
        self,
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(space, name)
        if not isinstance(keep_link, bool):
            raise self._fail(f"keep_link must be True or False, got {keep_link!r}")
        self.keep_link = keep_link
        self.children: list[ModuleSpace] = []
        self.control: ParameterSpace | None = None

    def _adopt(self, modules: Any, what: str) -> list[ModuleSpace]:
        items = list(modules) if isinstance(modules, (list, tuple)) else None
        if items is None:
            raise self._fail(f"{what} must be a list of modules, not {modules!r}")
        for i, m in enumerate(items):
            if not isinstance(m, ModuleSpace):
                raise self._fail(f"{what}[{i}] is {m!r} ({a_type(m)}), not a module")
            if m.space is not self.space:
                raise self._fail(f"{what}[{i}] belongs to another space")
            owner = getattr(m, "_owner", None)
            if owner is not None:
                raise self._fail(
                    f"{what}[{i}] ({m.describe()}) is already used by {owner.describe()}; "
                    "a module can be the child of one op only"
                )
            if any(m is other for other in items[:i]):
                raise self._fail(f"{what}[{i}] is the same module as an earlier item")
        for m in items:
            m._owner = self
        return items

    def _check_control(self, param: Any, expected: type, what: str) -> ParameterSpace:
        if not isinstance(param, expected):
            raise self._fail(f"{what} must be a {expected.__name__}, not {param!r}")
        if param.space is not self.space:
            raise self._fail(f"{what} is a parameter of another space")
        return param


class Sequential(ConnectionSpace):
    """Chains ``module_list`` in order: the output of one is the input of the next."""

    kind = "Sequential"

    def __init__(
        self,
        module_list: list[ModuleSpace],
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(keep_link, space, name)
        self.children = self._adopt(module_list, "module_list")
        if not self.children:
            raise self._fail("module_list needs at least one module")


class Permutation(ConnectionSpace):
    """Chains ``module_list`` in the order chosen by ``hp_seq`` (a Choice of index tuples)."""

    kind = "Permutation"
    control_name = "order"

    def __init__(
        self,
        module_list: list[ModuleSpace],
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
        hp_seq: Choice | None = None,
    ):
        super().__init__(keep_link, space, name)
        self.children = self._adopt(module_list, "module_list")
        n = len(self.children)
        if n < 2:
            raise self._fail("module_list needs at least two modules to permute")
        if hp_seq is None:
            hp_seq = Choice(permutations_of(n), space=self.space)
        self.control = self._check_control(hp_seq, Choice, "hp_seq")
        for option in hp_seq.options:
            if not (isinstance(option, tuple) and sorted(option) == list(range(n))):
                raise self._fail(
                    f"hp_seq option {option!r} is not an order of the {n} modules "
                    f"(a permutation of {tuple(range(n))})"
                )

    @property
    def hp_seq(self) -> Choice:
        return self.control

    hp_all_seq = hp_seq


class Optional(ConnectionSpace):
    """Keeps ``module`` when ``hp_opt`` is true. When it is false the input passes straight
    through if ``keep_link``, and otherwise the link ends here."""

    kind = "Optional"
    control_name = "enabled"

    def __init__(
        self,
        module: ModuleSpace,
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
        hp_opt: Choice | None = None,
    ):
        super().__init__(keep_link, space, name)
        if not isinstance(module, ModuleSpace):
            raise self._fail(f"module must be a module, not {module!r}")
        self.children = self._adopt([module], "module")
        if hp_opt is None:
            hp_opt = Bool(space=self.space)
        self.control = self._check_control(hp_opt, Choice, "hp_opt")
        if any(not isinstance(o, bool) for o in hp_opt.options):
            raise self._fail(
                f"hp_opt must choose between booleans, not {hp_opt.options!r}"
            )

    @property
    def hp_opt(self) -> Choice:
        return self.control


class Repeat(ConnectionSpace):
    """Chains ``module_fn(0), module_fn(1), ...`` as many times as ``repeat_times`` chooses."""

    kind = "Repeat"
    control_name = "times"

    def __init__(
        self,
        module_fn: Callable[[int], ModuleSpace],
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
        repeat_times: list[int] = (1,),
    ):
        super().__init__(keep_link, space, name)
        if not callable(module_fn):
            raise self._fail(
                f"module_fn must be a function of the step number, not {module_fn!r}"
            )
        try:
            inspect.signature(module_fn).bind(0)
        except TypeError:
            raise self._fail(
                "module_fn must take one argument, the step number (0, 1, ...), "
                "e.g. Repeat(lambda step: Dense(64), repeat_times=[1, 2])"
            ) from None
        except ValueError:
            pass  # no signature to check (a builtin): calling it will tell
        times = (
            list(repeat_times)
            if isinstance(repeat_times, (list, tuple, range))
            else None
        )
        if not times or any(
            not isinstance(t, int) or isinstance(t, bool) or t < 1 for t in times
        ):
            raise self._fail(
                f"repeat_times must be a non-empty list of positive integers, got {repeat_times!r}"
            )
        self.control = Choice(times, space=self.space)
        steps = []
        for step in range(max(times)):
            module = module_fn(step)
            if not isinstance(module, ModuleSpace):
                raise self._fail(
                    f"module_fn({step}) returned {module!r}; it must return the module to repeat"
                )
            steps.append(module)
        self.children = self._adopt(steps, "module_fn(step)")
        self.module_fn = module_fn

    @property
    def hp_repeat_times(self) -> Choice:
        return self.control


class ModuleChoice(ConnectionSpace):
    """Uses the one module of ``module_list`` that ``hp_or`` (an index) chooses."""

    kind = "ModuleChoice"
    control_name = "choice"

    def __init__(
        self,
        module_list: list[ModuleSpace],
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
        hp_or: Choice | None = None,
    ):
        super().__init__(keep_link, space, name)
        self.children = self._adopt(module_list, "module_list")
        n = len(self.children)
        if n < 1:
            raise self._fail("module_list needs at least one module")
        if hp_or is None:
            hp_or = Choice(list(range(n)), space=self.space)
        self.control = self._check_control(hp_or, Choice, "hp_or")
        for option in hp_or.options:
            if not (
                isinstance(option, int)
                and not isinstance(option, bool)
                and 0 <= option < n
            ):
                raise self._fail(
                    f"hp_or option {option!r} is not an index into the {n} modules"
                )

    @property
    def hp_or(self) -> Choice:
        return self.control


class InputChoice(ConnectionSpace):
    """Passes on the inputs (a subset of ``inputs``) that ``hp_choice`` chooses."""

    kind = "InputChoice"
    control_name = "choice"

    def __init__(
        self,
        inputs: list[ModuleSpace],
        num_chosen_most: int = 0,
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
        hp_choice: MultipleChoice | None = None,
        num_chosen_least: int = 1,
    ):
        super().__init__(keep_link, space, name)
        self.choices = self._modules_of(inputs, self.location)
        n = len(self.choices)
        if hp_choice is None:
            hp_choice = MultipleChoice(
                list(range(n)),
                num_chosen_most,
                space=self.space,
                num_chosen_least=num_chosen_least,
            )
        self.control = self._check_control(hp_choice, MultipleChoice, "hp_choice")
        for option in hp_choice.options:
            if not (
                isinstance(option, int)
                and not isinstance(option, bool)
                and 0 <= option < n
            ):
                raise self._fail(
                    f"hp_choice option {option!r} is not an index into the {n} inputs"
                )
        self.max_chosen_num = hp_choice.num_chosen_most
        super()._connect(self.choices, self.location)

    @property
    def hp_choice(self) -> MultipleChoice:
        return self.control

    @property
    def inputs(self) -> list[ModuleSpace]:
        return list(self.choices)

    def _connect(self, modules, location) -> None:
        # Hypernets' idiom is ``InputChoice(inputs, 1)(inputs)``: the inputs are already known.
        if len(modules) != len(self.choices) or any(
            a is not b for a, b in zip(modules, self.choices)
        ):
            raise self._fail(
                "chooses among the inputs given when it was created; call it with that same list "
                "(or not at all)",
                location,
            )


class ConnectLooseEnd(ConnectionSpace):
    """Passes on those of ``inputs`` that no other module consumes in the candidate."""

    kind = "ConnectLooseEnd"

    def __init__(
        self,
        inputs: list[ModuleSpace],
        keep_link: bool = False,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(keep_link, space, name)
        self.choices = self._modules_of(inputs, self.location)
        super()._connect(self.choices, self.location)

    @property
    def inputs(self) -> list[ModuleSpace]:
        return list(self.choices)

    def _connect(self, modules, location) -> None:
        if len(modules) != len(self.choices) or any(
            a is not b for a, b in zip(modules, self.choices)
        ):
            raise self._fail(
                "connects the inputs given when it was created; call it with that same list "
                "(or not at all)",
                location,
            )
