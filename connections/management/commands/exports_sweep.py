"""Background exports' periodic work: queue again the exports whose worker died (stale
heartbeat) or whose task was lost (a queued export no task can run any more), expire
files past EXPORT_RETENTION_DAYS. Once, or every N seconds."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connections.export.background import exports_sweep


class Command(BaseCommand):
    help = (
        "Queue again the exports whose worker stopped or whose task was lost, and delete "
        "expired export files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=float, default=0, help="run every SECONDS (default: once)"
        )

    def handle(self, *args: Any, every: float = 0, **options: Any) -> None:
        while True:
            done = exports_sweep()
            if done["requeued"] or done["expired"] or not every:
                self.stdout.write(
                    f"exports sweep: {done['requeued']} queued again, {done['expired']} expired"
                )
            if not every:
                return
            time.sleep(every)
