"""The sandbox's one reader of the numbers and identifiers in a request."""

from __future__ import annotations


def content_length(text: str) -> int:
    """RFC 9110's ``Content-Length = 1*DIGIT``: no sign, space or underscore, ASCII only
    (a lax length is how requests get smuggled)."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError("not a Content-Length")
    return int(text)
