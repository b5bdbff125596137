"""Jinja templates of the generated modules (installed as the package ``nascompiler.templates``)."""
