"""A command's ``--help`` description taken from its module docstring."""

from __future__ import annotations


def description(doc: str | None) -> str | None:
    """The docstring after its first paragraph (the summary), shown plain: without the
    double backquotes reStructuredText puts around literals, which a terminal shows as is."""
    if not doc or "\n\n" not in doc:
        return None
    return doc.split("\n\n", 1)[1].replace("``", "")


__all__ = ("description",)
