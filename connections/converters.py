"""Path converters of the URLconf (``connections/urls.py``)."""

from __future__ import annotations


class ExportIdConverter:
    """An export's id: 32 lowercase hex digits, as app.js makes them (anything else is
    the URL resolver's 404: the view never sees it)."""

    regex = "[0-9a-f]{32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
