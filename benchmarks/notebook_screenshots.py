"""Screenshot two tutorial notebooks running in JupyterLab: docs/img/notebook_widgets.png (notebook 01,
attention widgets moved) and docs/img/notebook_simulated_heatmap.png (notebook 03, (μ, σ) sliders moved).

    python benchmarks/notebook_screenshots.py [--out docs/img] [--port 8899]

Needs the ``notebooks`` extra (jupyterlab, ipywidgets, plotly), the Debian package ``chromium`` (at
/usr/bin/chromium) and the ``playwright`` Python package (no browser download: the system Chromium
is used). The script copies ``notebooks/`` into a temporary folder and starts
``jupyter lab --no-browser --allow-root --port PORT --ServerApp.token=''`` there, so JupyterLab's
autosave can never write outputs into the committed notebooks. In each notebook it presses
"Run All Cells", waits until every cell has run, moves the widgets, waits for the plot to redraw,
fails on any error output, and takes the screenshot. Then it shuts the server down through its
REST API (and stops the process it started if that does not work).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = "Python 3 (ipykernel) | Idle"


# ----------------------------------------------------------------------------- the server

def start_lab(folder: Path, port: int, log_path: Path) -> subprocess.Popen:
    """``jupyter lab`` serving ``folder`` on 127.0.0.1:port, without a token; returns once it answers."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])))
    # every cell stays in the page: JupyterLab's windowing would drop the widget cells scrolled past
    settings = folder / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--port", str(port),
         "--ip", "127.0.0.1", "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.port_retries=0",
         f"--ServerApp.root_dir={folder}", f"--LabApp.workspaces_dir={folder / '.workspaces'}",
         f"--LabApp.user_settings_dir={folder / '.settings'}"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    stop_lab(proc, port)
    raise RuntimeError(f"jupyter lab did not answer on port {port} within 120 s; see {log_path}")


def stop_lab(proc: subprocess.Popen, port: int) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure the process is gone."""
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/shutdown", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=10).close()
    except (urllib.error.URLError, OSError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- the page

def open_and_run_all(browser, port: int, notebook: str):
    """A page with ``notebook`` open and every cell run; returns (page, seconds)."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"http://127.0.0.1:{port}/lab/tree/notebooks/{notebook}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.get_by_text(IDLE).wait_for(timeout=120_000)
    dismiss_prompts(page, timeout_ms=5000)
    start = time.time()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells").first.click()
    wait_until_all_ran(page)
    return page, time.time() - start


def wait_until_all_ran(page, timeout_s: float = 600) -> None:
    """Every code cell has an execution count (no "[ ]" / "[*]") and the kernel is idle, twice in a row."""
    js = """() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
                    return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }"""
    deadline, ok = time.time() + timeout_s, 0
    while time.time() < deadline:
        done = page.evaluate(js) and page.get_by_text(IDLE).count() > 0
        ok = ok + 1 if done else 0
        if ok >= 2:
            return
        time.sleep(1.5)
    raise TimeoutError("the notebook did not finish running")


def dismiss_prompts(page, timeout_ms: int = 3000) -> None:
    """JupyterLab's "news / notifications?" question and toasts would cover the notebook."""
    try:
        page.get_by_role("button", name="No").click(timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - the prompt is optional
        pass
    page.evaluate("document.querySelectorAll('.Toastify').forEach(e => e.remove())")


def error_outputs(page) -> list[str]:
    """Texts of error / stderr outputs anywhere in the notebook (cells and widget outputs)."""
    texts = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t.strip()[:400] for t in texts if t.strip()]


def control_cell(page, control: str):
    """The code cell whose widget controls (``sdpose_core.viz.teaching.interact``: a VBox of controls,
    then the drawings it updates in place) include one described ``control``."""
    return page.locator(".jp-CodeCell").filter(has=page.locator(".widget-vbox", has_text=control)).last


def set_readout(box, index: int, value: str) -> None:
    """Type a value into the index-th slider readout of an interact box (fires one update)."""
    r = box.locator(".widget-readout").nth(index)
    r.click()
    r.press("Control+a")
    r.type(value)
    r.press("Enter")
    time.sleep(1.5)


def plot_text(box) -> str:
    return box.locator(".js-plotly-plot").first.text_content() or ""


def shoot(page, box, out: Path, scroll_up: int) -> None:
    errors = error_outputs(page)
    if errors:
        raise RuntimeError(f"error output in the notebook: {errors}")
    controls = box.locator(".widget-vbox").first  # the cell's code stays above the screenshot
    page.evaluate("el => el.scrollIntoView({block: 'start'})", controls.element_handle())
    page.mouse.wheel(0, -scroll_up)
    time.sleep(1)
    dismiss_prompts(page)
    page.mouse.move(5, 500)
    time.sleep(1)
    page.screenshot(path=str(out))


@contextlib.contextmanager
def screenshot_on_failure(page, out: Path):
    """On any failure, save what the page showed as OUT_failed.png (then re-raise)."""
    try:
        yield
    except Exception:
        failed = out.with_name(out.stem + "_failed.png")
        page.screenshot(path=str(failed), full_page=True)
        print(f"failed: the page as it was is in {failed}", file=sys.stderr)
        raise


def notebook_01(browser, port: int, out: Path) -> None:
    """Attention widget: keypoint left_wrist, cycle 2, head 0 (layer stays at 0)."""
    from playwright.sync_api import expect

    page, seconds = open_and_run_all(browser, port, "01_keypoint_tokens.ipynb")
    with screenshot_on_failure(page, out):
        box = control_cell(page, "keypoint")
        box.scroll_into_view_if_needed()
        box.locator("select").first.select_option(label="left_wrist")
        time.sleep(1.5)
        set_readout(box, 0, "2")  # cycle
        box.locator("select").nth(1).select_option(label="0")  # head
        expect(box.locator(".js-plotly-plot").first).to_contain_text(re.compile(r"left_wrist: cycle 2, layer 0,\s*head 0"),
                                                                      timeout=60_000)
        time.sleep(2)
        print(f"01: ran all cells in {seconds:.0f} s; plot now: {plot_text(box)[:80]!r}")
        shoot(page, box, out, scroll_up=60)
    page.close()


def notebook_03(browser, port: int, out: Path) -> None:
    """Simulated-heatmap widget: μ and σ moved; the reg2hm_loss in the title must change."""
    page, seconds = open_and_run_all(browser, port, "03_distilpose_simulated_heatmaps.ipynb")
    with screenshot_on_failure(page, out):
        box = control_cell(page, "mu_x")
        box.scroll_into_view_if_needed()
        before = plot_text(box)
        for i, value in enumerate(("12", "9", "1.5", "2.5")):  # mu_x, mu_y, sigma_x, sigma_y
            set_readout(box, i, value)
        deadline = time.time() + 60
        while plot_text(box) == before and time.time() < deadline:
            time.sleep(1)
        time.sleep(2)
        after = plot_text(box)
        if after == before:
            raise RuntimeError("the simulated heatmap did not redraw after moving the sliders")
        print(f"03: ran all cells in {seconds:.0f} s; title before {before[:70]!r}, after {after[:70]!r}")
        shoot(page, box, out, scroll_up=150)
    page.close()


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    p.add_argument("--port", type=int, default=8899)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sdpose-nbshots-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "notebooks", work / "notebooks", ignore=shutil.ignore_patterns("__pycache__"))
        proc = start_lab(work, args.port, work / "jupyter.log")
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    notebook_01(browser, args.port, args.out / "notebook_widgets.png")
                    notebook_03(browser, args.port, args.out / "notebook_simulated_heatmap.png")
                finally:
                    browser.close()
        finally:
            stop_lab(proc, args.port)
    for name in ("notebook_widgets.png", "notebook_simulated_heatmap.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
