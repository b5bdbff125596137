"""Where the layer table used to live; it is now :mod:`nascompiler.layers.spec`.

Kept so that code written against ``nascompiler.catalog`` still imports; new code should
import from :mod:`nascompiler.layers.spec`.
"""

from __future__ import annotations

from .layers.spec import BASE_ARGUMENTS, LAYERS, LayerSpec

# The old per-kind table of Keras-2 defaults, derived from the entries.
KERAS2_DEFAULTS: dict[str, dict[str, object]] = {
    kind: dict(spec.keras2_defaults)
    for kind, spec in LAYERS.items()
    if spec.keras2_defaults
}

__all__ = ["BASE_ARGUMENTS", "KERAS2_DEFAULTS", "LAYERS", "LayerSpec"]
