"""Scrub the explorer's snapshot selector in headless Chromium: time from clicking a snapshot to the
redrawn view, and from showing another tab to its redraw at that snapshot.

    python benchmarks/snapshot_scrub.py [--run distilpose] [--scrubs 24] [--threads 1] [--tabs ...]

The app runs in this process on the bundled models (``--threads``: torch threads, as
``python -m explorer --threads``). In the browser the first example is picked, the tabs (Compare,
Token attention, Heatmaps, Attribution) are drawn once with their buttons, and the run is chosen in
the header (its snapshots load once; timed). Then each scrub clicks a snapshot and waits, frame by
frame (requestAnimationFrame), until the figures of the tab in view are titled with it; then the
next tab is shown (it still shows an older snapshot) and timed until its figures are redrawn at the
new one; it stays in view for the next scrub. Times are measured in the page (``performance.now()``).
Scrubs walk the snapshots back and forth, so the first pass meets each snapshot for the first time
(forward passes and attributions computed), later ones find the results cached (figures drawn
again). Then the four handlers are timed alone in this process over the same walk. Needs Debian's
``chromium`` and the ``playwright`` package (as benchmarks/explorer_screenshots.py). Prints markdown
tables of milliseconds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

TABS = ("compare", "attention", "heatmaps", "attribution")
CLICK = """label => { window.__t0 = performance.now();
  const el = Array.from(document.querySelectorAll('#snapshot-selector label'))
    .find(l => l.textContent.trim().startsWith(label + ' ·'));
  el.click(); }"""
SHOW = """title => { window.__t0 = performance.now();
  Array.from(document.querySelectorAll('button[role=tab]')).find(b => b.textContent.trim() === title).click(); }"""
# [label, all tabs?] -> ms since the click once the figures (of the tab in view, or of every tab) name it
DRAWN = """([label, all]) => {
  const panels = Array.from(document.querySelectorAll('[role=tabpanel]'))
    .filter(p => p.querySelector('.js-plotly-plot') && (all || p.offsetParent !== null));
  const titled = t => t.textContent.includes(', ' + label + ' ·');
  const done = panels.length > 0 && panels.every(p => {
    const t = Array.from(p.querySelectorAll('.js-plotly-plot .gtitle'));
    return t.length > 0 && t.filter(x => x.textContent.includes('snapshot:')).every(titled); });
  return done ? performance.now() - window.__t0 : false; }"""


def walk(labels: list[str], scrubs: int) -> list[str]:
    """``scrubs`` picks from the last snapshot down to the first and back up, repeated."""
    cycle = labels[-2::-1] + labels[1:]
    return [cycle[i % len(cycle)] for i in range(scrubs)]


def table(rows: dict[str, list[float]], head: str = "scrubs") -> str:
    lines = [f"| {head} | n | median ms | p90 ms | max ms |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, times in rows.items():
        if times:
            p = np.percentile(times, [50, 90, 100])
            lines.append(f"| {name} | {len(times)} | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} |")
    return "\n".join(lines)


def browser_scrubs(url: str, run: str, labels: list[str], steps: list[str], tabs: tuple[str, ...] = TABS
                   ) -> tuple[dict, float]:
    """Drive the page with ``tabs`` drawn: (times per row, ms from choosing the run to its last
    snapshot drawn in Compare)."""
    from playwright.sync_api import sync_playwright

    import explorer_screenshots as shots

    titles = [label for label, (name, *_rest) in shots.TABS.items() if name in tabs]
    rows = {"scrub -> tab in view redrawn": [], "  first visit of the snapshot": [], "  revisit": [],
            "tab shown -> redrawn at the snapshot": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shots.CHROMIUM, args=shots.CHROMIUM_ARGS)
        page = shots.open_page(browser, url)
        for label, (name, button, plots) in shots.TABS.items():
            if name in tabs:
                shots.show_tab(page, label, button, plots)
        page.get_by_role("tab", name=titles[0]).click()
        page.locator("#snapshot-selector").get_by_label("training run (snapshots)").click()
        page.evaluate("() => { window.__t0 = performance.now(); }")
        page.get_by_role("option", name=f"{run} run", exact=False).first.click()  # picks its last snapshot
        pick_ms = page.wait_for_function(DRAWN, arg=[labels[-1], False], polling="raf", timeout=120_000).json_value()
        seen = {labels[-1]}
        for i, label in enumerate(steps):
            page.evaluate(CLICK, label)
            ms = page.wait_for_function(DRAWN, arg=[label, False], polling="raf", timeout=60_000).json_value()
            rows["scrub -> tab in view redrawn"].append(ms)
            rows.setdefault(f"  with {titles[i % len(titles)]} in view", []).append(ms)
            rows["  revisit" if label in seen else "  first visit of the snapshot"].append(ms)
            seen.add(label)
            page.evaluate(SHOW, titles[(i + 1) % len(titles)])
            ms = page.wait_for_function(DRAWN, arg=[label, False], polling="raf", timeout=60_000).json_value()
            rows["tab shown -> redrawn at the snapshot"].append(ms)
        toasts = shots.error_toasts(page)
        browser.close()
    if toasts:
        print("toasts:", json.dumps(toasts), file=sys.stderr)
    return rows, pick_ms


def handler_times(models, run: str, steps: list[str]) -> dict[str, list[float]]:
    """Each tab's handler alone (no server, no browser), per scrub of the same walk."""
    from explorer.inputs import examples
    from explorer.tabs import attention, attribution, compare, heatmaps

    path, box = examples()[0]
    depth = models.get("student").model.config.depth
    calls = {"compare": lambda s: compare.compare(models, path, box, "student", "teacher", "", run, s),
             "attention": lambda s: attention.attention(models, path, box, "student", 1, depth - 1, "mean",
                                                        "left_wrist", run, s),
             "heatmaps": lambda s: heatmaps.heatmaps(models, path, box, "left_wrist", run, s),
             "attribution": lambda s: attribution.attribution(models, path, box, "student", "left_wrist",
                                                              "saliency", run, s)}
    out = {name: [] for name in calls}
    for label in steps:
        for name, call in calls.items():
            start = time.perf_counter()
            call(label)
            out[name].append(1000 * (time.perf_counter() - start))
    out["the four in a row"] = [sum(v) for v in zip(*(out[n] for n in calls))]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="distilpose", help="bundled run (folder name) or a run folder")
    p.add_argument("--scrubs", type=int, default=24)
    p.add_argument("--threads", type=int, default=1, help="torch threads (python -m explorer --threads)")
    p.add_argument("--checkpoint-dir", type=Path, default=ROOT / "data_samples" / "checkpoints")
    p.add_argument("--tabs", nargs="+", default=list(TABS), choices=TABS, help="the tabs drawn and shown in "
                   "turn (Compare is always one)")
    args = p.parse_args(argv)
    import torch

    from explorer.models import ModelSet
    from explorer.serve import start_background

    torch.set_num_threads(args.threads)
    models = ModelSet.load(args.checkpoint_dir)
    if Path(args.run).is_dir():
        models.runs = [Path(args.run), *models.runs]
    labels = [e.label for e in models.snapshots.entries(args.run)]
    steps = walk(labels, args.scrubs)
    demo, url = start_background(models)
    try:
        rows, pick_ms = browser_scrubs(url, Path(args.run).name, labels, steps, ("compare", *args.tabs))
    finally:
        demo.close()
    print(f"run {args.run}: snapshots {', '.join(labels)}; torch threads {args.threads}; tabs drawn: "
          f"{', '.join(dict.fromkeys(['compare', *args.tabs]))}; choosing the run (snapshots loaded and "
          f"checked, Compare redrawn at the last one): {pick_ms:.0f} ms\n")
    print(table(rows))
    print("\nhandlers alone (this process, no browser), same scrubs:\n")
    print(table(handler_times(models, args.run, steps), head="handler"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
