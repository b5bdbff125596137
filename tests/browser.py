"""Opening an HTML report in headless Chromium (Debian's ``chromium`` package) with Playwright.

Playwright's own browser download needs the internet; the tests drive the system Chromium
instead (``apt-get install -y chromium``, as README's test command and .ci/run do). Every
request the page makes is intercepted: ``file:``/``data:``/``blob:`` ones are served, any other
is recorded in ``requests`` and aborted, so a test can assert that nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_path() -> str:
    for candidate in (
        os.environ.get("NASCOMPILER_CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate:
            return candidate
    raise RuntimeError(
        "the report tests need Chromium: sudo apt-get install -y chromium "
        "(or set NASCOMPILER_CHROMIUM to a Chromium binary)"
    )


@contextlib.contextmanager
def open_report(path: Path) -> Iterator:
    """The loaded page, with ``page.requests`` (non-local URLs asked for), ``page.errors``
    (console errors and uncaught exceptions) and ``page.dialogs`` (alert/confirm texts).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            # root in a container has no user namespaces for Chromium's sandbox
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.requests, page.errors, page.dialogs = [], [], []

            def route(route):
                if route.request.url.startswith(LOCAL_SCHEMES):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", route)
            context.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith(LOCAL_SCHEMES)
                    else page.requests.append(r.url)
                ),
            )
            page.on(
                "console",
                lambda m: page.errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on(
                "dialog",
                lambda d: (page.dialogs.append(d.message), d.dismiss()),
            )
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            # Plotly draws synchronously on load; wait until every plot has its SVG.
            page.wait_for_function(
                "Array.from(document.querySelectorAll('.plot'))"
                ".every(e => e.querySelector('svg.main-svg'))",
                timeout=60_000,
            )
            yield page
        finally:
            browser.close()
