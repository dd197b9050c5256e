"""Figure export (PNG without kaleido, standalone HTML), snapshot frames and `sdpose animate`."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

from sdpose_core.cli import main
from sdpose_core.interpret import history_views as H
from sdpose_core.models.outputs import CycleOutput
from sdpose_core.models.zoo import CHECKPOINT_DIR, build_model
from sdpose_core.viz import frames as F
from sdpose_core.viz.convergence import metric_curves_figure
from sdpose_core.viz.export import figure_to_png, save_figure
from sdpose_core.viz.skeleton import PoseDrawing, confidence_bar_figure, skeleton_figure

SDPOSE_RUN = CHECKPOINT_DIR / "sdpose"
SNAPSHOTS = len(sorted(SDPOSE_RUN.glob("history/epoch_*.pt")))


def test_png_has_the_requested_size_and_draws_the_data(tmp_path):
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    fig = go.Figure(go.Image(z=red))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0))
    path = figure_to_png(fig, tmp_path / "red.png", width=200, height=120)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape == (120, 200, 3)
    assert tuple(img[60, 100]) == (255, 0, 0)  # the image fills the middle
    # one bar of height 1 on a white background: some pixels take the bar colour
    bars = go.Figure(go.Bar(x=["a"], y=[1.0], marker_color="#00ff00"))
    img = np.asarray(Image.open(save_figure(bars, tmp_path / "bar.png")).convert("RGB"))
    assert ((img[..., 1] == 255) & (img[..., 0] == 0) & (img[..., 2] == 0)).sum() > 1000


def test_the_projects_figures_export_to_png_and_html(tmp_path):
    crop = np.full((64, 48, 3), 128, np.uint8)
    pose = PoseDrawing("student", np.random.default_rng(0).uniform(5, 40, (17, 2)), np.linspace(0, 1, 17))
    curves = metric_curves_figure([{"epoch": e, "AP": 0.1 * e, "total": 1.0 / (e + 1)} for e in range(4)])
    for i, fig in enumerate((skeleton_figure(crop, [pose, pose]), confidence_bar_figure([pose]), curves)):
        png = save_figure(fig, tmp_path / f"f{i}.png")
        assert Image.open(png).size == (900, fig.layout.height)
        html = save_figure(fig, tmp_path / f"f{i}.html").read_text(encoding="utf-8")
        assert "<html>" in html and "Plotly.newPlot" in html  # plotly.js inlined: opens offline
        assert '<script src="https://cdn.plot.ly' not in html
    with pytest.raises(ValueError, match="png or .html"):
        save_figure(curves, tmp_path / "f.svg")


def test_prediction_maps_peak_at_one_for_every_head():
    for name in ("synth-student", "synth-regression", "synth-simcc"):
        model = build_model(name).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, *model.config.input_size))[0]
        m = H.prediction_map(out, model, keypoint=3)
        assert m.ndim == 2 and m.max() == pytest.approx(1.0) and m.min() >= 0
    px, py = torch.tensor([[[0.0, 10.0, 0.0]]]), torch.tensor([[[10.0, 0.0]]])  # (1, 1, W), (1, 1, H)
    m = H.prediction_map(CycleOutput(simcc_x=px, simcc_y=py), model, keypoint=0)
    assert m.shape == (2, 3) and np.unravel_index(m.argmax(), m.shape) == (0, 1)


def test_keypoint_index():
    assert H.keypoint_index("left_wrist") == 9 and H.keypoint_index("3") == 3 and H.keypoint_index(16) == 16
    for bad in ("wrist", 17, "-1"):
        with pytest.raises(ValueError):
            H.keypoint_index(bad)


def test_colorize_maps_the_range_to_the_scale_ends():
    lut = F.colormap_lut("Inferno")
    rgb = F.colorize(np.array([[0.0, 1.0], [2.0, -5.0]]), 0.0, 2.0)
    assert (rgb[0, 0] == lut[0]).all() and (rgb[1, 0] == lut[-1]).all() and (rgb[1, 1] == lut[0]).all()


@pytest.mark.parametrize("view", ["attention", "skeleton", "heatmap"])
def test_sdpose_animate_writes_a_gif_with_one_frame_per_snapshot(tmp_path, view, capsys):
    out = tmp_path / f"{view}.gif"
    rc = main(["animate", "--run", str(SDPOSE_RUN), "--view", view, "--out", str(out), "--scale", "2",
               "--keypoint", "left_wrist", "--cycle", "2"])
    assert rc == 0 and f"{SNAPSHOTS} frames" in capsys.readouterr().out
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == SNAPSHOTS
    assert gif.size == (96 * 2, (128 + F.CAPTION_PX) * 2)  # the 128x96 crop, scaled, under its caption
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(frames[:-1], frames[1:]))  # every snapshot looks different


def test_animate_refuses_bad_requests(tmp_path, capsys):
    assert main(["animate", "--run", str(SDPOSE_RUN), "--view", "skeleton", "--out", str(tmp_path / "a.mp4")]) == 2
    assert main(["animate", "--run", str(tmp_path), "--view", "skeleton", "--out", str(tmp_path / "a.gif")]) == 2
    assert main(["animate", "--run", str(SDPOSE_RUN), "--view", "heatmap", "--keypoint", "elbow",
                 "--out", str(tmp_path / "a.gif")]) == 2
    err = capsys.readouterr().err
    assert ".gif" in err and "no history" in err and "unknown keypoint" in err
    assert not list(tmp_path.glob("*.gif")) and not list(tmp_path.glob("*.tmp"))
