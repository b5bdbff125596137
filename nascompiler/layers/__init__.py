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

from ..catalog import KERAS2_DEFAULTS, LAYERS, LayerSpec
from ..space import HyperSpace, ModuleSpace

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
    for key, value in KERAS2_DEFAULTS.get(spec.kind, {}).items():
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


class Input(HyperLayer):
    """``keras.layers.Input``."""

    spec = LAYERS["Input"]


class Dense(HyperLayer):
    """``keras.layers.Dense``."""

    spec = LAYERS["Dense"]


class Activation(HyperLayer):
    """``keras.layers.Activation``."""

    spec = LAYERS["Activation"]


class ReLU(HyperLayer):
    """``keras.layers.ReLU``."""

    spec = LAYERS["ReLU"]


class Dropout(HyperLayer):
    """``keras.layers.Dropout``."""

    spec = LAYERS["Dropout"]


class SpatialDropout1D(HyperLayer):
    """``keras.layers.SpatialDropout1D``."""

    spec = LAYERS["SpatialDropout1D"]


class SpatialDropout2D(HyperLayer):
    """``keras.layers.SpatialDropout2D``."""

    spec = LAYERS["SpatialDropout2D"]


class BatchNormalization(HyperLayer):
    """``keras.layers.BatchNormalization``."""

    spec = LAYERS["BatchNormalization"]


class LayerNormalization(HyperLayer):
    """``keras.layers.LayerNormalization``."""

    spec = LAYERS["LayerNormalization"]


class Conv1D(HyperLayer):
    """``keras.layers.Conv1D``."""

    spec = LAYERS["Conv1D"]


class Conv2D(HyperLayer):
    """``keras.layers.Conv2D``."""

    spec = LAYERS["Conv2D"]


class SeparableConv2D(HyperLayer):
    """``keras.layers.SeparableConv2D``."""

    spec = LAYERS["SeparableConv2D"]


class DepthwiseConv2D(HyperLayer):
    """``keras.layers.DepthwiseConv2D``."""

    spec = LAYERS["DepthwiseConv2D"]


class MaxPooling1D(HyperLayer):
    """``keras.layers.MaxPooling1D``."""

    spec = LAYERS["MaxPooling1D"]


class MaxPooling2D(HyperLayer):
    """``keras.layers.MaxPooling2D``."""

    spec = LAYERS["MaxPooling2D"]


class AveragePooling1D(HyperLayer):
    """``keras.layers.AveragePooling1D``."""

    spec = LAYERS["AveragePooling1D"]


class AveragePooling2D(HyperLayer):
    """``keras.layers.AveragePooling2D``."""

    spec = LAYERS["AveragePooling2D"]


class GlobalAveragePooling1D(HyperLayer):
    """``keras.layers.GlobalAveragePooling1D``."""

    spec = LAYERS["GlobalAveragePooling1D"]


class GlobalAveragePooling2D(HyperLayer):
    """``keras.layers.GlobalAveragePooling2D``."""

    spec = LAYERS["GlobalAveragePooling2D"]


class GlobalMaxPooling1D(HyperLayer):
    """``keras.layers.GlobalMaxPooling1D``."""

    spec = LAYERS["GlobalMaxPooling1D"]


class GlobalMaxPooling2D(HyperLayer):
    """``keras.layers.GlobalMaxPooling2D``."""

    spec = LAYERS["GlobalMaxPooling2D"]


class Flatten(HyperLayer):
    """``keras.layers.Flatten``."""

    spec = LAYERS["Flatten"]


class Reshape(HyperLayer):
    """``keras.layers.Reshape``."""

    spec = LAYERS["Reshape"]


class Add(HyperLayer):
    """``keras.layers.Add``."""

    spec = LAYERS["Add"]


class Concatenate(HyperLayer):
    """``keras.layers.Concatenate``."""

    spec = LAYERS["Concatenate"]


class Multiply(HyperLayer):
    """``keras.layers.Multiply``."""

    spec = LAYERS["Multiply"]


class ZeroPadding2D(HyperLayer):
    """``keras.layers.ZeroPadding2D``."""

    spec = LAYERS["ZeroPadding2D"]


class Cropping2D(HyperLayer):
    """``keras.layers.Cropping2D``."""

    spec = LAYERS["Cropping2D"]


class Embedding(HyperLayer):
    """``keras.layers.Embedding``."""

    spec = LAYERS["Embedding"]


class LSTM(HyperLayer):
    """``keras.layers.LSTM``."""

    spec = LAYERS["LSTM"]


class GRU(HyperLayer):
    """``keras.layers.GRU``."""

    spec = LAYERS["GRU"]
