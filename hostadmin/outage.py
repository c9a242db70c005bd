"""A shared dependency that is down is logged once per interval, not once per call.

With Redis or PostgreSQL gone, every request would otherwise log the same failure; one
line per interval (with how many failures it stands for) keeps the log readable.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger("hostadmin.outage")


class OutageLog:
    """Logs the failures of one dependency at most once per
    ``settings.DEPENDENCY_LOG_INTERVAL`` seconds. Only the exception's type is logged:
    a driver's message may carry addresses or names that do not belong in a log."""

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._suppressed = 0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < settings.DEPENDENCY_LOG_INTERVAL:
                self._suppressed += 1
                return
            self._last, suppressed, self._suppressed = now, self._suppressed, 0
        log.warning(
            "%s unavailable (%s); %d failures since the previous report were not logged",
            self.dependency,
            type(exc).__name__,
            suppressed,
        )
