"""Training-progress figures: predictions per snapshot behind a slider, metric curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import image_trace, lock_aspect, style_image_axes
from .skeleton import PoseDrawing, keypoint_trace, limb_trace


def snapshot_slider_figure(image: np.ndarray, poses: Sequence[PoseDrawing], height: int = 520) -> go.Figure:
    """The photo with one skeleton per snapshot; a slider shows one snapshot at a time."""
    fig = go.Figure(image_trace(image))
    for i, pose in enumerate(poses):
        visible = i == len(poses) - 1
        fig.add_trace(limb_trace(pose.keypoints, "#d62728", pose.name).update(visible=visible))
        fig.add_trace(keypoint_trace(pose.keypoints, pose.scores, pose.name, "#d62728").update(visible=visible))
    steps = []
    for i, pose in enumerate(poses):
        vis = [True] + [j // 2 == i for j in range(2 * len(poses))]
        steps.append(dict(method="update", label=pose.name, args=[{"visible": vis}]))
    h, w = image.shape[:2]
    style_image_axes(fig, height_px=h, width_px=w)
    lock_aspect(fig, 1)
    fig.update_layout(sliders=[dict(active=len(poses) - 1, steps=steps, currentvalue=dict(prefix="snapshot: "),
                                    pad=dict(t=30))],
                      height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def metric_curves_figure(records: Sequence[dict], keys: Sequence[str] = ("AP", "PCK@0.2", "total"),
                         height: int = 340) -> go.Figure:
    """One line per metric against epoch (1-based); losses on a second, log-scaled axis."""
    fig = go.Figure()
    rows = [r for r in records if "epoch" in r]
    for key in keys:
        pts = [(r["epoch"] + 1, r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if not pts:
            continue
        x, y = zip(*pts)
        is_loss = "loss" in key or key == "total"
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=key, yaxis="y2" if is_loss else "y"))
    fig.update_layout(height=height, xaxis=dict(title="epoch", dtick=1),
                      yaxis=dict(title="AP / PCK", rangemode="tozero"),
                      yaxis2=dict(title="loss", overlaying="y", side="right", type="log"),
                      margin=dict(l=60, r=60, t=60, b=50), legend=dict(orientation="h", y=1.02, yanchor="bottom",
                                                                      x=1, xanchor="right"))
    return fig
