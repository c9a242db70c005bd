"""The sandbox's one reader of the numbers, identifiers and JSON bodies in a request.

The real API is a pydantic application, so the sandbox reads every value the way pydantic
does, never with ``int()`` or ``uuid.UUID()``: those take digits of any script (an
Arabic-Indic ``\u0665``, a full-width ``\uff15``), and ``{{uuid}}`` or ``uuid:...``, which
the real API refuses. Only HTTP framing (``Content-Length``) has a grammar of its own.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

_INTEGER = TypeAdapter(int)
_UUID = TypeAdapter(uuid.UUID)
_BOOLEAN = TypeAdapter(bool)

_Model = TypeVar("_Model", bound=BaseModel)


def integer(text: str) -> int:
    """An integer from a query parameter: ASCII digits, an optional sign. Raises
    ``ValueError`` (pydantic's ``ValidationError`` is one)."""
    return _INTEGER.validate_python(text)


def uuid_text(text: str) -> str:
    """The canonical form of a UUID (hyphens or none, any case, braced once, ``urn:uuid:``).
    Raises ``ValueError``."""
    return str(_UUID.validate_python(text))


def boolean(text: str) -> bool:
    """``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``, ``t``/``f``,
    ``y``/``n``, in any case. Raises ``ValueError``."""
    return _BOOLEAN.validate_python(text)


def json_body(model: type[_Model], raw: bytes) -> _Model | list[dict[str, Any]]:
    """The body read into ``model``, or the contract's 422 entries (``loc`` starts with
    ``"body"``). Bad JSON, a nesting too deep to parse, a wrong type: never an exception."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        return [
            {
                "loc": ["body", *error["loc"]],
                "msg": error["msg"],
                "type": error["type"],
                "code": "json_invalid" if error["type"] == "json_invalid" else "validation_error",
            }
            for error in exc.errors(include_url=False)
        ]


def content_length(text: str) -> int:
    """RFC 9110's ``Content-Length = 1*DIGIT``: no sign, space or underscore, ASCII only
    (a lax length is how requests get smuggled)."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError("not a Content-Length")
    return int(text)
