"""The package's version, in a leaf module that every stage may import (pyproject.toml reads
it too, so it is written in one place)."""

__version__ = "0.1.0"
