"""Storages for the tests of background exports: the file system, except that the first
object whose name holds ``marker`` is written and then the worker dies (``Crash``, which
no code of ours catches), as a worker killed between a write and its checkpoint; or
takes ``seconds`` to write, with ``meanwhile`` run at the end of that time, as a slow
upload."""

from __future__ import annotations

import time
from collections.abc import Callable
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


class SlowStorage(FileSystemStorage):
    marker = ""
    seconds = 0.0
    meanwhile: Callable[[], None] = staticmethod(lambda: None)

    def _save(self, name: str, content: Any) -> str:
        if type(self).marker and type(self).marker in name:
            type(self).marker = ""
            time.sleep(type(self).seconds)
            type(self).meanwhile()
        return str(super()._save(name, content))
