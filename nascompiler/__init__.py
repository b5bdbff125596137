"""nascompiler: neural architecture search as a compiler.

A search space written in the Hypernets vocabulary compiles to an IR; each candidate is
emitted as a standalone, black-formatted Keras module; the search trains those modules and
exports the winner as plain Python.
"""

__version__ = "0.1.0"
