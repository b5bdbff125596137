"""The one Jinja environment of the package, over ``templates/``.

Every product rendered from a template goes through :func:`template`: the candidate module,
its golden test and training script (Python: not escaped, since every value is written by
:func:`~.render.render_literal` instead) and the HTML report (``*.html.j2``: autoescaped, since
every value from a study is user data).
"""

from __future__ import annotations

import functools
import os
from importlib import resources

import jinja2

# A template every install has: it tells the installed folder from a stale or empty one.
_PROBE = "candidate.py.j2"


def template_dir() -> str:
    """``templates/`` beside the package in a source checkout (first, so that an editable
    install of another checkout never hands this one its templates), else the installed
    package ``nascompiler.templates``."""
    checkout = os.path.normpath(
        os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "templates")
    )
    if os.path.exists(os.path.join(checkout, _PROBE)):
        return checkout
    try:
        return str(resources.files("nascompiler.templates"))
    except ModuleNotFoundError:
        return checkout


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        # HTML is escaped; Python products are not (render_literal escapes their values).
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def template(name: str) -> jinja2.Template:
    """The template ``name`` of ``templates/`` (loaded once; Jinja caches it)."""
    return environment().get_template(name)
