"""A lesson's widget in JupyterLab (headless Chromium, Playwright): moving a control redraws the
plotly figure and the Markdown of ``sdpose_core.viz.teaching.interact`` in place. With display-id
updates the plot never changed (a figure's own ``_ipython_display_`` drops the id); ``jupyter
execute`` cannot see that, only a frontend can."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
from browser_support import CHROMIUM

if not CHROMIUM.exists() and os.environ.get("CI"):  # .ci/run installs it: a missing browser is a CI failure
    pytest.fail("CI: /usr/bin/chromium is missing (.ci/run should have installed it)", pytrace=False)
if not CHROMIUM.exists():
    pytest.skip("headless browser test needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
pytest.importorskip("jupyterlab")
nbformat = pytest.importorskip("nbformat")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (uses the system chromium)")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import notebook_screenshots as lab  # noqa: E402

PROBE = '''import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import Markdown
from sdpose_core.viz.teaching import interact, use_notebook_renderer

use_notebook_renderer()
interact(lambda n: (Markdown(f"**text for n = {n}**"), go.Figure(layout_title_text=f"drawn for n = {n}")),
         n=widgets.IntSlider(min=0, max=9, value=1, continuous_update=False))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_a_moved_control_redraws_in_jupyterlab(tmp_path):
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "notebooks" / "probe.ipynb")
    port = free_port()
    proc = lab.start_lab(tmp_path, port, tmp_path / "jupyter.log")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=lab.CHROMIUM_ARGS)
            try:
                page, _ = lab.open_and_run_all(browser, port, "probe.ipynb")
                cell = lab.control_cell(page, "n")
                plot = cell.locator(".js-plotly-plot").first
                sync_api.expect(plot).to_contain_text("drawn for n = 1", timeout=30_000)
                lab.set_readout(cell, 0, "7")
                sync_api.expect(plot).to_contain_text("drawn for n = 7", timeout=30_000)
                sync_api.expect(cell).to_contain_text("text for n = 7", timeout=30_000)
                text = cell.inner_text()
                assert "drawn for n = 1" not in text and "text for n = 1" not in text  # replaced in place
                assert not lab.error_outputs(page)
            finally:
                browser.close()
    finally:
        lab.stop_lab(proc, port)
