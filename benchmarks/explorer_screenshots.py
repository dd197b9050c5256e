"""Screenshot every explorer tab in headless Chromium: docs/img/explorer_<tab>.png.

    python benchmarks/explorer_screenshots.py [--checkpoint-dir DIR] [--runs RUN] [--out docs/img]
        [--tabs compare attention ...] [--teacher blazepose] [--distilpose FILE]
        [--photo IMAGE --box "x, y, w, h" [--area PX2]] [--student ROLE] [--cycle N] [--suffix _real]
        [--snapshots RUN LABEL [LABEL ...]]

Needs the Debian packages ``chromium`` (at /usr/bin/chromium) and the ``playwright`` Python
package (no browser download: the system Chromium is used). Starts the app in this process on a
free port, picks the first example (or uploads ``--photo`` and types ``--box`` / ``--area``),
types ``--area`` into each tab that has an *annotated person area* field (Compare, Live distill),
presses each tab's button and waits for its plots. ``--tabs`` limits the tabs (file names:
compare, attention, heatmaps, stages, attribution, live); ``--suffix`` is added to each file name.
``--snapshots RUN LABEL ...``: after drawing the tabs, pick RUN (a folder name, e.g. ``sdpose``) in
the header's snapshot selector, click each LABEL in turn and screenshot every drawn tab once its
figures name that snapshot: ``docs/img/explorer_snapshot_<tab>_<label>.png``.
"""
from __future__ import annotations

import argparse
import re
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


def open_page(browser, url: str, photo: Path | None = None, box: str = ""):
    """A loaded explorer page with the first example picked, or ``photo`` uploaded with ``box``."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("text=examples", timeout=60_000)
    if photo is None:
        page.locator(".gallery-item, button.gallery-item, tr.tr-body, .example").first.click()
    else:
        page.locator("input[type=file]").first.set_input_files(str(photo))
    page.wait_for_selector("[data-testid='image'] img, .image-container img", timeout=60_000)
    page.wait_for_timeout(1500)  # the example's box fills in after the image
    if photo is not None:
        page.get_by_label("person box").fill(box)
    return page


def pick_student(page, role: str) -> None:
    """Choose ``role`` in the Compare tab's student dropdown."""
    page.get_by_role("tab", name="Compare").click()
    page.locator("[role=tabpanel]:visible").get_by_label("student").click()
    page.get_by_role("option", name=role, exact=True).click()
    page.wait_for_timeout(500)


def show_tab(page, label: str, button: str, plots: int, timeout_ms: int = 90_000, cycle: int | None = None,
             area: str = "") -> None:
    """Open a tab, press its button, wait until its plots are drawn (``cycle``: set the attention
    tab's cycle slider first; ``area``: typed into the tab's annotated person area, if it has one)."""
    page.get_by_role("tab", name=label).click()
    field = page.locator("[role=tabpanel]:visible").get_by_label("annotated person area (px², optional)")
    if area and field.count():
        field.fill(area)
    if cycle is not None and label == "Token attention":
        number = page.locator("[role=tabpanel]:visible").get_by_label("number input for cycle")
        number.fill(str(cycle))
        number.press("Enter")
        page.wait_for_timeout(1500)
    page.get_by_role("button", name=button).click()
    panel = page.locator("[role=tabpanel]:visible")
    panel.locator(".js-plotly-plot").nth(plots - 1).wait_for(timeout=timeout_ms)
    page.wait_for_timeout(1200)  # plotly finishes laying out


def pick_snapshot(page, run: str | None, label: str, timeout_ms: int = 90_000) -> None:
    """In the header's snapshot selector choose ``run`` (when given) and click snapshot ``label``;
    wait until the shown tab's first figure is titled with it."""
    selector = page.locator("#snapshot-selector")
    if run:
        selector.get_by_label("training run (snapshots)").click()
        page.get_by_role("option", name=f"{run} run", exact=False).first.click()
        selector.locator("label").first.wait_for(timeout=timeout_ms)
    selector.locator("label", has_text=re.compile(rf"^\s*{re.escape(label)} ·")).click()
    wait_for_title(page, label, timeout_ms)


def wait_for_title(page, label: str, timeout_ms: int = 90_000) -> None:
    """Until a figure of the visible tab is titled with snapshot ``label``."""
    panel = page.locator("[role=tabpanel]:visible")
    panel.locator(".js-plotly-plot .gtitle", has_text=f", {label} ·").first.wait_for(timeout=timeout_ms)
    page.wait_for_timeout(1200)  # plotly finishes laying out


def snapshot_shots(page, out: Path, run: str, labels: list[str], tabs: list[str]) -> None:
    """``pick_snapshot`` each label, then a screenshot of each drawn tab (opened after the pick: it
    must have been redrawn by the pick alone)."""
    drawn = [(label, name) for label, (name, *_rest) in TABS.items() if name in tabs]
    for i, label in enumerate(labels):
        for j, (tab_label, name) in enumerate(drawn):
            page.get_by_role("tab", name=tab_label).click()
            if j == 0:
                pick_snapshot(page, run if i == 0 else None, label)
            wait_for_title(page, label)
            path = out / f"explorer_snapshot_{name}_{re.sub(r'[^a-z0-9]+', '_', label.lower())}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"{tab_label} at {run} {label}: {path}" + (f"  toasts: {error_toasts(page)}" if error_toasts(page) else ""))


def error_toasts(page) -> list[str]:
    """Texts of any error / warning toasts on the page."""
    return [t.strip() for t in page.locator(".toast-body").all_inner_texts() if t.strip()]


def main(argv: list[str] | None = None) -> int:
    import torch
    from playwright.sync_api import sync_playwright

    from explorer.models import ModelSet
    from explorer.serve import start_background

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint-dir", type=Path)
    p.add_argument("--runs", type=Path, nargs="*", default=[])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    p.add_argument("--tabs", nargs="*", default=[name for name, *_ in TABS.values()])
    p.add_argument("--teacher", help="teacher file or 'blazepose' (default: the bundled teacher)")
    p.add_argument("--distilpose", help="DistilPose student file (default: the bundled one)")
    p.add_argument("--photo", type=Path, help="upload this photo instead of picking the first example")
    p.add_argument("--box", default="", help="person box typed with --photo")
    p.add_argument("--area", default="", help="annotated person area typed into the Compare and Live distill tabs")
    p.add_argument("--suffix", default="", help="added to each file name, e.g. _real")
    p.add_argument("--cycle", type=int, help="the attention tab's cycle (default: 1)")
    p.add_argument("--student", help="the Compare tab's student role (default: the first)")
    p.add_argument("--snapshots", nargs="+", metavar="RUN LABEL", help="a run and snapshot labels to pick")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as python -m explorer (--threads 1)
    models = ModelSet.load(args.checkpoint_dir, teacher=args.teacher, distilpose=args.distilpose)
    models.runs = list(args.runs) or models.runs  # default: the bundled snapshot histories
    demo, url = start_background(models)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = open_page(browser, url, args.photo, args.box)
            if args.student:
                pick_student(page, args.student)
            for label, (name, button, plots) in TABS.items():
                if name not in args.tabs:
                    continue
                show_tab(page, label, button, plots, cycle=args.cycle, area=args.area)
                path = args.out / f"explorer_{name}{args.suffix}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"{label}: {path}" + (f"  toasts: {error_toasts(page)}" if error_toasts(page) else ""))
            if args.snapshots:
                snapshot_shots(page, args.out, args.snapshots[0], args.snapshots[1:], args.tabs)
            browser.close()
    finally:
        demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
