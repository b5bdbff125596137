"""nascompiler: neural architecture search as a compiler.

A search space written in the Hypernets vocabulary compiles to an IR; each candidate is
emitted as a standalone, black-formatted Keras module; the search trains those modules and
exports the winner as plain Python.

``from nascompiler import HyperKeras`` is the Python API (see :mod:`nascompiler.api`).
"""

from ._version import __version__

__all__ = ["HyperKeras", "__version__"]


def __getattr__(name: str):
    # The API pulls in the search runtime; import it only when asked for.
    if name == "HyperKeras":
        from .api import HyperKeras

        return HyperKeras
    raise AttributeError(f"module 'nascompiler' has no attribute {name!r}")
