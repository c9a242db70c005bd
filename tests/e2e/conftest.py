"""End-to-end fixtures: a headless Debian Chromium driven by Playwright's sync API
against pytest-django's ``live_server`` (a thread of this process, so the in-process
sandbox upstream of ``tests/conftest.py`` serves it).

Every page records Content Security Policy violations and uncaught script errors; a
test with any of them fails at teardown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import sandbox_rows

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests
# make between browser steps are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "another long passphrase"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_JS = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
TIMEOUT_MS = 10_000

# Init scripts run in every document whatever the page's CSP says; the exposed binding
# survives navigations, so violations of every page of the test reach Python.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__e2eReportCsp(e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                        + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageProblems:
    """CSP violations and uncaught script errors seen by the pages of one test."""

    def __init__(self) -> None:
        self.csp: list[str] = []
        self.script_errors: list[str] = []

    def watch(self, context: BrowserContext, *, javascript: bool) -> None:
        if javascript:
            context.expose_function("__e2eReportCsp", self._report_csp)
            context.add_init_script(CSP_LISTENER)

        def on_page(page: Page) -> None:
            page.on("console", self._console)
            page.on("pageerror", lambda exc: self.script_errors.append(str(exc)))

        context.on("page", on_page)

    def _report_csp(self, text: str) -> None:
        self.csp.append(text)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)


@pytest.fixture
def new_page(
    browser: Browser, live_server: Any, transactional_db: None
) -> Iterator[Callable[..., Page]]:
    """A factory of pages, each in a fresh browser context (its own cookies)."""
    problems = PageProblems()
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> Page:
        options.setdefault("base_url", live_server.url)
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        problems.watch(context, javascript=options.get("java_script_enabled", True))
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert problems.csp == [], f"Content Security Policy violations: {problems.csp}"
    assert problems.script_errors == [], f"Uncaught script errors: {problems.script_errors}"


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


def sign_in(page: Page, username: str, password: str) -> None:
    """Through the real login form, as a person does."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/connections/"))
    expect(page.locator("#result-count")).to_contain_text("match")
    page.wait_for_load_state()  # htmx and app.js (deferred) are running
    # The facet counts load after the rows and change the layout: in before the test starts.
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


@pytest.fixture
def signed_in(page: Page, user: User) -> Page:
    """``page``, signed in as alice (Demo Lender and Harbor Finance) on the list page."""
    sign_in(page, user.get_username(), PASSWORD)
    return page


# --- helpers the tests share -------------------------------------------------------------


def host_names(page: Page) -> list[str]:
    """The host names of the table's rows, in order, once the page is parsed (after a
    plain navigation, an URL check passes as soon as the top of the page is in)."""
    page.wait_for_load_state("domcontentloaded")
    return page.locator("table.grid tbody tr td:first-child a").all_text_contents()


def no_transition(page: Page) -> None:
    """Wait until no CSS transition runs: the loading indicator fades in and out (0.15 s),
    and its text half-faded fails axe's color-contrast rule."""
    page.wait_for_function("() => !document.getAnimations().some(a => a instanceof CSSTransition)")


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the current page (injected over the DevTools protocol,
    which the page's CSP does not govern), once no transition runs."""
    no_transition(page)
    page.evaluate(AXE_JS)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(n["html"][:120] for n in v["nodes"][:3])
        for v in result["violations"]
    ]


def target_size_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.2 target-size rule (not in its default run) on the current page:
    each target under 24 x 24 px without room around it, with axe's reason."""
    no_transition(page)
    page.evaluate(AXE_JS)
    result = page.evaluate("axe.run(document, {runOnly: ['target-size']})")
    return [
        n["html"][:100] + " " + n["failureSummary"][:160]
        for v in result["violations"]
        for n in v["nodes"]
    ]


def expected_names(sandbox: Any, slug: str = "demo-lender", **filters: Any) -> list[str]:
    """The host names the sandbox holds for a query (all of them, every page)."""
    return [r["host_name"] for r in sandbox_rows(sandbox, slug, **filters)]
