"""Code generation: CandidateGraph -> standalone Keras module source."""

from .emitter import add_docstring_section, emit
from .render import doc_text, identifier, render_literal

__all__ = ["emit", "add_docstring_section", "render_literal", "identifier", "doc_text"]
