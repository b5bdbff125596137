"""Code generation: CandidateGraph -> standalone Keras module source."""

from .emitter import emit
from .render import doc_text, identifier, render_literal

__all__ = ["emit", "render_literal", "identifier", "doc_text"]
