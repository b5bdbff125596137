"""``nascompile``: the command line.

A thin layer over the library: each command loads what it needs, calls one function of the
compiler or the search package, and prints. Errors in the user's input end as one line on
stderr and exit code 2 (``--debug`` shows the traceback instead).

- :mod:`.app`: the ``nascompile`` application, its entry point and error handling;
- :mod:`.compile`: ``inspect`` and ``compile`` (no training);
- :mod:`.search`: ``search``;
- :mod:`.results`: ``export`` and ``trials``;
- :mod:`.report`: ``report`` and ``diff``;
- :mod:`.common`: the consoles and where studies live.

The command modules do not know the application; :mod:`.app` imports them and registers
their commands, so nothing here imports upwards.
"""

from .app import main  # the console script: nascompile = "nascompiler.cli:main"

__all__ = ["main"]
