"""Create the demo user and API clients for the sandbox organizations (idempotent)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from connections.models import ApiClient
from sandbox.data import ORGS

DEMO_CLIENTS = ("demo-lender", "harbor-finance")


class Command(BaseCommand):
    help = "Create the demo user (demo/demo) with access to two sandbox API clients."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username="demo")
        if created:
            user.set_password("demo")
            user.save()
        for org in ORGS:
            client = ApiClient.objects.filter(client_id=org.client_id).first()
            if client is None:
                client = ApiClient(name=org.name, client_id=org.client_id)
            client.organization_id = uuid.UUID(org.id)
            client.set_secret(org.client_secret)
            client.enabled = True
            client.save()
            if org.slug in DEMO_CLIENTS:
                client.users.add(user)
        self.stdout.write("demo user ready: username demo, password demo")
