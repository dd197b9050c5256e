"""Saving the figures a tab shows (issue 16 item 4): what the browser sends back becomes a PNG or a
standalone HTML file per figure; nothing drawn or a wrong format gives a message."""
from __future__ import annotations

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
pytest.importorskip("plotly")

from explorer.app import build_app  # noqa: E402
from explorer.models import ModelSet  # noqa: E402
from explorer.saving import plots_in, save_plots  # noqa: E402
from sdpose_core.viz import PoseDrawing, skeleton_figure  # noqa: E402
from conftest import write_random_checkpoints  # noqa: E402


def _shown(fig):
    """What a gr.Plot holds in the browser (and sends back as an input)."""
    return gr.Plot().postprocess(fig)


def test_shown_figures_are_saved_as_png_and_html(tmp_path):
    image = np.full((40, 30, 3), 200, np.uint8)
    pose = PoseDrawing("student", np.random.default_rng(0).uniform(2, 28, (17, 2)), np.linspace(0, 1, 17))
    shown = _shown(skeleton_figure(image, [pose]))
    png, = save_plots("PNG", [shown, None], ["compare_1", "compare_2"], folder=tmp_path)
    assert png.endswith(".png") and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    html, = save_plots("HTML", [shown], ["compare_1"], folder=tmp_path)
    text = open(html, encoding="utf-8").read()
    assert "plotly" in text.lower() and "student keypoints" in text and "data:image/png;base64," in text


def test_nothing_drawn_or_a_wrong_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to save yet"):
        save_plots("PNG", [None, None], ["a", "b"], folder=tmp_path)
    with pytest.raises(ValueError, match="PNG, HTML"):
        save_plots("SVG", [None], ["a"], folder=tmp_path)


def test_every_tab_has_a_save_row(tmp_path):
    models = ModelSet.load(write_random_checkpoints(tmp_path), warmup=False)
    demo = build_app(models)
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    buttons = {b.value for b in demo.blocks.values() if isinstance(b, gr.Button)}
    assert len(tabs) == 6 and all(plots_in(t) for t in tabs) and "Save figures" in buttons
