"""Shared by the headless-Chromium tests: the explorer served in the background, one page open on it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def explorer_page(models) -> Iterator:
    """Serve ``models`` (an explorer ModelSet) and yield a Playwright page showing the app."""
    from playwright import sync_api

    from explorer.serve import start_background

    demo, url = start_background(models)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector("text=examples", timeout=60_000)
            yield page
            browser.close()
    finally:
        demo.close()
