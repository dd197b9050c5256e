"""The snapshot selector in headless Chromium: choosing a run redraws the tab in view at its last
snapshot, a click on another snapshot redraws it again, and a tab drawn earlier is redrawn at the
picked snapshot when it is shown; no error toast on the way."""
from __future__ import annotations

import os

import pytest
from browser_support import CHROMIUM, explorer_page

if not CHROMIUM.exists() and os.environ.get("CI"):  # .ci/run installs it: a missing browser is a CI failure
    pytest.fail("CI: /usr/bin/chromium is missing (.ci/run should have installed it)", pytrace=False)
if not CHROMIUM.exists():
    pytest.skip("headless browser test needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (uses the system chromium)")

from explorer.models import CHECKPOINT_DIR, ModelSet  # noqa: E402

RUN = CHECKPOINT_DIR / "distilpose"
# its last bundled snapshot: choosing the run picks it
LAST = max((p for p in (RUN / "history").glob("epoch_*.pt")), key=lambda p: int(p.stem.split("_")[-1]), default=None)
LAST_LABEL = f"epoch {int(LAST.stem.split('_')[-1]) + 1}" if LAST else "epoch 1"


@pytest.fixture(scope="module")
def page():
    if not (RUN / "history").is_dir():
        pytest.skip("the bundled snapshot histories are missing")
    models = ModelSet.load(warmup=False)
    models.runs = [RUN]
    with explorer_page(models) as pg:
        yield pg


def _draw(page, tab: str, button: str) -> None:
    page.get_by_role("tab", name=tab).click()
    page.get_by_role("button", name=button).click()
    page.locator("[role=tabpanel]:visible .js-plotly-plot").first.wait_for(timeout=60_000)


def _titled(page, label: str) -> None:
    """Every snapshot title in the visible tab names ``label``."""
    panel = page.locator("[role=tabpanel]:visible")
    sync_api.expect(panel.locator(".js-plotly-plot .gtitle", has_text=f"distilpose run, {label} ·").first
                    ).to_be_visible(timeout=60_000)
    texts = [t for t in panel.locator(".js-plotly-plot .gtitle").all_text_contents() if "snapshot:" in t]
    assert texts and all(f", {label} ·" in t for t in texts), texts


def test_picks_redraw_the_tab_in_view_and_stale_tabs_when_shown(page):
    page.locator(".gallery-item, tr.tr-body").first.click()
    sync_api.expect(page.get_by_label("person box")).not_to_have_value("", timeout=30_000)
    _draw(page, "Token attention", "Show attention")
    _draw(page, "Compare", "Compare")
    selector = page.locator("#snapshot-selector")
    selector.get_by_label("training run (snapshots)").click()
    page.get_by_role("option", name="distilpose run").click()
    _titled(page, LAST_LABEL)  # choosing the run picks its last snapshot
    selector.locator("label", has_text="epoch 1 ·").click()
    _titled(page, "epoch 1")
    assert "distilpose · epoch 1" in page.locator("[role=tabpanel]:visible").inner_text()
    page.get_by_role("tab", name="Token attention").click()  # drawn before the run was chosen
    _titled(page, "epoch 1")
    assert not [t for t in page.locator(".toast-body.error").all_inner_texts() if t.strip()]
