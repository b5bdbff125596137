"""Modules for the standard Keras layers (Hypernets' ``frameworks.keras.layers``).

Each class takes the arguments of the Keras layer of the same name, positionally or by keyword,
and any of them may be a parameter space::

    Dense(units=Choice([64, 128]), activation="relu")(x)

Arguments are checked against Keras' signature where they are written, so a misspelt keyword
fails at the user's line rather than when a candidate is trained.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..space import HyperSpace, ModuleSpace
from .spec import LAYERS, LayerSpec

__all__ = ["HyperLayer"] + list(LAYERS)


class HyperLayer(ModuleSpace):
    """A module that becomes one Keras layer of kind ``spec.kind``."""

    spec: LayerSpec

    def __init__(
        self,
        *args: Any,
        space: HyperSpace | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        hyperparams = _bind(self.spec, args, kwargs, self)
        super().__init__(space, name, **hyperparams)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.spec.kind

    def _connect(self, modules, location) -> None:
        if self.spec.kind == "Input":
            raise self._fail(
                "an Input takes no inputs; it is where data enters the model", location
            )
        super()._connect(modules, location)


def _bind(
    spec: LayerSpec, args: tuple, kwargs: dict, module: ModuleSpace
) -> dict[str, Any]:
    from ..errors import SpaceDefinitionError, user_location

    location = user_location()
    if len(args) > len(spec.arguments):
        raise SpaceDefinitionError(
            f"{spec.kind} takes at most {len(spec.arguments)} positional arguments, got {len(args)}",
            location,
        )
    bound: dict[str, Any] = dict(zip(spec.arguments, args))
    for key, value in kwargs.items():
        if key in bound:
            raise SpaceDefinitionError(
                f"{spec.kind} got {key}= twice (positionally and by keyword)", location
            )
        if not spec.accepts(key):
            close = difflib.get_close_matches(key, spec.arguments, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpaceDefinitionError(
                f"{spec.kind} has no argument {key!r}{hint}", location
            )
        bound[key] = value
    # Hypernets passes data_format=None and friends explicitly; None means "Keras' default".
    bound = {
        k: v for k, v in bound.items() if not (v is None and k not in spec.required)
    }
    missing = [r for r in spec.required if r not in bound]
    if missing:
        raise SpaceDefinitionError(
            f"{spec.kind} needs {', '.join(m + '=' for m in missing)}", location
        )
    for key, value in spec.keras2_defaults:
        bound.setdefault(key, value)
    if spec.kind == "Input" and "shape" not in bound and "batch_shape" not in bound:
        raise SpaceDefinitionError(
            "Input needs shape=, e.g. Input(shape=(28, 28, 1))", location
        )
    if (
        spec.kind == "Input"
        and isinstance(bound.get("shape"), int)
        and not isinstance(bound["shape"], bool)
    ):
        bound["shape"] = (
            bound["shape"],
        )  # Keras 2 accepted an int; Keras 3 wants a tuple
    return bound


def _layer_class(spec: LayerSpec) -> type[HyperLayer]:
    return type(
        spec.kind,
        (HyperLayer,),
        {
            "spec": spec,
            "__doc__": f"``keras.layers.{spec.kind}``.",
            "__module__": __name__,
            "__qualname__": spec.kind,
        },
    )


# One class per entry of the layer table (Input, Dense, Conv2D, ...): a layer is added there,
# in layers/spec.py, and nowhere else.
globals().update({kind: _layer_class(spec) for kind, spec in LAYERS.items()})
