"""The two gates every piece of user input passes on its way into generated code.

- :func:`render_literal` turns a value into Python source. It accepts only literals (see
  :mod:`nascompiler.literals`) and writes them with ``repr``, which for these types always
  yields a literal that evaluates back to the same value: a string holding quotes, newlines or
  ``"); import os`` stays a string.
- :func:`identifier` turns a layer name into a Python identifier: ASCII letters, digits and
  underscores, not a keyword, not a builtin, not one of the module's own names.
- :func:`doc_text` escapes text for the module docstring.
"""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Any

from ..literals import NotALiteral, to_literal

# Names the generated module defines or imports; a layer variable must not shadow them.
RESERVED = frozenset(
    {
        "keras",
        "layers",
        "build_model",
        "inputs",
        "outputs",
        "x",
        "CANDIDATE_ID",
        "INPUT_SHAPE",
        "INPUT_SHAPES",
        "HYPERPARAMETERS",
    }
)


def render_literal(value: Any) -> str:
    """Python source for a literal value.

    >>> render_literal(("same", 3, 0.5, None))
    "('same', 3, 0.5, None)"
    """
    try:
        value = to_literal(value)
    except NotALiteral as exc:
        raise ValueError(f"cannot write {value!r} into generated code: {exc}") from None
    return _render(value)


def _render(value: Any) -> str:
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({_render(value[0])},)"
        return "(" + ", ".join(_render(v) for v in value) + ")"
    return repr(value)


def render_mapping(items: list[tuple[str, Any]]) -> str:
    """A dict display ``{"key": value, ...}`` whose keys and values are literals."""
    return (
        "{"
        + ", ".join(f"{render_literal(k)}: {render_literal(v)}" for k, v in items)
        + "}"
    )


def render_data(value: Any) -> str:
    """Python source for JSON-like data (a Keras optimizer config, a metrics list): dicts with
    string keys and lists, holding literals; everything else goes through
    :func:`render_literal`."""
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(
                    f"cannot write {value!r} into generated code: its key {key!r} is not a string"
                )
        return (
            "{"
            + ", ".join(
                f"{render_literal(k)}: {render_data(v)}" for k, v in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(render_data(v) for v in value) + "]"
    return render_literal(value)


def identifier(name: str, taken: set[str]) -> str:
    """A fresh Python identifier derived from ``name``; adds it to ``taken``.

    >>> identifier("1_normal_C1_N0_add_", set())
    'normal_c1_n0_add'
    """
    text = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    text = re.sub(r"^[0-9_]+", "", text)  # an identifier cannot start with a digit
    if not text:
        text = "layer"
    if (
        keyword.iskeyword(text)
        or keyword.issoftkeyword(text)
        or hasattr(builtins, text)
        or text in RESERVED
    ):
        text += "_"
    candidate, n = text, 2
    while candidate in taken:
        candidate = f"{text}_{n}"
        n += 1
    taken.add(candidate)
    return candidate


def doc_text(text: str) -> str:
    """``text`` made safe inside a triple-quoted docstring: backslashes, quotes and
    non-printable characters (newlines included) are escaped."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif not ch.isprintable():
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return "".join(out)
