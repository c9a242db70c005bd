"""A storage for the tests of resumed exports: the file system, except that the first
object whose name holds ``marker`` is written and then the worker dies (``Crash``, which
no code of ours catches), as a worker killed between a write and its checkpoint."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import FileSystemStorage


class Crash(BaseException):
    pass


class CrashAfterPartStorage(FileSystemStorage):
    marker = ""

    def _save(self, name: str, content: Any) -> str:
        saved = super()._save(name, content)
        if type(self).marker and type(self).marker in name:
            type(self).marker = ""
            raise Crash
        return str(saved)
