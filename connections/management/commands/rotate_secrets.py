"""Re-encrypt every API client secret with the newest key of FERNET_KEYS (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connections import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every API client secret with the newest key of FERNET_KEYS (the first). "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.api_client_secrets_rotate()
        self.stdout.write(
            f"Re-encrypted {result.rotated} API client secret(s) with the newest key; "
            f"{result.current} already used it."
        )
        if result.unreadable:
            ids = ", ".join(str(pk) for pk in result.unreadable)
            raise CommandError(
                f"{len(result.unreadable)} secret(s) could not be decrypted with any key of "
                f"FERNET_KEYS (API client ids {ids}): add the key they were encrypted with "
                "and run again, or enter those secrets again in the admin."
            )
