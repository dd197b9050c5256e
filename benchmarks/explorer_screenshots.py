"""Screenshot every explorer tab in headless Chromium: docs/img/explorer_<tab>.png.

    python benchmarks/explorer_screenshots.py [--checkpoint-dir DIR] [--runs RUN] [--out docs/img]

Needs the Debian packages ``chromium`` (at /usr/bin/chromium) and the ``playwright`` Python
package (no browser download: the system Chromium is used). Starts the app in this process on a
free port, picks the first example, presses each tab's button and waits for its plots.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# tab label -> (file name, button text, plots to wait for)
TABS = {
    "Compare": ("compare", "Compare", 2),
    "Token attention": ("attention", "Show attention", 3),
    "Heatmaps": ("heatmaps", "Show heatmaps", 2),
    "Distillation stages": ("stages", "Show stages", 2),
    "Attribution": ("attribution", "Explain", 1),
    "Live distill": ("live", "Distil", 2),
}


def open_page(browser, url: str):
    """A loaded explorer page with the first example picked."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("text=examples", timeout=60_000)
    page.locator(".gallery-item, button.gallery-item, tr.tr-body, .example").first.click()
    page.wait_for_selector("[data-testid='image'] img, .image-container img", timeout=60_000)
    page.wait_for_timeout(1500)  # the example's box fills in after the image
    return page


def show_tab(page, label: str, button: str, plots: int, timeout_ms: int = 90_000) -> None:
    """Open a tab, press its button, wait until its plots are drawn."""
    page.get_by_role("tab", name=label).click()
    page.get_by_role("button", name=button).click()
    panel = page.locator("[role=tabpanel]:visible")
    panel.locator(".js-plotly-plot").nth(plots - 1).wait_for(timeout=timeout_ms)
    page.wait_for_timeout(1200)  # plotly finishes laying out


def error_toasts(page) -> list[str]:
    """Texts of any error / warning toasts on the page."""
    return [t.strip() for t in page.locator(".toast-body").all_inner_texts() if t.strip()]


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    from explorer.models import ModelSet
    from explorer.serve import start_background

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint-dir", type=Path)
    p.add_argument("--runs", type=Path, nargs="*", default=[])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = p.parse_args(argv)
    models = ModelSet.load(args.checkpoint_dir)
    models.runs = list(args.runs) or models.runs  # default: the bundled snapshot histories
    demo, url = start_background(models)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, url)
            for label, (name, button, plots) in TABS.items():
                show_tab(page, label, button, plots)
                path = args.out / f"explorer_{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"{label}: {path}" + (f"  toasts: {error_toasts(page)}" if error_toasts(page) else ""))
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
