"""Signed-in ops staff using hostadmin: the list page, filters (the htmx partial that
swaps the results), a row's detail page and a one-page CSV export, with think time.

Run by bench/load.py (``make load``), headless and bounded in time. Sessions are made
beforehand (LOAD_SESSIONS, comma-separated session keys): signing in (PBKDF2) is not the
load being measured. Request names group the figures: "full page", "htmx partial",
"detail", "export page".
"""

from __future__ import annotations

import itertools
import os
import random
import re

from locust import HttpUser, between, task

SESSIONS = itertools.cycle(os.environ.get("LOAD_SESSIONS", "").split(","))
DETAIL = re.compile(r'<tr><td[^>]*><a href="(/connections/[0-9a-f-]{36}/[^"]*)"')
FILTERS = [
    "statuses=connected",
    "statuses=disconnected",
    "statuses=connected&order_by=created_at&order_dir=desc",
    "statuses=connected&statuses=disconnected&order_by=host_email",
    "archived=false&order_by=updated_at&order_dir=desc",
    "search_field=host_name&search_text=a",
]


class Staff(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers["Cookie"] = f"sessionid={next(SESSIONS)}"
        self.details: list[str] = []

    @task(3)
    def full_page(self) -> None:
        offset = random.choice((0, 20, 40))
        with self.client.get(
            f"/connections/?offset={offset}", name="full page", catch_response=True
        ) as response:
            self._expect(response, "connections match")
            self.details = [m.replace("&amp;", "&") for m in DETAIL.findall(response.text)]

    @task(4)
    def filter(self) -> None:
        with self.client.get(
            f"/connections/?{random.choice(FILTERS)}",
            name="htmx partial",
            headers={"HX-Request": "true", "HX-Target": "results"},
            catch_response=True,
        ) as response:
            self._expect(response, "<table")

    @task(2)
    def detail(self) -> None:
        if not self.details:
            return self.full_page()
        with self.client.get(
            random.choice(self.details), name="detail", catch_response=True
        ) as response:
            self._expect(response, "Host organization ID")
        return None

    @task(1)
    def export_page(self) -> None:
        with self.client.get(
            "/connections/export.csv?scope=page", name="export page", catch_response=True
        ) as response:
            self._expect(response, "Host organization ID,")

    @staticmethod
    def _expect(response, text: str) -> None:  # type: ignore[no-untyped-def]
        if response.status_code != 200 or text not in response.text:
            response.failure(f"status {response.status_code}")
