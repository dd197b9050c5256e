"""The explorer in headless Chromium (Debian package, driven by Playwright): every tab draws its
plots with no error toast, and a bad upload produces a readable warning while the app keeps working."""
from __future__ import annotations

import os

import pytest
from browser_support import CHROMIUM, explorer_page

if not CHROMIUM.exists() and os.environ.get("CI"):  # .ci/run installs it: a missing browser is a CI failure
    pytest.fail("CI: /usr/bin/chromium is missing (.ci/run should have installed it)", pytrace=False)
if not CHROMIUM.exists():
    pytest.skip("headless browser test needs Debian's chromium at /usr/bin/chromium "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)
pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (uses the system chromium)")

from explorer.models import ModelSet  # noqa: E402
from sdpose_core.io.checkpoint import save_model  # noqa: E402
from sdpose_core.models.zoo import build_model  # noqa: E402
from sdpose_core.train.run_dir import RunDir  # noqa: E402
from conftest import write_random_checkpoints  # noqa: E402

TABS = [("Compare", "Compare", 2), ("Token attention", "Show attention", 3),
        ("Heatmaps", "Show heatmaps", 2), ("Distillation stages", "Show stages", 2),
        ("Attribution", "Explain", 1), ("Live distill", "Distil", 2)]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = write_random_checkpoints(tmp_path_factory.mktemp("ckpt"))
    run = RunDir(tmp_path_factory.mktemp("run"))
    save_model(build_model("synth-regression"), run.snapshot_path(0), epoch=0)
    run.log({"epoch": 0, "total": 0.5})
    models = ModelSet.load(folder, warmup=False)
    models.runs = [run.root]
    with explorer_page(models) as pg:
        yield pg


def _toasts(page, kind: str) -> list[str]:
    return [t for t in page.locator(f".toast-body.{kind}").all_inner_texts() if t.strip()]


def test_every_tab_draws_without_errors(page):
    page.locator(".gallery-item, tr.tr-body").first.click()  # the first example: photo + box
    sync_api.expect(page.get_by_label("person box")).not_to_have_value("", timeout=30_000)
    sync_api.expect(page.locator("[data-testid=image] img").first).to_be_visible(timeout=30_000)
    for label, button, plots in TABS:
        page.get_by_role("tab", name=label).click()
        page.get_by_role("button", name=button).click()
        panel = page.locator("[role=tabpanel]:visible")
        panel.locator(".js-plotly-plot").nth(plots - 1).wait_for(timeout=90_000)
        assert panel.locator(".js-plotly-plot").count() >= plots, label
        assert _toasts(page, "error") == [], label
        assert _toasts(page, "warning") == [], label


def test_bad_upload_shows_a_warning(page, tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not a png")
    page.get_by_role("tab", name="Compare").click()
    page.locator("input[type=file]").first.set_input_files(str(bad))
    page.locator(".toast-body.warning", has_text="not an image").first.wait_for(timeout=30_000)
    assert _toasts(page, "error") == []
