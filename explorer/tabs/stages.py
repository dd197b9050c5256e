"""Distillation stages tab: a run's snapshots on the photo behind a slider, and its metric curves."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.interpret.snapshots import run_metrics, snapshot_predictions
from sdpose_core.viz import PoseDrawing
from sdpose_core.viz.convergence import metric_curves_figure, snapshot_slider_figure

from ..inputs import parse_box, read_image
from ..models import ModelSet
from ..ui import guarded

OUTPUTS = ("plot", "plot", "md")


@guarded(*OUTPUTS)
def stages(models: ModelSet, image_path, box_text: str | None, run_dir: str | None
           ) -> tuple[go.Figure, go.Figure, str]:
    """Snapshot slider figure, metric curves and a short summary for one run folder."""
    if not run_dir or not str(run_dir).strip():
        raise ValueError("enter a training run folder (one written by `sdpose train --out DIR`)")
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    snaps = snapshot_predictions(str(run_dir).strip(), image, box)
    poses = [PoseDrawing(s.label, s.result.keypoints, s.result.scores) for s in snaps]
    records = run_metrics(str(run_dir).strip())
    keys = [k for k in ("AP", "PCK@0.2", "total") if any(k in r for r in records)]
    names = ", ".join(s.label for s in snaps)
    md = (f"{len(snaps)} snapshot(s) of `{run_dir}`: {names}. "
          f"{len(records)} metrics record(s); the slider starts on the last snapshot.")
    return snapshot_slider_figure(image, poses), metric_curves_figure(records, keys), md


def build(models: ModelSet, image: gr.Image, box: gr.Textbox) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    runs = [str(r) for r in getattr(models, "runs", [])]
    with gr.Row():
        run_dir = gr.Dropdown(runs, value=runs[0] if runs else None, allow_custom_value=True,
                              label="training run folder (sdpose train --out DIR)", scale=3)
        go_btn = gr.Button("Show stages", variant="primary", scale=1)
    summary = gr.Markdown()
    slider_fig = gr.Plot(label="the student at each saved snapshot (drag the slider)")
    curves = gr.Plot(label="metrics per epoch (metrics.jsonl)")
    def handler(image, box, run):
        return stages(models, image, box, run)

    go_btn.click(handler, [image, box, run_dir], [slider_fig, curves, summary], api_name="stages")
