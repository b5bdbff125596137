"""ENAS building blocks (Hypernets' ``frameworks.keras.enas_layers``).

These are *macro* modules: when a candidate is specialised they lower to standard Keras layers
(ReLU, Conv2D, AveragePooling2D, ZeroPadding2D, Cropping2D, Concatenate, Add,
BatchNormalization), so a generated module never defines a custom layer class. How they lower
depends on the shapes that reach them, which the IR infers.

- ``CalibrateSize(no, filters, name_prefix)``: makes input ``no`` of a cell match the cell's
  size: a factorized reduction when it is twice as large as the other input, else a
  ReLU / 1x1 Conv2D / BatchNormalization when its channels differ from ``filters``, else
  nothing.
- ``FactorizedReduction(filters, name_prefix)``: halves the spatial size: ReLU, then two
  paths (1x1 average pool with stride 2 and a 1x1 conv to ``filters // 2``; the same after
  shifting the image by one pixel), concatenated, then BatchNormalization.
- ``SafeConcatenate`` / ``SafeMerge``: concatenate (or add) a list of inputs; a single input
  passes through.
"""

from __future__ import annotations

from typing import Any

from ..ops import Identity
from ..space import HyperSpace, ModuleSpace

__all__ = [
    "Identity",
    "SafeMerge",
    "SafeConcatenate",
    "CalibrateSize",
    "FactorizedReduction",
]


class EnasModule(ModuleSpace):
    """A module that the IR lowers to several standard layers."""

    def __init__(
        self,
        filters: Any,
        name_prefix: str,
        data_format: str | None = None,
        space: HyperSpace | None = None,
        name: str | None = None,
        **hyperparams: Any,
    ):
        super().__init__(
            space,
            name,
            filters=filters,
            name_prefix=name_prefix,
            data_format=data_format,
            **hyperparams,
        )
        if not isinstance(name_prefix, str):
            raise self._fail(f"name_prefix must be a string, got {name_prefix!r}")
        if data_format not in (None, "channels_last", "channels_first"):
            raise self._fail(
                f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}"
            )


class FactorizedReduction(EnasModule):
    """Halves height and width, producing ``filters`` channels."""

    kind = "FactorizedReduction"


class CalibrateSize(EnasModule):
    """Aligns input ``no`` (0 or 1) of a cell with the cell's size and ``filters``."""

    kind = "CalibrateSize"

    def __init__(
        self,
        no: int,
        filters: Any,
        name_prefix: str,
        data_format: str | None = None,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(filters, name_prefix, data_format, space, name, no=no)
        if no not in (0, 1) or isinstance(no, bool):
            raise self._fail(f"no must be 0 or 1, got {no!r}")


class SafeConcatenate(EnasModule):
    """Concatenates its inputs along the channel axis; one input passes through."""

    kind = "SafeConcatenate"

    def __init__(
        self,
        filters: Any,
        name_prefix: str,
        data_format: str | None = None,
        space: HyperSpace | None = None,
        name: str | None = None,
        **hyperparams: Any,
    ):
        super().__init__(filters, name_prefix, data_format, space, name, **hyperparams)
        unknown = set(hyperparams) - {"axis"}
        if unknown:
            raise self._fail(f"unknown argument(s) {', '.join(sorted(unknown))}")


class SafeMerge(EnasModule):
    """Merges its inputs with ``merge_type`` ``"add"`` or ``"concat"``; one input passes through."""

    kind = "SafeMerge"

    def __init__(
        self,
        merge_type: str,
        filters: Any,
        name_prefix: str,
        data_format: str | None = None,
        space: HyperSpace | None = None,
        name: str | None = None,
    ):
        super().__init__(
            filters, name_prefix, data_format, space, name, merge_type=merge_type
        )
        if merge_type not in ("add", "concat"):
            raise self._fail(
                f"merge_type must be 'add' or 'concat', got {merge_type!r}"
            )
